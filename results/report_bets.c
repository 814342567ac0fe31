// Bets 37/46 (norm vs full), 49 (Pareto shootout), 52 (norm over the ternary base) and 60 (real vs
// random tokens). Every criterion is a comparison of two perplexities of the same eval text, so each
// is computed as a paired ratio per configuration (seed, eval text) and compared with the protocol's
// threshold written as a ratio (30% improvement: ratio <= 0.70). A ratio is one correctly rounded
// division, as is the threshold literal, so a ratio that is exactly on a threshold compares as exact.
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

static char *num(double v) {
    char b[48];
    fmt_num(b, sizeof b, v);
    return str_dup(b);
}

// Median over seeds of a cell, for the per-text tables.
static double seed_median(const ReportData *d, int b, int c, int f, int u, int e) {
    double *x = xmalloc(((size_t)d->ns + 1) * sizeof *x);
    for (int s = 0; s < d->ns; s++) x[s] = rd_ppl(d, b, c, f, u, s, e);
    double m = stats_median(x, d->ns);
    free(x);
    return m;
}

// Median over seeds x the user's own texts.
static double own_median(const ReportData *d, int b, int c, int f, int u) {
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

static VerdictLevel bet37_level(double ratio, int bytes_ok) {
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
    RVerdict *v = section_add_verdict(sec, scope);
    verdict_precision(v, rd_precision(d, fn));
    VerdictLevel level = judged ? bet37_level(max_ratio, all_bytes_ok) : VERDICT_NONE;
    int64_t nbytes = rd_bytes(d, b, d->real, fn, -1, 0), fbytes = rd_bytes(d, b, d->real, ff, -1, 0);
    double pct = nbytes >= 0 && fbytes > 0 ? 100.0 * (double)nbytes / (double)fbytes : NAN;
    char *mx = num(max_ratio), *md = num(sm.median), *lo = num(sm.lo), *hi = num(sm.hi), pc[48];
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
    verdict_set(v, d, &m, judged > 0, level, buf_take(&db), words);
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

// ---- Bet 49

typedef struct {
    double personal, general;   // median ratios norm/other
    int64_t nbytes, obytes;
    int dominates;              // 1 yes, 0 no, -1 unknown
} Pareto;

static Pareto pareto_check(const ReportData *d, Missing *m, int b, int fn, int fo, int u, Summary *ps) {
    Pareto p;
    int *own = xmalloc(((size_t)d->ne + 1) * sizeof *own);
    int no = rd_own_texts(d, u, own), n = 0;
    double *x = xmalloc(((size_t)no * d->ns + d->ns + 1) * sizeof *x);
    for (int s = 0; s < d->ns; s++)
        for (int k = 0; k < no; k++)
            x[n++] = rd_need(d, m, b, d->real, fn, u, s, own[k]) / rd_need(d, m, b, d->real, fo, u, s, own[k]);
    char key[300];
    snprintf(key, sizeof key, "bet49 personal %s %s %s %s", fmt_label(d, AX_BASE, b), fmt_label(d, AX_FORMAT, fn),
             fmt_label(d, AX_FORMAT, fo), fmt_label(d, AX_TRAIN_USER, u));
    stats_summary(x, n, key, ps);
    p.personal = ps->median;
    for (int s = 0; s < d->ns; s++)
        x[s] = rd_need(d, m, b, d->real, fn, u, s, d->general) / rd_need(d, m, b, d->real, fo, u, s, d->general);
    p.general = stats_median(x, d->ns);
    p.nbytes = rd_bytes(d, b, d->real, fn, u, 0);
    p.obytes = rd_bytes(d, b, d->real, fo, u, 0);
    if (isnan(p.personal) || isnan(p.general) || p.nbytes < 0 || p.obytes < 0) p.dominates = -1;
    else p.dominates = p.personal < 1.0 && p.nbytes < p.obytes && p.general <= 1.0;
    free(x);
    free(own);
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
    VerdictLevel level = k == n ? VERDICT_STRICT : 3 * k >= 2 * n ? VERDICT_LENIENT : k == 0 ? VERDICT_CATASTROPHIC
                                                                                              : VERDICT_NONE;
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
    RVerdict *v = section_add_verdict(sec, scope);
    verdict_precision(v, rd_precision(d, fn));
    verdict_set(v, d, &m, unknown < n, level, decided, words);
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

// ---- Bet 52

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
    int *own = xmalloc(((size_t)d->ne + 1) * sizeof *own);
    double *x = xmalloc(((size_t)d->ne * d->ns + 1) * sizeof *x);
    int n30 = 0, n15 = 0, improved = 0, known = 0;
    Buf why = {0};
    for (int u = 0; u < d->nu; u++) {
        int no = rd_own_texts(d, u, own), n = 0;
        for (int s = 0; s < d->ns; s++)
            for (int k = 0; k < no; k++)
                x[n++] = rd_need(d, &m, b, d->real, fn, u, s, own[k]) / rd_need_base(d, &m, b, fn, own[k]);
        Summary sm;
        char key[300];
        snprintf(key, sizeof key, "bet52 %s %s", scope, fmt_label(d, AX_TRAIN_USER, u));
        stats_summary(x, n, key, &sm);
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
    VerdictLevel level = n30 == n ? VERDICT_STRICT : 3 * n15 >= 2 * n ? VERDICT_LENIENT
                       : improved == 0 ? VERDICT_CATASTROPHIC : VERDICT_NONE;
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
    RVerdict *v = section_add_verdict(sec, scope);
    verdict_precision(v, rd_precision(d, fn));
    verdict_set(v, d, &m, known > 0, level, decided, words);
    verdict_number(v, "users_30pct", n30);
    verdict_number(v, "users_15pct", n15);
    verdict_number(v, "users_improved", improved);
    verdict_number(v, "users", n);
    free(ws);
    free(x);
    free(own);
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

// ---- Bet 60

static void bet60_norm(const ReportData *d, RSection *sec, int b, int fn) {
    char scope[256];
    snprintf(scope, sizeof scope, "base %s: %s real vs random", fmt_label(d, AX_BASE, b), fmt_label(d, AX_FORMAT, fn));
    static const char *const cols[] = {"user", "real ppl", "random ppl", "random/real", "CI lo", "CI hi", "class"};
    char title[300];
    snprintf(title, sizeof title, "Real vs random tokens, %s (median over seeds x own texts of the paired ratio)", scope);
    RTable *t = section_add_table(sec, title, 7, cols);
    Missing m = {0};
    int *own = xmalloc(((size_t)d->ne + 1) * sizeof *own);
    double *x = xmalloc(((size_t)d->ne * d->ns + 1) * sizeof *x);
    int n15 = 0, n11 = 0, nrand = 0, known = 0;
    Buf why = {0};
    for (int u = 0; u < d->nu; u++) {
        int no = rd_own_texts(d, u, own), n = 0;
        for (int s = 0; s < d->ns; s++)
            for (int k = 0; k < no; k++)
                x[n++] = rd_need(d, &m, b, d->random, fn, u, s, own[k]) / rd_need(d, &m, b, d->real, fn, u, s, own[k]);
        Summary sm;
        char key[300];
        snprintf(key, sizeof key, "bet60 %s %s", scope, fmt_label(d, AX_TRAIN_USER, u));
        stats_summary(x, n, key, &sm);
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
        table_text(t, 6, "%s", !ok ? "missing" : c15 ? "real >= 1.5x" : c11 ? "real >= 1.1x" : cr ? "random wins"
                                                                                                 : "real < 1.1x");
        char a[48];
        fmt_num(a, sizeof a, sm.median);
        buf_printf(&why, "%s%s %sx", u ? ", " : "", fmt_label(d, AX_TRAIN_USER, u), a);
    }
    int n = d->nu;
    VerdictLevel level = n15 == n ? VERDICT_STRICT : 3 * n11 >= 2 * n ? VERDICT_LENIENT
                       : 3 * nrand >= 2 * n ? VERDICT_CATASTROPHIC : VERDICT_NONE;
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
    RVerdict *v = section_add_verdict(sec, scope);
    verdict_precision(v, rd_precision(d, fn));
    verdict_set(v, d, &m, known > 0, level, decided, words);
    verdict_number(v, "users_1_5x", n15);
    verdict_number(v, "users_1_1x", n11);
    verdict_number(v, "users_random_wins", nrand);
    verdict_number(v, "users", n);
    free(ws);
    free(x);
    free(own);
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
