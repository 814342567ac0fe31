#include "results/merge.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/mat.h"
#include "engine/util.h"
#include "mpi/run.h"
#include "results/h5read.h"
#include "results/h5variants.h"
#include "results/h5write.h"

typedef struct {
    int n, cap;
    char **labels;
    const char **hash;          // base: base hash; eval_text: eval hash (borrowed)
    const char **hash2;         // base: tokenizer hash
    const char **owner;         // the input that brought the label, for messages
} MAxis;

typedef struct { int file, job; } Entry;

static const ResultsFile *g_rf;   // for the qsort comparators
static int by_id_then_file(const void *a, const void *b) {
    const Entry *x = a, *y = b;
    int c = strcmp(g_rf[x->file].jobs[x->job].id, g_rf[y->file].jobs[y->job].id);
    return c ? c : x->file != y->file ? x->file - y->file : x->job - y->job;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

// Index of label on the merged axis, adding it (with its hashes) when new; -1 when the hashes disagree.
static int axis_add(MAxis *m, const char *label, const char *h, const char *h2, const char *owner) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->labels[i], label)) {
            if ((h && m->hash[i] && strcmp(h, m->hash[i])) || (h2 && m->hash2[i] && strcmp(h2, m->hash2[i]))) return -1;
            return i;
        }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 16;
        char **l = xcalloc(m->cap, sizeof *l);
        const char **a = xcalloc(m->cap, sizeof *a), **b = xcalloc(m->cap, sizeof *b), **o = xcalloc(m->cap, sizeof *o);
        if (m->n) {
            memcpy(l, m->labels, m->n * sizeof *l); memcpy(a, m->hash, m->n * sizeof *a);
            memcpy(b, m->hash2, m->n * sizeof *b); memcpy(o, m->owner, m->n * sizeof *o);
        }
        free(m->labels); free(m->hash); free(m->hash2); free(m->owner);
        m->labels = l; m->hash = a; m->hash2 = b; m->owner = o;
    }
    m->labels[m->n] = dup_str(label);
    m->hash[m->n] = h; m->hash2[m->n] = h2; m->owner[m->n] = owner;
    return m->n++;
}

static int same_f32(const float *a, const float *b, size_t n) { return !n || memcmp(a, b, n * sizeof *a) == 0; }
static int same_f64(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

// The cell of file f's job j at eval index e: 1 and the values when recorded.
static int cell_of(const ResultsFile *rf, const ResultsJob *J, int e, double v[3]) {
    int idx[AX_COUNT];
    for (int a = 0; a <= AX_SEED; a++) idx[a] = J->ax[a];
    idx[AX_EVAL_TEXT] = e;
    size_t at = results_cell(rf, idx);
    v[0] = rf->ppl[at]; v[1] = rf->nll[at]; v[2] = rf->n_tokens[at];
    return !(isnan(v[0]) && isnan(v[1]) && isnan(v[2]));
}

typedef struct {
    const char *const *paths;
    ResultsFile *rf;
    int **amap[AX_COUNT];       // amap[a][file][label index] = merged index
    char *err;
    size_t errlen;
} M;

// Do file fb's job jb and file fa's job ja say the same, bit for bit? 0 yes; 1 no (err names the field).
static int same_job(M *m, int fa, int ja, int fb, int jb) {
    const ResultsFile *A = &m->rf[fa], *B = &m->rf[fb];
    const ResultsJob *x = &A->jobs[ja], *y = &B->jobs[jb];
    const char *what = NULL;
    for (int a = 0; a < AX_SEED && !what; a++)
        if (m->amap[a][fa][x->ax[a]] != m->amap[a][fb][y->ax[a]]) what = h5_dim_names[a];
    if (!what && strcmp(x->precision, y->precision)) what = "precision";
    if (!what && x->status != y->status) what = "status";
    if (!what && x->tokens != y->tokens) what = "tokens";
    if (!what && !same_f64(x->final_loss, y->final_loss)) what = "final_loss";
    // a file from before the columns (NaN, "") did not record it: nothing to disagree with
    if (!what && !isnan(x->max_param_change) && !isnan(y->max_param_change) &&
        (!same_f64(x->max_param_change, y->max_param_change) || strcmp(x->max_param_tensor, y->max_param_tensor)))
        what = "max_param_change";
    if (!what && (x->adapter_bytes_fp32 != y->adapter_bytes_fp32 || x->adapter_bytes_fp16 != y->adapter_bytes_fp16))
        what = "adapter_bytes";
    if (!what) {   // loss curves over the longer of the two, NaN past a file's last step
        int S = A->n_steps > B->n_steps ? A->n_steps : B->n_steps;
        for (int t = 0; t < S && !what; t++) {
            float p = t < A->n_steps ? A->loss[(size_t)ja * A->n_steps + t] : NAN;
            float q = t < B->n_steps ? B->loss[(size_t)jb * B->n_steps + t] : NAN;
            if (memcmp(&p, &q, sizeof p) && !(isnan(p) && isnan(q))) what = "loss";
        }
    }
    for (int e = 0; e < A->axis[AX_EVAL_TEXT].n && !what; e++) {
        double u[3], v[3];
        if (!cell_of(A, x, e, u)) continue;
        int eb = results_axis_find(B, AX_EVAL_TEXT, A->axis[AX_EVAL_TEXT].labels[e]);
        if (eb < 0 || !cell_of(B, y, eb, v)) continue;   // a cell only one file has joins the union
        for (int k = 0; k < 3; k++)
            if (!same_f64(u[k], v[k])) what = k == 0 ? "ppl" : k == 1 ? "nll" : "n_tokens";
    }
    if (!what) {
        float *da = NULL, *db = NULL;
        size_t na = 0, nb = 0;
        int nda = 0, ndb = 0;
        int64_t sa[4] = {0}, sb[4] = {0};
        char e1[256], e2[256];
        int ra = h5_read_adapter(m->paths[fa], x->id, &da, &na, &nda, sa, NULL, 0, e1, sizeof e1);
        int rb = h5_read_adapter(m->paths[fb], y->id, &db, &nb, &ndb, sb, NULL, 0, e2, sizeof e2);
        if (ra < 0 || rb < 0) {
            snprintf(m->err, m->errlen, "%s", ra < 0 ? e1 : e2);
            free(da); free(db);
            return -1;
        }
        if (ra != rb || na != nb || nda != ndb || memcmp(sa, sb, sizeof sa) || !same_f32(da, db, na)) what = "adapter";
        free(da); free(db);
    }
    if (!what) return 0;
    snprintf(m->err, m->errlen, "job %s: %s differs between %s and %s", x->id, what, m->paths[fa], m->paths[fb]);
    return 1;
}

typedef struct { int file, job; int ax[AX_SEED + 1]; } MJob;
static int by_place(const void *a, const void *b) {
    const MJob *x = a, *y = b;
    for (int k = 0; k <= AX_SEED; k++)
        if (x->ax[k] != y->ax[k]) return x->ax[k] - y->ax[k];
    return strcmp(g_rf[x->file].jobs[x->job].id, g_rf[y->file].jobs[y->job].id);
}

int results_merge(const char *const *inputs, int n, const char *output, char *err, size_t errlen) {
    if (n < 1) { snprintf(err, errlen, "no input files"); return -1; }
    if (access(output_journal_path(output), F_OK) == 0) {
        snprintf(err, errlen, "%s: belongs to a sweep (%s exists): merge into another file", output,
                 output_journal_path(output));
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (!strcmp(inputs[i], output)) { snprintf(err, errlen, "%s: the output is also an input", output); return -1; }
    M m = { .paths = inputs, .err = err, .errlen = errlen };
    m.rf = xcalloc(n, sizeof *m.rf);
    MAxis ax[AX_COUNT];
    memset(ax, 0, sizeof ax);
    for (int a = 0; a < AX_COUNT; a++) m.amap[a] = xcalloc(n, sizeof *m.amap[a]);
    Plan plan;
    memset(&plan, 0, sizeof plan);
    const JobResult **by_job = NULL;
    JobResult *res = NULL;
    MJob *mj = NULL;
    Entry *ent = NULL;
    int rc = -1, nread = 0, nj = 0;
    for (int i = 0; i < n; i++, nread++)
        if (h5_read_results(inputs[i], &m.rf[i], err, errlen)) goto out;
    g_rf = m.rf;
    for (int i = 0; i < n; i++) {
        const ResultsFile *rf = &m.rf[i];
        const char *missing = !rf->n_base_hashes ? "base_hashes" : !rf->n_tokenizer_hashes ? "tokenizer_hashes"
                            : !rf->n_eval_hashes ? "eval_hashes" : NULL;
        if (missing) {
            snprintf(err, errlen, "%s: no attribute %s to check it against the others (written before sweep merge "
                     "existed: `sweep run` of its spec rewrites the file with it)", inputs[i], missing);
            goto out;
        }
        if (h5_has_variants(inputs[i])) {   // refused rather than silently dropped
            snprintf(err, errlen, "%s: has eval.variants datasets (/variant_ppl ...), which sweep merge does not carry "
                     "yet: merging would lose them", inputs[i]);
            goto out;
        }
        if (strcmp(rf->protocol, m.rf[0].protocol)) {
            snprintf(err, errlen, "%s: protocol '%s' differs from %s's '%s'", inputs[i], rf->protocol, inputs[0],
                     m.rf[0].protocol);
            goto out;
        }
        for (int a = 0; a < AX_COUNT; a++) {
            m.amap[a][i] = xcalloc(rf->axis[a].n + 1, sizeof(int));
            for (int k = 0; k < rf->axis[a].n; k++) {
                const char *h = a == AX_BASE ? rf->base_hashes[k] : a == AX_EVAL_TEXT ? rf->eval_hashes[k] : NULL;
                const char *h2 = a == AX_BASE ? rf->tokenizer_hashes[k] : NULL;
                int at = axis_add(&ax[a], rf->axis[a].labels[k], h, h2, inputs[i]);
                if (at < 0) {
                    int o = 0;
                    while (strcmp(ax[a].labels[o], rf->axis[a].labels[k])) o++;
                    const char *field = a == AX_BASE ? (h && ax[a].hash[o] && strcmp(h, ax[a].hash[o]) ? "base_hashes"
                                                                                                       : "tokenizer_hashes")
                                                     : "eval_hashes";
                    snprintf(err, errlen, "%s: %s of %s '%s' differs from %s's (the content differs)", inputs[i], field,
                             h5_dim_names[a], rf->axis[a].labels[k], ax[a].owner[o]);
                    goto out;
                }
                m.amap[a][i][k] = at;
            }
        }
    }
    // Every job of every file, grouped by id.
    int total = 0;
    for (int i = 0; i < n; i++) total += m.rf[i].n_jobs;
    ent = xcalloc(total + 1, sizeof *ent);
    for (int i = 0, k = 0; i < n; i++)
        for (int j = 0; j < m.rf[i].n_jobs; j++) ent[k++] = (Entry){i, j};
    qsort(ent, total, sizeof *ent, by_id_then_file);
    mj = xcalloc(total + 1, sizeof *mj);
    for (int g = 0; g < total;) {
        int h = g;
        while (h < total && !strcmp(m.rf[ent[h].file].jobs[ent[h].job].id, m.rf[ent[g].file].jobs[ent[g].job].id)) h++;
        int rep = g;   // the record: the first file where the job is not pending
        for (int k = g; k < h; k++)
            if (m.rf[ent[k].file].jobs[ent[k].job].status != JOB_PENDING) { rep = k; break; }
        for (int k = g; k < h; k++) {
            if (k == rep || m.rf[ent[k].file].jobs[ent[k].job].status == JOB_PENDING) continue;
            if (same_job(&m, ent[rep].file, ent[rep].job, ent[k].file, ent[k].job)) goto out;
        }
        // placed where the first file holding it placed it (a none job's seed is its first file's)
        MJob *x = &mj[nj++];
        x->file = ent[rep].file; x->job = ent[rep].job;
        const ResultsJob *J0 = &m.rf[ent[g].file].jobs[ent[g].job];
        for (int a = 0; a <= AX_SEED; a++) x->ax[a] = m.amap[a][ent[g].file][J0->ax[a]];
        g = h;
    }
    qsort(mj, nj, sizeof *mj, by_place);

    // The plan the merged file describes.
    snprintf(plan.protocol, sizeof plan.protocol, "%s", m.rf[0].protocol);
    plan.spec_text = m.rf[0].spec;
    int same_spec = 1;
    for (int i = 1; i < n; i++) same_spec &= !strcmp(m.rf[i].spec_hash, m.rf[0].spec_hash);
    if (same_spec) snprintf(plan.spec_hash, sizeof plan.spec_hash, "%s", m.rf[0].spec_hash);
    else {
        uint64_t hh = FNV1A64_INIT;
        for (int i = 0; i < n; i++) {
            if (i) hh = fnv1a64(",", 1, hh);
            hh = fnv1a64(m.rf[i].spec_hash, strlen(m.rf[i].spec_hash), hh);
        }
        snprintf(plan.spec_hash, sizeof plan.spec_hash, "%016llx", (unsigned long long)hh);
    }
    for (int a = 0; a < AX_COUNT; a++) { plan.axis[a].n = ax[a].n; plan.axis[a].labels = ax[a].labels; }
    plan.seeds = xcalloc(ax[AX_SEED].n + 1, sizeof *plan.seeds);
    for (int k = 0; k < ax[AX_SEED].n; k++) plan.seeds[k] = strtoull(ax[AX_SEED].labels[k], NULL, 10);
    plan.formats = xcalloc(ax[AX_FORMAT].n + 1, sizeof *plan.formats);
    int S = 0;
    for (int i = 0; i < n; i++) if (m.rf[i].n_steps > S) S = m.rf[i].n_steps;
    for (int f = 0; f < ax[AX_FORMAT].n; f++) plan.formats[f].train.steps = S;
    plan.n_jobs = nj;
    plan.jobs = xcalloc(nj + 1, sizeof *plan.jobs);
    by_job = xcalloc(nj + 1, sizeof *by_job);
    res = xcalloc(nj + 1, sizeof *res);
    for (int q = 0; q < nj; q++) {
        const ResultsFile *rf = &m.rf[mj[q].file];
        const ResultsJob *J = &rf->jobs[mj[q].job];
        Job *pj = &plan.jobs[q];
        memcpy(pj->id, J->id, sizeof pj->id);
        memcpy(pj->ax, mj[q].ax, sizeof pj->ax);
        pj->seed = plan.seeds[pj->ax[AX_SEED]];
        MatPrecision pr;
        if (J->precision[0] && mat_precision_parse(J->precision, &pr) == 0) plan.formats[pj->ax[AX_FORMAT]].precision = pr;
        if (J->status == JOB_PENDING) continue;
        JobResult *r = &res[q];
        r->job = q;
        memcpy(r->id, J->id, sizeof r->id);
        r->status = J->status; r->attempts = J->attempts; r->seconds = J->seconds; r->rank = J->rank;
        r->peak_rss_bytes = J->peak_rss_bytes;
        r->started = J->started;
        snprintf(r->message, sizeof r->message, "%s", J->message);
        snprintf(r->host, sizeof r->host, "%s", J->host);
        snprintf(r->backend, sizeof r->backend, "%s", J->backend);
        r->tokens = J->tokens; r->final_loss = J->final_loss;
        r->max_param_change = J->max_param_change;
        snprintf(r->max_param_tensor, sizeof r->max_param_tensor, "%s", J->max_param_tensor);
        r->adapter_bytes_fp32 = (uint64_t)J->adapter_bytes_fp32; r->adapter_bytes_fp16 = (uint64_t)J->adapter_bytes_fp16;
        r->n_steps = rf->n_steps;
        r->loss_curve = xmalloc(((size_t)rf->n_steps + 1) * sizeof(float));
        if (rf->n_steps) memcpy(r->loss_curve, rf->loss + (size_t)mj[q].job * rf->n_steps, rf->n_steps * sizeof(float));
        // cells: the union over every file holding the job (they agree where they overlap)
        int ne = ax[AX_EVAL_TEXT].n;
        r->evals = xcalloc(ne + 1, sizeof *r->evals);
        unsigned char *have = xcalloc(ne + 1, 1);
        for (int i = 0; i < n; i++) {
            const ResultsFile *fi = &m.rf[i];
            for (int j = 0; j < fi->n_jobs; j++) {
                if (strcmp(fi->jobs[j].id, J->id) || fi->jobs[j].status == JOB_PENDING) continue;
                for (int e = 0; e < fi->axis[AX_EVAL_TEXT].n; e++) {
                    double v[3];
                    int me = m.amap[AX_EVAL_TEXT][i][e];
                    if (have[me] || !cell_of(fi, &fi->jobs[j], e, v)) continue;
                    have[me] = 1;
                    EvalCell *c = &r->evals[r->n_evals++];
                    snprintf(c->eval, sizeof c->eval, "%s", ax[AX_EVAL_TEXT].labels[me]);
                    c->ppl = v[0]; c->nll = v[1]; c->n_tokens = (long)v[2];
                }
                break;
            }
        }
        free(have);
        float *ad = NULL;
        size_t an = 0;
        int nd = 0;
        int64_t shape[4] = {0};
        int ar = h5_read_adapter(inputs[mj[q].file], J->id, &ad, &an, &nd, shape, NULL, 0, err, errlen);
        if (ar < 0) goto out;
        if (ar == 0) { r->adapter = ad; r->adapter_n = an; r->adapter_ndim = nd; memcpy(r->adapter_shape, shape, sizeof shape); }
        by_job[q] = r;
    }
    const char **hashes = xcalloc(2 * (size_t)ax[AX_BASE].n + ax[AX_EVAL_TEXT].n + 1, sizeof *hashes);
    int nb = ax[AX_BASE].n, ne = ax[AX_EVAL_TEXT].n;
    for (int b = 0; b < nb; b++) { hashes[b] = ax[AX_BASE].hash[b]; hashes[nb + b] = ax[AX_BASE].hash2[b]; }
    for (int e = 0; e < ne; e++) hashes[2 * nb + e] = ax[AX_EVAL_TEXT].hash[e];
    H5WriteInfo info = { .n_base_hashes = nb, .base_hashes = hashes, .created_by = "sweep merge",
                         .n_tokenizer_hashes = nb, .tokenizer_hashes = hashes + nb,
                         .n_eval_hashes = ne, .eval_hashes = hashes + 2 * nb };
    rc = h5_write_results(output, &plan, by_job, &info, err, errlen) ? -1 : 0;
    free(hashes);
out:
    for (int q = 0; res && q < nj; q++) job_result_free(&res[q]);
    free(res); free(by_job); free(plan.jobs); free(plan.seeds); free(plan.formats);
    free(mj); free(ent);
    for (int a = 0; a < AX_COUNT; a++) {
        for (int k = 0; k < ax[a].n; k++) free(ax[a].labels[k]);
        free(ax[a].labels); free(ax[a].hash); free(ax[a].hash2); free(ax[a].owner);
        for (int i = 0; i < n; i++) free(m.amap[a][i]);
        free(m.amap[a]);
    }
    for (int i = 0; i < nread; i++) results_file_free(&m.rf[i]);
    free(m.rf);
    return rc;
}
