// Shared by the judges of Bets 37/46 (report_bet37.c), 49 (report_bet49.c), 52 (report_bet52.c) and 60
// (report_bet60.c): verdict wording, notes on cross-precision comparisons, and the medians the
// per-user tables print. Every criterion is a comparison of two perplexities of the same eval text, so
// each is computed as a paired ratio per configuration (seed, eval text) and compared with the
// protocol's threshold written as a ratio (30% improvement: ratio <= 0.70). A ratio is one correctly
// rounded division, as is the threshold literal, so a ratio that is exactly on a threshold compares as exact.
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adapter.h"
#include "engine/util.h"
#include "results/report_judge.h"
#include "results/report_util.h"

const char *fmt_label(const ReportData *d, int axis, int i) { return d->rf.axis[axis].labels[i]; }

static const char *const kind_names[] = {"none", "norm", "lora", "full"};

void note_partners(const ReportData *d, RSection *s, int f, int kind) {
    int *out = xmalloc(((size_t)d->nf + 1) * sizeof(int)), cross;
    int n = rd_partners(d, kind, f, out, &cross);
    if (n && cross) {
        Buf b = {0};
        for (int i = 0; i < n; i++)
            buf_printf(&b, "%s%s (%s)", i ? ", " : "", fmt_label(d, AX_FORMAT, out[i]), rd_precision(d, out[i]));
        section_note(s, "%s (%s) has no %s format at its own precision in this sweep: it is compared with %s instead.",
                     fmt_label(d, AX_FORMAT, f), rd_precision(d, f), kind_names[kind], b.s);
        buf_free(&b);
    }
    free(out);
}

void note_base(const ReportData *d, RSection *s, int f) {
    if (!rd_base_cross(d, f)) return;
    int g = d->base_of[f];
    section_note(s, "%s (%s) has no base evaluated at %s in this sweep (no none format at that precision): it is "
                    "compared with %s (%s) instead.", fmt_label(d, AX_FORMAT, f), rd_precision(d, f), rd_precision(d, f),
                 fmt_label(d, AX_FORMAT, g), rd_precision(d, g));
}

void verdict_set(RVerdict *v, const ReportData *d, const Missing *m, int any_judged, VerdictLevel level,
                 char *decided, char *words) {
    int incomplete = m && (m->n || m->unplanned);
    char *miss = incomplete ? missing_describe(d, m) : NULL;
    if (!any_judged) {
        v->judged = 0;
        v->level = VERDICT_NONE;
        v->decided_by = str_dup("");
        v->words = str_printf("cannot be judged yet: %s", miss ? miss : "no cells");
        free(decided);
        free(words);
    } else {
        v->level = level;
        v->provisional = incomplete;
        v->decided_by = incomplete ? str_printf("%s; provisional, %s", decided, miss) : str_dup(decided);
        v->words = words;
        free(decided);
    }
    free(miss);
}

void verdict_cannot(RSection *s, const char *scope, const char *fmt, ...) {
    RVerdict *v = section_add_verdict(s, scope);
    va_list ap;
    va_start(ap, fmt);
    char *why = str_vprintf(fmt, ap);
    va_end(ap);
    v->judged = 0;
    v->level = VERDICT_NONE;
    v->decided_by = str_dup("");
    v->words = str_printf("cannot be judged: %s", why);
    free(why);
}

char *judge_num(double v) {
    char b[48];
    fmt_num(b, sizeof b, v);
    return str_dup(b);
}

// Median over seeds of a cell, for the per-text tables.
double seed_median(const ReportData *d, int b, int c, int f, int u, int e) {
    double *x = xmalloc(((size_t)d->ns + 1) * sizeof *x);
    for (int s = 0; s < d->ns; s++) x[s] = rd_ppl(d, b, c, f, u, s, e);
    double m = stats_median(x, d->ns);
    free(x);
    return m;
}

// Median over seeds x the user's own texts.
double own_median(const ReportData *d, int b, int c, int f, int u) {
    int *own = xmalloc(((size_t)d->ne + 1) * sizeof *own);
    int no = rd_own_texts(d, u, own), n = 0;
    double *x = xmalloc(((size_t)no * d->ns + 1) * sizeof *x);
    for (int s = 0; s < d->ns; s++)
        for (int k = 0; k < no; k++)
            x[n++] = rd_is_none(d, f) ? rd_base_ppl(d, b, f, own[k]) : rd_ppl(d, b, c, f, u, s, own[k]);
    double m = stats_median(x, n);
    free(x);
    free(own);
    return m;
}
