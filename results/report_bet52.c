// Bet 52: the norm-only adapter's improvement over the base alone (the ternary base in the protocol).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adapter.h"
#include "engine/util.h"
#include "results/report_judge.h"
#include "results/report_paired.h"
#include "results/report_util.h"

// ---- Bet 52

const char *bet52_class(double ratio) {
    return isnan(ratio) ? "missing" : ratio <= 0.70 ? ">= 30%" : ratio <= 0.85 ? ">= 15%" : ratio < 1.0 ? "improves"
         : "no improvement";
}

static void bet52_norm(const ReportData *d, RSection *sec, int b, int fn) {
    char scope[256];
    snprintf(scope, sizeof scope, "base %s: %s over the base alone", fmt_label(d, AX_BASE, b), fmt_label(d, AX_FORMAT, fn));
    static const char *const cols[] = {"user", "base ppl", "norm ppl", "norm/base", "improvement", "CI lo", "CI hi",
                                       ">= 30%", ">= 15%"};
    char title[300];
    if (d->n_prec > 1)   // which base, where several precisions give several
        snprintf(title, sizeof title, "Improvement over the base, %s (the base: %s at %s; median over seeds x own texts "
                 "of the paired ratio)", scope, fmt_label(d, AX_FORMAT, d->base_of[fn]), rd_precision(d, d->base_of[fn]));
    else
        snprintf(title, sizeof title, "Improvement over the base, %s (median over seeds x own texts of the paired ratio)", scope);
    RTable *t = section_add_table(sec, title, 9, cols);
    Missing m = {0};
    Side norm = {b, d->real, fn, 0}, base = {b, d->real, fn, 1};
    int n30 = 0, n15 = 0, improved = 0, known = 0;
    Buf why = {0};
    for (int u = 0; u < d->nu; u++) {
        char key[300];
        snprintf(key, sizeof key, "bet52 %s %s", scope, fmt_label(d, AX_TRAIN_USER, u));
        Summary sm = paired_own_ratio(d, &m, norm, base, u, key);
        int ok = sm.n > 0, s30 = ok && sm.median <= 0.70, s15 = ok && sm.median <= 0.85;
        known += ok;
        n30 += s30;
        n15 += s15;
        improved += ok && sm.median < 1.0;
        table_add_row(t);
        table_text(t, 0, "%s", fmt_label(d, AX_TRAIN_USER, u));
        table_num(t, 1, own_median(d, b, d->real, d->base_of[fn], u), NUM_G);
        table_num(t, 2, own_median(d, b, d->real, fn, u), NUM_G);
        table_num(t, 3, sm.median, NUM_G);
        table_num(t, 4, 100 * (1 - sm.median), NUM_PCT);
        table_num(t, 5, 100 * (1 - sm.hi), NUM_PCT);
        table_num(t, 6, 100 * (1 - sm.lo), NUM_PCT);
        table_text(t, 7, "%s", !ok ? "missing" : s30 ? "yes" : "no");
        table_text(t, 8, "%s", !ok ? "missing" : s15 ? "yes" : "no");
        char pc[32];
        fmt_pct(pc, sizeof pc, 100 * (1 - sm.median));
        buf_printf(&why, "%s%s %s", u ? ", " : "", fmt_label(d, AX_TRAIN_USER, u), pc);
    }
    int n = d->nu;
    VerdictLevel level = users_level(n, n30, n15, improved == 0);
    char *ws = buf_take(&why);
    char *decided = str_printf("improvement >= 30%% on %d/%d users, >= 15%% on %d/%d, any improvement on %d/%d (%s)",
                               n30, n, n15, n, improved, n, ws);
    char *words;
    switch (level) {
    case VERDICT_STRICT: words = str_printf("the norm adapter improves on the base alone by at least 30%% for all %d users", n); break;
    case VERDICT_LENIENT: words = str_printf("at least 15%% improvement for %d of %d users (2/3 or more), not 30%% for all", n15, n); break;
    case VERDICT_CATASTROPHIC: words = str_printf("the norm adapter is ineffective on this base: no improvement for any of the %d users", n); break;
    default: words = str_printf("neither STRICT, LENIENT nor CATASTROPHIC: 15%% improvement for only %d of %d users, "
                                "some improvement for %d", n15, n, improved);
    }
    RVerdict *v = add_verdict(sec, d, &m, scope, b, fn, known > 0, level, decided, words);
    verdict_number(v, "users_30pct", n30);
    verdict_number(v, "users_15pct", n15);
    verdict_number(v, "users_improved", improved);
    verdict_number(v, "users", n);
    free(ws);
    missing_free(&m);
}

void judge_bet52(const ReportData *d, Report *r, const char *title) {
    RSection *sec = report_add_section(r, "bet52", title,
        "Norm-only adapter on top of the ternary base vs the ternary base alone: STRICT improvement >= 30% on 3 of 3 "
        "users, LENIENT >= 15% on 2 of 3, CATASTROPHIC the adapter is ineffective on the ternary base.");
    section_note(sec, "Improvement = 1 - norm ppl / base ppl, paired per (seed, own held-out text), median per user; "
                      "'ineffective' is read as no improvement on any user. Every base that was evaluated alone "
                      "(the none format) is judged; Bet 52's is the ternary one.");
    int *fn = xmalloc(((size_t)d->nf + 1) * sizeof(int));
    int nn = rd_formats_of(d, FMT_NORM, fn);
    if (!nn || d->none_f < 0 || d->real < 0)
        verdict_cannot(sec, "norm over the base", "the file has no %s",
                       !nn ? "norm format" : d->none_f < 0 ? "none format (the base alone)" : "real condition");
    else {
        for (int i = 0; i < nn; i++) note_base(d, sec, fn[i]);
        for (int b = 0; b < d->nb; b++)
            for (int i = 0; i < nn; i++) bet52_norm(d, sec, b, fn[i]);
    }
    free(fn);
}
