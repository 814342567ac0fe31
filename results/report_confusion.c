// Confusion matrices: every user's adapter on every user's held-out texts, per base and format, and
// the diagonal margin per user (own adapter against the best other user's adapter, and against the
// base). Bet 61 judges the diagonal; the 1B+ protocol asks for a margin of at least 5% on most users.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adapter.h"
#include "engine/rng.h"
#include "engine/util.h"
#include "results/report_judge.h"
#include "results/report_margin.h"
#include "results/report_svg.h"
#include "results/report_util.h"

// Whether any finished job of (b, real, f) has a cell on another user's text: without one, the
// sweep evaluated own texts only and there is no matrix.
static int has_cross_cells(const ReportData *d, int b, int f) {
    for (int u = 0; u < d->nu; u++)
        for (int s = 0; s < d->ns; s++)
            for (int e = 0; e < d->ne; e++)
                if (d->owner[e] >= 0 && d->owner[e] != u && !isnan(rd_ppl(d, b, d->real, f, u, s, e))) return 1;
    return 0;
}

// Median ppl of adapter a (or the base, a < 0) on user t's texts, over seeds.
static double matrix_cell(const ReportData *d, int b, int f, int a, const int *own, int no) {
    double *x = xmalloc(((size_t)no * d->ns + 1) * sizeof *x);
    int n = 0;
    for (int k = 0; k < no; k++) {
        if (a < 0) { x[n++] = rd_base_ppl(d, b, f, own[k]); continue; }
        for (int s = 0; s < d->ns; s++) x[n++] = rd_ppl(d, b, d->real, f, a, s, own[k]);
    }
    double m = stats_median(x, n);
    free(x);
    return m;
}

// A sampled design (eval.others, or a list of users): some finished adapter of (b, real, f) has cells on
// other users' texts but not on every other user's own texts.
static int is_sampled(const ReportData *d, int b, int f, int *const *own, const int *no) {
    for (int a = 0; a < d->nu; a++)
        for (int s = 0; s < d->ns; s++) {
            if (!rd_job_ok(d, rd_job(d, b, d->real, f, a, s))) continue;
            for (int t = 0; t < d->nu; t++)
                for (int k = 0; t != a && k < no[t]; k++)
                    if (isnan(rd_ppl(d, b, d->real, f, a, s, own[t][k]))) return 1;
        }
    return 0;
}

static int by_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

// Sampled designs: the margin's 95% interval from resampling the adapters drawn for user t's texts
// (with replacement, seeded by key): which others were drawn is the uncertainty, not only the texts.
static void sampled_interval(const ReportData *d, int b, int f, int t, const int *own_t, int no_t, const char *key,
                             double *lo, double *hi) {
    int nu = d->nu, nd = 0;
    int *drawn = xmalloc(((size_t)nu + 1) * sizeof *drawn), *pick = xmalloc(((size_t)nu + 1) * sizeof *pick);
    for (int a = 0; a < nu; a++) {
        int any = 0;
        for (int s = 0; s < d->ns && !any; s++)
            for (int k = 0; k < no_t && !any; k++) any = a != t && !isnan(rd_ppl(d, b, d->real, f, a, s, own_t[k]));
        if (any) drawn[nd++] = a;
    }
    *lo = *hi = NAN;
    if (nd) {
        Rng r;
        rng_seed_stream(&r, REPORT_BOOTSTRAP_SEED, fnv1a64(key, strlen(key), FNV1A64_INIT));
        enum { B = REPORT_BOOTSTRAP_RESAMPLES };
        double *med = xmalloc(B * sizeof *med), *x = xmalloc(((size_t)d->ns * no_t + 1) * sizeof *x);
        for (int rep = 0; rep < B; rep++) {
            for (int i = 0; i < nd; i++) pick[i] = drawn[rng_below(&r, (uint64_t)nd)];
            int n = 0;
            for (int s = 0; s < d->ns; s++)
                for (int k = 0; k < no_t; k++) {
                    double best = INFINITY;
                    for (int i = 0; i < nd; i++) {
                        double o = rd_ppl(d, b, d->real, f, pick[i], s, own_t[k]);
                        if (!isnan(o)) best = fmin(best, o);
                    }
                    x[n++] = isinf(best) ? NAN : rd_ppl(d, b, d->real, f, t, s, own_t[k]) / best;
                }
            med[rep] = stats_median(x, n);
        }
        qsort(med, B, sizeof *med, by_double);
        int nn = 0;   // NaN medians (a resample without a cell) sort last under by_double's rules: drop them
        while (nn < B && !isnan(med[nn])) nn++;
        if (nn) { *lo = med[(int)floor(0.025 * nn)]; *hi = med[(int)ceil(0.975 * nn) - 1]; }
        free(med);
        free(x);
    }
    free(drawn);
    free(pick);
}

static const double *g_margin;   // for by_margin
// Margin ascending, users without one last, ties by index: a stable order for the tables and the picture.
static int by_margin(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    double u = g_margin[x], v = g_margin[y];
    if (isnan(u) != isnan(v)) return isnan(u) ? 1 : -1;
    if (!isnan(u) && u != v) return u < v ? -1 : 1;
    return x - y;
}

static int *margin_order(int nu, const double *mg) {
    int *o = xmalloc(((size_t)nu + 1) * sizeof *o);
    for (int t = 0; t < nu; t++) o[t] = t;
    g_margin = mg;
    qsort(o, (size_t)nu, sizeof *o, by_margin);
    return o;
}

// Beyond REPORT_FULL_USERS: the distribution of the per-user diagonal margins (quantiles and a text
// histogram), how many users' own adapter wins, and the worst and best users. why gets the one-line
// summary the verdict quotes in place of every user's margin.
static void margin_summaries(const ReportData *d, RSection *sec, const char *scope, int nu, const double *mg,
                             const double *mlo, const double *mhi, const double *M, const int *best_of, int wins,
                             int five, int known, Buf *why) {
    int *order = margin_order(nu, mg);
    double *v = xmalloc(((size_t)known + 1) * sizeof *v);
    for (int k = 0; k < known; k++) v[k] = mg[order[k]];   // sorted ascending
    char title[400];
    static const char *const qc[] = {"statistic", "margin"};
    snprintf(title, sizeof title, "Diagonal margins, %s: distribution over %d users with a margin (of %d)", scope, known, nu);
    RTable *qt = section_add_table(sec, title, 2, qc);
    static const char *const qn[] = {"min", "5%", "25%", "median", "75%", "95%", "max"};
    static const double qp[] = {0, 0.05, 0.25, 0.5, 0.75, 0.95, 1};
    for (int k = 0; k < 7; k++) {
        table_add_row(qt);
        table_text(qt, 0, "%s", qn[k]);
        table_num(qt, 1, stats_quantile(v, known, qp[k]), NUM_PCT);
    }
    static const char *const cc[] = {"users", "count", "share"};
    snprintf(title, sizeof title, "Diagonal, %s: users whose own adapter wins", scope);
    RTable *ct = section_add_table(sec, title, 3, cc);
    const char *cn[] = {"own adapter wins (interval excludes 0)", "margin >= 5% (interval excludes 0)", "with a margin", "without (missing cells)"};
    int cv[] = {wins, five, known, nu - known};
    for (int k = 0; k < 4; k++) {
        table_add_row(ct);
        table_text(ct, 0, "%s", cn[k]);
        table_num(ct, 1, cv[k], NUM_INT);
        table_num(ct, 2, nu ? 100.0 * cv[k] / nu : NAN, NUM_PCT);
    }
    if (known) {   // ten equal bins from the lowest to the highest margin, a bar of # per bin
        static const char *const hc[] = {"margin from", "to", "users", "histogram"};
        snprintf(title, sizeof title, "Diagonal margins, %s: histogram", scope);
        RTable *ht = section_add_table(sec, title, 4, hc);
        int bins = 10, cnt[10] = {0}, top = 0;
        double lo = v[0], hi = v[known - 1], w = hi > lo ? (hi - lo) / bins : 1;
        for (int k = 0; k < known; k++) {
            int i = hi > lo ? (int)((v[k] - lo) / w) : 0;
            cnt[i >= bins ? bins - 1 : i]++;
        }
        for (int i = 0; i < bins; i++) top = cnt[i] > top ? cnt[i] : top;
        for (int i = 0; i < bins; i++) {
            char bar[48];
            int n = top ? (cnt[i] * 40 + top - 1) / top : 0;
            memset(bar, '#', (size_t)n);
            bar[n] = 0;
            table_add_row(ht);
            table_num(ht, 0, lo + i * w, NUM_PCT);
            table_num(ht, 1, i == bins - 1 ? hi : lo + (i + 1) * w, NUM_PCT);
            table_num(ht, 2, cnt[i], NUM_INT);
            table_text(ht, 3, "%s", bar);
        }
    }
    static const char *const ec[] = {"rank", "user", "margin", "CI lo", "CI hi", "own ppl", "best other", "best other ppl"};
    for (int side = 0; side < 2; side++) {
        int k_n = known < REPORT_EXTREME_USERS ? known : REPORT_EXTREME_USERS;
        snprintf(title, sizeof title, "Diagonal, %s: the %d %s users by margin", scope, k_n, side ? "best" : "worst");
        RTable *et = section_add_table(sec, title, 8, ec);
        for (int k = 0; k < k_n; k++) {
            int t = order[side ? known - 1 - k : k];
            table_add_row(et);
            table_num(et, 0, side ? known - k : k + 1, NUM_INT);
            table_text(et, 1, "%s", fmt_label(d, AX_TRAIN_USER, t));
            table_num(et, 2, mg[t], NUM_PCT);
            table_num(et, 3, mlo[t], NUM_PCT);
            table_num(et, 4, mhi[t], NUM_PCT);
            table_num(et, 5, M[(size_t)t * nu + t], NUM_G);
            table_text(et, 6, "%s", best_of[t] >= 0 ? fmt_label(d, AX_TRAIN_USER, best_of[t]) : "n/a");
            table_num(et, 7, best_of[t] >= 0 ? M[(size_t)best_of[t] * nu + t] : NAN, NUM_G);
        }
    }
    char med[32], w0[32], b0[32];
    fmt_pct(med, sizeof med, stats_median(v, known));
    fmt_pct(w0, sizeof w0, known ? v[0] : NAN);
    fmt_pct(b0, sizeof b0, known ? v[known - 1] : NAN);
    buf_printf(why, "%d users: median margin %s; worst %s %s, best %s %s", nu, med,
               known ? fmt_label(d, AX_TRAIN_USER, order[0]) : "n/a", w0,
               known ? fmt_label(d, AX_TRAIN_USER, order[known - 1]) : "n/a", b0);
    free(v);
    free(order);
}

static void confusion_one(const ReportData *d, RSection *sec, int b, int f, ConfusionMode mode, int figures) {
    int nu = d->nu, with_base = rd_base_job(d, b, f) >= 0;
    char scope[256];
    snprintf(scope, sizeof scope, "base %s: %s", fmt_label(d, AX_BASE, b), fmt_label(d, AX_FORMAT, f));
    int nrows = nu + with_base;
    double *M = xmalloc(((size_t)nrows * nu + 1) * sizeof *M);
    int **own = xcalloc((size_t)nu, sizeof *own), *no = xcalloc((size_t)nu, sizeof *no);
    for (int t = 0; t < nu; t++) {
        own[t] = xmalloc(((size_t)d->ne + 1) * sizeof(int));
        no[t] = rd_own_texts(d, t, own[t]);
    }
    for (int a = 0; a < nrows; a++)
        for (int t = 0; t < nu; t++) M[(size_t)a * nu + t] = matrix_cell(d, b, f, a < nu ? a : -1, own[t], no[t]);

    const char **cols = xcalloc((size_t)nu + 1, sizeof *cols), **rows = xcalloc((size_t)nrows, sizeof *rows);
    cols[0] = "adapter \\ text";
    for (int t = 0; t < nu; t++) cols[t + 1] = rows[t] = fmt_label(d, AX_TRAIN_USER, t);
    char base_row[128];
    snprintf(base_row, sizeof base_row, "base (%s)", with_base ? fmt_label(d, AX_FORMAT, d->base_of[f]) : "none");
    if (with_base) rows[nu] = base_row;
    char title[400];
    snprintf(title, sizeof title, "Confusion matrix, %s: median ppl of each user's adapter (rows) on each user's "
             "held-out texts (columns)%s", scope, d->ns > 1 ? ", over seeds x texts" : "");
    RTable *mt = section_add_table(sec, title, nu + 1, cols);
    for (int a = 0; a < nrows; a++) {
        table_add_row(mt);
        table_text(mt, 0, "%s", rows[a]);
        for (int t = 0; t < nu; t++) table_num(mt, t + 1, M[(size_t)a * nu + t], NUM_G);
    }

    static const char *const dc[] = {"user", "own ppl", "best other", "best other ppl", "margin", "CI lo", "CI hi",
                                     "base ppl", "margin vs base", "CI excludes 0", "own wins", ">= 5%"};
    int sampled_title = is_sampled(d, b, f, own, no);
    snprintf(title, sizeof title, "Diagonal, %s: margin = 1 - own / best other adapter's ppl, paired per (seed, text), "
             "median per user%s", scope, sampled_title ? " (sampled: the best of the adapters drawn for the user's texts)" : "");
    RTable *dt = section_add_table(sec, title, 12, dc);
    Missing m = {0};
    double *x = xmalloc(((size_t)d->ne * d->ns + 1) * sizeof *x), *xb = xmalloc(((size_t)d->ne * d->ns + 1) * sizeof *xb);
    int wins = 0, five = 0, known = 0, users = 0, large = nu > REPORT_FULL_USERS;
    double min_margin = INFINITY, max_margin = -INFINITY;
    double *mg = xmalloc(((size_t)nu + 1) * sizeof *mg), *mlo = xmalloc(((size_t)nu + 1) * sizeof *mlo);
    double *mhi = xmalloc(((size_t)nu + 1) * sizeof *mhi);
    int *best_of = xmalloc(((size_t)nu + 1) * sizeof *best_of);
    for (int t = 0; t < nu; t++) { mg[t] = mlo[t] = mhi[t] = NAN; best_of[t] = -1; }
    Buf why = {0};
    int sampled = is_sampled(d, b, f, own, no);
    if (sampled)
        section_note(sec, "%s: a sampled design (eval.others or a list of users): each user's margin is estimated against "
                          "the best of the adapters drawn for its texts, so it can only overstate the full matrix's margin; "
                          "its interval resamples the drawn adapters (%d resamples, seeded). Cells not drawn are n/a.",
                     scope, REPORT_BOOTSTRAP_RESAMPLES);
    for (int t = 0; t < nu; t++) {
        if (!no[t]) continue;
        users++;
        int n = 0;
        for (int s = 0; s < d->ns; s++)
            for (int k = 0; k < no[t]; k++) {
                int e = own[t][k];
                double mine = rd_need(d, &m, b, d->real, f, t, s, e), best = INFINITY;
                for (int a = 0; a < nu; a++) {
                    if (a == t) continue;
                    if (sampled) {   // the drawn adapters only; a failed or pending one is still missing
                        double o = rd_ppl(d, b, d->real, f, a, s, e);
                        if (isnan(o) && !rd_job_ok(d, rd_job(d, b, d->real, f, a, s))) rd_need(d, &m, b, d->real, f, a, s, e);
                        if (!isnan(o)) best = fmin(best, o);
                        continue;
                    }
                    double o = rd_need(d, &m, b, d->real, f, a, s, e);
                    best = isnan(o) || isnan(best) ? NAN : fmin(best, o);   // must beat every other adapter
                }
                if (isinf(best)) best = NAN;
                x[n] = mine / best;
                xb[n++] = with_base ? mine / rd_need_base(d, &m, b, f, e) : NAN;
            }
        Summary sm, sb;
        char key[300];
        snprintf(key, sizeof key, "confusion %s %s", scope, fmt_label(d, AX_TRAIN_USER, t));
        stats_summary(x, n, key, &sm);
        snprintf(key, sizeof key, "confusion base %s %s", scope, fmt_label(d, AX_TRAIN_USER, t));
        stats_summary(xb, n, key, &sb);
        int best_a = -1;
        for (int a = 0; a < nu; a++)
            if (a != t && !isnan(M[(size_t)a * nu + t]) && (best_a < 0 || M[(size_t)a * nu + t] < M[(size_t)best_a * nu + t]))
                best_a = a;
        int ok = sm.n > 0;
        if (ok && sampled) {
            snprintf(key, sizeof key, "confusion sampled %s %s", scope, fmt_label(d, AX_TRAIN_USER, t));
            sampled_interval(d, b, f, t, own[t], no[t], key, &sm.lo, &sm.hi);
        }
        // a win needs the interval to exclude zero (results/report_margin.h): none inside the noise
        MarginClass mc = ok ? margin_class(sm.median, sm.lo, sm.hi) : MARGIN_MISSING;
        int win = mc >= MARGIN_WINS, f5 = mc == MARGIN_BAR;
        known += ok;
        wins += win;
        five += f5;
        double margin = 100 * (1 - sm.median);
        if (ok) { min_margin = fmin(min_margin, margin); max_margin = fmax(max_margin, margin); }
        if (ok) { mg[t] = margin; mlo[t] = 100 * (1 - sm.hi); mhi[t] = 100 * (1 - sm.lo); }
        best_of[t] = best_a;
        table_add_row(dt);
        table_text(dt, 0, "%s", fmt_label(d, AX_TRAIN_USER, t));
        table_num(dt, 1, M[(size_t)t * nu + t], NUM_G);
        table_text(dt, 2, "%s", best_a >= 0 ? fmt_label(d, AX_TRAIN_USER, best_a) : "n/a");
        table_num(dt, 3, best_a >= 0 ? M[(size_t)best_a * nu + t] : NAN, NUM_G);
        table_num(dt, 4, margin, NUM_PCT);
        table_num(dt, 5, 100 * (1 - sm.hi), NUM_PCT);
        table_num(dt, 6, 100 * (1 - sm.lo), NUM_PCT);
        table_num(dt, 7, with_base ? M[(size_t)nu * nu + t] : NAN, NUM_G);
        table_num(dt, 8, 100 * (1 - sb.median), NUM_PCT);
        table_text(dt, 9, "%s", margin_excludes_zero(mc));
        table_text(dt, 10, "%s", !ok ? "missing" : win ? "yes" : mc == MARGIN_NOISE ? "no: within noise" : "no");
        table_text(dt, 11, "%s", !ok ? "missing" : f5 ? "yes" : mc == MARGIN_NOISE && sm.median <= MARGIN_BAR_RATIO
                                                                ? "no: within noise" : "no");
        char pc[32];
        fmt_pct(pc, sizeof pc, margin);
        if (!large) buf_printf(&why, "%s%s %s", why.len ? ", " : "", fmt_label(d, AX_TRAIN_USER, t), pc);
    }
    if (large) {
        mt->bulk = dt->bulk = 1;
        margin_summaries(d, sec, scope, nu, mg, mlo, mhi, M, best_of, wins, five, known, &why);
    }
    if (figures && large) {
        char name[200], ftitle[300], note[200];
        int *order = margin_order(nu, mg);
        snprintf(name, sizeof name, "confusion-%s-%s", fmt_label(d, AX_BASE, b), fmt_label(d, AX_FORMAT, f));
        snprintf(ftitle, sizeof ftitle, "Confusion matrix, %s (colour: log ppl within each column, darker is lower)", scope);
        snprintf(note, sizeof note, "users ordered by diagonal margin, lowest first (top left); base row not drawn");
        section_figure(sec, name, ftitle, svg_heatmap_image(ftitle, nu, M, order, REPORT_HEATMAP_SIDE, note));
        free(order);
    } else if (figures) {
        char name[200], ftitle[300];
        snprintf(name, sizeof name, "confusion-%s-%s", fmt_label(d, AX_BASE, b), fmt_label(d, AX_FORMAT, f));
        snprintf(ftitle, sizeof ftitle, "Confusion matrix, %s (ppl; colour: log ppl within each column, darker is lower)", scope);
        section_figure(sec, name, ftitle, svg_heatmap(ftitle, nrows, rows, nu, cols + 1, M, nu));
    }
    char *ws = buf_take(&why);
    if (mode != CONFUSION_PLAIN && users) {
        RVerdict *v = section_add_verdict(sec, scope);
        verdict_precision(v, rd_precision(d, f));
        v->base = b;
        v->format = f;
        char lo[32], hi[32];
        fmt_pct(lo, sizeof lo, known ? min_margin : NAN);
        fmt_pct(hi, sizeof hi, known ? max_margin : NAN);
        VerdictLevel level;
        char *decided, *words;
        if (mode == CONFUSION_BET61) {
            level = wins == users ? VERDICT_STRICT : VERDICT_NONE;
            decided = str_printf("own adapter beats every other user's adapter on own text, its margin's interval "
                                 "excluding zero, for %d/%d users; margin >= 5%% for %d/%d; margins %s to %s (%s)",
                                 wins, users, five, users, lo, hi, ws);
            words = level == VERDICT_STRICT
                ? str_printf("the diagonal wins for all %d users: own adapter beats every other user's, every margin's "
                             "interval excluding zero", users)
                : str_printf("the criterion is not met: the diagonal wins beyond the noise for %d of %d users only (Bet 61 "
                             "pre-registers no LENIENT or CATASTROPHIC level)", wins, users);
        } else {
            level = 2 * five > users ? VERDICT_STRICT : VERDICT_NONE;
            decided = str_printf("own-adapter margin >= 5%%, its interval excluding zero, on %d/%d users (most: more "
                                 "than half); margins %s to %s (%s)", five, users, lo, hi, ws);
            words = level == VERDICT_STRICT
                ? str_printf("own adapter wins by at least 5%% on most users (%d of %d)", five, users)
                : str_printf("the criterion is not met: a margin of at least 5%% on %d of %d users is not most (the criterion has no "
                             "LENIENT or CATASTROPHIC level)", five, users);
        }
        verdict_set(v, d, &m, known > 0, level, decided, words);
        verdict_number(v, "users_own_wins", wins);
        verdict_number(v, "users_margin_5pct", five);
        verdict_number(v, "users", users);
        verdict_number(v, "min_margin_percent", known ? min_margin : NAN);
        verdict_number(v, "max_margin_percent", known ? max_margin : NAN);
    }
    free(ws);
    free(mg); free(mlo); free(mhi); free(best_of);
    free(x);
    free(xb);
    missing_free(&m);
    for (int t = 0; t < nu; t++) free(own[t]);
    free(own);
    free(no);
    free(cols);
    free(rows);
    free(M);
}

void judge_confusion(const ReportData *d, Report *r, ConfusionMode mode, int figures) {
    if (mode == CONFUSION_PLAIN) {   // a section only where some adapter was evaluated on another user's text
        int any = 0;
        for (int b = 0; b < d->nb && !any; b++)
            for (int f = 0; f < d->nf && !any; f++) any = d->fkind[f] != FMT_NONE && d->real >= 0 && has_cross_cells(d, b, f);
        if (!any) return;
    }
    RSection *sec = mode == CONFUSION_BET61
        ? report_add_section(r, "bet61", "Bet 61: the confusion matrix",
                             "Train one norm-only adapter per user and evaluate every adapter on every user's held-out "
                             "text. The diagonal: own adapter beats every other user's adapter on own text; margin in % "
                             "per user.")
        : mode == CONFUSION_1B
        ? report_add_section(r, "confusion", "1B+: confusion matrix per format",
                             "Own-adapter margin >= 5% on most users (a 10x10 confusion matrix per format).")
        : report_add_section(r, "confusion", "Confusion matrices", NULL);
    if (mode == CONFUSION_BET61)
        section_note(sec, "Margin = 1 - own ppl / the best other user's adapter's ppl on the same text, paired per "
                          "(seed, text), median per user; own beats every other adapter when the median ratio is < 1. "
                          "STRICT: the diagonal wins for every user; otherwise none.");
    if (mode != CONFUSION_PLAIN) section_note(sec, "%s", margin_rule);
    else if (mode == CONFUSION_1B)
        section_note(sec, "Margin as in Bet 61; 'most users' is more than half; a margin of exactly 5%% counts. "
                          "The protocol's verdict is the norm format's; the others are shown for comparison.");
    if (d->none_f < 0)
        section_note(sec, "This sweep did not evaluate the base alone (no none format): margins against the base are n/a.");
    for (int f = 0; f < d->nf; f++)
        if (!rd_is_none(d, f)) note_base(d, sec, f);
    int formats = 0;
    for (int b = 0; b < d->nb; b++)
        for (int f = 0; f < d->nf; f++) {
            if (d->fkind[f] == FMT_NONE || d->real < 0) continue;
            // Bet 61 judges norm adapters; other formats' matrices are shown beside them without a verdict
            ConfusionMode fmode = mode == CONFUSION_BET61 && d->fkind[f] != FMT_NORM ? CONFUSION_PLAIN : mode;
            if (!has_cross_cells(d, b, f)) {
                int any = 0;
                for (int u = 0; u < d->nu && !any; u++)
                    for (int s = 0; s < d->ns && !any; s++) any = rd_job_ok(d, rd_job(d, b, d->real, f, u, s));
                // finished jobs without cross cells: evaluated on own texts only; no job finished: pending
                if (fmode == CONFUSION_PLAIN) continue;
                if (any) {
                    char scope[256];
                    snprintf(scope, sizeof scope, "base %s: %s", fmt_label(d, AX_BASE, b), fmt_label(d, AX_FORMAT, f));
                    verdict_cannot(sec, scope, "its adapters were evaluated on their own user's texts only (spec "
                                               "eval.users is not \"all\")");
                    verdict_precision(&sec->v[sec->nv - 1], rd_precision(d, f));
                    formats++;
                    continue;
                }
            }
            confusion_one(d, sec, b, f, fmode, figures);
            formats += fmode != CONFUSION_PLAIN;
        }
    if (!formats && mode != CONFUSION_PLAIN)
        verdict_cannot(sec, "confusion matrix", "the file has no %s", mode == CONFUSION_BET61 ? "norm format with a "
                       "real condition" : "trained format with a real condition");
}
