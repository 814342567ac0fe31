// Progress on rank 0: a live line on a terminal, a plain line every few seconds otherwise (Slurm
// logs), and the closing summary with the scheduler's own cost.
#pragma once
#include "mpi/run.h"
#include "results/result.h"
#include "sweeps/plan.h"

typedef struct {
    const Plan *plan;
    const RunOptions *o;
    int total, skipped, done, failed, nranks;
    int running;               // jobs on ranks right now (the scheduler keeps it)
    int failed_earlier;        // skipped jobs whose record is a failure (from an earlier run)
    int tty;
    double t0, last;
    double flops_left, flops_done;
    double busy_seconds;       // summed job seconds: worker efficiency = busy / (wall * ranks)
    long tokens;
    int done_by_rank0;         // results of rank 0's own slot (the rest came from workers)
} Progress;

// more: jobs among to_run that only need new eval texts evaluated
void progress_start(Progress *g, const Plan *p, int to_run, int skipped, int more, int nranks, const RunOptions *o);
void progress_job_done(Progress *g, const JobResult *r, int rank, double est_flops);
void progress_tick(Progress *g, int force);
void progress_summary(const Progress *g, double wall, double sched_cpu, int interrupted);
