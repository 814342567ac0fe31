// Reading a results file (layout in results/h5write.h) back into plain arrays, for `sweep report`,
// the resume test and other tests. Bad files give -1 and one line naming the file and the field.
// results/h5read.c reads the file, results/h5adapter.c one kept adapter, results/h5compare.c compares
// two files; what they share is in results/h5read_impl.h.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "results/result.h"
#include "sweeps/plan.h"

typedef struct {
    char id[17];
    int ax[AX_SEED + 1];        // indices on the file's axes
    uint64_t seed;
    char precision[16];         // "fp32", "bf16", ...; files from before the column were all fp32
    JobStatus status;
    int attempts;
    double seconds;
    int64_t tokens;
    double final_loss;
    double max_param_change;    // JobResult.max_param_change; NaN not recorded (and in files from before the column)
    char max_param_tensor[96];  // JobResult.max_param_tensor; "" in files from before the column
    int64_t adapter_bytes_fp32, adapter_bytes_fp16;
    int rank;
    char host[64];
    char backend[128];          // JobResult.backend; "" in files from before the column
    char message[256];
    uint64_t peak_rss_bytes;    // JobResult.peak_rss_bytes; 0 unknown (and in files from before the column)
    double started;             // JobResult.started; 0 unknown
} ResultsJob;

typedef struct {
    Axis axis[AX_COUNT];        // labels; the seed axis as decimal strings
    uint64_t *seeds;            // axis[AX_SEED].n
    size_t n_cells;             // product of the axis sizes
    double *ppl, *nll, *n_tokens;   // [base][condition][format][train_user][seed][eval_text], NaN: no cell
    int n_jobs;
    ResultsJob *jobs;
    int n_steps;
    float *loss;                // [n_jobs][n_steps], NaN padded
    char *spec, *spec_hash, *protocol, *tool_version, *created_by;
    int n_base_hashes;
    char **base_hashes;
    int n_tokenizer_hashes;     // 0 in files without the attribute
    char **tokenizer_hashes;
    int n_eval_hashes;          // 0 in files without the attribute
    char **eval_hashes;
    // eval.variants (results/h5variants.h): 0 and NULL in files without the /variant datasets
    int n_variants;
    char **variants;            // the /variant coordinate
    double *vppl, *vnll, *vn_tokens;    // [n_cells][n_variants], as /variant_ppl /variant_nll /variant_n_tokens
    int64_t *vbytes;            // [n_jobs][n_variants], /variant_adapter_bytes
} ResultsFile;

int h5_read_results(const char *path, ResultsFile *rf, char *err, size_t errlen);
void results_file_free(ResultsFile *rf);
// Position of a cell in the metric arrays; idx holds one index per axis.
size_t results_cell(const ResultsFile *rf, const int idx[AX_COUNT]);
// Index of a label on an axis, or -1.
int results_axis_find(const ResultsFile *rf, int axis, const char *label);

// The adapter kept for a job: *data (malloc'd, *n scalars), its logical shape and format label.
// 0 found, 1 not kept, -1 error.
int h5_read_adapter(const char *path, const char *job_id, float **data, size_t *n, int *ndim, int64_t shape[4],
                    char *format, size_t formatlen, char *err, size_t errlen);

// Compares what a sweep's spec determines: axes, job ids, precisions, statuses, tokens, final losses,
// largest parameter changes (value and tensor), adapter sizes, every metric (the eval.variants datasets
// included), loss curve and kept adapter, bit for bit (NaN cells included). Timing,
// placement, backends, attempts and messages are not compared. 0 equal; 1 different, the first difference in msg; -1 error.
int h5_compare_results(const char *a, const char *b, char *msg, size_t msglen);
