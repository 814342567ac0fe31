// Reading a results file back into a ResultsFile (results/h5read.h), and the small HDF5 helpers that
// results/h5adapter.c and results/h5compare.c share with it (results/h5read_impl.h).
#include "results/h5read.h"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hdf5.h>
#include "engine/util.h"
#include "results/h5read_impl.h"
#include "results/h5write.h"

void h5r_fail(R *r, const char *fmt, ...) {
    if (r->failed) return;
    r->failed = 1;
    if (!r->err || !r->errlen) return;
    int n = snprintf(r->err, r->errlen, "%s: ", r->path);
    if (n < 0 || (size_t)n >= r->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

// HDF5 prints its error stack by default; a bad file should give our one line instead.
void h5r_quiet_begin(Quiet *q) {
    H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void h5r_quiet_end(const Quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

hid_t h5r_open(R *r) {
    if (access(r->path, R_OK) != 0) { h5r_fail(r, "%s", strerror(errno)); return -1; }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    H5Pset_file_locking(fapl, 0, 1);
    hid_t f = H5Fopen(r->path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) h5r_fail(r, "not a readable HDF5 file");
    return f;
}

// Opens a dataset of the given rank; dims receives its shape (checked against want where want[i] != -1).
static hid_t open_ds(R *r, hid_t loc, const char *name, int rank, const long long *want, hsize_t *dims) {
    if (r->failed) return -1;
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) { h5r_fail(r, "no dataset %s", name); return -1; }
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) { h5r_fail(r, "%s is not a dataset", name); return -1; }
    hid_t sp = H5Dget_space(ds);
    int nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (nd != rank) {
        h5r_fail(r, "%s has %d dimensions, expected %d", name, nd, rank);
    } else {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        for (int i = 0; i < rank && want; i++)
            if (want[i] >= 0 && dims[i] != (hsize_t)want[i])
                h5r_fail(r, "%s has %llu entries on dimension %d, expected %lld", name, (unsigned long long)dims[i], i,
                         want[i]);
    }
    if (sp >= 0) H5Sclose(sp);
    if (r->failed) { H5Dclose(ds); return -1; }
    return ds;
}

static size_t count_of(int rank, const hsize_t *dims) {
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    return n;
}

void *h5r_read_num(R *r, hid_t loc, const char *name, hid_t memtype, int rank, const long long *want,
                   hsize_t *dims) {
    hid_t ds = open_ds(r, loc, name, rank, want, dims);
    if (ds < 0) return NULL;
    hid_t t = H5Dget_type(ds);
    H5T_class_t cls = H5Tget_class(t);
    H5Tclose(t);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) { h5r_fail(r, "%s is not numeric", name); H5Dclose(ds); return NULL; }
    size_t n = count_of(rank, dims);
    void *buf = xmalloc((n + 1) * H5Tget_size(memtype));
    if (n && H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        h5r_fail(r, "cannot read %s", name);
        free(buf);
        buf = NULL;
    }
    H5Dclose(ds);
    return buf;
}

// Strings from a dataset or attribute of n elements, variable or fixed length; each malloc'd.
static char **read_strings(R *r, hid_t obj, int is_attr, hid_t ftype, size_t n, const char *name) {
    if (H5Tget_class(ftype) != H5T_STRING) { h5r_fail(r, "%s is not text", name); return NULL; }
    char **out = xcalloc(n + 1, sizeof(char *));
    herr_t rc;
    if (H5Tis_variable_str(ftype) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ftype));
        char **v = xcalloc(n + 1, sizeof(char *));
        rc = n == 0 ? 0 : is_attr ? H5Aread(obj, mt, v) : H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        for (size_t i = 0; i < n && rc >= 0; i++) out[i] = strdup(v[i] ? v[i] : "");
        if (rc >= 0 && n) {
            hid_t sp = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, v);
            H5Sclose(sp);
        }
        free(v);
        H5Tclose(mt);
    } else {
        size_t sz = H5Tget_size(ftype);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, sz + 1);
        H5Tset_strpad(mt, H5T_STR_NULLTERM);
        char *v = xcalloc(n + 1, sz + 1);
        rc = n == 0 ? 0 : is_attr ? H5Aread(obj, mt, v) : H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        for (size_t i = 0; i < n && rc >= 0; i++) out[i] = strdup(v + i * (sz + 1));
        free(v);
        H5Tclose(mt);
    }
    if (rc < 0) {
        h5r_fail(r, "cannot read %s", name);
        for (size_t i = 0; i < n; i++) free(out[i]);
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (!out[i]) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
    return out;
}

static char **read_str_ds(R *r, hid_t loc, const char *name, long long want, hsize_t *n) {
    hid_t ds = open_ds(r, loc, name, 1, &want, n);
    if (ds < 0) return NULL;
    hid_t t = H5Dget_type(ds);
    char **s = read_strings(r, ds, 0, t, (size_t)*n, name);
    H5Tclose(t);
    H5Dclose(ds);
    return s;
}

static void free_strings(char **s, size_t n) {
    if (!s) return;
    for (size_t i = 0; i < n; i++) free(s[i]);
    free(s);
}

// A string attribute, scalar (n == NULL) or 1-D (*n receives the count).
static char **read_attr_strings(R *r, hid_t loc, const char *name, int *n) {
    if (r->failed) return NULL;
    if (H5Aexists(loc, name) <= 0) { h5r_fail(r, "no attribute %s", name); return NULL; }
    hid_t at = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t sp = H5Aget_space(at);
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t cnt = 1;
    if (nd == 1) H5Sget_simple_extent_dims(sp, &cnt, NULL);
    H5Sclose(sp);
    char **s = NULL;
    if (nd > 1 || (nd == 1 && !n) || (nd == 0 && n)) {
        h5r_fail(r, "attribute %s has the wrong shape", name);
    } else {
        hid_t t = H5Aget_type(at);
        s = read_strings(r, at, 1, t, (size_t)cnt, name);
        H5Tclose(t);
        if (n) *n = (int)cnt;
    }
    H5Aclose(at);
    return s;
}

char *h5r_read_attr_str(R *r, hid_t loc, const char *name) {
    char **s = read_attr_strings(r, loc, name, NULL);
    if (!s) return NULL;
    char *v = s[0];
    free(s);
    return v;
}

static int find_label(const Axis *a, const char *label) {
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->labels[i], label) == 0) return i;
    return -1;
}

int results_axis_find(const ResultsFile *rf, int axis, const char *label) { return find_label(&rf->axis[axis], label); }

size_t results_cell(const ResultsFile *rf, const int idx[AX_COUNT]) {
    size_t at = 0;
    for (int a = 0; a < AX_COUNT; a++) at = at * (size_t)rf->axis[a].n + (size_t)idx[a];
    return at;
}

static void read_axes(R *r, hid_t f, ResultsFile *rf) {
    for (int a = 0; a < AX_COUNT && !r->failed; a++) {
        hsize_t n = 0;
        if (a == AX_SEED) {
            rf->seeds = h5r_read_num(r, f, h5_dim_names[a], H5T_NATIVE_UINT64, 1, NULL, &n);
            if (!rf->seeds) return;
            rf->axis[a].labels = xcalloc(n + 1, sizeof(char *));
            for (hsize_t i = 0; i < n; i++) {
                char buf[24];
                snprintf(buf, sizeof buf, "%" PRIu64, rf->seeds[i]);
                rf->axis[a].labels[i] = strdup(buf);
            }
        } else {
            rf->axis[a].labels = read_str_ds(r, f, h5_dim_names[a], -1, &n);
            if (!rf->axis[a].labels) return;
        }
        rf->axis[a].n = (int)n;
    }
}

static void read_metrics(R *r, hid_t f, ResultsFile *rf) {
    if (r->failed) return;
    long long want[AX_COUNT];
    rf->n_cells = 1;
    for (int a = 0; a < AX_COUNT; a++) { want[a] = rf->axis[a].n; rf->n_cells *= (size_t)rf->axis[a].n; }
    hsize_t dims[AX_COUNT];
    rf->ppl = h5r_read_num(r, f, "ppl", H5T_NATIVE_DOUBLE, AX_COUNT, want, dims);
    rf->nll = h5r_read_num(r, f, "nll", H5T_NATIVE_DOUBLE, AX_COUNT, want, dims);
    rf->n_tokens = h5r_read_num(r, f, "n_tokens", H5T_NATIVE_DOUBLE, AX_COUNT, want, dims);
}

static void read_jobs(R *r, hid_t f, ResultsFile *rf) {
    if (r->failed) return;
    hsize_t n = 0, d[2];
    char **ids = read_str_ds(r, f, "job", -1, &n);
    if (!ids) return;
    long long want = (long long)n;
    rf->n_jobs = (int)n;
    rf->jobs = xcalloc(n + 1, sizeof(ResultsJob));
    static const char *const cols[4] = {"job_base", "job_condition", "job_format", "job_train_user"};
    static const int axes[4] = {AX_BASE, AX_CONDITION, AX_FORMAT, AX_TRAIN_USER};
    for (hsize_t j = 0; j < n; j++) snprintf(rf->jobs[j].id, sizeof rf->jobs[j].id, "%s", ids[j]);
    free_strings(ids, n);
    for (int c = 0; c < 4 && !r->failed; c++) {
        char **s = read_str_ds(r, f, cols[c], want, d);
        for (hsize_t j = 0; j < n && s && !r->failed; j++) {
            rf->jobs[j].ax[axes[c]] = find_label(&rf->axis[axes[c]], s[j]);
            if (rf->jobs[j].ax[axes[c]] < 0)
                h5r_fail(r, "%s[%llu] = '%s' is not on the %s axis", cols[c], (unsigned long long)j, s[j],
                         h5_dim_names[axes[c]]);
        }
        free_strings(s, n);
    }
    uint64_t *seed = h5r_read_num(r, f, "job_seed", H5T_NATIVE_UINT64, 1, &want, d);
    for (hsize_t j = 0; j < n && seed && !r->failed; j++) {
        rf->jobs[j].seed = seed[j];
        rf->jobs[j].ax[AX_SEED] = -1;
        for (int i = 0; i < rf->axis[AX_SEED].n; i++)
            if (rf->seeds[i] == seed[j]) rf->jobs[j].ax[AX_SEED] = i;
        if (rf->jobs[j].ax[AX_SEED] < 0)
            h5r_fail(r, "job_seed[%llu] = %" PRIu64 " is not on the seed axis", (unsigned long long)j, seed[j]);
    }
    free(seed);
    // optional: written since precisions could be chosen; every earlier file computed in fp32
    int has_precision = !r->failed && H5Lexists(f, "precision", H5P_DEFAULT) > 0;
    char **prec = has_precision ? read_str_ds(r, f, "precision", want, d) : NULL;
    for (hsize_t j = 0; j < n && !r->failed; j++)
        snprintf(rf->jobs[j].precision, sizeof rf->jobs[j].precision, "%s", prec ? prec[j] : "fp32");
    free_strings(prec, n);
    char **st = r->failed ? NULL : read_str_ds(r, f, "status", want, d);
    for (hsize_t j = 0; j < n && st && !r->failed; j++)
        if (job_status_parse(st[j], &rf->jobs[j].status) != 0)
            h5r_fail(r, "status[%llu] = '%s' is not a job status", (unsigned long long)j, st[j]);
    free_strings(st, n);
    char **host = r->failed ? NULL : read_str_ds(r, f, "host", want, d);
    for (hsize_t j = 0; j < n && host; j++) snprintf(rf->jobs[j].host, sizeof rf->jobs[j].host, "%s", host[j]);
    free_strings(host, n);
    // optional: files from before the column do not say what computed their jobs
    int has_backend = !r->failed && H5Lexists(f, "backend", H5P_DEFAULT) > 0;
    char **be = has_backend ? read_str_ds(r, f, "backend", want, d) : NULL;
    for (hsize_t j = 0; j < n && be; j++) snprintf(rf->jobs[j].backend, sizeof rf->jobs[j].backend, "%s", be[j]);
    free_strings(be, n);
    char **msg = r->failed ? NULL : read_str_ds(r, f, "message", want, d);
    for (hsize_t j = 0; j < n && msg; j++) snprintf(rf->jobs[j].message, sizeof rf->jobs[j].message, "%s", msg[j]);
    free_strings(msg, n);

    int32_t *attempts = h5r_read_num(r, f, "attempts", H5T_NATIVE_INT32, 1, &want, d);
    int32_t *rank = h5r_read_num(r, f, "rank", H5T_NATIVE_INT32, 1, &want, d);
    int64_t *tokens = h5r_read_num(r, f, "tokens", H5T_NATIVE_INT64, 1, &want, d);
    int64_t *b32 = h5r_read_num(r, f, "adapter_bytes", H5T_NATIVE_INT64, 1, &want, d);
    int64_t *b16 = h5r_read_num(r, f, "adapter_bytes_fp16", H5T_NATIVE_INT64, 1, &want, d);
    double *sec = h5r_read_num(r, f, "seconds", H5T_NATIVE_DOUBLE, 1, &want, d);
    double *fl = h5r_read_num(r, f, "final_loss", H5T_NATIVE_DOUBLE, 1, &want, d);
    if (!r->failed)
        for (hsize_t j = 0; j < n; j++) {
            ResultsJob *J = &rf->jobs[j];
            J->attempts = attempts[j];
            J->rank = rank[j];
            J->tokens = tokens[j];
            J->adapter_bytes_fp32 = b32[j];
            J->adapter_bytes_fp16 = b16[j];
            J->seconds = sec[j];
            J->final_loss = fl[j];
        }
    free(attempts); free(rank); free(tokens); free(b32); free(b16); free(sec); free(fl);
    // optional: files from before the column measured no peaks (0: unknown)
    if (!r->failed && H5Lexists(f, "peak_rss_bytes", H5P_DEFAULT) > 0) {
        int64_t *peak = h5r_read_num(r, f, "peak_rss_bytes", H5T_NATIVE_INT64, 1, &want, d);
        for (hsize_t j = 0; j < n && peak && !r->failed; j++) rf->jobs[j].peak_rss_bytes = peak[j] > 0 ? (uint64_t)peak[j] : 0;
        free(peak);
    }
    // optional: files from before the columns did not record how far training moved (NaN, "")
    for (hsize_t j = 0; j < n && !r->failed; j++) rf->jobs[j].max_param_change = NAN;
    if (!r->failed && H5Lexists(f, "max_param_change", H5P_DEFAULT) > 0) {
        double *mc = h5r_read_num(r, f, "max_param_change", H5T_NATIVE_DOUBLE, 1, &want, d);
        for (hsize_t j = 0; j < n && mc && !r->failed; j++) rf->jobs[j].max_param_change = mc[j];
        free(mc);
    }
    char **mt = !r->failed && H5Lexists(f, "max_param_tensor", H5P_DEFAULT) > 0
                    ? read_str_ds(r, f, "max_param_tensor", want, d) : NULL;
    for (hsize_t j = 0; j < n && mt; j++)
        snprintf(rf->jobs[j].max_param_tensor, sizeof rf->jobs[j].max_param_tensor, "%s", mt[j]);
    free_strings(mt, n);
    if (!r->failed && H5Lexists(f, "started", H5P_DEFAULT) > 0) {
        double *st = h5r_read_num(r, f, "started", H5T_NATIVE_DOUBLE, 1, &want, d);
        for (hsize_t j = 0; j < n && st && !r->failed; j++) rf->jobs[j].started = st[j] > 0 ? st[j] : 0;
        free(st);
    }
}

static void read_curves(R *r, hid_t f, ResultsFile *rf) {
    if (r->failed) return;
    long long want[2] = {rf->n_jobs, -1};
    hsize_t d[2];
    rf->loss = h5r_read_num(r, f, "loss", H5T_NATIVE_FLOAT, 2, want, d);
    if (rf->loss) rf->n_steps = (int)d[1];
}

// eval.variants' datasets, when the file has them (results/h5variants.h).
static void read_variants(R *r, hid_t f, ResultsFile *rf) {
    if (r->failed || H5Lexists(f, "variant", H5P_DEFAULT) <= 0) return;
    hsize_t nv = 0, d[AX_COUNT + 1];
    rf->variants = read_str_ds(r, f, "variant", -1, &nv);
    if (!rf->variants) return;
    rf->n_variants = (int)nv;
    long long want[AX_COUNT + 1];
    for (int a = 0; a < AX_COUNT; a++) want[a] = rf->axis[a].n;
    want[AX_COUNT] = (long long)nv;
    rf->vppl = h5r_read_num(r, f, "variant_ppl", H5T_NATIVE_DOUBLE, AX_COUNT + 1, want, d);
    rf->vnll = h5r_read_num(r, f, "variant_nll", H5T_NATIVE_DOUBLE, AX_COUNT + 1, want, d);
    rf->vn_tokens = h5r_read_num(r, f, "variant_n_tokens", H5T_NATIVE_DOUBLE, AX_COUNT + 1, want, d);
    long long wb[2] = {rf->n_jobs, (long long)nv};
    rf->vbytes = h5r_read_num(r, f, "variant_adapter_bytes", H5T_NATIVE_INT64, 2, wb, d);
}

static void read_attrs(R *r, hid_t f, ResultsFile *rf) {
    rf->spec = h5r_read_attr_str(r, f, "spec");
    rf->spec_hash = h5r_read_attr_str(r, f, "spec_hash");
    rf->protocol = h5r_read_attr_str(r, f, "protocol");
    rf->tool_version = h5r_read_attr_str(r, f, "tool_version");
    rf->created_by = h5r_read_attr_str(r, f, "created_by");
    rf->base_hashes = read_attr_strings(r, f, "base_hashes", &rf->n_base_hashes);
    if (!r->failed && H5Aexists(f, "tokenizer_hashes") > 0)
        rf->tokenizer_hashes = read_attr_strings(r, f, "tokenizer_hashes", &rf->n_tokenizer_hashes);
    if (!r->failed && H5Aexists(f, "eval_hashes") > 0)
        rf->eval_hashes = read_attr_strings(r, f, "eval_hashes", &rf->n_eval_hashes);
    if (!r->failed && rf->n_tokenizer_hashes && rf->n_tokenizer_hashes != rf->axis[AX_BASE].n)
        h5r_fail(r, "attribute tokenizer_hashes has %d entries for %d bases", rf->n_tokenizer_hashes,
                 rf->axis[AX_BASE].n);
    if (!r->failed && rf->n_eval_hashes && rf->n_eval_hashes != rf->axis[AX_EVAL_TEXT].n)
        h5r_fail(r, "attribute eval_hashes has %d entries for %d eval texts", rf->n_eval_hashes,
                 rf->axis[AX_EVAL_TEXT].n);
}

int h5_read_results(const char *path, ResultsFile *rf, char *err, size_t errlen) {
    memset(rf, 0, sizeof *rf);
    R r = {path, err, errlen, 0};
    Quiet q;
    h5r_quiet_begin(&q);
    hid_t f = h5r_open(&r);
    if (f >= 0) {
        read_axes(&r, f, rf);
        read_metrics(&r, f, rf);
        read_jobs(&r, f, rf);
        read_curves(&r, f, rf);
        read_variants(&r, f, rf);
        if (!r.failed) read_attrs(&r, f, rf);
        H5Fclose(f);
    }
    h5r_quiet_end(&q);
    if (r.failed) { results_file_free(rf); return -1; }
    return 0;
}

void results_file_free(ResultsFile *rf) {
    for (int a = 0; a < AX_COUNT; a++) free_strings(rf->axis[a].labels, (size_t)rf->axis[a].n);
    free(rf->seeds);
    free(rf->ppl); free(rf->nll); free(rf->n_tokens);
    free(rf->jobs);
    free(rf->loss);
    free(rf->spec); free(rf->spec_hash); free(rf->protocol); free(rf->tool_version); free(rf->created_by);
    free_strings(rf->base_hashes, (size_t)rf->n_base_hashes);
    free_strings(rf->tokenizer_hashes, (size_t)rf->n_tokenizer_hashes);
    free_strings(rf->eval_hashes, (size_t)rf->n_eval_hashes);
    free_strings(rf->variants, (size_t)rf->n_variants);
    free(rf->vppl); free(rf->vnll); free(rf->vn_tokens); free(rf->vbytes);
    memset(rf, 0, sizeof *rf);
}
