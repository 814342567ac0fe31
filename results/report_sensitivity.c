// The verdict against lr: where a protocol's judged formats differ in learning rate (the sensitivity
// companions sweeps/bet*-lr.json), a table of the verdict per (base, steps) and lr, and in HTML a
// line per steps of the verdict's level against log10 lr. Says where norm-only starts to move and
// whether the protocol's conclusion holds there.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#include "results/report_judge.h"
#include "results/report_svg.h"
#include "results/report_util.h"

static int by_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// The verdict's level as a height on the plot: CATASTROPHIC 0, none 1, LENIENT 2, STRICT 3.
static double level_height(const RVerdict *v) {
    if (!v || !v->judged) return NAN;
    switch (v->level) {
    case VERDICT_CATASTROPHIC: return 0;
    case VERDICT_NONE: return 1;
    case VERDICT_LENIENT: return 2;
    default: return 3;
    }
}

void report_sensitivity_section(const ReportData *d, Report *r, int figures) {
    const RSection *js = NULL;
    for (int i = 0; i < r->ns && !js; i++)
        if (!strcmp(r->s[i].key, r->protocol)) js = &r->s[i];
    if (!js) return;
    int nv = js->nv, nl = 0, nst = 0;
    double *lrs = xmalloc(((size_t)nv + 1) * sizeof *lrs);
    int *steps = xmalloc(((size_t)nv + 1) * sizeof *steps);
    for (int k = 0; k < nv; k++) {
        int f = js->v[k].format;
        if (f < 0 || isnan(d->lr[f])) continue;
        int seen = 0;
        for (int i = 0; i < nl; i++) seen |= lrs[i] == d->lr[f];
        if (!seen) lrs[nl++] = d->lr[f];
        seen = 0;
        for (int i = 0; i < nst; i++) seen |= steps[i] == d->steps[f];
        if (!seen) steps[nst++] = d->steps[f];
    }
    if (nl < 2) { free(lrs); free(steps); return; }
    qsort(lrs, (size_t)nl, sizeof *lrs, by_double);
    for (int i = 1; i < nst; i++)   // steps ascending (insertion: a handful)
        for (int k = i; k > 0 && steps[k - 1] > steps[k]; k--) { int t = steps[k]; steps[k] = steps[k - 1]; steps[k - 1] = t; }
    char title[300];
    snprintf(title, sizeof title, "Sensitivity: the %s verdict against lr", r->protocol);
    int jsi = (int)(js - r->s);
    RSection *sec = report_add_section(r, "sensitivity", title, NULL);
    js = &r->s[jsi];   // adding a section may move the array
    section_note(sec, "Each cell is the verdict of the %s section for the format trained at that lr and number of steps "
                      "(the other hyperparameters as the spec gives them). The seeds trained at lr 5e-05 for 100 steps.",
                 r->protocol);
    const char **cols = xcalloc((size_t)nl + 2, sizeof *cols);
    char (*heads)[32] = xcalloc((size_t)nl + 1, sizeof *heads);
    cols[0] = "base";
    cols[1] = "steps";
    for (int i = 0; i < nl; i++) {
        snprintf(heads[i], sizeof heads[i], "lr %g", lrs[i]);
        cols[i + 2] = heads[i];
    }
    RTable *t = section_add_table(sec, "Verdict per steps (rows) and lr (columns)", nl + 2, cols);
    SvgSeries *ser = xcalloc((size_t)d->nb * nst + 1, sizeof *ser);
    double *xs = xmalloc(((size_t)nl + 1) * sizeof *xs), *ys = xmalloc(((size_t)d->nb * nst * nl + 1) * sizeof *ys);
    char (*labels)[96] = xcalloc((size_t)d->nb * nst + 1, sizeof *labels);
    for (int i = 0; i < nl; i++) xs[i] = log10(lrs[i]);
    int ns = 0;
    for (int b = 0; b < d->nb; b++)
        for (int s = 0; s < nst; s++) {
            int any = 0;
            double *y = ys + (size_t)ns * nl;
            for (int i = 0; i < nl; i++) y[i] = NAN;
            for (int k = 0; k < nv; k++) {
                const RVerdict *v = &js->v[k];
                if (v->base != b || v->format < 0 || d->steps[v->format] != steps[s]) continue;
                for (int i = 0; i < nl; i++)
                    if (d->lr[v->format] == lrs[i] && isnan(y[i])) { y[i] = level_height(v); any = 1; }
            }
            if (!any) continue;
            table_add_row(t);
            table_text(t, 0, "%s", fmt_label(d, AX_BASE, b));
            table_num(t, 1, steps[s], NUM_INT);
            for (int i = 0; i < nl; i++) {
                const RVerdict *hit = NULL;
                for (int k = 0; k < nv && !hit; k++) {
                    const RVerdict *v = &js->v[k];
                    if (v->base == b && v->format >= 0 && d->steps[v->format] == steps[s] && d->lr[v->format] == lrs[i]) hit = v;
                }
                if (!hit) table_text(t, i + 2, "-");
                else table_text(t, i + 2, "%s%s", !hit->judged ? "not judged" : verdict_name(hit->level),
                                hit->provisional ? " (provisional)" : "");
            }
            snprintf(labels[ns], sizeof labels[ns], "%s%s%d steps", d->nb > 1 ? fmt_label(d, AX_BASE, b) : "",
                     d->nb > 1 ? ", " : "", steps[s]);
            ser[ns] = (SvgSeries){labels[ns], ns, 0, nl, xs, y};
            ns++;
        }
    if (figures && ns) {
        char ft[300], name[64];
        snprintf(ft, sizeof ft, "%s verdict against lr (0 CATASTROPHIC, 1 none, 2 LENIENT, 3 STRICT)", r->protocol);
        snprintf(name, sizeof name, "sensitivity-%s", r->protocol);
        section_figure(sec, name, ft, svg_lines(ft, "log10 lr", "verdict level", ns, ser));
    }
    free(ser); free(xs); free(ys); free(labels);
    free(cols); free(heads);
    free(lrs); free(steps);
}
