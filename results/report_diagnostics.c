// Training diagnostics per trained format and condition: how far Adam could move a parameter at all
// (each step moves one by about lr at most, so steps x lr bounds the change from its initial value)
// and the training loss's first and last values (medians over the format's finished jobs), so that a
// verdict of "no effect" can be told apart from "could not have moved".
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adapter.h"
#include "engine/util.h"
#include "results/report_judge.h"
#include "results/report_util.h"

// First and last finite loss of job j's curve.
static void loss_ends(const ResultsFile *rf, int j, double *first, double *last) {
    *first = *last = NAN;
    for (int s = 0; s < rf->n_steps; s++) {
        double v = rf->loss[(size_t)j * rf->n_steps + s];
        if (isnan(v)) continue;
        if (isnan(*first)) *first = v;
        *last = v;
    }
}

void report_diagnostics_section(const ReportData *d, Report *r) {
    int any = 0;
    for (int f = 0; f < d->nf; f++) any |= !rd_is_none(d, f);
    if (!any || !d->rf.n_steps) return;
    RSection *sec = report_add_section(r, "diagnostics", "Training diagnostics per format", NULL);
    static const char *const cols[] = {"format", "precision", "condition", "jobs", "steps", "lr", "Adam bound steps x lr",
                                       "loss first", "loss last", "loss change"};
    RTable *t = section_add_table(sec, "Each trained format's budget and training loss (medians over its finished jobs)",
                                  10, cols);
    section_note(sec, "Adam moves each parameter by about lr per step at most, so steps x lr bounds how far any trained "
                      "parameter can get from its initial value (a norm gain starts at the base's gain, a LoRA B and a "
                      "steering vector at 0). The largest change actually reached is not recorded in results files yet.");
    int *jobs = xmalloc(((size_t)d->nb * d->nu * d->ns + 1) * sizeof *jobs);
    double *a = xmalloc(((size_t)d->nb * d->nu * d->ns + 1) * sizeof *a);
    double *z = xmalloc(((size_t)d->nb * d->nu * d->ns + 1) * sizeof *z);
    for (int f = 0; f < d->nf; f++) {
        if (rd_is_none(d, f)) continue;
        for (int c = 0; c < d->nc; c++) {
            int n = 0;
            for (int b = 0; b < d->nb; b++)
                for (int u = 0; u < d->nu; u++)
                    for (int s = 0; s < d->ns; s++) {
                        int j = rd_job(d, b, c, f, u, s);
                        if (rd_job_ok(d, j)) jobs[n++] = j;
                    }
            if (!n) continue;
            for (int i = 0; i < n; i++) loss_ends(&d->rf, jobs[i], &a[i], &z[i]);
            double first = stats_median(a, n), last = stats_median(z, n);
            double lr = d->lr[f], bound = d->steps[f] * lr;
            table_add_row(t);
            table_text(t, 0, "%s", fmt_label(d, AX_FORMAT, f));
            table_text(t, 1, "%s", rd_precision(d, f));
            table_text(t, 2, "%s", fmt_label(d, AX_CONDITION, c));
            table_num(t, 3, n, NUM_INT);
            table_num(t, 4, d->steps[f] ? d->steps[f] : NAN, NUM_INT);
            table_num(t, 5, lr, NUM_G);
            table_num(t, 6, d->steps[f] ? bound : NAN, NUM_G);
            table_num(t, 7, first, NUM_G);
            table_num(t, 8, last, NUM_G);
            table_num(t, 9, last - first, NUM_G);
            char sb[48], lb[48], fb[48], zb[48];
            fmt_num(lb, sizeof lb, lr);
            fmt_num(sb, sizeof sb, bound);
            fmt_num(fb, sizeof fb, first);
            fmt_num(zb, sizeof zb, last);
            if (d->steps[f])
                section_note(sec, "%s (%s, %s): %d steps x lr %s: no trained parameter can move more than about %s from its "
                                  "initial value; training loss %s -> %s (median over %d jobs).", fmt_label(d, AX_FORMAT, f),
                             rd_precision(d, f), fmt_label(d, AX_CONDITION, c), d->steps[f], lb, sb, fb, zb, n);
            else
                section_note(sec, "%s (%s, %s): steps and lr unknown (the file's spec does not re-read); training loss "
                                  "%s -> %s (median over %d jobs).", fmt_label(d, AX_FORMAT, f), rd_precision(d, f),
                             fmt_label(d, AX_CONDITION, c), fb, zb, n);
        }
    }
    free(jobs);
    free(a);
    free(z);
}
