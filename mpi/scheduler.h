#pragma once
#include "mpi/job_exec.h"
#include "mpi/run.h"
// Rank 0: hands out jobs longest first, runs one itself in a child process, journals every result,
// retries failures up to the spec's limit, rebuilds the HDF5 file, reports progress, stops
// gracefully on a signal. Returns the exit status of the sweep. *worker_lost is set when a worker
// stayed silent past --worker-timeout: the file is written, and the caller must not talk to the
// other ranks again (MPI_Abort instead of the final collectives).
int scheduler_loop(JobContext *ctx, const RunOptions *o, const char *output, int *worker_lost);
