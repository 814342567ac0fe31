// Bet 49: norm-only Pareto-dominates LoRA-r4 and full FT (personal ppl, adapter bytes, general ppl).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adapter.h"
#include "engine/util.h"
#include "results/report_judge.h"
#include "results/report_paired.h"
#include "results/report_util.h"

// ---- Bet 49

typedef struct {
    double personal, general;   // median ratios norm/other
    int64_t nbytes, obytes;
    int dominates;              // 1 yes, 0 no, -1 unknown
} Pareto;

static Pareto pareto_check(const ReportData *d, Missing *m, int b, int fn, int fo, int u, Summary *ps) {
    Pareto p;
    char key[300];
    snprintf(key, sizeof key, "bet49 personal %s %s %s %s", fmt_label(d, AX_BASE, b), fmt_label(d, AX_FORMAT, fn),
             fmt_label(d, AX_FORMAT, fo), fmt_label(d, AX_TRAIN_USER, u));
    Side norm = {b, d->real, fn, 0}, other = {b, d->real, fo, 0};
    *ps = paired_own_ratio(d, m, norm, other, u, key);
    p.personal = ps->median;
    double *x = xmalloc(((size_t)d->ns + 1) * sizeof *x);
    for (int s = 0; s < d->ns; s++)
        x[s] = rd_need(d, m, b, d->real, fn, u, s, d->general) / rd_need(d, m, b, d->real, fo, u, s, d->general);
    p.general = stats_median(x, d->ns);
    free(x);
    p.nbytes = rd_bytes(d, b, d->real, fn, u, 0);
    p.obytes = rd_bytes(d, b, d->real, fo, u, 0);
    if (isnan(p.personal) || isnan(p.general) || p.nbytes < 0 || p.obytes < 0) p.dominates = -1;
    else p.dominates = p.personal < 1.0 && p.nbytes < p.obytes && p.general <= 1.0;
    return p;
}

static void bet49_norm(const ReportData *d, RSection *sec, int b, int fn, const int *others, int no) {
    char scope[256];
    Buf ob = {0};
    for (int i = 0; i < no; i++) buf_printf(&ob, "%s%s", i ? (i == no - 1 ? " and " : ", ") : "", fmt_label(d, AX_FORMAT, others[i]));
    char *olist = buf_take(&ob);
    snprintf(scope, sizeof scope, "base %s: %s vs %s", fmt_label(d, AX_BASE, b), fmt_label(d, AX_FORMAT, fn), olist);
    // personal and general ppl per user and format
    int ncols = 1 + 2 * (no + 1);
    const char **cols = xcalloc((size_t)ncols, sizeof *cols);
    char **owned = xcalloc((size_t)ncols, sizeof *owned);
    cols[0] = "user";
    for (int i = 0; i <= no; i++) {
        int f = i == 0 ? fn : others[i - 1];
        cols[1 + 2 * i] = owned[1 + 2 * i] = str_printf("%s personal", fmt_label(d, AX_FORMAT, f));
        cols[2 + 2 * i] = owned[2 + 2 * i] = str_printf("%s general", fmt_label(d, AX_FORMAT, f));
    }
    char title[400];
    snprintf(title, sizeof title, "Personal (own held-out texts) and general perplexity, base %s%s", fmt_label(d, AX_BASE, b),
             d->ns > 1 ? ", median over seeds x texts" : ", median over texts");
    RTable *pt = section_add_table(sec, title, ncols, cols);
    for (int u = 0; u < d->nu; u++) {
        table_add_row(pt);
        table_text(pt, 0, "%s", fmt_label(d, AX_TRAIN_USER, u));
        for (int i = 0; i <= no; i++) {
            int f = i == 0 ? fn : others[i - 1];
            table_num(pt, 1 + 2 * i, own_median(d, b, d->real, f, u), NUM_G);
            table_num(pt, 2 + 2 * i, seed_median(d, b, d->real, f, u, d->general), NUM_G);
        }
    }
    for (int c = 0; c < ncols; c++) free(owned[c]);
    free(owned);
    free(cols);
    static const char *const pc[] = {"user", "other", "personal ratio", "CI lo", "CI hi", "norm bytes", "other bytes",
                                     "general ratio", "dominates"};
    snprintf(title, sizeof title, "Pareto check, %s (personal ratio < 1, bytes smaller, general ratio <= 1)", scope);
    RTable *t = section_add_table(sec, title, 9, pc);
    Missing m = {0};
    int k = 0, unknown = 0;
    Buf why = {0};
    for (int u = 0; u < d->nu; u++) {
        int user_dom = 1;
        Buf reasons = {0};
        for (int i = 0; i < no; i++) {
            Summary ps;
            Pareto p = pareto_check(d, &m, b, fn, others[i], u, &ps);
            table_add_row(t);
            table_text(t, 0, "%s", fmt_label(d, AX_TRAIN_USER, u));
            table_text(t, 1, "%s", fmt_label(d, AX_FORMAT, others[i]));
            table_num(t, 2, p.personal, NUM_G);
            table_num(t, 3, ps.lo, NUM_G);
            table_num(t, 4, ps.hi, NUM_G);
            table_num(t, 5, p.nbytes < 0 ? NAN : (double)p.nbytes, NUM_INT);
            table_num(t, 6, p.obytes < 0 ? NAN : (double)p.obytes, NUM_INT);
            table_num(t, 7, p.general, NUM_G);
            table_text(t, 8, "%s", p.dominates < 0 ? "missing" : p.dominates ? "yes" : "no");
            if (p.dominates == 0) {
                user_dom = 0;
                char a[48], g[48];
                fmt_num(a, sizeof a, p.personal);
                fmt_num(g, sizeof g, p.general);
                const char *o = fmt_label(d, AX_FORMAT, others[i]);
                if (!(p.personal < 1.0)) buf_printf(&reasons, "%spersonal ppl not lower than %s's (ratio %s)", reasons.len ? ", " : "", o, a);
                if (!(p.nbytes < p.obytes)) buf_printf(&reasons, "%sadapter not smaller than %s's (%lld >= %lld B)", reasons.len ? ", " : "", o,
                                                       (long long)p.nbytes, (long long)p.obytes);
                if (!(p.general <= 1.0)) buf_printf(&reasons, "%sgeneral ppl worse than %s's (ratio %s)", reasons.len ? ", " : "", o, g);
            } else if (p.dominates < 0 && user_dom == 1) {
                user_dom = -1;
            }
        }
        k += user_dom == 1;
        unknown += user_dom < 0;
        buf_printf(&why, "%s%s %s", u ? ", " : "", fmt_label(d, AX_TRAIN_USER, u),
                   user_dom == 1 ? "yes" : user_dom < 0 ? "missing" : "no");
        if (user_dom == 0) buf_printf(&why, " (%s)", reasons.s);
        buf_free(&reasons);
    }
    int n = d->nu;
    VerdictLevel level = users_level(n, k, k, k == 0);
    char *ws = buf_take(&why);
    char *decided = str_printf("norm Pareto-dominates %s for %d/%d users: %s", olist, k, n, ws);
    char *words;
    switch (level) {
    case VERDICT_STRICT: words = str_printf("norm-only Pareto-dominates %s for all %d users", olist, n); break;
    case VERDICT_LENIENT: words = str_printf("norm-only Pareto-dominates %s for %d of %d users (at least 2/3, not all)", olist, k, n); break;
    case VERDICT_CATASTROPHIC: words = str_printf("norm-only Pareto-dominates %s for none of the %d users", olist, n); break;
    default: words = str_printf("neither STRICT, LENIENT nor CATASTROPHIC: norm-only Pareto-dominates %s for %d of %d "
                                "users (fewer than 2/3, more than none)", olist, k, n);
    }
    RVerdict *v = add_verdict(sec, d, &m, scope, b, fn, unknown < n, level, decided, words);
    verdict_number(v, "users_dominated", k);
    verdict_number(v, "users", n);
    verdict_number(v, "users_missing", unknown);
    free(ws);
    free(olist);
    missing_free(&m);
}

void judge_bet49(const ReportData *d, Report *r, const char *title) {
    RSection *sec = report_add_section(r, "bet49", title,
        "Norm-only Pareto-dominates LoRA-r4 and full FT (lower personal-text ppl AND smaller adapter AND no worse "
        "general-text ppl): STRICT for 3 of 3 users, LENIENT 2 of 3, CATASTROPHIC 0 of 3.");
    section_note(sec, "Personal: median over seeds x the user's own held-out texts of the paired ratio norm/other "
                      "(< 1 is lower). General: median over seeds of norm/other on the general text (<= 1 is no "
                      "worse). Bytes: fp32 adapter sizes, strictly smaller. With n users LENIENT needs 2n/3 of them.");
    int *fn = xmalloc(((size_t)d->nf + 1) * sizeof(int)), *fo = xmalloc(((size_t)d->nf + 1) * sizeof(int));
    int nn = rd_formats_of(d, FMT_NORM, fn);
    int no = rd_formats_of(d, FMT_LORA, fo);
    no += rd_formats_of(d, FMT_FULL, fo + no);
    if (!nn || !no || d->real < 0 || d->general < 0) {
        verdict_cannot(sec, "norm vs lora and full", "the file has no %s",
                       !nn ? "norm format" : !no ? "lora or full format" : d->real < 0 ? "real condition"
                                                                                       : "general eval text");
    } else {
        for (int i = 0; i < nn; i++) {
            note_partners(d, sec, fn[i], FMT_LORA);
            note_partners(d, sec, fn[i], FMT_FULL);
        }
        for (int b = 0; b < d->nb; b++)
            for (int i = 0; i < nn; i++) {
                int cross, n = rd_partners(d, FMT_LORA, fn[i], fo, &cross);
                n += rd_partners(d, FMT_FULL, fn[i], fo + n, &cross);
                bet49_norm(d, sec, b, fn[i], fo, n);
            }
    }
    free(fn);
    free(fo);
}
