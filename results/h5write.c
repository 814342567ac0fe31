#include "results/h5write.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include "engine/mat.h"
#include "engine/util.h"
#include "results/h5variants.h"
#ifndef SWEEP_GIT
#define SWEEP_GIT ""   // set by CMake on this file only (CMakeLists.txt); "" where another directory compiles it (fuzzers)
#endif

const char *const h5_dim_names[AX_COUNT] = {"base", "condition", "format", "train_user", "seed", "eval_text"};

typedef struct {
    hid_t file, dcpl, gcpl, dxpl, str;
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

// Length of the valid UTF-8 sequence at p, 0 if there is none (overlong, surrogate, > U+10FFFF).
static int utf8_seq(const unsigned char *p) {
    if (p[0] < 0x80) return 1;
    int n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;
    if (n == 4 && p[0] > 0xf4) return 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) return 0;
    if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))) return 0;
    return n;
}

// The file declares its strings UTF-8 and h5netcdf decodes them, but hosts, messages and labels may
// hold any bytes: invalid ones become '?'. Returns the strings to write; *owned the copies made.
static const char **utf8_strings(const void *data, size_t n, char ***owned) {
    const char *const *in = data;
    const char **out = xmalloc((n + 1) * sizeof(char *));
    *owned = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const unsigned char *s = (const unsigned char *)(in[i] ? in[i] : "");
        size_t k = 0, len = strlen((const char *)s);
        int m;
        while (k < len && (m = utf8_seq(s + k)) > 0) k += (size_t)m;
        out[i] = (const char *)s;
        if (k == len) continue;
        char *c = xmalloc(len + 1);
        size_t o = 0;
        for (k = 0; k < len;) {
            m = utf8_seq(s + k);
            if (m > 0) { memcpy(c + o, s + k, (size_t)m); o += (size_t)m; k += (size_t)m; }
            else { c[o++] = '?'; k++; }
        }
        c[o] = 0;
        out[i] = (*owned)[i] = c;
    }
    return out;
}

static void free_owned(char **owned, const char **strs, size_t n) {
    for (size_t i = 0; i < n; i++) free(owned[i]);
    free(owned);
    free(strs);
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
    if (type == w->str) data = strs = utf8_strings(data, (size_t)total, &owned);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t ds = sp < 0 ? -1 : H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, w->dcpl, H5P_DEFAULT);
    if (ds >= 0 && total && data && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, w->dxpl, data) < 0) {
        H5Dclose(ds);
        ds = -1;
    }
    if (sp >= 0) H5Sclose(sp);
    if (strs) free_owned(owned, strs, (size_t)total);
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
    if (type == w->str) data = strs = utf8_strings(data, (size_t)n, &owned);
    hid_t sp = rank ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    hid_t at = sp < 0 ? -1 : H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = at < 0 ? -1 : (rank && n == 0) ? 0 : H5Awrite(at, type, data);
    if (at >= 0) H5Aclose(at);
    if (sp >= 0) H5Sclose(sp);
    if (strs) free_owned(owned, strs, (size_t)n);
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

static int eval_index(const Plan *plan, const char *label) {
    const Axis *a = &plan->axis[AX_EVAL_TEXT];
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->labels[i], label) == 0) return i;
    return -1;
}

static const char *label_or_empty(const Plan *plan, int axis, int i) {
    return i >= 0 && i < plan->axis[axis].n && plan->axis[axis].labels[i] ? plan->axis[axis].labels[i] : "";
}

// Does any job hold a cell for the metric datasets?
static int any_cell(const Plan *plan, const JobResult *const *by_job) {
    for (int j = 0; j < plan->n_jobs; j++)
        if (by_job[j] && by_job[j]->n_evals > 0) return 1;
    return 0;
}

static void write_metrics(W *w, const Plan *plan, const JobResult *const *by_job, const hid_t *scales) {
    hsize_t dims[AX_COUNT];
    size_t n = 1;
    for (int a = 0; a < AX_COUNT; a++) { dims[a] = (hsize_t)plan->axis[a].n; n *= (size_t)plan->axis[a].n; }
    // No cell yet (the file sweep run writes at the start of a new sweep): the datasets are left
    // unwritten with a NaN fill value, which every reader returns for them, instead of O(cells) NaNs
    // written, fsynced and, at the next rebuild, freed again (49 MB at 1,000 users x 1,000 texts).
    int empty = !any_cell(plan, by_job);
    hid_t dcpl = w->dcpl;
    if (empty) {
        double nan = NAN;
        w->dcpl = H5Pcopy(dcpl);
        if (w->dcpl < 0 || H5Pset_fill_value(w->dcpl, H5T_NATIVE_DOUBLE, &nan) < 0) fail(w, "cannot set a fill value");
    }
    double *m[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3 && !empty; k++) {
        m[k] = xmalloc(n * sizeof(double));
        for (size_t i = 0; i < n; i++) m[k][i] = NAN;
    }
    for (int j = 0; j < plan->n_jobs && !empty; j++) {
        const JobResult *r = by_job[j];
        if (!r) continue;
        size_t base = 0;
        for (int a = 0; a <= AX_SEED; a++) base = base * dims[a] + (size_t)plan->jobs[j].ax[a];
        for (int e = 0; e < r->n_evals; e++) {
            int ei = eval_index(plan, r->evals[e].eval);
            if (ei < 0) continue;   // journal_open refuses such records; a stray one has no cell
            size_t at = base * dims[AX_EVAL_TEXT] + (size_t)ei;
            m[0][at] = r->evals[e].ppl;
            m[1][at] = r->evals[e].nll;
            m[2][at] = (double)r->evals[e].n_tokens;
        }
    }
    static const char *const names[3] = {"ppl", "nll", "n_tokens"};
    static const char *const about[3] = {
        "perplexity of the job's adapter on the eval text",
        "mean negative log-likelihood per predicted token (nats)",
        "predicted tokens in the eval text"};
    for (int k = 0; k < 3; k++) {
        hid_t ds = put_dataset(w, w->file, names[k], H5T_NATIVE_DOUBLE, AX_COUNT, dims, m[k]);
        for (int a = 0; a < AX_COUNT && ds >= 0; a++)
            if (H5DSattach_scale(ds, scales[a], (unsigned)a) < 0) fail(w, "cannot attach %s to %s", h5_dim_names[a], names[k]);
        if (ds >= 0) { put_attr_str(w, ds, "description", about[k]); H5Dclose(ds); }
        free(m[k]);
    }
    if (empty && w->dcpl >= 0) H5Pclose(w->dcpl);
    w->dcpl = dcpl;
}

static void write_job_table(W *w, const Plan *plan, const JobResult *const *by_job, hid_t job_scale) {
    hsize_t n = (hsize_t)plan->n_jobs;
    size_t cnt = (size_t)plan->n_jobs;
    const char **s = xmalloc((cnt + 1) * sizeof(char *));
    static const char *const cols[4] = {"job_base", "job_condition", "job_format", "job_train_user"};
    static const int axes[4] = {AX_BASE, AX_CONDITION, AX_FORMAT, AX_TRAIN_USER};
    for (int c = 0; c < 4; c++) {
        for (size_t j = 0; j < cnt; j++) s[j] = label_or_empty(plan, axes[c], plan->jobs[j].ax[axes[c]]);
        put_column(w, cols[c], w->str, n, s, job_scale);
    }
    uint64_t *u64 = xmalloc((cnt + 1) * sizeof(uint64_t));
    for (size_t j = 0; j < cnt; j++) u64[j] = plan->jobs[j].seed;
    put_column(w, "job_seed", H5T_NATIVE_UINT64, n, u64, job_scale);
    // part of what a job is: the format axis's label names it only when the spec listed precisions
    for (size_t j = 0; j < cnt; j++)
        s[j] = plan->formats ? mat_precision_name(plan->formats[plan->jobs[j].ax[AX_FORMAT]].precision) : "";
    put_column(w, "precision", w->str, n, s, job_scale);

    for (size_t j = 0; j < cnt; j++) s[j] = job_status_name(by_job[j] ? by_job[j]->status : JOB_PENDING);
    put_column(w, "status", w->str, n, s, job_scale);
    for (size_t j = 0; j < cnt; j++) s[j] = by_job[j] ? by_job[j]->host : "";
    put_column(w, "host", w->str, n, s, job_scale);
    for (size_t j = 0; j < cnt; j++) s[j] = by_job[j] ? by_job[j]->backend : "";
    put_column(w, "backend", w->str, n, s, job_scale);
    for (size_t j = 0; j < cnt; j++) s[j] = by_job[j] ? by_job[j]->message : "";
    put_column(w, "message", w->str, n, s, job_scale);

    int32_t *i32 = xmalloc((cnt + 1) * sizeof(int32_t));
    for (size_t j = 0; j < cnt; j++) i32[j] = by_job[j] ? by_job[j]->attempts : 0;
    put_column(w, "attempts", H5T_NATIVE_INT32, n, i32, job_scale);
    for (size_t j = 0; j < cnt; j++) i32[j] = by_job[j] ? by_job[j]->rank : -1;
    put_column(w, "rank", H5T_NATIVE_INT32, n, i32, job_scale);

    int64_t *i64 = xmalloc((cnt + 1) * sizeof(int64_t));
    for (size_t j = 0; j < cnt; j++) i64[j] = by_job[j] ? by_job[j]->tokens : 0;
    put_column(w, "tokens", H5T_NATIVE_INT64, n, i64, job_scale);
    for (size_t j = 0; j < cnt; j++) i64[j] = by_job[j] ? (int64_t)by_job[j]->adapter_bytes_fp32 : 0;
    put_column(w, "adapter_bytes", H5T_NATIVE_INT64, n, i64, job_scale);
    for (size_t j = 0; j < cnt; j++) i64[j] = by_job[j] ? (int64_t)by_job[j]->adapter_bytes_fp16 : 0;
    put_column(w, "adapter_bytes_fp16", H5T_NATIVE_INT64, n, i64, job_scale);
    for (size_t j = 0; j < cnt; j++) i64[j] = by_job[j] ? (int64_t)by_job[j]->peak_rss_bytes : 0;
    put_column(w, "peak_rss_bytes", H5T_NATIVE_INT64, n, i64, job_scale);

    double *f64 = xmalloc((cnt + 1) * sizeof(double));
    for (size_t j = 0; j < cnt; j++) f64[j] = by_job[j] ? by_job[j]->seconds : NAN;
    put_column(w, "seconds", H5T_NATIVE_DOUBLE, n, f64, job_scale);
    for (size_t j = 0; j < cnt; j++) f64[j] = by_job[j] && by_job[j]->started > 0 ? by_job[j]->started : NAN;
    put_column(w, "started", H5T_NATIVE_DOUBLE, n, f64, job_scale);
    for (size_t j = 0; j < cnt; j++) f64[j] = by_job[j] ? by_job[j]->final_loss : NAN;
    put_column(w, "final_loss", H5T_NATIVE_DOUBLE, n, f64, job_scale);
    for (size_t j = 0; j < cnt; j++) f64[j] = by_job[j] ? by_job[j]->max_param_change : NAN;
    put_column(w, "max_param_change", H5T_NATIVE_DOUBLE, n, f64, job_scale);
    for (size_t j = 0; j < cnt; j++) s[j] = by_job[j] ? by_job[j]->max_param_tensor : "";
    put_column(w, "max_param_tensor", w->str, n, s, job_scale);
    free(s); free(u64); free(i32); free(i64); free(f64);
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

static void write_adapters(W *w, const Plan *plan, const JobResult *const *by_job) {
    if (w->failed) return;
    hid_t g = H5Gcreate2(w->file, "adapters", H5P_DEFAULT, w->gcpl, H5P_DEFAULT);
    if (g < 0) { fail(w, "cannot create group adapters"); return; }
    for (int j = 0; j < plan->n_jobs && !w->failed; j++) {
        const JobResult *r = by_job[j];
        if (!r || !r->adapter_n || !r->adapter) continue;
        hsize_t n = (hsize_t)r->adapter_n;
        hid_t ds = put_dataset(w, g, plan->jobs[j].id, H5T_NATIVE_FLOAT, 1, &n, r->adapter);
        if (ds < 0) break;
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

int h5_write_results(const char *path, const Plan *plan, const JobResult *const *by_job, const H5WriteInfo *info,
                     char *err, size_t errlen) {
    W w = {.file = -1, .dcpl = -1, .gcpl = -1, .dxpl = -1, .str = -1, .path = path, .err = err, .errlen = errlen};
    char tmp[1100];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) { fail(&w, "path too long"); return -1; }
    for (int a = 0; a < AX_COUNT; a++)
        if (plan->axis[a].n < 0 || (plan->axis[a].n && a != AX_SEED && !plan->axis[a].labels)) {
            fail(&w, "plan axis %s has no labels", h5_dim_names[a]);
            return -1;
        }
    for (int j = 0; j < plan->n_jobs; j++)
        for (int a = 0; a <= AX_SEED; a++)
            if (plan->jobs[j].ax[a] < 0 || plan->jobs[j].ax[a] >= plan->axis[a].n) {
                fail(&w, "plan job %d is off the %s axis", j, h5_dim_names[a]);
                return -1;
            }

    H5E_auto2_t old_fn;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_fn, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);   // failures become our one-line messages

    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    // The temp file has one writer; cluster filesystems without flock would otherwise refuse it.
    H5Pset_file_locking(fapl, 0, 1);
    // No modification times in object headers: the same results give the same bytes.
    H5Pset_obj_track_times(fcpl, 0);
    w.dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(w.dcpl, 0);
    w.gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_obj_track_times(w.gcpl, 0);
    // HDF5 zero-fills a 1 MB conversion buffer per string write by default: most of a rebuild's time.
    w.dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_buffer(w.dxpl, 1 << 16, NULL, NULL);
    w.str = H5Tcopy(H5T_C_S1);
    H5Tset_size(w.str, H5T_VARIABLE);
    H5Tset_cset(w.str, H5T_CSET_UTF8);

    w.file = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
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
    if (w.file >= 0 && H5Fclose(w.file) < 0) fail(&w, "cannot finish %s", tmp);
    H5Tclose(w.str);
    H5Pclose(w.dcpl);
    H5Pclose(w.gcpl);
    H5Pclose(w.dxpl);
    H5Pclose(fapl);
    H5Pclose(fcpl);
    H5Eset_auto2(H5E_DEFAULT, old_fn, old_data);

    if (!w.failed && fsync_path(tmp, O_RDONLY) != 0) fail(&w, "cannot fsync %s: %s", tmp, strerror(errno));
    if (!w.failed && rename(tmp, path) != 0) fail(&w, "cannot rename %s into place: %s", tmp, strerror(errno));
    if (w.failed) {
        unlink(tmp);
        return -1;
    }
    // the rename itself must reach the disk before the file counts as written
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *(slash == dir ? slash + 1 : slash) = 0; else snprintf(dir, sizeof dir, ".");
    (void)fsync_path(dir, O_RDONLY | O_DIRECTORY);
    return 0;
}
