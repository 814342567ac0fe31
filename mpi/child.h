// One job in a forked child process, so that a segfault, an abort or the OOM killer costs that job
// only: the parent (which holds MPI and the mapped bases) records the failure and goes on.
#pragma once
#include <sys/types.h>
#include "mpi/job_exec.h"

typedef struct {
    pid_t pid;              // 0 when idle
    int fd;                 // read end of the result pipe
    int job;
    double started;
    double started_wall;    // Unix seconds, for the result's start time
    unsigned char *buf;     // the encoded result as it arrives
    size_t len, cap;
    int eof;
} Child;

// Forks a child that runs job j (prev: only its missing eval texts, job_evaluate_more) and writes
// its encoded result to a pipe. 0 ok, -1 (errno).
int child_start(Child *c, JobContext *ctx, int j, const JobResult *prev);
// Waits up to timeout_ns for progress. Returns 1 when the child has ended, with r filled (a crash
// becomes a JOB_CRASHED result), else 0.
int child_poll(Child *c, const JobContext *ctx, long timeout_ns, JobResult *r);
// Kills a running child and reaps it.
void child_kill(Child *c);
