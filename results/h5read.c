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
#include "results/h5write.h"

typedef struct {
    const char *path;
    char *err;
    size_t errlen;
    int failed;
} R;

static void rfail(R *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rfail(R *r, const char *fmt, ...) {
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

typedef struct { H5E_auto2_t fn; void *data; } Quiet;

// HDF5 prints its error stack by default; a bad file should give our one line instead.
static void quiet_begin(Quiet *q) {
    H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void quiet_end(const Quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

static hid_t open_file(R *r) {
    if (access(r->path, R_OK) != 0) { rfail(r, "%s", strerror(errno)); return -1; }
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    H5Pset_file_locking(fapl, 0, 1);
    hid_t f = H5Fopen(r->path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) rfail(r, "not a readable HDF5 file");
    return f;
}

// Opens a dataset of the given rank; dims receives its shape (checked against want where want[i] != -1).
static hid_t open_ds(R *r, hid_t loc, const char *name, int rank, const long long *want, hsize_t *dims) {
    if (r->failed) return -1;
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) { rfail(r, "no dataset %s", name); return -1; }
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) { rfail(r, "%s is not a dataset", name); return -1; }
    hid_t sp = H5Dget_space(ds);
    int nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    if (nd != rank) {
        rfail(r, "%s has %d dimensions, expected %d", name, nd, rank);
    } else {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        for (int i = 0; i < rank && want; i++)
            if (want[i] >= 0 && dims[i] != (hsize_t)want[i])
                rfail(r, "%s has %llu entries on dimension %d, expected %lld", name, (unsigned long long)dims[i], i,
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

// Reads a numeric dataset converted to memtype; NULL after a failure.
static void *read_num(R *r, hid_t loc, const char *name, hid_t memtype, int rank, const long long *want,
                      hsize_t *dims) {
    hid_t ds = open_ds(r, loc, name, rank, want, dims);
    if (ds < 0) return NULL;
    hid_t t = H5Dget_type(ds);
    H5T_class_t cls = H5Tget_class(t);
    H5Tclose(t);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) { rfail(r, "%s is not numeric", name); H5Dclose(ds); return NULL; }
    size_t n = count_of(rank, dims);
    void *buf = xmalloc((n + 1) * H5Tget_size(memtype));
    if (n && H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        rfail(r, "cannot read %s", name);
        free(buf);
        buf = NULL;
    }
    H5Dclose(ds);
    return buf;
}

// Strings from a dataset or attribute of n elements, variable or fixed length; each malloc'd.
static char **read_strings(R *r, hid_t obj, int is_attr, hid_t ftype, size_t n, const char *name) {
    if (H5Tget_class(ftype) != H5T_STRING) { rfail(r, "%s is not text", name); return NULL; }
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
        rfail(r, "cannot read %s", name);
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
    if (H5Aexists(loc, name) <= 0) { rfail(r, "no attribute %s", name); return NULL; }
    hid_t at = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t sp = H5Aget_space(at);
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t cnt = 1;
    if (nd == 1) H5Sget_simple_extent_dims(sp, &cnt, NULL);
    H5Sclose(sp);
    char **s = NULL;
    if (nd > 1 || (nd == 1 && !n) || (nd == 0 && n)) {
        rfail(r, "attribute %s has the wrong shape", name);
    } else {
        hid_t t = H5Aget_type(at);
        s = read_strings(r, at, 1, t, (size_t)cnt, name);
        H5Tclose(t);
        if (n) *n = (int)cnt;
    }
    H5Aclose(at);
    return s;
}

static char *read_attr_str(R *r, hid_t loc, const char *name) {
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
            rf->seeds = read_num(r, f, h5_dim_names[a], H5T_NATIVE_UINT64, 1, NULL, &n);
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
    rf->ppl = read_num(r, f, "ppl", H5T_NATIVE_DOUBLE, AX_COUNT, want, dims);
    rf->nll = read_num(r, f, "nll", H5T_NATIVE_DOUBLE, AX_COUNT, want, dims);
    rf->n_tokens = read_num(r, f, "n_tokens", H5T_NATIVE_DOUBLE, AX_COUNT, want, dims);
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
                rfail(r, "%s[%llu] = '%s' is not on the %s axis", cols[c], (unsigned long long)j, s[j],
                      h5_dim_names[axes[c]]);
        }
        free_strings(s, n);
    }
    uint64_t *seed = read_num(r, f, "job_seed", H5T_NATIVE_UINT64, 1, &want, d);
    for (hsize_t j = 0; j < n && seed && !r->failed; j++) {
        rf->jobs[j].seed = seed[j];
        rf->jobs[j].ax[AX_SEED] = -1;
        for (int i = 0; i < rf->axis[AX_SEED].n; i++)
            if (rf->seeds[i] == seed[j]) rf->jobs[j].ax[AX_SEED] = i;
        if (rf->jobs[j].ax[AX_SEED] < 0)
            rfail(r, "job_seed[%llu] = %" PRIu64 " is not on the seed axis", (unsigned long long)j, seed[j]);
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
            rfail(r, "status[%llu] = '%s' is not a job status", (unsigned long long)j, st[j]);
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

    int32_t *attempts = read_num(r, f, "attempts", H5T_NATIVE_INT32, 1, &want, d);
    int32_t *rank = read_num(r, f, "rank", H5T_NATIVE_INT32, 1, &want, d);
    int64_t *tokens = read_num(r, f, "tokens", H5T_NATIVE_INT64, 1, &want, d);
    int64_t *b32 = read_num(r, f, "adapter_bytes", H5T_NATIVE_INT64, 1, &want, d);
    int64_t *b16 = read_num(r, f, "adapter_bytes_fp16", H5T_NATIVE_INT64, 1, &want, d);
    double *sec = read_num(r, f, "seconds", H5T_NATIVE_DOUBLE, 1, &want, d);
    double *fl = read_num(r, f, "final_loss", H5T_NATIVE_DOUBLE, 1, &want, d);
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
        int64_t *peak = read_num(r, f, "peak_rss_bytes", H5T_NATIVE_INT64, 1, &want, d);
        for (hsize_t j = 0; j < n && peak && !r->failed; j++) rf->jobs[j].peak_rss_bytes = peak[j] > 0 ? (uint64_t)peak[j] : 0;
        free(peak);
    }
    // optional: files from before the columns did not record how far training moved (NaN, "")
    for (hsize_t j = 0; j < n && !r->failed; j++) rf->jobs[j].max_param_change = NAN;
    if (!r->failed && H5Lexists(f, "max_param_change", H5P_DEFAULT) > 0) {
        double *mc = read_num(r, f, "max_param_change", H5T_NATIVE_DOUBLE, 1, &want, d);
        for (hsize_t j = 0; j < n && mc && !r->failed; j++) rf->jobs[j].max_param_change = mc[j];
        free(mc);
    }
    char **mt = !r->failed && H5Lexists(f, "max_param_tensor", H5P_DEFAULT) > 0
                    ? read_str_ds(r, f, "max_param_tensor", want, d) : NULL;
    for (hsize_t j = 0; j < n && mt; j++)
        snprintf(rf->jobs[j].max_param_tensor, sizeof rf->jobs[j].max_param_tensor, "%s", mt[j]);
    free_strings(mt, n);
    if (!r->failed && H5Lexists(f, "started", H5P_DEFAULT) > 0) {
        double *st = read_num(r, f, "started", H5T_NATIVE_DOUBLE, 1, &want, d);
        for (hsize_t j = 0; j < n && st && !r->failed; j++) rf->jobs[j].started = st[j] > 0 ? st[j] : 0;
        free(st);
    }
}

static void read_curves(R *r, hid_t f, ResultsFile *rf) {
    if (r->failed) return;
    long long want[2] = {rf->n_jobs, -1};
    hsize_t d[2];
    rf->loss = read_num(r, f, "loss", H5T_NATIVE_FLOAT, 2, want, d);
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
    rf->vppl = read_num(r, f, "variant_ppl", H5T_NATIVE_DOUBLE, AX_COUNT + 1, want, d);
    rf->vnll = read_num(r, f, "variant_nll", H5T_NATIVE_DOUBLE, AX_COUNT + 1, want, d);
    rf->vn_tokens = read_num(r, f, "variant_n_tokens", H5T_NATIVE_DOUBLE, AX_COUNT + 1, want, d);
    long long wb[2] = {rf->n_jobs, (long long)nv};
    rf->vbytes = read_num(r, f, "variant_adapter_bytes", H5T_NATIVE_INT64, 2, wb, d);
}

static void read_attrs(R *r, hid_t f, ResultsFile *rf) {
    rf->spec = read_attr_str(r, f, "spec");
    rf->spec_hash = read_attr_str(r, f, "spec_hash");
    rf->protocol = read_attr_str(r, f, "protocol");
    rf->tool_version = read_attr_str(r, f, "tool_version");
    rf->created_by = read_attr_str(r, f, "created_by");
    rf->base_hashes = read_attr_strings(r, f, "base_hashes", &rf->n_base_hashes);
    if (!r->failed && H5Aexists(f, "tokenizer_hashes") > 0)
        rf->tokenizer_hashes = read_attr_strings(r, f, "tokenizer_hashes", &rf->n_tokenizer_hashes);
    if (!r->failed && H5Aexists(f, "eval_hashes") > 0)
        rf->eval_hashes = read_attr_strings(r, f, "eval_hashes", &rf->n_eval_hashes);
    if (!r->failed && rf->n_tokenizer_hashes && rf->n_tokenizer_hashes != rf->axis[AX_BASE].n)
        rfail(r, "attribute tokenizer_hashes has %d entries for %d bases", rf->n_tokenizer_hashes, rf->axis[AX_BASE].n);
    if (!r->failed && rf->n_eval_hashes && rf->n_eval_hashes != rf->axis[AX_EVAL_TEXT].n)
        rfail(r, "attribute eval_hashes has %d entries for %d eval texts", rf->n_eval_hashes, rf->axis[AX_EVAL_TEXT].n);
}

int h5_read_results(const char *path, ResultsFile *rf, char *err, size_t errlen) {
    memset(rf, 0, sizeof *rf);
    R r = {path, err, errlen, 0};
    Quiet q;
    quiet_begin(&q);
    hid_t f = open_file(&r);
    if (f >= 0) {
        read_axes(&r, f, rf);
        read_metrics(&r, f, rf);
        read_jobs(&r, f, rf);
        read_curves(&r, f, rf);
        read_variants(&r, f, rf);
        if (!r.failed) read_attrs(&r, f, rf);
        H5Fclose(f);
    }
    quiet_end(&q);
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

static int safe_id(const char *id) {
    if (!id[0] || strlen(id) > 64) return 0;
    for (const char *s = id; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '-' || *s == '_'))
            return 0;
    return 1;
}

static int read_adapter_in(R *r, hid_t f, const char *job_id, float **data, size_t *n, int *ndim, int64_t shape[4],
                           char *format, size_t formatlen) {
    *data = NULL; *n = 0; *ndim = 0;
    if (format && formatlen) format[0] = 0;
    if (!safe_id(job_id)) { rfail(r, "'%s' is not a job id", job_id); return -1; }
    if (H5Lexists(f, "adapters", H5P_DEFAULT) <= 0) return 1;
    hid_t g = H5Gopen2(f, "adapters", H5P_DEFAULT);
    if (g < 0) { rfail(r, "adapters is not a group"); return -1; }
    int rc = 1;
    if (H5Lexists(g, job_id, H5P_DEFAULT) > 0) {
        hsize_t d;
        char name[96];
        snprintf(name, sizeof name, "adapters/%s", job_id);
        *data = read_num(r, f, name, H5T_NATIVE_FLOAT, 1, NULL, &d);
        if (*data) {
            *n = (size_t)d;
            hid_t ds = H5Dopen2(g, job_id, H5P_DEFAULT);
            char *fmt = read_attr_str(r, ds, "format");
            if (fmt && format && formatlen) snprintf(format, formatlen, "%s", fmt);
            free(fmt);
            if (!r->failed && H5Aexists(ds, "shape") > 0) {
                hid_t at = H5Aopen(ds, "shape", H5P_DEFAULT);
                hid_t sp = H5Aget_space(at);
                hssize_t cnt = H5Sget_simple_extent_npoints(sp);
                if (H5Sget_simple_extent_ndims(sp) != 1 || cnt < 1 || cnt > 4 ||
                    H5Aread(at, H5T_NATIVE_INT64, shape) < 0)
                    rfail(r, "%s: attribute shape is not 1 to 4 integers", name);
                else
                    *ndim = (int)cnt;
                H5Sclose(sp);
                H5Aclose(at);
            } else if (!r->failed) {
                rfail(r, "%s: no attribute shape", name);
            }
            H5Dclose(ds);
        }
        rc = r->failed ? -1 : 0;
        if (rc) { free(*data); *data = NULL; *n = 0; }
    }
    H5Gclose(g);
    return rc;
}

int h5_read_adapter(const char *path, const char *job_id, float **data, size_t *n, int *ndim, int64_t shape[4],
                    char *format, size_t formatlen, char *err, size_t errlen) {
    R r = {path, err, errlen, 0};
    Quiet q;
    quiet_begin(&q);
    int rc = -1;
    hid_t f = open_file(&r);
    if (f >= 0) {
        rc = read_adapter_in(&r, f, job_id, data, n, ndim, shape, format, formatlen);
        H5Fclose(f);
    }
    quiet_end(&q);
    return rc;
}

// ---- comparison

static void cell_name(const ResultsFile *rf, size_t at, char *out, size_t len) {
    int idx[AX_COUNT];
    for (int a = AX_COUNT - 1; a >= 0; a--) {
        idx[a] = (int)(at % (size_t)rf->axis[a].n);
        at /= (size_t)rf->axis[a].n;
    }
    size_t o = 0;
    for (int a = 0; a < AX_COUNT && o < len; a++) {
        int w = snprintf(out + o, len - o, "%s%s=%s", a ? "," : "", h5_dim_names[a], rf->axis[a].labels[idx[a]]);
        if (w < 0) break;
        o += (size_t)w;
    }
}

static int same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static int compare_loaded(const char *pa, const char *pb, const ResultsFile *a, const ResultsFile *b, char *msg,
                          size_t msglen) {
    for (int ax = 0; ax < AX_COUNT; ax++) {
        if (a->axis[ax].n != b->axis[ax].n) {
            snprintf(msg, msglen, "axis %s: %d labels vs %d", h5_dim_names[ax], a->axis[ax].n, b->axis[ax].n);
            return 1;
        }
        for (int i = 0; i < a->axis[ax].n; i++)
            if (strcmp(a->axis[ax].labels[i], b->axis[ax].labels[i]) != 0) {
                snprintf(msg, msglen, "axis %s[%d]: '%s' vs '%s'", h5_dim_names[ax], i, a->axis[ax].labels[i],
                         b->axis[ax].labels[i]);
                return 1;
            }
    }
    const double *ma[3] = {a->ppl, a->nll, a->n_tokens}, *mb[3] = {b->ppl, b->nll, b->n_tokens};
    static const char *const names[3] = {"ppl", "nll", "n_tokens"};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < a->n_cells; i++)
            if (!same_bits(ma[k][i], mb[k][i])) {
                char cell[512];
                cell_name(a, i, cell, sizeof cell);
                snprintf(msg, msglen, "%s[%s]: %.17g vs %.17g", names[k], cell, ma[k][i], mb[k][i]);
                return 1;
            }
    if (a->n_jobs != b->n_jobs) { snprintf(msg, msglen, "%d jobs vs %d", a->n_jobs, b->n_jobs); return 1; }
    for (int j = 0; j < a->n_jobs; j++) {
        const ResultsJob *x = &a->jobs[j], *y = &b->jobs[j];
        const char *what = strcmp(x->id, y->id) ? "id"
                         : strcmp(x->precision, y->precision) ? "precision"
                         : x->status != y->status ? "status"
                         : x->tokens != y->tokens ? "tokens"
                         : !same_bits(x->final_loss, y->final_loss) ? "final_loss"
                         : !same_bits(x->max_param_change, y->max_param_change) ? "max_param_change"
                         : strcmp(x->max_param_tensor, y->max_param_tensor) ? "max_param_tensor"
                         : x->adapter_bytes_fp32 != y->adapter_bytes_fp32 ? "adapter_bytes"
                         : x->adapter_bytes_fp16 != y->adapter_bytes_fp16 ? "adapter_bytes_fp16" : NULL;
        if (what) {
            snprintf(msg, msglen, "job %d (%s): %s differs (status %s vs %s)", j, x->id, what,
                     job_status_name(x->status), job_status_name(y->status));
            return 1;
        }
    }
    if (a->n_variants != b->n_variants) {
        snprintf(msg, msglen, "variant: %d labels vs %d", a->n_variants, b->n_variants);
        return 1;
    }
    for (int v = 0; v < a->n_variants; v++)
        if (strcmp(a->variants[v], b->variants[v])) {
            snprintf(msg, msglen, "variant[%d]: '%s' vs '%s'", v, a->variants[v], b->variants[v]);
            return 1;
        }
    const double *va[3] = {a->vppl, a->vnll, a->vn_tokens}, *vb[3] = {b->vppl, b->vnll, b->vn_tokens};
    size_t nv = (size_t)a->n_variants;
    for (int k = 0; k < 3 && nv; k++)
        for (size_t i = 0; i < a->n_cells * nv; i++)
            if (!same_bits(va[k][i], vb[k][i])) {
                char cell[512];
                cell_name(a, i / nv, cell, sizeof cell);
                snprintf(msg, msglen, "variant_%s[%s,variant=%s]: %.17g vs %.17g", names[k], cell, a->variants[i % nv],
                         va[k][i], vb[k][i]);
                return 1;
            }
    for (size_t i = 0; i < (size_t)a->n_jobs * nv; i++)
        if (a->vbytes[i] != b->vbytes[i]) {
            snprintf(msg, msglen, "variant_adapter_bytes of job %s, variant %s: %lld vs %lld", a->jobs[i / nv].id,
                     a->variants[i % nv], (long long)a->vbytes[i], (long long)b->vbytes[i]);
            return 1;
        }
    if (a->n_steps != b->n_steps) { snprintf(msg, msglen, "loss: %d steps vs %d", a->n_steps, b->n_steps); return 1; }
    for (size_t i = 0; i < (size_t)a->n_jobs * (size_t)a->n_steps; i++)
        if (memcmp(&a->loss[i], &b->loss[i], sizeof(float)) != 0) {
            size_t j = i / (size_t)a->n_steps;
            snprintf(msg, msglen, "loss of job %s at step %zu: %.9g vs %.9g", a->jobs[j].id, i % (size_t)a->n_steps + 1,
                     a->loss[i], b->loss[i]);
            return 1;
        }
    Quiet q;
    quiet_begin(&q);
    R r[2] = {{pa, msg, msglen, 0}, {pb, msg, msglen, 0}};
    hid_t fa = open_file(&r[0]), fb = fa < 0 ? -1 : open_file(&r[1]);
    int rc = fa < 0 || fb < 0 ? -1 : 0;
    for (int j = 0; j < a->n_jobs && rc == 0; j++) {
        float *da, *db;
        size_t na, nb;
        int ka, kb;
        int64_t sa[4] = {0}, sb[4] = {0};
        char fmta[96], fmtb[96];
        int ra = read_adapter_in(&r[0], fa, a->jobs[j].id, &da, &na, &ka, sa, fmta, sizeof fmta);
        int rb = ra < 0 ? -1 : read_adapter_in(&r[1], fb, b->jobs[j].id, &db, &nb, &kb, sb, fmtb, sizeof fmtb);
        if (ra < 0 || rb < 0) { rc = -1; if (ra == 0) free(da); break; }
        int differ = ra != rb || na != nb || ka != kb || memcmp(sa, sb, sizeof sa) != 0 || strcmp(fmta, fmtb) != 0 ||
                     (na && memcmp(da, db, na * sizeof(float)) != 0);
        free(da);
        free(db);
        if (differ) { snprintf(msg, msglen, "adapters/%s differs", a->jobs[j].id); rc = 1; }
    }
    if (fa >= 0) H5Fclose(fa);
    if (fb >= 0) H5Fclose(fb);
    quiet_end(&q);
    return rc;
}

int h5_compare_results(const char *a, const char *b, char *msg, size_t msglen) {
    ResultsFile ra, rb;
    if (h5_read_results(a, &ra, msg, msglen) != 0) return -1;
    if (h5_read_results(b, &rb, msg, msglen) != 0) { results_file_free(&ra); return -1; }
    int rc = compare_loaded(a, b, &ra, &rb, msg, msglen);
    if (rc == 0 && msg && msglen) msg[0] = 0;
    results_file_free(&ra);
    results_file_free(&rb);
    return rc;
}
