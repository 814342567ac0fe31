// The rest of the adapter catalogue (issue #18): Bets 53 (the adapter at int8), 63 (residual noise),
// 58 (steer vs norm), 48 (pruned base x ternary x norm) and 54 (adapters averaged over users). None of them pre-registered a threshold:
// where the seeds state an outcome (53: the int8 adapter regresses below no adapter on the scientist
// user; 58: steer beats norm by 32% for the programmer user and loses on the other two) this run is
// placed beside it in the same terms; otherwise the section says "descriptive: no pre-registered
// criterion" and shows the table. Every number is a median over seeds x the user's own held-out texts
// of a paired ratio (the same text, the same seed), as in the other judges.
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adapter.h"
#include "engine/util.h"
#include "results/report_catalogue.h"
#include "results/report_util.h"

#define DESCRIPTIVE "descriptive: no pre-registered criterion"

// The file's eval.variants (results/h5variants.h): labels and ppl over [cell][variant]; nv 0 without.
typedef struct {
    int nv;
    char **labels;
    double *ppl;
} Variants;

static char *read_label(hid_t ds, hid_t space, hsize_t i) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hsize_t one = 1;
    hid_t mem = H5Screate_simple(1, &one, NULL);
    H5Sselect_hyperslab(space, H5S_SELECT_SET, &i, NULL, &one, NULL);
    char *s = NULL, *out;
    out = H5Dread(ds, t, mem, space, H5P_DEFAULT, &s) < 0 || !s ? str_dup("?") : str_dup(s);
    if (s) H5free_memory(s);
    H5Sclose(mem);
    H5Tclose(t);
    return out;
}

static void variants_load(const ReportData *d, Variants *v) {
    memset(v, 0, sizeof *v);
    H5E_auto2_t fn;
    void *data;
    H5Eget_auto2(H5E_DEFAULT, &fn, &data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(d->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = f < 0 || H5Lexists(f, "variant", H5P_DEFAULT) <= 0 ? -1 : H5Dopen2(f, "variant", H5P_DEFAULT);
    hid_t dp = ds < 0 || H5Lexists(f, "variant_ppl", H5P_DEFAULT) <= 0 ? -1 : H5Dopen2(f, "variant_ppl", H5P_DEFAULT);
    if (dp >= 0) {
        hid_t sp = H5Dget_space(ds), spp = H5Dget_space(dp);
        hsize_t n = 0, total = (hsize_t)H5Sget_simple_extent_npoints(spp);
        H5Sget_simple_extent_dims(sp, &n, NULL);
        if (n > 0 && n < 1000 && total == (hsize_t)d->rf.n_cells * n) {
            v->ppl = xmalloc((size_t)total * sizeof(double));
            if (H5Dread(dp, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v->ppl) < 0) {
                free(v->ppl);
                v->ppl = NULL;
            } else {
                v->nv = (int)n;
                v->labels = xcalloc(n, sizeof(char *));
                for (hsize_t i = 0; i < n; i++) v->labels[i] = read_label(ds, sp, i);
            }
        }
        H5Sclose(sp);
        H5Sclose(spp);
        H5Dclose(dp);
    }
    if (ds >= 0) H5Dclose(ds);
    if (f >= 0) H5Fclose(f);
    H5Eset_auto2(H5E_DEFAULT, fn, data);
}

static void variants_free(Variants *v) {
    for (int i = 0; i < v->nv; i++) free(v->labels[i]);
    free(v->labels);
    free(v->ppl);
}

// ppl of (b, c, f, u, s, e) under variant k (k < 0 or a file without variants: the identity, /ppl).
static double vppl(const ReportData *d, const Variants *v, int k, int b, int c, int f, int u, int s, int e) {
    if (k <= 0 || !v->nv) return rd_ppl(d, b, c, f, u, s, e);
    if (b < 0 || c < 0 || f < 0 || u < 0 || s < 0 || e < 0) return NAN;
    int idx[AX_COUNT] = {b, c, f, u, s, e};
    return v->ppl[results_cell(&d->rf, idx) * (size_t)v->nv + (size_t)k];
}

// The base (the none format f is compared with) on text e under variant k.
static double vbase(const ReportData *d, const Variants *v, int k, int b, int f, int e) {
    int j = rd_base_job(d, b, f);
    if (j < 0) return NAN;
    const int *ax = d->rf.jobs[j].ax;
    return vppl(d, v, k, ax[0], ax[1], ax[2], ax[3], ax[4], e);
}

// The seeds' users by their canonical names (sweeps/users.c's aliases).
static const char *seed_name(const char *user) {
    return !strcmp(user, "cpython") ? "programmer" : !strcmp(user, "austen") ? "novelist"
         : !strcmp(user, "therneau") ? "scientist" : NULL;
}

// Median over seeds x u's own texts of num / den, each side a cell getter; *med_num, *med_den the
// medians of the two sides alone.
typedef double (*Getter)(const ReportData *, const Variants *, const void *, int u, int s, int e);

static Summary paired(const ReportData *d, const Variants *v, int u, Getter num, const void *a, Getter den,
                      const void *b, const char *key, double *med_num, double *med_den) {
    int *own = xmalloc(((size_t)d->ne + 1) * sizeof *own), no = rd_own_texts(d, u, own), n = 0;
    size_t cap = (size_t)no * (size_t)d->ns + 1;
    double *x = xmalloc(cap * sizeof *x), *xn = xmalloc(cap * sizeof *xn), *xd = xmalloc(cap * sizeof *xd);
    for (int s = 0; s < d->ns; s++)
        for (int k = 0; k < no; k++) {
            xn[n] = num(d, v, a, u, s, own[k]);
            xd[n] = den(d, v, b, u, s, own[k]);
            x[n] = xn[n] / xd[n];
            n++;
        }
    Summary sm;
    stats_summary(x, n, key, &sm);
    *med_num = stats_median(xn, n);
    *med_den = stats_median(xd, n);
    free(x); free(xn); free(xd); free(own);
    return sm;
}

typedef struct { int b, c, f, k; } Pick;   // a format's cells on base b, condition c, under variant k

static double get_format(const ReportData *d, const Variants *v, const void *p, int u, int s, int e) {
    const Pick *q = p;
    return vppl(d, v, q->k, q->b, q->c, q->f, u, s, e);
}

static double get_base(const ReportData *d, const Variants *v, const void *p, int u, int s, int e) {
    const Pick *q = p;
    (void)u; (void)s;
    return vbase(d, v, q->k, q->b, q->f, e);
}

static int trained_formats(const ReportData *d, int *out) {
    int n = 0;
    for (int f = 0; f < d->nf; f++)
        if (!rd_is_none(d, f)) out[n++] = f;
    return n;
}

static int no_variants(const ReportData *d, const Variants *v, RSection *s, const char *what) {
    if (v->nv > 1 && d->real >= 0) return 0;
    section_note(s, "The file has no %s (spec field eval.variants%s), so there is nothing to tabulate.", what,
                 d->real < 0 ? ", and no real condition" : "");
    return 1;
}

// Bet 53: each trained format's int8/int4 variants against the base with no adapter, per user.
static void bet53(const ReportData *d, Report *r, const Variants *v) {
    RSection *sec = report_add_section(r, "bet53", "Bet 53: the adapter itself quantised (int8, int4)",
        "The seeds' stated outcome, not a pre-registered threshold: the norm-only adapter quantised to int8 is "
        "'borderline': on the scientist user it regresses below no adapter (seed 004, on the ternary base). "
        "Here: per user, does the quantised adapter's perplexity exceed the base's without an adapter?");
    section_note(sec, "Ratio = quantised adapter ppl / no-adapter ppl, paired per (seed, own held-out text), median per "
                      "user; 'regresses below no adapter' means the median ratio is above 1. The fp32 column is the "
                      "adapter as trained (/ppl). Bytes: packed integers plus a float32 scale per group "
                      "(/variant_adapter_bytes), beside the fp32 bytes.");
    if (no_variants(d, v, sec, "quantised adapter variants")) return;
    int *tf = xmalloc(((size_t)d->nf + 1) * sizeof(int)), nt = trained_formats(d, tf);
    static const char *const cols[] = {"user", "no adapter", "fp32 adapter", "quantised", "quant/none", "CI lo",
                                       "CI hi", "fp32/none", "regresses"};
    for (int b = 0; b < d->nb; b++)
        for (int i = 0; i < nt; i++)
            for (int k = 1; k < v->nv; k++) {
                if (strncmp(v->labels[k], "int", 3)) continue;
                int f = tf[i];
                char title[300];
                snprintf(title, sizeof title, "base %s: %s at %s against no adapter", fmt_label(d, AX_BASE, b),
                         fmt_label(d, AX_FORMAT, f), v->labels[k]);
                RTable *t = section_add_table(sec, title, 9, cols);
                Pick q = {b, d->real, f, k}, q0 = {b, d->real, f, 0};
                Buf reg = {0};
                int nreg = 0, known = 0;
                for (int u = 0; u < d->nu; u++) {
                    char key[400];
                    snprintf(key, sizeof key, "bet53 %s", title);
                    double mq, mn, m0, mn0;
                    Summary sm = paired(d, v, u, get_format, &q, get_base, &q0, key, &mq, &mn);
                    Summary s0 = paired(d, v, u, get_format, &q0, get_base, &q0, key, &m0, &mn0);
                    int ok = sm.n > 0, regress = ok && sm.median > 1;
                    known += ok;
                    nreg += regress;
                    if (regress) buf_printf(&reg, "%s%s", nreg > 1 ? ", " : "", fmt_label(d, AX_TRAIN_USER, u));
                    table_add_row(t);
                    table_text(t, 0, "%s", fmt_label(d, AX_TRAIN_USER, u));
                    table_num(t, 1, mn, NUM_G);
                    table_num(t, 2, m0, NUM_G);
                    table_num(t, 3, mq, NUM_G);
                    table_num(t, 4, sm.median, NUM_G);
                    table_num(t, 5, sm.lo, NUM_G);
                    table_num(t, 6, sm.hi, NUM_G);
                    table_num(t, 7, s0.median, NUM_G);
                    table_text(t, 8, "%s", !ok ? "missing" : regress ? "yes" : "no");
                }
                const char *sci = NULL;
                for (int u = 0; u < d->nu; u++)
                    if (seed_name(fmt_label(d, AX_TRAIN_USER, u)) && !strcmp(seed_name(fmt_label(d, AX_TRAIN_USER, u)), "scientist"))
                        sci = fmt_label(d, AX_TRAIN_USER, u);
                char *who = buf_take(&reg);
                section_note(sec, "%s: this run: %s regresses below no adapter on %d of %d users%s%s%s. The seeds: on the "
                                  "scientist user%s%s%s.", title, v->labels[k], nreg, known, nreg ? " (" : "",
                             nreg ? who : "", nreg ? ")" : "", sci ? " (" : " (not in this sweep)", sci ? sci : "",
                             sci ? (who && strstr(who, sci) ? ": the same here)" : ": not so here)") : "");
                free(who);
            }
    // the bytes of each variant, per trained format (the first finished job's: the same for every job of a format)
    static const char *const bcols[] = {"format", "variant", "bytes", "fp32 bytes", "ratio"};
    RTable *bt = section_add_table(sec, "Adapter bytes per variant", 5, bcols);
    hid_t f5 = H5Fopen(d->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = f5 < 0 ? -1 : H5Dopen2(f5, "variant_adapter_bytes", H5P_DEFAULT);
    int64_t *bytes = xcalloc((size_t)d->rf.n_jobs * (size_t)v->nv + 1, sizeof(int64_t));
    if (ds >= 0) H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes);
    for (int i = 0; i < nt; i++) {
        int j = -1;
        for (int k = 0; k < d->rf.n_jobs && j < 0; k++)
            if (d->rf.jobs[k].ax[AX_FORMAT] == tf[i] && rd_job_ok(d, k)) j = k;
        if (j < 0) continue;
        for (int k = 0; k < v->nv; k++) {
            if (k && strncmp(v->labels[k], "int", 3)) continue;
            table_add_row(bt);
            table_text(bt, 0, "%s", fmt_label(d, AX_FORMAT, tf[i]));
            table_text(bt, 1, "%s", v->labels[k]);
            table_num(bt, 2, (double)bytes[(size_t)j * v->nv + k], NUM_INT);
            table_num(bt, 3, (double)bytes[(size_t)j * v->nv], NUM_INT);
            table_num(bt, 4, (double)bytes[(size_t)j * v->nv + k] / (double)bytes[(size_t)j * v->nv], NUM_G);
        }
    }
    free(bytes);
    if (ds >= 0) H5Dclose(ds);
    if (f5 >= 0) H5Fclose(f5);
    free(tf);
}

// Bet 63: perplexity of the base and of each trained format at each noise level, and their ratio.
static void bet63(const ReportData *d, Report *r, const Variants *v) {
    RSection *sec = report_add_section(r, "bet63", "Bet 63: the personalisation signal under hidden-state noise",
                                       DESCRIPTIVE);
    section_note(sec, "The seeds (seed 003): 'Hidden-state Gaussian noise at sigma_rel = 1e-1 doesn't destabilise "
                      "personalisation. 4 orders of magnitude of headroom against fp16 round-off.' They state no "
                      "threshold for 'destabilise', so this section shows the table and judges nothing.");
    section_note(sec, "Noise: std sigma x each position's RMS added to the residual stream after every block at "
                      "evaluation, drawn from the job's seed. adapter/none = the trained adapter's ppl over the "
                      "base's at the same sigma, paired per (seed, own held-out text), median per user: below 1 the "
                      "adapter still helps.");
    if (no_variants(d, v, sec, "noise variants")) return;
    int *tf = xmalloc(((size_t)d->nf + 1) * sizeof(int)), nt = trained_formats(d, tf);
    static const char *const cols[] = {"user", "sigma", "none ppl", "adapter ppl", "adapter/none", "CI lo", "CI hi"};
    for (int b = 0; b < d->nb; b++)
        for (int i = 0; i < nt; i++) {
            char title[300];
            snprintf(title, sizeof title, "base %s: %s and the base under noise", fmt_label(d, AX_BASE, b),
                     fmt_label(d, AX_FORMAT, tf[i]));
            RTable *t = section_add_table(sec, title, 7, cols);
            for (int u = 0; u < d->nu; u++)
                for (int k = 0; k < v->nv; k++) {
                    if (k && strncmp(v->labels[k], "noise=", 6)) continue;
                    Pick q = {b, d->real, tf[i], k};
                    char key[400];
                    snprintf(key, sizeof key, "bet63 %s %s", title, v->labels[k]);
                    double ma, mn;
                    Summary sm = paired(d, v, u, get_format, &q, get_base, &q, key, &ma, &mn);
                    table_add_row(t);
                    table_text(t, 0, "%s", fmt_label(d, AX_TRAIN_USER, u));
                    table_text(t, 1, "%s", k ? v->labels[k] + 6 : "none (identity)");
                    table_num(t, 2, mn, NUM_G);
                    table_num(t, 3, ma, NUM_G);
                    table_num(t, 4, sm.median, NUM_G);
                    table_num(t, 5, sm.lo, NUM_G);
                    table_num(t, 6, sm.hi, NUM_G);
                }
        }
    free(tf);
}

// Bet 58: steer against norm per user, beside the seeds' figures.
static void bet58(const ReportData *d, Report *r, const Variants *v) {
    RSection *sec = report_add_section(r, "bet58", "Bet 58: a steering vector against norm-only",
        "The seeds' stated outcome, not a pre-registered threshold: 'single-layer last-block steering vectors beat "
        "norm-only by 32% for the programmer user (while losing on the other two)' (seeds 000, 001).");
    section_note(sec, "Ratio = steer ppl / norm ppl, paired per (seed, own held-out text), median per user; steer "
                      "beats norm when it is below 1, and 1 - ratio is its improvement (the seeds do not say how "
                      "their 32%% was measured; it is shown as stated).");
    int *st = xmalloc(((size_t)d->nf + 1) * sizeof(int)), *nm = xmalloc(((size_t)d->nf + 1) * sizeof(int));
    int ns = rd_formats_of(d, FMT_STEER, st), nn = rd_formats_of(d, FMT_NORM, nm);
    if (!ns || !nn || d->real < 0) {
        section_note(sec, "The file has no %s, so there is nothing to compare.",
                     !ns ? "steer format" : !nn ? "norm format" : "real condition");
        free(st); free(nm);
        return;
    }
    static const char *const cols[] = {"user", "norm ppl", "steer ppl", "steer/norm", "CI lo", "CI hi",
                                       "improvement", "seeds"};
    for (int b = 0; b < d->nb; b++)
        for (int i = 0; i < ns; i++)
            for (int k = 0; k < nn; k++) {
                char title[300];
                snprintf(title, sizeof title, "base %s: %s vs %s", fmt_label(d, AX_BASE, b), fmt_label(d, AX_FORMAT, st[i]),
                         fmt_label(d, AX_FORMAT, nm[k]));
                RTable *t = section_add_table(sec, title, 8, cols);
                Pick qs = {b, d->real, st[i], 0}, qn = {b, d->real, nm[k], 0};
                Buf wins = {0};
                int nw = 0, agree = 0, compared = 0;
                for (int u = 0; u < d->nu; u++) {
                    char key[400];
                    snprintf(key, sizeof key, "bet58 %s", title);
                    double ms, mn;
                    Summary sm = paired(d, v, u, get_format, &qs, get_format, &qn, key, &ms, &mn);
                    const char *sn = seed_name(fmt_label(d, AX_TRAIN_USER, u));
                    int win = sm.n > 0 && sm.median < 1;
                    if (win) buf_printf(&wins, "%s%s", nw++ ? ", " : "", fmt_label(d, AX_TRAIN_USER, u));
                    if (sn && sm.n > 0) {
                        compared++;
                        agree += win == !strcmp(sn, "programmer");
                    }
                    table_add_row(t);
                    table_text(t, 0, "%s", fmt_label(d, AX_TRAIN_USER, u));
                    table_num(t, 1, mn, NUM_G);
                    table_num(t, 2, ms, NUM_G);
                    table_num(t, 3, sm.median, NUM_G);
                    table_num(t, 4, sm.lo, NUM_G);
                    table_num(t, 5, sm.hi, NUM_G);
                    table_num(t, 6, 1 - sm.median, NUM_PCT);
                    table_text(t, 7, "%s", !sn ? "-" : !strcmp(sn, "programmer") ? "steer wins by 32%" : "steer loses");
                }
                char *w = buf_take(&wins);
                section_note(sec, "%s: steer beats norm on %d of %d users%s%s%s; the seeds: on the programmer user only. "
                                  "The direction agrees with the seeds on %d of the %d seeds' users here.", title, nw,
                             d->nu, nw ? " (" : "", nw ? w : "", nw ? ")" : "", agree, compared);
                free(w);
            }
    free(st);
    free(nm);
}

// Bet 48: every base of the file (plain, pruned, ternary, pruned then ternary) with and without the
// norm adapter, per user.
static void bet48(const ReportData *d, Report *r, const Variants *v) {
    RSection *sec = report_add_section(r, "bet48", "Bet 48: magnitude-pruned base x ternary x norm-only", DESCRIPTIVE);
    section_note(sec, "The seeds (seed 004): the composition with magnitude pruning 'hasn't been tested. Plausibly "
                      "works since magnitude pruning operates on different weights than ternary's per-weight "
                      "quantisation, but unverified.' No criterion is stated, so this section shows the table.");
    section_note(sec, "Per base: the base's own ppl (median over the user's own held-out texts), the trained "
                      "adapter's (median over seeds x own texts) and their paired ratio adapter/none.");
    int *tf = xmalloc(((size_t)d->nf + 1) * sizeof(int)), nt = trained_formats(d, tf);
    static const char *const cols[] = {"user", "base", "none ppl", "adapter ppl", "adapter/none", "CI lo", "CI hi"};
    for (int i = 0; i < nt && d->real >= 0; i++) {
        char title[300];
        snprintf(title, sizeof title, "%s on each base", fmt_label(d, AX_FORMAT, tf[i]));
        RTable *t = section_add_table(sec, title, 7, cols);
        for (int u = 0; u < d->nu; u++)
            for (int b = 0; b < d->nb; b++) {
                Pick q = {b, d->real, tf[i], 0};
                char key[400];
                snprintf(key, sizeof key, "bet48 %s %s", title, fmt_label(d, AX_BASE, b));
                double ma, mn;
                Summary sm = paired(d, v, u, get_format, &q, get_base, &q, key, &ma, &mn);
                table_add_row(t);
                table_text(t, 0, "%s", fmt_label(d, AX_TRAIN_USER, u));
                table_text(t, 1, "%s", fmt_label(d, AX_BASE, b));
                table_num(t, 2, mn, NUM_G);
                table_num(t, 3, ma, NUM_G);
                table_num(t, 4, sm.median, NUM_G);
                table_num(t, 5, sm.lo, NUM_G);
                table_num(t, 6, sm.hi, NUM_G);
            }
    }
    free(tf);
}

// The combinations of the file (eval.combos, sweeps/combos.h): format labels "SOURCE+..." whose SOURCE
// is another label of the format axis. combo[i] is evaluated beside source[i]; returns how many.
static int combo_formats(const ReportData *d, int *combo, int *source) {
    int n = 0;
    for (int f = 0; f < d->nf; f++) {
        const char *l = fmt_label(d, AX_FORMAT, f), *plus = strchr(l, '+');
        if (!plus) continue;
        for (int g = 0; g < d->nf; g++) {
            const char *m = fmt_label(d, AX_FORMAT, g);
            if (g != f && strlen(m) == (size_t)(plus - l) && !strncmp(m, l, plus - l)) {
                combo[n] = f;
                source[n++] = g;
                break;
            }
        }
    }
    return n;
}

// Bet 54: each user's cells under the group's averaged adapter against its own adapter and the base.
static void bet54(const ReportData *d, Report *r, const Variants *v) {
    RSection *sec = report_add_section(r, "bet54", "Bet 54: one adapter averaged over users", DESCRIPTIVE);
    section_note(sec, "The seeds: 'averaging across users is destructive. The federation must route, not average' "
                      "(seed 000); 'the Bet 54 cross-user averaging result is mostly negative, but tight clusters of "
                      "similar users may share an adapter usefully' (seed 003). They state no threshold for "
                      "'destructive' or 'usefully', so this section shows the table and judges nothing.");
    section_note(sec, "Average: the element-wise mean of the group's trained adapters (same base, condition and "
                      "seed), evaluated on each member's own held-out texts. avg/own = the averaged adapter's ppl "
                      "over the member's own adapter's, avg/none over the base's, paired per (seed, own held-out "
                      "text), median per user: avg/own above 1 means averaging lost against the user's own.");
    int *cf = xmalloc(((size_t)d->nf + 1) * sizeof(int)), *sf = xmalloc(((size_t)d->nf + 1) * sizeof(int));
    int nc = combo_formats(d, cf, sf);
    if (!nc || d->real < 0) {
        section_note(sec, "The file has no %s, so there is nothing to tabulate.",
                     !nc ? "averaged adapters (spec field eval.combos)" : "real condition");
        free(cf); free(sf);
        return;
    }
    static const char *const cols[] = {"user", "none ppl", "own ppl", "avg ppl", "avg/own", "CI lo", "CI hi", "avg/none"};
    for (int b = 0; b < d->nb; b++)
        for (int i = 0; i < nc; i++) {
            char title[300];
            snprintf(title, sizeof title, "base %s: %s against %s", fmt_label(d, AX_BASE, b), fmt_label(d, AX_FORMAT, cf[i]),
                     fmt_label(d, AX_FORMAT, sf[i]));
            RTable *t = section_add_table(sec, title, 8, cols);
            Pick qa = {b, d->real, cf[i], 0}, qo = {b, d->real, sf[i], 0};
            for (int u = 0; u < d->nu; u++) {
                char key[400];
                snprintf(key, sizeof key, "bet54 %s", title);
                double ma, mo, ma2, mn;
                Summary sm = paired(d, v, u, get_format, &qa, get_format, &qo, key, &ma, &mo);
                if (sm.n == 0) continue;   // the user is in no group of this combination
                snprintf(key, sizeof key, "bet54 none %s", title);
                Summary sn = paired(d, v, u, get_format, &qa, get_base, &qa, key, &ma2, &mn);
                table_add_row(t);
                table_text(t, 0, "%s", fmt_label(d, AX_TRAIN_USER, u));
                table_num(t, 1, mn, NUM_G);
                table_num(t, 2, mo, NUM_G);
                table_num(t, 3, ma, NUM_G);
                table_num(t, 4, sm.median, NUM_G);
                table_num(t, 5, sm.lo, NUM_G);
                table_num(t, 6, sm.hi, NUM_G);
                table_num(t, 7, sn.median, NUM_G);
            }
        }
    free(cf);
    free(sf);
}

void judge_catalogue(const ReportData *d, Report *r, const char *protocol) {
    Variants v;
    variants_load(d, &v);
    if (!strcmp(protocol, "bet53")) bet53(d, r, &v);
    else if (!strcmp(protocol, "bet63")) bet63(d, r, &v);
    else if (!strcmp(protocol, "bet58")) bet58(d, r, &v);
    else if (!strcmp(protocol, "bet48")) bet48(d, r, &v);
    else if (!strcmp(protocol, "bet54")) bet54(d, r, &v);
    else if (!strcmp(protocol, "bet55")) judge_bet55(d, r);   // results/report_bet55.c
    variants_free(&v);
}
