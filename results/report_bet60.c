// Bet 60: norm-only trained on real text vs on uniform random tokens (the noise floor).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adapter.h"
#include "engine/util.h"
#include "results/report_judge.h"
#include "results/report_paired.h"
#include "results/report_util.h"

// ---- Bet 60

const char *bet60_class(double ratio) {
    return isnan(ratio) ? "missing" : ratio >= 1.5 ? "real >= 1.5x" : ratio >= 1.1 ? "real >= 1.1x"
         : ratio < 1.0 ? "random wins" : "real < 1.1x";
}

static void bet60_norm(const ReportData *d, RSection *sec, int b, int fn) {
    char scope[256];
    snprintf(scope, sizeof scope, "base %s: %s real vs random", fmt_label(d, AX_BASE, b), fmt_label(d, AX_FORMAT, fn));
    static const char *const cols[] = {"user", "real ppl", "random ppl", "random/real", "CI lo", "CI hi", "class"};
    char title[300];
    snprintf(title, sizeof title, "Real vs random tokens, %s (median over seeds x own texts of the paired ratio)", scope);
    RTable *t = section_add_table(sec, title, 7, cols);
    Missing m = {0};
    Side random = {b, d->random, fn, 0}, real = {b, d->real, fn, 0};
    int n15 = 0, n11 = 0, nrand = 0, known = 0;
    Buf why = {0};
    for (int u = 0; u < d->nu; u++) {
        char key[300];
        snprintf(key, sizeof key, "bet60 %s %s", scope, fmt_label(d, AX_TRAIN_USER, u));
        Summary sm = paired_own_ratio(d, &m, random, real, u, key);
        int ok = sm.n > 0;
        known += ok;
        int c15 = ok && sm.median >= 1.5, c11 = ok && sm.median >= 1.1, cr = ok && sm.median < 1.0;
        n15 += c15;
        n11 += c11;
        nrand += cr;
        table_add_row(t);
        table_text(t, 0, "%s", fmt_label(d, AX_TRAIN_USER, u));
        table_num(t, 1, own_median(d, b, d->real, fn, u), NUM_G);
        table_num(t, 2, own_median(d, b, d->random, fn, u), NUM_G);
        table_num(t, 3, sm.median, NUM_G);
        table_num(t, 4, sm.lo, NUM_G);
        table_num(t, 5, sm.hi, NUM_G);
        table_text(t, 6, "%s", !ok ? "missing" : bet60_class(sm.median));
        char a[48];
        fmt_num(a, sizeof a, sm.median);
        buf_printf(&why, "%s%s %sx", u ? ", " : "", fmt_label(d, AX_TRAIN_USER, u), a);
    }
    int n = d->nu;
    VerdictLevel level = users_level(n, n15, n11, 3 * nrand >= 2 * n);
    char *ws = buf_take(&why);
    char *decided = str_printf("real beats random by >= 1.5x on %d/%d users, >= 1.1x on %d/%d; random beats real on "
                               "%d/%d (random/real: %s)", n15, n, n11, n, nrand, n, ws);
    char *words;
    switch (level) {
    case VERDICT_STRICT: words = str_printf("real-text training beats random tokens by at least 1.5x for all %d users", n); break;
    case VERDICT_LENIENT: words = str_printf("real beats random by at least 1.1x for %d of %d users (2/3 or more), not 1.5x for all", n11, n); break;
    case VERDICT_CATASTROPHIC: words = str_printf("random tokens beat real text for %d of %d users (2/3 or more)", nrand, n); break;
    default: words = str_printf("neither STRICT, LENIENT nor CATASTROPHIC: real beats random by 1.1x for %d of %d users "
                                "and random beats real for %d", n11, n, nrand);
    }
    RVerdict *v = add_verdict(sec, d, &m, scope, b, fn, known > 0, level, decided, words);
    verdict_number(v, "users_1_5x", n15);
    verdict_number(v, "users_1_1x", n11);
    verdict_number(v, "users_random_wins", nrand);
    verdict_number(v, "users", n);
    free(ws);
    missing_free(&m);
}

void judge_bet60(const ReportData *d, Report *r, const char *title) {
    RSection *sec = report_add_section(r, "bet60", title,
        "Norm-only trained on the user's text (real) vs on uniform random tokens (random), evaluated on the user's "
        "held-out text: STRICT real beats random by >= 1.5x on 3 of 3 users; LENIENT >= 1.1x on 2 of 3; "
        "CATASTROPHIC random beats real on >= 2 of 3.");
    section_note(sec, "Ratio = random ppl / real ppl, paired per (seed, own held-out text), median per user: real beats "
                      "random by >= 1.5x when the ratio is >= 1.5, random beats real when it is < 1. With n users, "
                      "'2 of 3' is 2n/3.");
    int *fn = xmalloc(((size_t)d->nf + 1) * sizeof(int));
    int nn = rd_formats_of(d, FMT_NORM, fn);
    if (!nn || d->real < 0 || d->random < 0)
        verdict_cannot(sec, "norm real vs random", "the file has no %s",
                       !nn ? "norm format" : d->real < 0 ? "real condition" : "random condition");
    else
        for (int b = 0; b < d->nb; b++)
            for (int i = 0; i < nn; i++) bet60_norm(d, sec, b, fn[i]);
    free(fn);
}
