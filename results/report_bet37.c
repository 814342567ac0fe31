// Bet 37 (norm-only vs full fine-tune per configuration) and Bet 46 (the same over 5 seeds x 3 texts).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adapter.h"
#include "engine/util.h"
#include "results/report_judge.h"
#include "results/report_paired.h"
#include "results/report_util.h"


// The perplexity of every format on one user's texts: the table the seeds print for Bet 37.
static void per_text_table(const ReportData *d, RSection *sec, int b, int u) {
    int *own = xmalloc(((size_t)d->ne + 2) * sizeof *own);
    int no = rd_own_texts(d, u, own);
    if (d->general >= 0) own[no++] = d->general;
    int ncols = no + 5;
    const char **cols = xcalloc((size_t)ncols, sizeof *cols);
    cols[0] = "format";
    cols[1] = "precision";
    for (int k = 0; k < no; k++) cols[k + 2] = fmt_label(d, AX_EVAL_TEXT, own[k]);
    cols[no + 2] = "median";
    cols[no + 3] = "adapter bytes";
    cols[no + 4] = "bytes fp16";
    char title[256];
    snprintf(title, sizeof title, "Perplexity on %s's held-out texts (base %s, condition real%s)",
             fmt_label(d, AX_TRAIN_USER, u), fmt_label(d, AX_BASE, b), d->ns > 1 ? ", median over seeds" : "");
    RTable *t = section_add_table(sec, title, ncols, cols);
    for (int f = 0; f < d->nf; f++) {
        table_add_row(t);
        table_text(t, 0, "%s", fmt_label(d, AX_FORMAT, f));
        table_text(t, 1, "%s", rd_precision(d, f));
        double *x = xmalloc(((size_t)no + 1) * sizeof *x);
        int nown = no - (d->general >= 0);
        for (int k = 0; k < no; k++) {
            double v = rd_is_none(d, f) ? rd_base_ppl(d, b, f, own[k]) : seed_median(d, b, d->real, f, u, own[k]);
            table_num(t, k + 2, v, NUM_G);
            x[k] = v;
        }
        table_num(t, no + 2, stats_median(x, nown), NUM_G);
        free(x);
        if (rd_is_none(d, f)) {
            table_num(t, no + 3, 0, NUM_INT);
            table_num(t, no + 4, 0, NUM_INT);
        } else {
            int64_t b32 = rd_bytes(d, b, d->real, f, u, 0), b16 = rd_bytes(d, b, d->real, f, u, 1);
            table_num(t, no + 3, b32 < 0 ? NAN : (double)b32, NUM_INT);
            table_num(t, no + 4, b16 < 0 ? NAN : (double)b16, NUM_INT);
        }
    }
    free(cols);
    free(own);
}

// ---- Bet 37 / Bet 46

VerdictLevel bet37_level(double ratio, int bytes_ok) {
    if (ratio < 2.0 && bytes_ok) return VERDICT_STRICT;
    if (ratio < 5.0 && bytes_ok) return VERDICT_LENIENT;
    if (ratio > 10.0) return VERDICT_CATASTROPHIC;
    return VERDICT_NONE;
}

static void bet37_pair(const ReportData *d, RSection *sec, int b, int fn, int ff, int replicated) {
    char scope[256];
    snprintf(scope, sizeof scope, "base %s: %s vs %s", fmt_label(d, AX_BASE, b), fmt_label(d, AX_FORMAT, fn),
             fmt_label(d, AX_FORMAT, ff));
    static const char *const cols[] = {"user", "seed", "eval text", "norm ppl", "full ppl", "norm/full",
                                       "norm bytes", "full bytes", "class"};
    char title[300];
    snprintf(title, sizeof title, "Configurations, %s", scope);
    RTable *t = section_add_table(sec, title, 9, cols);
    Missing m = {0};
    int *own = xmalloc(((size_t)d->ne + 1) * sizeof *own);
    double *ratios = xmalloc(((size_t)d->nu * d->ns * d->ne + 1) * sizeof *ratios);
    int planned = 0, judged = 0, n_strict = 0, n_lenient = 0, n_cat = 0, n_beats = 0, all_bytes_ok = 1;
    double max_ratio = -INFINITY;
    for (int u = 0; u < d->nu; u++) {
        int no = rd_own_texts(d, u, own);
        for (int s = 0; s < d->ns; s++) {
            int jn = rd_job(d, b, d->real, fn, u, s), jf = rd_job(d, b, d->real, ff, u, s);
            int64_t nb = rd_job_ok(d, jn) ? d->rf.jobs[jn].adapter_bytes_fp32 : -1;
            int64_t fb = rd_job_ok(d, jf) ? d->rf.jobs[jf].adapter_bytes_fp32 : -1;
            for (int k = 0; k < no; k++) {
                planned++;
                double pn = rd_need(d, &m, b, d->real, fn, u, s, own[k]);
                double pf = rd_need(d, &m, b, d->real, ff, u, s, own[k]);
                double ratio = pn / pf;
                ratios[planned - 1] = ratio;
                int bytes_ok = nb >= 0 && fb > 0 && nb * 100 < fb;
                table_add_row(t);
                table_text(t, 0, "%s", fmt_label(d, AX_TRAIN_USER, u));
                table_text(t, 1, "%s", fmt_label(d, AX_SEED, s));
                table_text(t, 2, "%s", fmt_label(d, AX_EVAL_TEXT, own[k]));
                table_num(t, 3, pn, NUM_G);
                table_num(t, 4, pf, NUM_G);
                table_num(t, 5, ratio, NUM_G);
                table_num(t, 6, nb < 0 ? NAN : (double)nb, NUM_INT);
                table_num(t, 7, fb < 0 ? NAN : (double)fb, NUM_INT);
                if (isnan(ratio)) { table_text(t, 8, "missing"); continue; }
                VerdictLevel c = bet37_level(ratio, bytes_ok);
                table_text(t, 8, "%s", verdict_name(c));
                judged++;
                if (ratio > max_ratio) max_ratio = ratio;
                all_bytes_ok &= bytes_ok;
                n_strict += c == VERDICT_STRICT;
                n_lenient += c == VERDICT_STRICT || c == VERDICT_LENIENT;
                n_cat += c == VERDICT_CATASTROPHIC;
                n_beats += ratio < 1.0;
            }
        }
    }
    Summary sm;
    char key[400];
    snprintf(key, sizeof key, "bet37 ratio %s", scope);
    stats_summary(ratios, planned, key, &sm);
    VerdictLevel level = judged ? bet37_level(max_ratio, all_bytes_ok) : VERDICT_NONE;
    int64_t nbytes = rd_bytes(d, b, d->real, fn, -1, 0), fbytes = rd_bytes(d, b, d->real, ff, -1, 0);
    double pct = nbytes >= 0 && fbytes > 0 ? 100.0 * (double)nbytes / (double)fbytes : NAN;
    char *mx = judge_num(max_ratio), *md = judge_num(sm.median), *lo = judge_num(sm.lo), *hi = judge_num(sm.hi), pc[48];
    fmt_num(pc, sizeof pc - 1, pct);
    if (!isnan(pct)) strcat(pc, "%");
    Buf db = {0};
    buf_printf(&db, "largest norm/full ratio %s over %d/%d configurations (STRICT < 2, LENIENT < 5, CATASTROPHIC > 10); "
               "norm adapter %lld B = %s of full's %lld B (%s 1%%); STRICT in %d/%d, at least LENIENT in %d/%d, "
               "CATASTROPHIC in %d/%d configurations",
               mx, judged, planned, (long long)nbytes, pc, (long long)fbytes, all_bytes_ok ? "<" : "not <", n_strict,
               judged, n_lenient, judged, n_cat, judged);
    if (replicated || judged > 1)
        buf_printf(&db, "; norm beats full in %d/%d; median ratio %s [95%% CI %s, %s]", n_beats, judged, md, lo, hi);
    char *words;
    switch (level) {
    case VERDICT_STRICT:
        words = str_printf("norm-only ppl is below 2x full FT's in every configuration (%d/%d) and its adapter is "
                           "under 1%% of full's size", judged, judged);
        break;
    case VERDICT_LENIENT:
        words = str_printf("norm-only ppl is below 5x full FT's in every configuration, not below 2x in all (%d/%d "
                           "STRICT), adapter under 1%% of full's size", n_strict, judged);
        break;
    case VERDICT_CATASTROPHIC:
        words = str_printf("norm-only ppl is more than 10x full FT's in %d/%d configurations (largest %s)", n_cat,
                           judged, mx);
        break;
    default:
        words = !all_bytes_ok ? str_printf("neither STRICT, LENIENT nor CATASTROPHIC: the norm adapter is not under 1%% "
                                           "of full's size (%s), and no ratio is above 10x", pc)
                              : str_printf("neither STRICT, LENIENT nor CATASTROPHIC: the largest ratio %s is between "
                                           "5x and 10x", mx);
    }
    RVerdict *v = add_verdict(sec, d, &m, scope, b, fn, judged > 0, level, buf_take(&db), words);
    verdict_number(v, "max_ratio", judged ? max_ratio : NAN);
    verdict_number(v, "median_ratio", sm.median);
    verdict_number(v, "ratio_ci_lo", sm.lo);
    verdict_number(v, "ratio_ci_hi", sm.hi);
    verdict_number(v, "configurations", judged);
    verdict_number(v, "configurations_planned", planned);
    verdict_number(v, "strict", n_strict);
    verdict_number(v, "lenient_or_better", n_lenient);
    verdict_number(v, "catastrophic", n_cat);
    verdict_number(v, "norm_beats_full", n_beats);
    verdict_number(v, "norm_bytes", (double)nbytes);
    verdict_number(v, "full_bytes", (double)fbytes);
    verdict_number(v, "norm_bytes_percent_of_full", pct);
    free(mx); free(md); free(lo); free(hi);
    free(ratios);
    free(own);
    missing_free(&m);
}

void judge_bet37(const ReportData *d, Report *r, int replicated) {
    RSection *sec = replicated
        ? report_add_section(r, "bet46", "Bet 46: norm-only vs full fine-tune over seeds x eval texts",
                             "Bet 37 replicated over 5 seeds x 3 held-out texts: in how many of the 15 configurations "
                             "norm-only beats full FT, the median ratio norm/full, and Bet 37's criteria in every "
                             "configuration (15/15 STRICT).")
        : report_add_section(r, "bet37", "Bet 37: norm-only vs LoRA-r4 vs full fine-tune",
                             "STRICT: norm-only ppl < 2x full-FT ppl on held-out same-author text, while adapter size "
                             "< 1% of full FT. LENIENT: norm-only ppl < 5x full-FT ppl, adapter size < 1%. "
                             "CATASTROPHIC: norm-only ppl > 10x full-FT ppl.");
    section_note(sec, "A configuration is one (user, seed, held-out text). Every configuration is classed by Bet 37's "
                      "criteria; the verdict is the class all of them reach, i.e. the class of the largest ratio "
                      "(one configuration above 10x is CATASTROPHIC). Sizes are fp32 adapter bytes.");
    int *fn = xmalloc(((size_t)d->nf + 1) * sizeof(int)), *ff = xmalloc(((size_t)d->nf + 1) * sizeof(int));
    int nn = rd_formats_of(d, FMT_NORM, fn), nfull = rd_formats_of(d, FMT_FULL, ff);
    if (!nn || !nfull || d->real < 0) {
        verdict_cannot(sec, "norm vs full", "the file has no %s", !nn ? "norm format" : !nfull ? "full format"
                                                                                          : "real condition");
    } else {
        for (int i = 0; i < nn; i++) note_partners(d, sec, fn[i], FMT_FULL);
        for (int b = 0; b < d->nb; b++) {
            for (int u = 0; u < d->nu; u++) per_text_table(d, sec, b, u);
            for (int i = 0; i < nn; i++) {
                int cross, nf = rd_partners(d, FMT_FULL, fn[i], ff, &cross);
                for (int k = 0; k < nf; k++) bet37_pair(d, sec, b, fn[i], ff[k], replicated);
            }
        }
    }
    free(fn);
    free(ff);
}
