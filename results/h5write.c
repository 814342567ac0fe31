#include "results/h5write.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include "engine/mat.h"
#include "engine/util.h"
#include "results/h5utf8.h"
#include "results/h5variants.h"
#ifndef SWEEP_GIT
#define SWEEP_GIT ""   // set by CMake on this file only (CMakeLists.txt); "" where another directory compiles it (fuzzers)
#endif

const char *const h5_dim_names[AX_COUNT] = {"base", "condition", "format", "train_user", "seed", "eval_text"};

typedef struct {
    hid_t file, fapl, dcpl, gcpl, dxpl, str;
    H5E_auto2_t old_fn;   // the error printer in place before (restored by w_close)
    void *old_data;
    const char *path;
    char *err;
    size_t errlen;
    int failed;
} W;

static void fail(W *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(W *w, const char *fmt, ...) {
    if (w->failed) return;
    w->failed = 1;
    if (!w->err || !w->errlen) return;
    int n = snprintf(w->err, w->errlen, "%s: ", w->path);
    if (n < 0 || (size_t)n >= w->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err + n, w->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

// Creates and fills a dataset (data NULL: left unwritten, its storage unallocated: readers get the
// dataset creation property list's fill value); the caller closes the id (which is < 0 after a failure).
static hid_t put_dataset(W *w, hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
                         const void *data) {
    if (w->failed) return -1;
    hsize_t total = 1;
    for (int i = 0; i < rank; i++) total *= dims[i];
    char **owned = NULL;
    const char **strs = NULL;
    if (type == w->str) data = strs = h5_utf8_strings(data, (size_t)total, &owned);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t ds = sp < 0 ? -1 : H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, w->dcpl, H5P_DEFAULT);
    if (ds >= 0 && total && data && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, w->dxpl, data) < 0) {
        H5Dclose(ds);
        ds = -1;
    }
    if (sp >= 0) H5Sclose(sp);
    if (strs) h5_utf8_free(owned, strs, (size_t)total);
    if (ds < 0) fail(w, "cannot write dataset %s", name);
    return ds;
}

static void put_column(W *w, const char *name, hid_t type, hsize_t n, const void *data, hid_t job_scale) {
    hid_t ds = put_dataset(w, w->file, name, type, 1, &n, data);
    if (ds < 0) return;
    if (H5DSattach_scale(ds, job_scale, 0) < 0) fail(w, "cannot attach dimension job to %s", name);
    H5Dclose(ds);
}

static void put_attr(W *w, hid_t loc, const char *name, hid_t type, int rank, hsize_t n, const void *data) {
    if (w->failed) return;
    char **owned = NULL;
    const char **strs = NULL;
    if (type == w->str) data = strs = h5_utf8_strings(data, (size_t)n, &owned);
    hid_t sp = rank ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    hid_t at = sp < 0 ? -1 : H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = at < 0 ? -1 : (rank && n == 0) ? 0 : H5Awrite(at, type, data);
    if (at >= 0) H5Aclose(at);
    if (sp >= 0) H5Sclose(sp);
    if (strs) h5_utf8_free(owned, strs, (size_t)n);
    if (rc < 0) fail(w, "cannot write attribute %s", name);
}

static void put_attr_str(W *w, hid_t loc, const char *name, const char *value) {
    const char *v = value ? value : "";
    put_attr(w, loc, name, w->str, 0, 1, &v);
}

static hid_t put_scale(W *w, const char *name, hid_t type, hsize_t n, const void *data) {
    hid_t ds = put_dataset(w, w->file, name, type, 1, &n, data);
    if (ds >= 0 && H5DSset_scale(ds, name) < 0) fail(w, "cannot make %s a dimension scale", name);
    return ds;
}

static const char *label_or_empty(const Plan *plan, int axis, int i) {
    return i >= 0 && i < plan->axis[axis].n && plan->axis[axis].labels[i] ? plan->axis[axis].labels[i] : "";
}

// The eval_text index of a record's e-th cell: records list their cells in the job's order, so
// that is looked at first (1,000 cells cost 1,000 compares, not 500,000); -1 for none.
static int cell_index(const Plan *plan, const Job *job, const JobResult *r, int e) {
    const Axis *a = &plan->axis[AX_EVAL_TEXT];
    const char *label = r->evals[e].eval;
    if (e < job->n_eval && job->eval && job->eval[e] >= 0 && job->eval[e] < a->n && strcmp(a->labels[job->eval[e]], label) == 0)
        return job->eval[e];
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->labels[i], label) == 0) return i;
    return -1;
}

typedef struct { int at, e; } CellAt;   // an eval_text index and the record's cell there

static int cmp_cell_at(const void *a, const void *b) {
    const CellAt *x = a, *y = b;
    return x->at != y->at ? (x->at > y->at) - (x->at < y->at) : (x->e > y->e) - (x->e < y->e);
}

static const char *const metric_names[3] = {"ppl", "nll", "n_tokens"};

// The metric datasets are chunked one job's row per chunk (all eval texts of one base, condition,
// format, train_user and seed; rows of several users when a row is under 4 KiB), NaN where nothing is
// written: a row is written when its job's record is, rows of jobs without a record stay unallocated.
static void metric_chunk(const hsize_t dims[AX_COUNT], hsize_t chunk[AX_COUNT]) {
    for (int a = 0; a < AX_COUNT; a++) chunk[a] = 1;
    chunk[AX_EVAL_TEXT] = dims[AX_EVAL_TEXT];
    hsize_t users = (4096 / 8 + dims[AX_EVAL_TEXT] - 1) / dims[AX_EVAL_TEXT];
    chunk[AX_TRAIN_USER] = users < dims[AX_TRAIN_USER] ? users : dims[AX_TRAIN_USER];
}

// Writes job j's cells from record r into the three metric datasets: the eval texts it has cells for,
// as hyperslabs of runs of adjacent ones (the last cell wins where a record repeats a text). whole:
// the job's whole row instead, NaN where r has no cell (the file may hold cells of an earlier record).
// Returns the cells written (per dataset), -1 after a failure.
static long write_job_cells(W *w, const hid_t ds[3], const Plan *plan, int j, const JobResult *r, int whole) {
    if (w->failed) return -1;
    const Job *job = &plan->jobs[j];
    hsize_t start[AX_COUNT], count[AX_COUNT];
    for (int a = 0; a <= AX_SEED; a++) { start[a] = (hsize_t)job->ax[a]; count[a] = 1; }
    int E = plan->axis[AX_EVAL_TEXT].n, nc = r ? r->n_evals : 0;
    CellAt *c = xmalloc(((size_t)nc + 1) * sizeof *c);
    int n = 0;
    for (int e = 0; e < nc; e++) {
        int at = cell_index(plan, job, r, e);
        if (at >= 0) c[n++] = (CellAt){at, e};   // journal_open refuses other records; a stray one has no cell
    }
    qsort(c, (size_t)n, sizeof *c, cmp_cell_at);
    int m = 0;   // one per text, the record's last
    for (int k = 0; k < n; k++) {
        if (m && c[m - 1].at == c[k].at) c[m - 1] = c[k];
        else c[m++] = c[k];
    }
    size_t len = whole ? (size_t)E : (size_t)m;
    if (!len) { free(c); return 0; }
    double *v[3];
    for (int k = 0; k < 3; k++) v[k] = xmalloc(len * sizeof(double));
    if (whole)
        for (size_t i = 0; i < len; i++) v[0][i] = v[1][i] = v[2][i] = NAN;
    for (int k = 0; k < m; k++) {
        size_t i = whole ? (size_t)c[k].at : (size_t)k;
        const EvalCell *x = &r->evals[c[k].e];
        v[0][i] = x->ppl; v[1][i] = x->nll; v[2][i] = (double)x->n_tokens;
    }
    hsize_t dims[AX_COUNT];
    for (int a = 0; a < AX_COUNT; a++) dims[a] = (hsize_t)plan->axis[a].n;
    hid_t fs = H5Screate_simple(AX_COUNT, dims, NULL), ms = H5Screate_simple(1, (hsize_t[]){len}, NULL);
    herr_t rc = fs < 0 || ms < 0 ? -1 : 0;
    for (int k = 0; k < m && rc >= 0 && !whole; ) {   // runs of adjacent texts, OR'd
        int k1 = k + 1;
        while (k1 < m && c[k1].at == c[k1 - 1].at + 1) k1++;
        start[AX_EVAL_TEXT] = (hsize_t)c[k].at;
        count[AX_EVAL_TEXT] = (hsize_t)(k1 - k);
        rc = H5Sselect_hyperslab(fs, k ? H5S_SELECT_OR : H5S_SELECT_SET, start, NULL, count, NULL);
        k = k1;
    }
    if (whole && rc >= 0) {
        start[AX_EVAL_TEXT] = 0;
        count[AX_EVAL_TEXT] = (hsize_t)E;
        rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    }
    for (int k = 0; k < 3 && rc >= 0; k++) rc = H5Dwrite(ds[k], H5T_NATIVE_DOUBLE, ms, fs, w->dxpl, v[k]);
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    for (int k = 0; k < 3; k++) free(v[k]);
    free(c);
    if (rc < 0) { fail(w, "cannot write the cells of job %s", job->id); return -1; }
    return (long)len;
}

static void write_metrics(W *w, const Plan *plan, const JobResult *const *by_job, const hid_t *scales) {
    hsize_t dims[AX_COUNT], chunk[AX_COUNT], total = 1;
    for (int a = 0; a < AX_COUNT; a++) { dims[a] = (hsize_t)plan->axis[a].n; total *= dims[a]; }
    // Unwritten cells read as the fill value, NaN: only the cells of recorded jobs are written, at the
    // rebuild and at each in-place update alike (h5_update_results).
    double nan = NAN;
    hid_t dcpl = H5Pcopy(w->dcpl);
    if (dcpl < 0 || H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &nan) < 0) fail(w, "cannot set a fill value");
    if (total) metric_chunk(dims, chunk);   // an empty axis: nothing to chunk
    if (!w->failed && total && H5Pset_chunk(dcpl, AX_COUNT, chunk) < 0) fail(w, "cannot chunk the metrics");
    static const char *const about[3] = {
        "perplexity of the job's adapter on the eval text",
        "mean negative log-likelihood per predicted token (nats)",
        "predicted tokens in the eval text"};
    hid_t ds[3] = {-1, -1, -1}, keep = w->dcpl;
    w->dcpl = dcpl;
    for (int k = 0; k < 3; k++) {
        ds[k] = put_dataset(w, w->file, metric_names[k], H5T_NATIVE_DOUBLE, AX_COUNT, dims, NULL);
        for (int a = 0; a < AX_COUNT && ds[k] >= 0; a++)
            if (H5DSattach_scale(ds[k], scales[a], (unsigned)a) < 0) fail(w, "cannot attach %s to %s", h5_dim_names[a], metric_names[k]);
        if (ds[k] >= 0) put_attr_str(w, ds[k], "description", about[k]);
    }
    w->dcpl = keep;
    for (int j = 0; j < plan->n_jobs && !w->failed; j++)
        if (by_job[j] && by_job[j]->n_evals > 0) write_job_cells(w, ds, plan, j, by_job[j], 0);
    for (int k = 0; k < 3; k++) if (ds[k] >= 0) H5Dclose(ds[k]);
    if (dcpl >= 0) H5Pclose(dcpl);
}

// The per-job table over /job, in the order its datasets are created; the first six columns come
// from the plan alone, the others from the job's record (their values for a job without one: pending).
enum { C_BASE, C_CONDITION, C_FORMAT, C_TRAIN_USER, C_SEED, C_PRECISION, C_FROM_RECORD = C_PRECISION + 1,
       C_STATUS = C_FROM_RECORD, C_HOST, C_BACKEND, C_MESSAGE, C_ATTEMPTS, C_RANK, C_TOKENS, C_ADAPTER_BYTES,
       C_ADAPTER_BYTES_FP16, C_PEAK_RSS, C_SECONDS, C_STARTED, C_FINAL_LOSS, C_MAX_CHANGE, C_MAX_TENSOR, N_COLS };
static const struct { const char *name; char kind; } job_cols[N_COLS] = {   // kind: s string, i int32, l int64, u uint64, d float64
    {"job_base", 's'}, {"job_condition", 's'}, {"job_format", 's'}, {"job_train_user", 's'}, {"job_seed", 'u'},
    {"precision", 's'}, {"status", 's'}, {"host", 's'}, {"backend", 's'}, {"message", 's'}, {"attempts", 'i'},
    {"rank", 'i'}, {"tokens", 'l'}, {"adapter_bytes", 'l'}, {"adapter_bytes_fp16", 'l'}, {"peak_rss_bytes", 'l'},
    {"seconds", 'd'}, {"started", 'd'}, {"final_loss", 'd'}, {"max_param_change", 'd'}, {"max_param_tensor", 's'}};

typedef union { const char *s; int32_t i; int64_t l; uint64_t u; double d; } ColValue;

static ColValue job_col(int c, const Plan *plan, int j, const JobResult *r) {
    ColValue v = {.l = 0};
    const Job *job = &plan->jobs[j];
    static const int axes[4] = {AX_BASE, AX_CONDITION, AX_FORMAT, AX_TRAIN_USER};
    switch (c) {
    case C_BASE: case C_CONDITION: case C_FORMAT: case C_TRAIN_USER:
        v.s = label_or_empty(plan, axes[c], job->ax[axes[c]]); break;
    case C_SEED: v.u = job->seed; break;
    // part of what a job is: the format axis's label names it only when the spec listed precisions
    case C_PRECISION: v.s = plan->formats ? mat_precision_name(plan->formats[job->ax[AX_FORMAT]].precision) : ""; break;
    case C_STATUS: v.s = job_status_name(r ? r->status : JOB_PENDING); break;
    case C_HOST: v.s = r ? r->host : ""; break;
    case C_BACKEND: v.s = r ? r->backend : ""; break;
    case C_MESSAGE: v.s = r ? r->message : ""; break;
    case C_ATTEMPTS: v.i = r ? r->attempts : 0; break;
    case C_RANK: v.i = r ? r->rank : -1; break;
    case C_TOKENS: v.l = r ? r->tokens : 0; break;
    case C_ADAPTER_BYTES: v.l = r ? (int64_t)r->adapter_bytes_fp32 : 0; break;
    case C_ADAPTER_BYTES_FP16: v.l = r ? (int64_t)r->adapter_bytes_fp16 : 0; break;
    case C_PEAK_RSS: v.l = r ? (int64_t)r->peak_rss_bytes : 0; break;
    case C_SECONDS: v.d = r ? r->seconds : NAN; break;
    case C_STARTED: v.d = r && r->started > 0 ? r->started : NAN; break;
    case C_FINAL_LOSS: v.d = r ? r->final_loss : NAN; break;
    case C_MAX_CHANGE: v.d = r ? r->max_param_change : NAN; break;
    case C_MAX_TENSOR: v.s = r ? r->max_param_tensor : ""; break;
    }
    return v;
}

static hid_t col_type(const W *w, int c) {
    switch (job_cols[c].kind) {
    case 's': return w->str;
    case 'i': return H5T_NATIVE_INT32;
    case 'l': return H5T_NATIVE_INT64;
    case 'u': return H5T_NATIVE_UINT64;
    default: return H5T_NATIVE_DOUBLE;
    }
}

// Column c's values for jobs[0..n) (all jobs when jobs is NULL) into buf, packed as the column's type.
static void *col_values(int c, const Plan *plan, const int *jobs, size_t n, const JobResult *const *recs) {
    size_t size = job_cols[c].kind == 'i' ? sizeof(int32_t) : job_cols[c].kind == 's' ? sizeof(char *) : 8;
    unsigned char *buf = xmalloc((n + 1) * size);
    for (size_t i = 0; i < n; i++) {
        ColValue v = job_col(c, plan, jobs ? jobs[i] : (int)i, recs[i]);
        memcpy(buf + i * size, job_cols[c].kind == 'i' ? (void *)&v.i : (void *)&v, size);
    }
    return buf;
}

static void write_job_table(W *w, const Plan *plan, const JobResult *const *by_job, hid_t job_scale) {
    for (int c = 0; c < N_COLS; c++) {
        void *v = col_values(c, plan, NULL, (size_t)plan->n_jobs, by_job);
        put_column(w, job_cols[c].name, col_type(w, c), (hsize_t)plan->n_jobs, v, job_scale);
        free(v);
    }
}

static int curve_steps(const Plan *plan, const JobResult *const *by_job) {
    // Sized by the plan as well as the records, so a partial file has the final file's shape.
    int S = 0;
    for (int f = 0; f < plan->axis[AX_FORMAT].n; f++)
        if (plan->formats && plan->formats[f].train.steps > S) S = plan->formats[f].train.steps;
    for (int j = 0; j < plan->n_jobs; j++)
        if (by_job[j] && by_job[j]->n_steps > S) S = by_job[j]->n_steps;
    return S;
}

static void write_curves(W *w, const Plan *plan, const JobResult *const *by_job, hid_t job_scale) {
    int S = curve_steps(plan, by_job);
    hsize_t ns = (hsize_t)S;
    int32_t *steps = xmalloc(((size_t)S + 1) * sizeof(int32_t));
    for (int i = 0; i < S; i++) steps[i] = i + 1;
    hid_t step_scale = put_scale(w, "step", H5T_NATIVE_INT32, ns, steps);
    free(steps);
    size_t n = (size_t)plan->n_jobs * (size_t)S;
    float *loss = xmalloc((n + 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) loss[i] = NAN;
    for (int j = 0; j < plan->n_jobs; j++)
        if (by_job[j] && by_job[j]->n_steps > 0)
            memcpy(loss + (size_t)j * (size_t)S, by_job[j]->loss_curve, (size_t)by_job[j]->n_steps * sizeof(float));
    hsize_t dims[2] = {(hsize_t)plan->n_jobs, ns};
    hid_t ds = put_dataset(w, w->file, "loss", H5T_NATIVE_FLOAT, 2, dims, loss);
    if (ds >= 0) {
        if (H5DSattach_scale(ds, job_scale, 0) < 0 || H5DSattach_scale(ds, step_scale, 1) < 0)
            fail(w, "cannot attach dimensions to loss");
        put_attr_str(w, ds, "description", "training loss after each optimizer step, NaN past the last step");
        H5Dclose(ds);
    }
    if (step_scale >= 0) H5Dclose(step_scale);
    free(loss);
}

// /adapters/<job id>: job j's adapter from r, with its attributes (none when r keeps none).
static void put_adapter(W *w, hid_t g, const Plan *plan, int j, const JobResult *r) {
    if (w->failed || !r || !r->adapter_n || !r->adapter) return;
    hsize_t n = (hsize_t)r->adapter_n;
    hid_t ds = put_dataset(w, g, plan->jobs[j].id, H5T_NATIVE_FLOAT, 1, &n, r->adapter);
    if (ds < 0) return;
    put_attr_str(w, ds, "format", label_or_empty(plan, AX_FORMAT, plan->jobs[j].ax[AX_FORMAT]));
    int64_t shape[4] = {(int64_t)r->adapter_n};
    int ndim = 1;
    if (r->adapter_ndim >= 1 && r->adapter_ndim <= 4) {
        ndim = r->adapter_ndim;
        memcpy(shape, r->adapter_shape, sizeof shape);
    }
    put_attr(w, ds, "shape", H5T_NATIVE_INT64, 1, (hsize_t)ndim, shape);
    H5Dclose(ds);
}

static void write_adapters(W *w, const Plan *plan, const JobResult *const *by_job) {
    if (w->failed) return;
    hid_t g = H5Gcreate2(w->file, "adapters", H5P_DEFAULT, w->gcpl, H5P_DEFAULT);
    if (g < 0) { fail(w, "cannot create group adapters"); return; }
    for (int j = 0; j < plan->n_jobs && !w->failed; j++) put_adapter(w, g, plan, j, by_job[j]);
    H5Gclose(g);
}

static void write_root_attrs(W *w, const Plan *plan, const H5WriteInfo *info) {
    put_attr_str(w, w->file, "spec", plan->spec_text);
    put_attr_str(w, w->file, "spec_hash", plan->spec_hash);
    put_attr_str(w, w->file, "protocol", plan->protocol);
    put_attr_str(w, w->file, "tool_version", SWEEP_VERSION " (" SWEEP_GIT ")");
    put_attr_str(w, w->file, "created_by", info && info->created_by ? info->created_by : "sweep");
    int nb = info && info->base_hashes ? info->n_base_hashes : 0;
    const char **bh = xmalloc(((size_t)nb + 1) * sizeof(char *));
    for (int i = 0; i < nb; i++) bh[i] = info->base_hashes[i] ? info->base_hashes[i] : "";
    put_attr(w, w->file, "base_hashes", w->str, 1, (hsize_t)nb, bh);
    free(bh);
    if (info && info->n_tokenizer_hashes && info->tokenizer_hashes)
        put_attr(w, w->file, "tokenizer_hashes", w->str, 1, (hsize_t)info->n_tokenizer_hashes, info->tokenizer_hashes);
    if (info && info->n_eval_hashes && info->eval_hashes)
        put_attr(w, w->file, "eval_hashes", w->str, 1, (hsize_t)info->n_eval_hashes, info->eval_hashes);
    put_attr_str(w, w->file, "deterministic_variables",
                 "ppl nll n_tokens loss adapters status tokens final_loss max_param_change max_param_tensor adapter_bytes "
                 "adapter_bytes_fp16 precision");
}

static int fsync_path(const char *path, int flags) {
    int fd = open(path, flags);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

// The property lists and string type every write of the file uses; w->fapl opens and creates it.
static void w_open(W *w) {
    H5Eget_auto2(H5E_DEFAULT, &w->old_fn, &w->old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);   // failures become our one-line messages
    w->fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(w->fapl, H5F_CLOSE_STRONG);
    // One writer (rank 0); cluster filesystems without flock would otherwise refuse it.
    H5Pset_file_locking(w->fapl, 0, 1);
    // Superblock version 3: while rank 0 has the file open for an in-place update, the superblock says
    // so and every HDF5 reader (h5py, h5netcdf, sweep report) refuses to open it ("file is already open
    // for write"), file locking or not; a process killed mid-update leaves it refused until a rebuild.
    H5Pset_libver_bounds(w->fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);
    w->dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(w->dcpl, 0);
    w->gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(w->gcpl, 0);
    // HDF5 zero-fills a 1 MB conversion buffer per string write by default: most of a rebuild's time.
    w->dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_buffer(w->dxpl, 1 << 16, NULL, NULL);
    w->str = H5Tcopy(H5T_C_S1);
    H5Tset_size(w->str, H5T_VARIABLE);
    H5Tset_cset(w->str, H5T_CSET_UTF8);
}

static void w_close(W *w, const char *path) {
    if (w->file >= 0 && H5Fclose(w->file) < 0) fail(w, "cannot finish %s", path);
    w->file = -1;
    H5Tclose(w->str);
    H5Pclose(w->dcpl);
    H5Pclose(w->gcpl);
    H5Pclose(w->dxpl);
    H5Pclose(w->fapl);
    H5Eset_auto2(H5E_DEFAULT, w->old_fn, w->old_data);
}

static int check_plan(W *w, const Plan *plan) {
    for (int a = 0; a < AX_COUNT; a++)
        if (plan->axis[a].n < 0 || (plan->axis[a].n && a != AX_SEED && !plan->axis[a].labels)) {
            fail(w, "plan axis %s has no labels", h5_dim_names[a]);
            return -1;
        }
    for (int j = 0; j < plan->n_jobs; j++)
        for (int a = 0; a <= AX_SEED; a++)
            if (plan->jobs[j].ax[a] < 0 || plan->jobs[j].ax[a] >= plan->axis[a].n) {
                fail(w, "plan job %d is off the %s axis", j, h5_dim_names[a]);
                return -1;
            }
    return 0;
}

// The rename (or the data) must reach the disk before the file counts as written.
static void fsync_dir_of(const char *path) {
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = 0; else snprintf(dir, sizeof dir, ".");
    (void)fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

int h5_write_results(const char *path, const Plan *plan, const JobResult *const *by_job, const H5WriteInfo *info,
                     char *err, size_t errlen) {
    W w = {.file = -1, .path = path, .err = err, .errlen = errlen};
    char tmp[1100];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) { fail(&w, "path too long"); return -1; }
    if (check_plan(&w, plan)) return -1;
    w_open(&w);
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    // No modification times in object headers: the same results give the same bytes.
    H5Pset_obj_track_times(fcpl, 0);
    w.file = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, w.fapl);
    H5Pclose(fcpl);
    if (w.file < 0) fail(&w, "cannot create %s", tmp);

    hid_t scales[AX_COUNT];
    for (int a = 0; a < AX_COUNT; a++) {
        hsize_t n = (hsize_t)plan->axis[a].n;
        if (a == AX_SEED) {
            uint64_t *v = xmalloc((n + 1) * sizeof(uint64_t));
            for (hsize_t i = 0; i < n; i++)
                v[i] = plan->seeds ? plan->seeds[i] : strtoull(plan->axis[a].labels[i], NULL, 10);
            scales[a] = put_scale(&w, h5_dim_names[a], H5T_NATIVE_UINT64, n, v);
            free(v);
        } else {
            scales[a] = put_scale(&w, h5_dim_names[a], w.str, n, plan->axis[a].labels);
        }
    }
    const char **ids = xmalloc(((size_t)plan->n_jobs + 1) * sizeof(char *));
    for (int j = 0; j < plan->n_jobs; j++) ids[j] = plan->jobs[j].id;
    hid_t job_scale = put_scale(&w, "job", w.str, (hsize_t)plan->n_jobs, ids);
    free(ids);

    write_metrics(&w, plan, by_job, scales);
    char verr[256];   // eval.variants only: files of other specs stay as they were
    if (plan->n_variants > 0 && !w.failed &&
        h5_write_variants(w.file, plan, by_job, scales, job_scale, w.dcpl, w.str, verr, sizeof verr))
        fail(&w, "%s", verr);
    write_job_table(&w, plan, by_job, job_scale);
    write_curves(&w, plan, by_job, job_scale);
    write_adapters(&w, plan, by_job);
    write_root_attrs(&w, plan, info);

    for (int a = 0; a < AX_COUNT; a++) if (scales[a] >= 0) H5Dclose(scales[a]);
    if (job_scale >= 0) H5Dclose(job_scale);
    w_close(&w, tmp);

    if (!w.failed && fsync_path(tmp, O_RDONLY) != 0) fail(&w, "cannot fsync %s: %s", tmp, strerror(errno));
    if (!w.failed && rename(tmp, path) != 0) fail(&w, "cannot rename %s into place: %s", tmp, strerror(errno));
    if (w.failed) {
        unlink(tmp);
        return -1;
    }
    fsync_dir_of(path);
    return 0;
}

// Column c's values of the listed jobs into their rows: one point selection, in job order.
static void update_column(W *w, int c, const Plan *plan, int n, const int *jobs, const JobResult *const *recs,
                          const hsize_t *rows) {
    if (w->failed) return;
    void *v = col_values(c, plan, jobs, (size_t)n, recs);
    char **owned = NULL;
    const char **strs = NULL;
    const void *data = v;
    if (job_cols[c].kind == 's') data = strs = h5_utf8_strings(v, (size_t)n, &owned);
    hid_t ds = H5Dopen2(w->file, job_cols[c].name, H5P_DEFAULT);
    hid_t fs = ds < 0 ? -1 : H5Dget_space(ds), ms = H5Screate_simple(1, (hsize_t[]){(hsize_t)n}, NULL);
    herr_t rc = fs < 0 || ms < 0 ? -1 : H5Sselect_elements(fs, H5S_SELECT_SET, (size_t)n, rows);
    if (rc >= 0) rc = H5Dwrite(ds, col_type(w, c), ms, fs, w->dxpl, data);
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    if (ds >= 0) H5Dclose(ds);
    if (strs) h5_utf8_free(owned, strs, (size_t)n);
    free(v);
    if (rc < 0) fail(w, "cannot update dataset %s", job_cols[c].name);
}

// Job j's loss curve into its row of /loss (S steps), NaN padded.
static void update_curve(W *w, hid_t ds, int S, int j, const JobResult *r) {
    if (w->failed || S <= 0) return;
    float *row = xmalloc((size_t)S * sizeof(float));
    for (int i = 0; i < S; i++) row[i] = i < r->n_steps && r->loss_curve ? r->loss_curve[i] : NAN;
    hsize_t start[2] = {(hsize_t)j, 0}, count[2] = {1, (hsize_t)S};
    hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(1, &count[1], NULL);
    herr_t rc = fs < 0 || ms < 0 ? -1 : H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (rc >= 0) rc = H5Dwrite(ds, H5T_NATIVE_FLOAT, ms, fs, w->dxpl, row);
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    free(row);
    if (rc < 0) fail(w, "cannot update the loss curve of job %s", r->id);
}

int h5_update_results(const char *path, const Plan *plan, int n, const int *jobs, const JobResult *const *recs,
                      const unsigned char *had_cells, H5Written *written, char *err, size_t errlen) {
    W w = {.file = -1, .path = path, .err = err, .errlen = errlen};
    if (n <= 0) return 0;
    if (plan->n_variants > 0) return 1;   // results/h5variants.c writes its datasets whole
    for (int i = 0; i < n; i++)
        if (jobs[i] < 0 || jobs[i] >= plan->n_jobs || !recs[i]) { fail(&w, "no record to update job %d with", jobs[i]); return -1; }
    // Everything that can be prepared is, before the file is opened: the window in which a kill
    // leaves a file readers refuse is the writes alone.
    int *order = xmalloc((size_t)n * sizeof *order);   // rows in file order: a point selection per column
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++)   // insertion sort: a flush lists few jobs, mostly in order already
        for (int k = i; k > 0 && jobs[order[k - 1]] > jobs[order[k]]; k--) { int x = order[k]; order[k] = order[k - 1]; order[k - 1] = x; }
    int *js = xmalloc((size_t)n * sizeof *js);
    const JobResult **rs = xmalloc((size_t)n * sizeof *rs);
    hsize_t *rows = xmalloc((size_t)n * sizeof *rows);
    for (int i = 0; i < n; i++) { js[i] = jobs[order[i]]; rs[i] = recs[order[i]]; rows[i] = (hsize_t)js[i]; }
    for (int i = 1; i < n; i++)
        if (js[i] == js[i - 1]) { fail(&w, "job %s listed twice for an update", plan->jobs[js[i]].id); break; }

    w_open(&w);
    if (!w.failed) w.file = H5Fopen(path, H5F_ACC_RDWR, w.fapl);
    if (w.file < 0) fail(&w, "cannot open for an update");
    hid_t loss = w.failed ? -1 : H5Dopen2(w.file, "loss", H5P_DEFAULT);
    hsize_t ldims[2] = {0, 0};
    hid_t lsp = loss < 0 ? -1 : H5Dget_space(loss);
    if (lsp < 0 || H5Sget_simple_extent_dims(lsp, ldims, NULL) != 2 || ldims[0] != (hsize_t)plan->n_jobs)
        fail(&w, "dataset loss is not the plan's");
    if (lsp >= 0) H5Sclose(lsp);
    int S = (int)ldims[1], longer = 0;
    for (int i = 0; i < n; i++) longer |= rs[i]->n_steps > S;
    long cells = 0;
    if (!w.failed && !longer) {
        hid_t ds[3];
        for (int k = 0; k < 3; k++) ds[k] = H5Dopen2(w.file, metric_names[k], H5P_DEFAULT);
        if (ds[0] < 0 || ds[1] < 0 || ds[2] < 0) fail(&w, "cannot open the metric datasets");
        for (int i = 0; i < n && !w.failed; i++) {
            long c = write_job_cells(&w, ds, plan, js[i], rs[i], had_cells && had_cells[order[i]]);
            if (c > 0) cells += c;
            if (written && written->kill_at == js[i] + 1) { H5Fflush(w.file, H5F_SCOPE_GLOBAL); raise(SIGKILL); }
        }
        for (int k = 0; k < 3; k++) if (ds[k] >= 0) H5Dclose(ds[k]);
        for (int i = 0; i < n; i++) update_curve(&w, loss, S, js[i], rs[i]);
        hid_t g = w.failed ? -1 : H5Gopen2(w.file, "adapters", H5P_DEFAULT);
        if (!w.failed && g < 0) fail(&w, "cannot open group adapters");
        for (int i = 0; i < n && !w.failed; i++) {   // a record's adapter replaces an earlier record's
            const char *id = plan->jobs[js[i]].id;
            htri_t there = H5Lexists(g, id, H5P_DEFAULT);
            if (there < 0 || (there > 0 && H5Ldelete(g, id, H5P_DEFAULT) < 0)) fail(&w, "cannot replace adapter %s", id);
            put_adapter(&w, g, plan, js[i], rs[i]);
        }
        if (g >= 0) H5Gclose(g);
        // the table last: a row says a job is done only once its cells, curve and adapter are in
        for (int c = C_FROM_RECORD; c < N_COLS; c++) update_column(&w, c, plan, n, js, rs, rows);
    }
    if (loss >= 0) H5Dclose(loss);
    w_close(&w, path);
    free(order); free(js); free(rs); free(rows);
    if (!w.failed && longer) return 1;
    if (!w.failed && fsync_path(path, O_RDONLY) != 0) fail(&w, "cannot fsync: %s", strerror(errno));
    if (w.failed) return -1;
    if (written) { written->updates++; written->cells += cells; written->rows += n; }
    return 0;
}
