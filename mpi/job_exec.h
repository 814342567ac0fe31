// Running one job of a plan in the current process: train the adapter once, evaluate every eval
// text of the job, fill a JobResult. No MPI here: the scheduler runs this in a child process.
#pragma once
#include "engine/matcache.h"
#include "engine/modelfile.h"
#include "engine/tokenizer.h"
#include "results/result.h"
#include "sweeps/plan.h"

// What a rank keeps across jobs: each base mapped once, its tokenizer loaded once.
typedef struct {
    const Plan *plan;
    ModelFile *bases;          // [plan->axis[AX_BASE].n], opened by job_context_open
    Tokenizer **tokenizers;    // [same]
    uint64_t *tokenizer_hash;  // [same]: FNV-1a of each tokenizer file, part of the token cache keys
    MatCache *ready;           // [same * MAT_PREC_INT8 + 1]: each base's compute-ready forms at each
                               // precision of the plan, mapped from the cache directory
    char cache_dir[1024];      // tokenised texts and ready forms, shared by the ranks of a node
    size_t keep_adapter_max;   // copy the trained block into the result when its fp32 bytes are at most
                               // this: rank 0 journals no larger one (sweep run --keep-adapters-max)
    int recompute;             // train with one layer's activations at a time (sweep run --recompute)
} JobContext;

// Opens every base of the plan (paths may be overridden by staged copies: staged[i] or NULL), its
// tokenizer, and its compute-ready forms at each precision of the plan (engine/matcache.h: made by
// the first rank of the node to get there, mapped by all, before any job forks). verify: check
// tensor checksums (one rank per node does). 0 ok; -1 with a message.
int job_context_open(JobContext *ctx, const Plan *plan, const char *const *staged, int verify,
                     const char *cache_dir, char *err, size_t errlen);
void job_context_close(JobContext *ctx);

// Runs plan->jobs[j] and fills r (status ok, diverged or error; message on failure). Never exits.
void job_execute(JobContext *ctx, int j, JobResult *r);

// A job that already succeeded when the spec then gained eval texts for it: with the adapter kept in
// its record (or none needed: format none), only the missing texts are evaluated and everything else
// is copied from prev, giving the record a fresh run would. Otherwise the job runs again in full.
int job_can_evaluate_more(const Plan *p, int j, const JobResult *prev);
void job_evaluate_more(JobContext *ctx, int j, const JobResult *prev, JobResult *r);

// Test hook: SWEEP_TEST_FAULT="crash:ID" / "error:ID" / "nan:ID" / "hang:ID" makes the job whose id
// starts with ID fail that way, so the failure paths of the scheduler can be exercised end to end.
int job_test_fault(const char *id, const char *kind);
