// Peak-memory estimates of a plan's jobs (engine/memest.h) and whether they fit a node: what `sweep
// plan` prints and checks, and what `sweep run` refuses and schedules by (mpi/memfit.h).
#pragma once
#include <stddef.h>
#include "engine/memest.h"
#include "sweeps/plan.h"

// How the jobs will run where that changes their memory but not their results: sweep run's execution
// options (the one place both sweep run and sweep plan take them from).
typedef struct {
    int recompute;        // sweep run --recompute: training recomputes each layer in the backward
} MemExec;

typedef struct {
    MemExec exec;         // what the estimates assume
    size_t *job;          // [n_jobs] private peak of each job (MemEstimate.job)
    size_t shared;        // every base's file and the forms of every precision the plan uses: once per node
    size_t largest;       // max of job[]
    int largest_job;      // its index (-1 without jobs)
    int sized_from_files; // 1 when every base file could be opened (else shapes from the spec's config, fp32 storage)
    // the inputs: per base, its file and its forms per precision; per user and eval text, file bytes
    size_t *base_bytes;   // [bases]
    size_t *ready_bytes;  // [bases][MAT_PREC_INT8 + 1]
    long *train_bytes;    // [train users] (0: missing)
    long *eval_bytes;     // [eval texts]
} PlanMem;

// Estimates every job of p. Base files and texts that exist are measured (model header, file sizes);
// missing ones (sweep plan --no-check) are sized from the spec's config. x: the run's execution
// options (NULL: none, the defaults). Never fails.
void plan_mem_init(PlanMem *m, const Plan *p, const MemExec *x);
void plan_mem_free(PlanMem *m);
// The full estimate of job j (plan_mem_init's inputs; m must come from the same plan).
void plan_mem_job(const PlanMem *m, const Plan *p, int j, MemEstimate *e);
// What a node with ranks ranks holds besides its jobs: the shared bases and each rank's own process.
size_t plan_mem_node_fixed(const PlanMem *m, int ranks);
// 0 when every job fits a node of mem bytes running ranks ranks (alone, beside the node's fixed part);
// else -1 with one line naming the first job that does not and the numbers.
int plan_mem_check(const PlanMem *m, const Plan *p, size_t mem, int ranks, char *err, size_t errlen);
