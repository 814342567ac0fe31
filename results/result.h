// What one job produced: the record the journal stores and the results file is rebuilt from.
// Workers fill it, rank 0 journals it; the journal owns the heap arrays of the records it returns.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// JOB_PENDING never enters the journal: it names a plan job without a record in the results file.
typedef enum { JOB_OK = 0, JOB_DIVERGED, JOB_ERROR, JOB_CRASHED, JOB_TIMEOUT, JOB_PENDING, JOB_STATUS_COUNT } JobStatus;

// Fully evaluated adapters up to this size are kept in the journal and the results file; larger
// ones (full fine-tuning) only when the caller raises the limit.
#define RESULTS_KEEP_ADAPTER_DEFAULT ((size_t)1 << 20)

typedef struct {
    // The eval text's label, not its axis index, so a record survives a spec that adds eval texts.
    char eval[96];
    double ppl;
    double nll;             // mean negative log-likelihood per predicted token (nats)
    long n_tokens;          // predicted tokens
} EvalCell;

typedef struct {
    int job;                // index in the plan of the process that read or wrote it; -1 unknown
    char id[17];            // Job.id: what identifies the job across runs
    JobStatus status;
    int attempts;           // 1 for a job that succeeded first time
    char message[256];      // why it failed ("" when ok)
    // Wall-clock and placement: these live only in the per-job table, never in compared data.
    double seconds;
    int rank;
    char host[64];
    // What computed the numbers: the weight products' library, the CPU and any kernel override (the
    // last bits follow the kernels the libraries pick); "" in records from before the field existed.
    char backend[128];
    // Peak resident set of the job's process (its forked child: ru_maxrss from wait4), shared pages it
    // touched included; 0 unknown (no child: a timeout, a dry job, records from before the field).
    uint64_t peak_rss_bytes;
    double started;         // wall clock (Unix seconds) when the job's process started; 0 unknown
    // Deterministic outcome
    long tokens;            // training tokens processed
    double final_loss;
    uint64_t adapter_bytes_fp32, adapter_bytes_fp16;
    // The largest change of any trained scalar from its initial value at the end of training
    // (job_max_param_change; LoRA: of A and B themselves), and the tensor holding it: 0 and "" for none
    // (nothing trained), NaN and "" not recorded (records from before the field).
    double max_param_change;
    char max_param_tensor[96];
    int n_steps;
    float *loss_curve;      // [n_steps]
    int n_evals;
    EvalCell *evals;        // [n_evals]
    size_t adapter_n;       // scalars in the fp32 block; 0 when not kept
    float *adapter;         // [adapter_n] or NULL
    int adapter_ndim;       // logical shape of the block, e.g. {2 * n_layers + 1, dim} for norm
    int64_t adapter_shape[4];
} JobResult;

static const char *const job_status_names[JOB_STATUS_COUNT] = {
    "ok", "diverged", "error", "crashed", "timeout", "pending"};

static inline const char *job_status_name(JobStatus s) {
    return (unsigned)s < JOB_STATUS_COUNT ? job_status_names[s] : "?";
}

static inline int job_status_parse(const char *s, JobStatus *out) {
    for (int i = 0; i < JOB_STATUS_COUNT; i++)
        if (strcmp(s, job_status_names[i]) == 0) { *out = (JobStatus)i; return 0; }
    return -1;
}

static inline void job_result_free(JobResult *r) {
    free(r->loss_curve);
    free(r->evals);
    free(r->adapter);
    r->loss_curve = NULL; r->evals = NULL; r->adapter = NULL;
    r->n_steps = r->n_evals = 0;
    r->adapter_n = 0;
}
