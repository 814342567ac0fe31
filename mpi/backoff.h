// Waiting without burning a core (Open MPI busy-polls inside blocking calls): poll, and when
// nothing happened sleep a little longer each time, up to a millisecond; activity resets it.
#pragma once
#include <time.h>

typedef struct { long ns; } Backoff;

static inline void backoff_reset(Backoff *b) { b->ns = 0; }

static inline void backoff_wait(Backoff *b) {
    if (b->ns < 1000) { b->ns += 100; return; }   // a few quick re-polls first, for latency
    struct timespec ts = { 0, b->ns };
    nanosleep(&ts, NULL);
    if (b->ns < 1000000) b->ns *= 2;
    if (b->ns > 1000000) b->ns = 1000000;
}
