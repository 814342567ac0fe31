// `sweep status`: how far a sweep has got, read from its results file (the plan's jobs and axes), its
// journal (finished jobs; read without the lock, a torn last record ignored) and its state file
// (results/runstate.h: what is running where, the scheduler's ETA). Nothing is written.
#pragma once
#include <stddef.h>
#include "results/h5read.h"
#include "results/runstate.h"

#define STATUS_LAST_FAILURES 5

typedef struct { int done, running, failed, total; } StatusCount;

typedef struct {
    char host[64];
    int done, failed, running;
} StatusHost;

typedef struct {
    char id[17];
    char status[16];
    int attempts;
    char host[64];
    char message[256];
} StatusFailure;

typedef struct {
    char path[1024];
    char protocol[32];
    char spec_hash[17];
    StatusCount all;
    int n_formats, n_conditions;
    char **formats, **conditions;       // axis labels (owned)
    StatusCount *by_fc;                 // [n_formats][n_conditions]
    int n_hosts;
    StatusHost *hosts;
    int n_failures;                     // the last failed jobs, latest first
    StatusFailure failures[STATUS_LAST_FAILURES];
    int has_journal, has_state;
    size_t journal_torn_bytes;          // a record being written right now, or a kill mid-append
    const char *state;                  // "running", "finished", "stopped" (rank 0 gone), "not started"
    double eta;                         // seconds, -1 unknown
    double elapsed;                     // seconds since the running sweep started, -1 unknown
    int ranks;
} SweepStatus;

// 0 ok; -1 with one line naming the file and what is wrong.
int sweep_status_read(const char *results_path, SweepStatus *st, char *err, size_t errlen);
void sweep_status_free(SweepStatus *st);
