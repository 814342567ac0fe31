// `sweep run`: every rank loads the same spec; rank 0 schedules the plan's jobs over all ranks
// (itself included, through a child process), journals each result and keeps the HDF5 file current.
#pragma once
#include <stddef.h>
#include "mpi/memfit.h"

typedef struct {
    const char *spec_path;
    const char *output;         // overrides the spec's output path when not NULL
    const char *stage_dir;      // copy each base here once per node before mapping (NULL: map in place)
    const char *cache_dir;      // tokenised texts (default: OUTPUT.cache)
    int threads;                // BLAS threads per rank
    const char *precision;      // replaces the spec's default precision (NULL: as the spec says)
    double flush_every;         // seconds between rebuilds of the HDF5 file
    double progress_every;      // seconds between plain progress lines (a terminal gets a live line)
    double grace;               // seconds running jobs may finish after SIGUSR1/SIGTERM
    double job_timeout;         // seconds before a job is killed as timed out (0: none)
    double worker_timeout;      // seconds a worker running a job may stay silent before the run ends (0: never)
    int dry_jobs;               // hand out jobs that do nothing: measures the scheduler alone
    int retry_failed;           // jobs recorded as failed get max_attempts new attempts
    size_t keep_adapter_max;    // adapters larger than this many bytes are not kept
    int recompute;              // training keeps one layer's activations and recomputes the rest
    size_t mem_per_node;        // bytes of memory per node (0: Slurm's, else the cgroup's, else MemTotal less 10%)
    const MemFit *memfit;       // set by run_sweep for rank 0's scheduler: the node limits (NULL: none)
    const char *memfit_said;    // and the line saying which limit applies, printed once the journal is open
    int quiet;
} RunOptions;

void run_options_default(RunOptions *o);

// Exit statuses of `sweep run`
enum { RUN_OK = 0, RUN_JOBS_FAILED = 1, RUN_BAD_INPUT = 2, RUN_INTERNAL = 3, RUN_INTERRUPTED = 75 };

// Runs on every rank between MPI_Init and MPI_Finalize; returns the rank's exit status.
int run_sweep(const RunOptions *o);

// The journal beside the results file: OUTPUT.journal (static buffer).
const char *output_journal_path(const char *output);
