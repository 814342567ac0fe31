// Waiting without burning a core (Open MPI busy-polls inside blocking calls): poll, and when
// nothing happened sleep a little longer each time, up to a millisecond, and after some twenty
// idle milliseconds up to cap_ns. A wakeup costs 5-60 us of CPU (Iprobe, sched_yield, the context
// switch; the high end in a VM), so 1 kHz polling alone can cost 1-6% of a core: the cap is where
// the saving is. Activity resets the ramp.
#pragma once
#include <time.h>

#define BACKOFF_CAP_DEFAULT 4000000L   // ns

typedef struct { long ns; int idle_at_1ms; long cap_ns; } Backoff;

static inline void backoff_init(Backoff *b) { b->ns = 0; b->idle_at_1ms = 0; b->cap_ns = BACKOFF_CAP_DEFAULT; }
static inline void backoff_reset(Backoff *b) { b->ns = 0; b->idle_at_1ms = 0; }

// The next wait in nanoseconds (0: poll again at once), advancing the backoff.
static inline long backoff_next(Backoff *b) {
    if (b->ns < 1000) { b->ns += 100; return 0; }   // a few quick re-polls first, for latency
    long ns = b->ns;
    if (b->ns < 1000000) b->ns = b->ns * 2 > 1000000 ? 1000000 : b->ns * 2;
    else if (b->idle_at_1ms < 20) b->idle_at_1ms++;
    else b->ns = b->cap_ns > 1000000 ? b->cap_ns : 1000000;
    return ns;
}

static inline void backoff_wait(Backoff *b) {
    long ns = backoff_next(b);
    if (!ns) return;
    struct timespec ts = { ns / 1000000000, ns % 1000000000 };
    nanosleep(&ts, NULL);
}
