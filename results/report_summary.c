// The parts of every report that judge nothing: the jobs (what finished, what failed, what is still
// pending) and the perplexities aggregated over seeds and held-out texts, with the Pareto scatter
// and the training loss curves.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adapter.h"
#include "engine/util.h"
#include "results/report_judge.h"
#include "results/report_svg.h"
#include "results/report_util.h"

void report_jobs_section(const ReportData *d, Report *r) {
    const ResultsFile *rf = &d->rf;
    RSection *sec = report_add_section(r, "jobs", "Jobs", NULL);
    static const char *const sc[] = {"status", "jobs"};
    RTable *t = section_add_table(sec, "Jobs by status", 2, sc);
    for (int k = 0; k < JOB_STATUS_COUNT; k++) {
        if (!r->by_status[k]) continue;
        table_add_row(t);
        table_text(t, 0, "%s", job_status_name((JobStatus)k));
        table_num(t, 1, r->by_status[k], NUM_INT);
    }
    table_add_row(t);
    table_text(t, 0, "total");
    table_num(t, 1, rf->n_jobs, NUM_INT);
    int pending = r->by_status[JOB_PENDING], failed = rf->n_jobs - pending - r->by_status[JOB_OK];
    if (pending)
        section_note(sec, "This sweep is not finished: %d of %d jobs are pending (still running, or interrupted; "
                          "rerunning `sweep run` finishes them). Verdicts marked provisional are judged on the jobs "
                          "that exist and name the missing ones.", pending, rf->n_jobs);
    if (failed) section_note(sec, "%d job%s failed; their cells are missing from every table.", failed, failed == 1 ? "" : "s");
    if (!pending && !failed) section_note(sec, "Complete: all %d jobs finished.", rf->n_jobs);
    if (!pending && !failed) return;
    static const char *const mc[] = {"job", "base", "condition", "format", "precision", "user", "seed", "status",
                                     "attempts", "message"};
    RTable *m = section_add_table(sec, "Jobs without results (pending or failed)", 10, mc);
    m->text_limit = 40;
    for (int j = 0; j < rf->n_jobs; j++) {
        const ResultsJob *J = &rf->jobs[j];
        if (J->status == JOB_OK) continue;
        int none = rd_is_none(d, J->ax[AX_FORMAT]);
        table_add_row(m);
        table_text(m, 0, "%s", J->id);
        table_text(m, 1, "%s", fmt_label(d, AX_BASE, J->ax[AX_BASE]));
        table_text(m, 2, "%s", none ? "-" : fmt_label(d, AX_CONDITION, J->ax[AX_CONDITION]));
        table_text(m, 3, "%s", fmt_label(d, AX_FORMAT, J->ax[AX_FORMAT]));
        // the job's own record only where a format's jobs disagree: a file without the column reads fp32
        table_text(m, 4, "%s", d->prec_mixed && J->precision[0] ? J->precision : rd_precision(d, J->ax[AX_FORMAT]));
        table_text(m, 5, "%s", none ? "-" : fmt_label(d, AX_TRAIN_USER, J->ax[AX_TRAIN_USER]));
        table_text(m, 6, "%s", none ? "-" : fmt_label(d, AX_SEED, J->ax[AX_SEED]));
        table_text(m, 7, "%s", job_status_name(J->status));
        table_num(m, 8, J->attempts, NUM_INT);
        table_text(m, 9, "%s", J->message);
    }
}

typedef struct {
    int ok, planned;
    double loss;            // median final loss
    Summary own;
    double general;
    int64_t b32, b16;
} Row;

static Row aggregate(const ReportData *d, int b, int c, int f, int u) {
    Row row = {0};
    int none = rd_is_none(d, f);
    int *own = xmalloc(((size_t)d->ne + 1) * sizeof *own);
    int no = rd_own_texts(d, u, own), n = 0, ng = 0, nl = 0;
    double *x = xmalloc(((size_t)no * d->ns + 1) * sizeof *x), *g = xmalloc(((size_t)d->ns + 1) * sizeof *g);
    double *loss = xmalloc(((size_t)d->ns + 1) * sizeof *loss);
    for (int s = 0; s < (none ? 1 : d->ns); s++) {
        int j = none ? rd_base_job(d, b, f) : rd_job(d, b, c, f, u, s);
        if (j < 0) continue;
        row.planned++;
        row.ok += rd_job_ok(d, j);
        if (rd_job_ok(d, j) && !none) loss[nl++] = d->rf.jobs[j].final_loss;
        for (int k = 0; k < no; k++) x[n++] = none ? rd_base_ppl(d, b, f, own[k]) : rd_ppl(d, b, c, f, u, s, own[k]);
        if (d->general >= 0) g[ng++] = none ? rd_base_ppl(d, b, f, d->general) : rd_ppl(d, b, c, f, u, s, d->general);
    }
    char key[400];
    snprintf(key, sizeof key, "summary %s %s %s %s", fmt_label(d, AX_BASE, b), fmt_label(d, AX_CONDITION, c),
             fmt_label(d, AX_FORMAT, f), fmt_label(d, AX_TRAIN_USER, u));
    stats_summary(x, n, key, &row.own);
    row.general = stats_median(g, ng);
    row.loss = stats_median(loss, nl);
    row.b32 = none ? 0 : rd_bytes(d, b, c, f, u, 0);
    row.b16 = none ? 0 : rd_bytes(d, b, c, f, u, 1);
    free(x);
    free(g);
    free(loss);
    free(own);
    return row;
}

// Palette index by kind (none grey, norm blue, lora orange, full red), shifted for each further
// variant of a kind so that norm[lr=a] and norm[lr=b] differ.
static int color_of(const ReportData *d, int f) {
    int k = d->fkind[f], rank = 0;
    for (int g = 0; g < f; g++) rank += d->fkind[g] == k;
    return (k >= 0 && k < 4 ? k : 4) + 4 * rank;
}

static void pareto_figure(const ReportData *d, RSection *sec, int b) {
    SvgSeries *s = xcalloc((size_t)d->nf + 1, sizeof *s);
    double *xs = xcalloc((size_t)d->nf * d->nu + 1, sizeof *xs), *ys = xcalloc((size_t)d->nf * d->nu + 1, sizeof *ys);
    double *base = xmalloc(((size_t)d->nu + 1) * sizeof *base);
    int ns = 0, points = 0;
    for (int f = 0; f < d->nf; f++) {
        if (rd_is_none(d, f)) continue;
        SvgSeries *se = &s[ns];
        se->label = fmt_label(d, AX_FORMAT, f);
        se->color = color_of(d, f);
        se->x = xs + (size_t)f * d->nu;
        se->y = ys + (size_t)f * d->nu;
        for (int u = 0; u < d->nu; u++) {
            Row row = aggregate(d, b, d->real, f, u);
            xs[(size_t)f * d->nu + se->n] = row.b32 > 0 ? (double)row.b32 : NAN;
            ys[(size_t)f * d->nu + se->n] = row.own.median;
            points += row.b32 > 0 && !isnan(row.own.median);
            se->n++;
        }
        ns++;
    }
    double ref = NAN;
    // one reference line: the base at fp32 (else the first evaluated), whatever precision the points are at
    int ref_f = d->none_f;
    for (int f = 0; f < d->nf; f++)
        if (rd_is_none(d, f) && strcmp(rd_precision(d, f), "fp32") == 0) { ref_f = f; break; }
    char ref_label[96];
    snprintf(ref_label, sizeof ref_label, "base (%s)", ref_f >= 0 ? fmt_label(d, AX_FORMAT, ref_f) : "none");
    if (ref_f >= 0) {
        for (int u = 0; u < d->nu; u++) base[u] = aggregate(d, b, 0, ref_f, u).own.median;
        ref = stats_median(base, d->nu);
    }
    if (points) {
        char name[128], title[256];
        snprintf(name, sizeof name, "pareto-%s", fmt_label(d, AX_BASE, b));
        snprintf(title, sizeof title, "Personal perplexity vs adapter bytes, base %s (one point per user and format)",
                 fmt_label(d, AX_BASE, b));
        section_figure(sec, name, title, svg_scatter_loglog(title, "adapter bytes (fp32)", "median ppl on own held-out texts",
                                                            ns, s, ref, ref_label));
    }
    free(base);
    free(xs);
    free(ys);
    free(s);
}

static void loss_figure(const ReportData *d, RSection *sec, int b) {
    const ResultsFile *rf = &d->rf;
    if (rf->n_steps <= 0) return;
    SvgSeries *s = xcalloc((size_t)rf->n_jobs + 1, sizeof *s);
    double *steps = xmalloc((size_t)rf->n_steps * sizeof *steps), *y = xmalloc((size_t)rf->n_jobs * rf->n_steps * sizeof *y + 1);
    char **labels = xcalloc((size_t)rf->n_jobs + 1, sizeof *labels);
    for (int k = 0; k < rf->n_steps; k++) steps[k] = k + 1;
    int n = 0;
    for (int j = 0; j < rf->n_jobs; j++) {
        const ResultsJob *J = &rf->jobs[j];
        if (J->ax[AX_BASE] != b || rd_is_none(d, J->ax[AX_FORMAT])) continue;
        int any = 0;
        for (int k = 0; k < rf->n_steps; k++) {
            y[(size_t)j * rf->n_steps + k] = rf->loss[(size_t)j * rf->n_steps + k];
            any |= !isnan(y[(size_t)j * rf->n_steps + k]);
        }
        if (!any) continue;
        int random = J->ax[AX_CONDITION] == d->random;
        labels[n] = str_printf("%s%s", fmt_label(d, AX_FORMAT, J->ax[AX_FORMAT]), random ? " (random)" : "");
        s[n] = (SvgSeries){labels[n], color_of(d, J->ax[AX_FORMAT]), random, rf->n_steps, steps,
                           y + (size_t)j * rf->n_steps};
        n++;
    }
    if (n) {
        char name[128], title[256];
        snprintf(name, sizeof name, "loss-%s", fmt_label(d, AX_BASE, b));
        snprintf(title, sizeof title, "Training loss per step, base %s (one line per job)", fmt_label(d, AX_BASE, b));
        section_figure(sec, name, title, svg_lines(title, "step", "training loss (nats/token)", n, s));
    }
    for (int k = 0; k < n; k++) free(labels[k]);
    free(labels);
    free(steps);
    free(y);
    free(s);
}

void report_summary_section(const ReportData *d, Report *r, int figures) {
    RSection *sec = report_add_section(r, "summary", "Perplexity over seeds and held-out texts", NULL);
    section_note(sec, "Each row pools a format's cells on the user's own held-out texts over every seed: median, "
                      "min, max and a percentile bootstrap 95%% interval of the median (%d resamples, seeded, so the "
                      "same file gives the same interval). For none, the user is whose texts the base was read on.",
                 REPORT_BOOTSTRAP_RESAMPLES);
    static const char *const cols[] = {"base", "condition", "format", "precision", "user", "jobs ok", "cells", "median",
                                       "min", "max", "CI lo", "CI hi", "general", "adapter bytes", "bytes fp16",
                                       "final loss"};
    RTable *t = section_add_table(sec, "Perplexity on own held-out texts", 16, cols);
    // Beyond REPORT_FULL_USERS users the per-user rows go to JSON/CSV only; text shows one row per format.
    int large = d->nu > REPORT_FULL_USERS;
    static const char *const uc[] = {"base", "condition", "format", "precision", "users", "jobs ok", "median of users",
                                     "5%", "25%", "75%", "95%"};
    RTable *ut = NULL;
    if (large) {
        t->bulk = 1;
        ut = section_add_table(sec, "Perplexity on own held-out texts: each user's median, distribution over users", 11, uc);
    }
    double *um = xmalloc(((size_t)d->nu + 1) * sizeof *um);
    for (int b = 0; b < d->nb; b++)
        for (int c = 0; c < d->nc; c++)
            for (int f = 0; f < d->nf; f++) {
                int none = rd_is_none(d, f), nm = 0, ok = 0, planned = 0;
                if (none && c != 0) continue;
                for (int u = 0; u < d->nu; u++) {
                    Row row = aggregate(d, b, c, f, u);
                    if (!row.planned) continue;
                    // a none job serves every user's row: count it once
                    if (none) { ok = row.ok; planned = row.planned; } else { ok += row.ok; planned += row.planned; }
                    if (!isnan(row.own.median)) um[nm++] = row.own.median;
                    table_add_row(t);
                    table_text(t, 0, "%s", fmt_label(d, AX_BASE, b));
                    table_text(t, 1, "%s", none ? "-" : fmt_label(d, AX_CONDITION, c));
                    table_text(t, 2, "%s", fmt_label(d, AX_FORMAT, f));
                    table_text(t, 3, "%s", rd_precision(d, f));
                    table_text(t, 4, "%s", fmt_label(d, AX_TRAIN_USER, u));
                    table_text(t, 5, "%d/%d", row.ok, row.planned);
                    table_num(t, 6, row.own.n, NUM_INT);
                    table_num(t, 7, row.own.median, NUM_G);
                    table_num(t, 8, row.own.min, NUM_G);
                    table_num(t, 9, row.own.max, NUM_G);
                    table_num(t, 10, row.own.lo, NUM_G);
                    table_num(t, 11, row.own.hi, NUM_G);
                    table_num(t, 12, row.general, NUM_G);
                    table_num(t, 13, row.b32 < 0 ? NAN : (double)row.b32, NUM_INT);
                    table_num(t, 14, row.b16 < 0 ? NAN : (double)row.b16, NUM_INT);
                    table_num(t, 15, row.loss, NUM_G);
                }
                if (!ut || !planned) continue;
                table_add_row(ut);
                table_text(ut, 0, "%s", fmt_label(d, AX_BASE, b));
                table_text(ut, 1, "%s", none ? "-" : fmt_label(d, AX_CONDITION, c));
                table_text(ut, 2, "%s", fmt_label(d, AX_FORMAT, f));
                table_text(ut, 3, "%s", rd_precision(d, f));
                table_num(ut, 4, nm, NUM_INT);
                table_text(ut, 5, "%d/%d", ok, planned);
                static const double qp[] = {0.5, 0.05, 0.25, 0.75, 0.95};
                for (int k = 0; k < 5; k++) table_num(ut, 6 + k, stats_quantile(um, nm, qp[k]), NUM_G);
            }
    free(um);
    if (!figures) return;
    for (int b = 0; b < d->nb; b++) {
        if (d->real >= 0) pareto_figure(d, sec, b);
        loss_figure(d, sec, b);
    }
}
