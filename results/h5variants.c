// Writes the variant axis and the metrics over it (results/h5variants.h).
#include "results/h5variants.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <hdf5_hl.h>
#include "engine/util.h"
#include "sweeps/variants.h"

static hid_t dataset(hid_t file, const char *name, hid_t type, int rank, const hsize_t *dims, const void *data,
                     hid_t dcpl) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t ds = sp < 0 ? -1 : H5Dcreate2(file, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    hsize_t total = 1;
    for (int i = 0; i < rank; i++) total *= dims[i];
    if (ds >= 0 && total && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) { H5Dclose(ds); ds = -1; }
    if (sp >= 0) H5Sclose(sp);
    return ds;
}

static int describe(hid_t ds, hid_t str, const char *text) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t at = H5Acreate2(ds, "description", str, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = at < 0 || H5Awrite(at, str, &text) < 0 ? -1 : 0;
    if (at >= 0) H5Aclose(at);
    H5Sclose(sp);
    return rc;
}

static int eval_index(const Plan *plan, const char *label) {
    for (int i = 0; i < plan->axis[AX_EVAL_TEXT].n; i++)
        if (!strcmp(plan->axis[AX_EVAL_TEXT].labels[i], label)) return i;
    return -1;
}

int h5_write_variants(hid_t file, const Plan *plan, const JobResult *const *by_job, const hid_t *scales,
                      hid_t job_scale, hid_t dcpl, hid_t str, char *err, size_t errlen) {
    int nv = variant_count(plan), rc = 0;
    hsize_t nvh = (hsize_t)nv;
    const char **labels = xmalloc((size_t)nv * sizeof(char *));
    for (int v = 0; v < nv; v++) labels[v] = variant_label(plan, v);
    hid_t vscale = dataset(file, "variant", str, 1, &nvh, labels, dcpl);
    free(labels);
    if (vscale < 0 || H5DSset_scale(vscale, "variant") < 0) {
        errf(err, errlen, "cannot write dataset variant");
        if (vscale >= 0) H5Dclose(vscale);
        return -1;
    }
    hsize_t dims[AX_COUNT + 1];
    size_t n = 1;
    for (int a = 0; a < AX_COUNT; a++) { dims[a] = (hsize_t)plan->axis[a].n; n *= (size_t)plan->axis[a].n; }
    dims[AX_COUNT] = nvh;
    n *= (size_t)nv;
    double *m[3];
    for (int k = 0; k < 3; k++) {
        m[k] = xmalloc((n + 1) * sizeof(double));
        for (size_t i = 0; i < n; i++) m[k][i] = NAN;
    }
    size_t nj = (size_t)plan->n_jobs;
    int64_t *bytes = xcalloc(nj * (size_t)nv + 1, sizeof(int64_t));
    for (int j = 0; j < plan->n_jobs; j++) {
        const JobResult *r = by_job[j];
        if (!r) continue;
        size_t base = 0;
        for (int a = 0; a <= AX_SEED; a++) base = base * dims[a] + (size_t)plan->jobs[j].ax[a];
        for (int e = 0; e < r->n_evals; e++) {
            char eval[sizeof r->evals[e].eval];
            int v = variant_of_cell(plan, r->evals[e].eval, eval, sizeof eval);
            if (v < 0) continue;
            if (!eval[0]) { bytes[(size_t)j * nv + v] = r->evals[e].n_tokens; continue; }
            int ei = eval_index(plan, eval);
            if (ei < 0) continue;
            size_t at = (base * dims[AX_EVAL_TEXT] + (size_t)ei) * (size_t)nv + (size_t)v;
            m[0][at] = r->evals[e].ppl;
            m[1][at] = r->evals[e].nll;
            m[2][at] = (double)r->evals[e].n_tokens;
        }
        if (r->status == JOB_OK) bytes[(size_t)j * nv] = (int64_t)r->adapter_bytes_fp32;
    }
    static const char *const names[3] = {"variant_ppl", "variant_nll", "variant_n_tokens"};
    static const char *const about[3] = {
        "perplexity of the job's adapter under each eval variant on the eval text",
        "mean negative log-likelihood per predicted token (nats) under each eval variant",
        "predicted tokens in the eval text under each eval variant"};
    for (int k = 0; k < 3 && !rc; k++) {
        hid_t ds = dataset(file, names[k], H5T_NATIVE_DOUBLE, AX_COUNT + 1, dims, m[k], dcpl);
        if (ds < 0) { errf(err, errlen, "cannot write dataset %s", names[k]); rc = -1; break; }
        for (int a = 0; a < AX_COUNT && !rc; a++)
            if (H5DSattach_scale(ds, scales[a], (unsigned)a) < 0) rc = -1;
        if (!rc && (H5DSattach_scale(ds, vscale, AX_COUNT) < 0 || describe(ds, str, about[k]))) rc = -1;
        if (rc) errf(err, errlen, "cannot attach dimensions to %s", names[k]);
        H5Dclose(ds);
    }
    if (!rc) {
        hsize_t bd[2] = {(hsize_t)nj, nvh};
        hid_t ds = dataset(file, "variant_adapter_bytes", H5T_NATIVE_INT64, 2, bd, bytes, dcpl);
        if (ds < 0 || H5DSattach_scale(ds, job_scale, 0) < 0 || H5DSattach_scale(ds, vscale, 1) < 0 ||
            describe(ds, str, "bytes of the job's adapter under each eval variant (int8/int4: packed integers "
                     "and a float32 scale per group)")) {
            errf(err, errlen, "cannot write dataset variant_adapter_bytes");
            rc = -1;
        }
        if (ds >= 0) H5Dclose(ds);
    }
    for (int k = 0; k < 3; k++) free(m[k]);
    free(bytes);
    H5Dclose(vscale);
    return rc;
}
