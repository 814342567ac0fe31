#pragma once
#include "mpi/job_exec.h"
#include "mpi/run.h"
// Rank 0: hands out jobs longest first, runs one itself in a child process, journals every result,
// retries failures up to the spec's limit, rebuilds the HDF5 file, reports progress, stops
// gracefully on a signal. Returns the exit status of the sweep.
int scheduler_loop(JobContext *ctx, const RunOptions *o, const char *output);
