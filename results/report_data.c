#include "results/report_data.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adapter.h"
#include "engine/mat.h"
#include "engine/util.h"
#include "results/report_util.h"
#include "sweeps/spec.h"

static int same_axis(const Axis *a, const Axis *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->labels[i], b->labels[i])) return 0;
    return 1;
}

// The spec stored in the file knows each format's kind even when a format has a name of its own
// ("norm-fast": {"format": "norm"}); it is used when it still expands to the file's axes.
static void kinds_from_spec(ReportData *d) {
    const ResultsFile *rf = &d->rf;
    if (!rf->spec || !rf->spec[0]) return;
    Plan p;
    char err[512];
    if (spec_parse(rf->spec, strlen(rf->spec), d->path, SPEC_FILES_IGNORED, &p, err, sizeof err) != 0) return;
    if (same_axis(&p.axis[AX_FORMAT], &rf->axis[AX_FORMAT]) && same_axis(&p.axis[AX_TRAIN_USER], &rf->axis[AX_TRAIN_USER]) &&
        same_axis(&p.axis[AX_EVAL_TEXT], &rf->axis[AX_EVAL_TEXT])) {
        for (int f = 0; f < d->nf; f++) {
            d->fkind[f] = (int)p.formats[f].format;
            d->lr[f] = p.formats[f].train.lr;
            d->steps[f] = p.formats[f].train.steps;
        }
        d->published = p.published;   // the seeds' figures travel with the spec (sweeps/published.h)
        p.published = NULL;
        for (int e = 0; e < d->ne; e++) d->owner[e] = p.evals[e].user;
        d->kinds_from_spec = 1;
    }
    plan_free(&p);
}

// Without a usable spec: "norm[lr=0.001]" is a norm format, "austen/eval-2" is austen's text.
static void kinds_from_labels(ReportData *d) {
    const ResultsFile *rf = &d->rf;
    for (int f = 0; f < d->nf; f++) {
        char kind[64];
        snprintf(kind, sizeof kind, "%s", rf->axis[AX_FORMAT].labels[f]);
        kind[strcspn(kind, "[")] = 0;
        AdapterFormat k;
        d->fkind[f] = format_parse(kind, &k) == 0 ? (int)k : -1;
    }
    for (int e = 0; e < d->ne; e++) {
        const char *l = rf->axis[AX_EVAL_TEXT].labels[e];
        const char *slash = strchr(l, '/');
        d->owner[e] = -1;
        for (int u = 0; slash && u < d->nu; u++) {
            const char *name = rf->axis[AX_TRAIN_USER].labels[u];
            if (strlen(name) == (size_t)(slash - l) && strncmp(l, name, (size_t)(slash - l)) == 0) d->owner[e] = u;
        }
    }
}

// "norm[lr=0.001,precision=bf16]" -> "bf16"; 0 when the label names no precision.
static int label_precision(const char *label, char *out, size_t n) {
    const char *br = strchr(label, '[');
    for (const char *p = br; p && *p && *p != ']'; p++) {
        if ((*p == '[' || *p == ',') && strncmp(p + 1, "precision=", 10) == 0) {
            const char *v = p + 11;
            snprintf(out, n, "%.*s", (int)strcspn(v, ",]"), v);
            return out[0] != 0;
        }
    }
    return 0;
}

// Sort key of a precision: MatPrecision order (fp32 first), names sweep does not know after them.
static int precision_rank(const char *p) {
    MatPrecision m;
    return mat_precision_parse(p, &m) == 0 ? (int)m : 100;
}

static void precisions(ReportData *d) {
    const ResultsFile *rf = &d->rf;
    d->prec = xcalloc((size_t)d->nf + 1, sizeof *d->prec);
    int *seen = xcalloc((size_t)d->nf + 1, sizeof(int));
    for (int j = 0; j < rf->n_jobs; j++) {
        int f = rf->jobs[j].ax[AX_FORMAT];
        const char *p = rf->jobs[j].precision[0] ? rf->jobs[j].precision : "fp32";
        if (!seen[f]) snprintf(d->prec[f], sizeof d->prec[f], "%s", p);
        else if (strcmp(d->prec[f], p) != 0) d->prec_mixed = 1;
        seen[f] = 1;
    }
    for (int f = 0; f < d->nf; f++) {
        char lp[16];
        // a file without the column reads as fp32: a label that says otherwise is then the only record
        if (label_precision(rf->axis[AX_FORMAT].labels[f], lp, sizeof lp) && (!seen[f] || strcmp(d->prec[f], "fp32") == 0))
            snprintf(d->prec[f], sizeof d->prec[f], "%s", lp);
        else if (!seen[f]) snprintf(d->prec[f], sizeof d->prec[f], "fp32");
    }
    free(seen);
    d->precs = xcalloc((size_t)d->nf + 1, sizeof *d->precs);
    for (int f = 0; f < d->nf; f++) {
        int k = 0;
        while (k < d->n_prec && strcmp(d->precs[k], d->prec[f]) != 0) k++;
        if (k < d->n_prec) continue;
        // insertion in rank order; equal ranks (unknown names) keep the format axis's order
        for (k = d->n_prec; k > 0 && precision_rank(d->precs[k - 1]) > precision_rank(d->prec[f]); k--)
            d->precs[k] = d->precs[k - 1];
        d->precs[k] = d->prec[f];
        d->n_prec++;
    }
    d->base_of = xmalloc(((size_t)d->nf + 1) * sizeof(int));
    for (int f = 0; f < d->nf; f++) {
        int same = -1, fp32 = -1;
        for (int g = d->nf - 1; g >= 0; g--) {
            if (d->fkind[g] != FMT_NONE) continue;
            if (strcmp(d->prec[g], d->prec[f]) == 0) same = g;
            if (strcmp(d->prec[g], "fp32") == 0) fp32 = g;
        }
        d->base_of[f] = d->fkind[f] == FMT_NONE ? f : same >= 0 ? same : fp32 >= 0 ? fp32 : d->none_f;
    }
}

static size_t pos(const ReportData *d, int b, int c, int f, int u, int s) {
    return ((((size_t)b * d->nc + c) * d->nf + f) * d->nu + u) * d->ns + s;
}

int report_data_load(const char *path, ReportData *d, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    d->path = path;
    if (h5_read_results(path, &d->rf, err, errlen) != 0) return -1;
    const ResultsFile *rf = &d->rf;
    d->nb = rf->axis[AX_BASE].n;
    d->nc = rf->axis[AX_CONDITION].n;
    d->nf = rf->axis[AX_FORMAT].n;
    d->nu = rf->axis[AX_TRAIN_USER].n;
    d->ns = rf->axis[AX_SEED].n;
    d->ne = rf->axis[AX_EVAL_TEXT].n;
    d->fkind = xcalloc((size_t)d->nf + 1, sizeof(int));
    d->owner = xcalloc((size_t)d->ne + 1, sizeof(int));
    d->lr = xcalloc((size_t)d->nf + 1, sizeof(double));
    d->steps = xcalloc((size_t)d->nf + 1, sizeof(int));
    for (int f = 0; f < d->nf; f++) d->lr[f] = NAN;
    kinds_from_spec(d);
    if (!d->kinds_from_spec) kinds_from_labels(d);
    d->general = results_axis_find(rf, AX_EVAL_TEXT, "general");
    d->real = results_axis_find(rf, AX_CONDITION, "real");
    d->random = results_axis_find(rf, AX_CONDITION, "random");
    d->none_f = -1;
    for (int f = d->nf - 1; f >= 0; f--)
        if (d->fkind[f] == FMT_NONE) d->none_f = f;
    size_t n = (size_t)d->nb * d->nc * d->nf * d->nu * d->ns;
    d->job_at = xmalloc((n + 1) * sizeof(int));
    for (size_t i = 0; i < n; i++) d->job_at[i] = -1;
    size_t nbf = (size_t)d->nb * d->nf;
    d->none_job = xmalloc((nbf + 1) * sizeof(int));
    for (size_t i = 0; i < nbf; i++) d->none_job[i] = -1;
    for (int j = 0; j < rf->n_jobs; j++) {
        const int *a = rf->jobs[j].ax;
        d->job_at[pos(d, a[AX_BASE], a[AX_CONDITION], a[AX_FORMAT], a[AX_TRAIN_USER], a[AX_SEED])] = j;
        int *nj = &d->none_job[(size_t)a[AX_BASE] * d->nf + a[AX_FORMAT]];
        if (d->fkind[a[AX_FORMAT]] == FMT_NONE && *nj < 0) *nj = j;
    }
    precisions(d);
    return 0;
}

void report_data_free(ReportData *d) {
    results_file_free(&d->rf);
    free(d->fkind);
    free(d->owner);
    free(d->job_at);
    free(d->none_job);
    free(d->prec);
    free(d->precs);
    free(d->base_of);
    free(d->lr);
    free(d->steps);
    free(d->published);
    memset(d, 0, sizeof *d);
}

int rd_job(const ReportData *d, int b, int c, int f, int u, int s) {
    if (b < 0 || c < 0 || f < 0 || u < 0 || s < 0) return -1;
    return d->job_at[pos(d, b, c, f, u, s)];
}

int rd_job_ok(const ReportData *d, int j) { return j >= 0 && d->rf.jobs[j].status == JOB_OK; }

int rd_is_none(const ReportData *d, int f) { return f >= 0 && d->fkind[f] == FMT_NONE; }

const char *rd_precision(const ReportData *d, int f) { return f >= 0 ? d->prec[f] : ""; }

int rd_base_cross(const ReportData *d, int f) {
    return f >= 0 && d->base_of[f] >= 0 && strcmp(d->prec[d->base_of[f]], d->prec[f]) != 0;
}

int rd_base_job(const ReportData *d, int b, int f) {
    int g = f >= 0 ? d->base_of[f] : -1;
    return b < 0 || g < 0 ? -1 : d->none_job[(size_t)b * d->nf + g];
}

static double cell(const ReportData *d, const int ax[AX_SEED + 1], int e) {
    int idx[AX_COUNT];
    memcpy(idx, ax, (AX_SEED + 1) * sizeof(int));
    idx[AX_EVAL_TEXT] = e;
    return d->rf.ppl[results_cell(&d->rf, idx)];
}

double rd_ppl(const ReportData *d, int b, int c, int f, int u, int s, int e) {
    if (b < 0 || c < 0 || f < 0 || u < 0 || s < 0 || e < 0) return NAN;
    const int ax[AX_SEED + 1] = {b, c, f, u, s};
    return cell(d, ax, e);
}

double rd_base_ppl(const ReportData *d, int b, int f, int e) {
    int j = rd_base_job(d, b, f);
    return j < 0 || e < 0 ? NAN : cell(d, d->rf.jobs[j].ax, e);
}

int rd_own_texts(const ReportData *d, int u, int *out) {
    int n = 0;
    for (int e = 0; e < d->ne; e++)
        if (d->owner[e] == u) out[n++] = e;
    return n;
}

int rd_formats_of(const ReportData *d, int kind, int *out) {
    int n = 0;
    for (int f = 0; f < d->nf; f++)
        if (d->fkind[f] == kind) out[n++] = f;
    return n;
}

int rd_partners(const ReportData *d, int kind, int f, int *out, int *cross) {
    static const char *const fallback = "fp32";
    *cross = 0;
    for (int pass = 0; pass < 3; pass++) {
        const char *want = pass == 0 ? d->prec[f] : fallback;
        int n = 0;
        for (int g = 0; g < d->nf; g++)
            if (d->fkind[g] == kind && (pass == 2 || strcmp(d->prec[g], want) == 0)) out[n++] = g;
        if (n) { *cross = pass > 0; return n; }
    }
    return 0;
}

int64_t rd_bytes(const ReportData *d, int b, int c, int f, int u, int fp16) {
    for (int uu = u < 0 ? 0 : u; uu < (u < 0 ? d->nu : u + 1); uu++)
        for (int s = 0; s < d->ns; s++) {
            int j = rd_job(d, b, c, f, uu, s);
            if (rd_job_ok(d, j)) return fp16 ? d->rf.jobs[j].adapter_bytes_fp16 : d->rf.jobs[j].adapter_bytes_fp32;
        }
    return -1;
}

void missing_add_job(Missing *m, int j) {
    for (int i = 0; i < m->n; i++)
        if (m->job[i] == j) return;
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 8;
        int *job = xmalloc((size_t)m->cap * sizeof(int));
        if (m->n) memcpy(job, m->job, (size_t)m->n * sizeof(int));
        free(m->job);
        m->job = job;
    }
    m->job[m->n++] = j;
}

void missing_free(Missing *m) {
    free(m->job);
    memset(m, 0, sizeof *m);
}

static double needed(const ReportData *d, Missing *m, int j, double v) {
    if (!isnan(v) || !m) return v;
    if (j >= 0 && d->rf.jobs[j].status != JOB_OK) missing_add_job(m, j);
    else m->unplanned++;   // no such job, or a finished job that was not asked for this text
    return v;
}

double rd_need(const ReportData *d, Missing *m, int b, int c, int f, int u, int s, int e) {
    return needed(d, m, rd_job(d, b, c, f, u, s), rd_ppl(d, b, c, f, u, s, e));
}

double rd_need_base(const ReportData *d, Missing *m, int b, int f, int e) {
    return needed(d, m, rd_base_job(d, b, f), rd_base_ppl(d, b, f, e));
}

char *rd_job_name(const ReportData *d, int j) {
    const ResultsJob *J = &d->rf.jobs[j];
    const Axis *ax = d->rf.axis;
    if (rd_is_none(d, J->ax[AX_FORMAT]))
        return str_printf("%s on base %s", ax[AX_FORMAT].labels[J->ax[AX_FORMAT]], ax[AX_BASE].labels[J->ax[AX_BASE]]);
    return str_printf("%s/%s/%s/seed %s%s%s", ax[AX_BASE].labels[J->ax[AX_BASE]], ax[AX_FORMAT].labels[J->ax[AX_FORMAT]],
                      ax[AX_TRAIN_USER].labels[J->ax[AX_TRAIN_USER]], ax[AX_SEED].labels[J->ax[AX_SEED]],
                      J->ax[AX_CONDITION] == d->real ? "" : "/", J->ax[AX_CONDITION] == d->real ? ""
                      : ax[AX_CONDITION].labels[J->ax[AX_CONDITION]]);
}

char *missing_describe(const ReportData *d, const Missing *m) {
    Buf b = {0};
    if (m->n) buf_printf(&b, "%d job%s missing: ", m->n, m->n == 1 ? "" : "s");
    for (int i = 0; i < m->n; i++) {
        char *name = rd_job_name(d, m->job[i]);
        if (i == 8 && m->n > 10) { buf_printf(&b, ", ... (%d more)", m->n - i); free(name); break; }
        buf_printf(&b, "%s%s (%s)", i ? ", " : "", name, job_status_name(d->rf.jobs[m->job[i]].status));
        free(name);
    }
    if (m->unplanned)
        buf_printf(&b, "%s%d cell%s not in this sweep's grid", m->n ? "; " : "", m->unplanned,
                   m->unplanned == 1 ? "" : "s");
    return buf_take(&b);
}
