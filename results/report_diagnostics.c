// Training diagnostics per trained format and condition: how far Adam could move a parameter at all
// (each step moves one by about lr at most, so steps x lr bounds the change from its initial value),
// how far one actually moved (the largest change of any trained parameter over the format's finished
// jobs, /max_param_change) and the training loss's first and last values (medians over those jobs), so
// that a verdict of "no effect" can be told apart from "could not have moved".
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
                                       "largest change", "change / bound", "in tensor", "loss first", "loss last",
                                       "loss change"};
    RTable *t = section_add_table(sec, "Each trained format's budget, the largest change reached (max over its finished "
                                       "jobs) and training loss (medians over them)", 13, cols);
    section_note(sec, "Adam moves each parameter by about lr per step at most, so steps x lr bounds how far any trained "
                      "parameter can get from its initial value (a norm gain starts at the base's gain, a LoRA B and a "
                      "steering vector at 0). The largest change is the largest |final - initial| over every trained "
                      "scalar (LoRA: of A and B themselves, not of the product B A) and over the format's finished jobs; "
                      "files from before it was recorded say \"not recorded\".");
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
            // the largest change over the jobs that recorded one (NaN: not recorded), and where
            double change = NAN;
            int at = -1, recorded = 0;
            for (int i = 0; i < n; i++) {
                double v = d->rf.jobs[jobs[i]].max_param_change;
                if (isnan(v)) continue;
                recorded++;
                if (at < 0 || v > change) { change = v; at = jobs[i]; }
            }
            const char *tensor = at >= 0 ? d->rf.jobs[at].max_param_tensor : "";
            double ratio = d->steps[f] && bound > 0 ? change / bound : NAN;
            table_add_row(t);
            table_text(t, 0, "%s", fmt_label(d, AX_FORMAT, f));
            table_text(t, 1, "%s", rd_precision(d, f));
            table_text(t, 2, "%s", fmt_label(d, AX_CONDITION, c));
            table_num(t, 3, n, NUM_INT);
            table_num(t, 4, d->steps[f] ? d->steps[f] : NAN, NUM_INT);
            table_num(t, 5, lr, NUM_G);
            table_num(t, 6, d->steps[f] ? bound : NAN, NUM_G);
            table_num(t, 7, change, NUM_G);
            table_num(t, 8, ratio, NUM_G);
            table_text(t, 9, "%s", recorded ? tensor : "not recorded");
            table_num(t, 10, first, NUM_G);
            table_num(t, 11, last, NUM_G);
            table_num(t, 12, last - first, NUM_G);
            char sb[48], lb[48], fb[48], zb[48], cb[48], rb[48], moved[512];
            fmt_num(cb, sizeof cb, change);
            fmt_num(rb, sizeof rb, ratio);
            if (!recorded)
                snprintf(moved, sizeof moved, "largest change not recorded (a file from before it was)");
            else
                snprintf(moved, sizeof moved, "largest change %s%s%s%s%s%s%s", cb, tensor[0] ? " (" : "", tensor,
                         tensor[0] ? ")" : "", isnan(ratio) ? "" : " = ", isnan(ratio) ? "" : rb,
                         isnan(ratio) ? "" : " x the Adam bound");
            char part[64] = "";
            if (recorded && recorded < n) snprintf(part, sizeof part, " (recorded by %d of the %d jobs)", recorded, n);
            fmt_num(lb, sizeof lb, lr);
            fmt_num(sb, sizeof sb, bound);
            fmt_num(fb, sizeof fb, first);
            fmt_num(zb, sizeof zb, last);
            if (d->steps[f])
                section_note(sec, "%s (%s, %s): %d steps x lr %s: no trained parameter can move more than about %s from its "
                                  "initial value; %s%s; training loss %s -> %s (median over %d jobs).",
                             fmt_label(d, AX_FORMAT, f), rd_precision(d, f), fmt_label(d, AX_CONDITION, c), d->steps[f], lb,
                             sb, moved, part, fb, zb, n);
            else
                section_note(sec, "%s (%s, %s): steps and lr unknown (the file's spec does not re-read); %s%s; training "
                                  "loss %s -> %s (median over %d jobs).", fmt_label(d, AX_FORMAT, f), rd_precision(d, f),
                             fmt_label(d, AX_CONDITION, c), moved, part, fb, zb, n);
        }
    }
    free(jobs);
    free(a);
    free(z);
}
