#pragma once
#include "mpi/job_exec.h"
#include "mpi/run.h"
// The loop of ranks > 0: ask for work, run each job in a child process, send its result.
int worker_loop(JobContext *ctx, const RunOptions *o);
// What a dry job sends back: an ok result with no data (scheduler benchmarks).
void dry_result(const JobContext *ctx, int j, JobResult *r);
