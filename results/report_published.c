// The reproduction beside the seeds: the figures a bundled spec carries in "published"
// (sweeps/published.h) next to this run's, per user, each row's class by the protocol's thresholds
// read on both, and both verdicts; where the seeds and this run differ a plain line says so.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adapter.h"
#include "engine/util.h"
#include "results/report_judge.h"
#include "results/report_util.h"
#include "sweeps/published.h"

// The first verdict of the section the protocol's judge wrote (base 0, its first norm format).
static const RVerdict *protocol_verdict(const Report *r, const char *key) {
    for (int i = 0; i < r->ns; i++)
        if (!strcmp(r->s[i].key, key) && r->s[i].nv) return &r->s[i].v[0];
    return NULL;
}

static double verdict_value(const RVerdict *v, const char *name) {
    for (int k = 0; v && k < v->n_numbers; k++)
        if (!strcmp(v->numbers[k].name, name)) return v->numbers[k].value;
    return NAN;
}

static int first_of(const ReportData *d, int kind) {
    int *out = xmalloc(((size_t)d->nf + 1) * sizeof *out);
    int n = rd_formats_of(d, kind, out), f = n ? out[0] : -1;
    free(out);
    return f;
}

static int user_index(const ReportData *d, const char *name) { return results_axis_find(&d->rf, AX_TRAIN_USER, name); }

// The k-th (1-based) own held-out text of user u, -1.
static int own_text(const ReportData *d, int u, int k) {
    int *own = xmalloc(((size_t)d->ne + 1) * sizeof *own);
    int no = rd_own_texts(d, u, own), e = k >= 1 && k <= no ? own[k - 1] : -1;
    free(own);
    return e;
}

// Median over seeds x own texts of the paired ratio ppl(c1, f1) / ppl(c2, f2) (f2 may be a none format).
static double paired_ratio(const ReportData *d, int b, int c1, int f1, int c2, int f2, int u) {
    if (f1 < 0 || f2 < 0 || c1 < 0 || c2 < 0) return NAN;
    int *own = xmalloc(((size_t)d->ne + 1) * sizeof *own);
    int no = rd_own_texts(d, u, own), n = 0;
    double *x = xmalloc(((size_t)no * d->ns + 1) * sizeof *x);
    for (int s = 0; s < d->ns; s++)
        for (int k = 0; k < no; k++) {
            double den = rd_is_none(d, f2) ? rd_base_ppl(d, b, f1, own[k]) : rd_ppl(d, b, c2, f2, u, s, own[k]);
            x[n++] = rd_ppl(d, b, c1, f1, u, s, own[k]) / den;
        }
    double m = stats_median(x, n);
    free(x);
    free(own);
    return m;
}

static int kind_of_name(const char *name) {
    if (!strncmp(name, "general_", 8)) name += 8;
    return !strcmp(name, "norm") ? FMT_NORM : !strcmp(name, "lora") ? FMT_LORA : !strcmp(name, "full") ? FMT_FULL : -1;
}

// This run's value of a per-user figure (text: the row's slice, 0 for per-user rows).
static double ours(const ReportData *d, const char *protocol, const char *name, int b, int u, int text) {
    int fn = first_of(d, FMT_NORM);
    if (u < 0 || d->real < 0) return NAN;
    if (!strcmp(protocol, "bet37")) {
        int e = own_text(d, u, text);
        if (e < 0) return NAN;
        if (!strcmp(name, "base")) return fn >= 0 ? rd_base_ppl(d, b, fn, e) : NAN;
        int f = first_of(d, kind_of_name(name));
        return f < 0 ? NAN : seed_median(d, b, d->real, f, u, e);
    }
    if (!strcmp(protocol, "bet60")) {
        int c = !strcmp(name, "real") ? d->real : d->random;
        return fn < 0 || c < 0 ? NAN : own_median(d, b, c, fn, u);
    }
    if (!strcmp(protocol, "bet52")) {
        if (fn < 0) return NAN;
        if (!strcmp(name, "base")) return d->base_of[fn] < 0 ? NAN : own_median(d, b, d->real, d->base_of[fn], u);
        if (!strcmp(name, "norm")) return own_median(d, b, d->real, fn, u);
        return d->base_of[fn] < 0 ? NAN : 100 * (1 - paired_ratio(d, b, d->real, fn, d->real, d->base_of[fn], u));
    }
    if (!strcmp(protocol, "bet49")) {
        int f = first_of(d, kind_of_name(name));
        if (f < 0) return NAN;
        if (!strncmp(name, "general_", 8)) return d->general < 0 ? NAN : seed_median(d, b, d->real, f, u, d->general);
        return own_median(d, b, d->real, f, u);
    }
    return NAN;
}

// A row's figures by name: the seeds' (from the spec) or this run's, NaN where absent.
typedef struct { const char *name; double v; } Fig;

static double fig(const Fig *f, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(f[i].name, name)) return f[i].v;
    return NAN;
}

// The class the protocol's thresholds give a row's figures (ratio: the protocol's paired ratio when it
// is known, else NaN and it is read from the figures). Bet 37 assumes the size criterion met (the
// seeds' 9 KB against 155 MB; this run's sizes are in the verdict), Bet 49 too (9 KB < 96 KB < 155 MB).
static const char *row_class(const char *protocol, const Fig *f, int n, double ratio) {
    if (!strcmp(protocol, "bet37")) {
        double r = fig(f, n, "norm") / fig(f, n, "full");
        return isnan(r) ? "missing" : verdict_name(bet37_level(r, 1));
    }
    if (!strcmp(protocol, "bet60")) return bet60_class(!isnan(ratio) ? ratio : fig(f, n, "random") / fig(f, n, "real"));
    if (!strcmp(protocol, "bet52")) {
        double imp = fig(f, n, "improvement");
        return bet52_class(!isnan(ratio) ? ratio : !isnan(imp) ? 1 - imp / 100 : fig(f, n, "norm") / fig(f, n, "base"));
    }
    if (!strcmp(protocol, "bet49")) {
        double nm = fig(f, n, "norm"), lo = fig(f, n, "lora"), fu = fig(f, n, "full");
        double gn = fig(f, n, "general_norm"), gl = fig(f, n, "general_lora"), gf = fig(f, n, "general_full");
        if (isnan(nm) || isnan(lo) || isnan(fu) || isnan(gn) || isnan(gl) || isnan(gf)) return "missing";
        return nm < lo && nm < fu && gn <= gl && gn <= gf ? "norm dominates" : "norm does not dominate";
    }
    return "n/a";
}

// This run's protocol ratio for a row's class, where the judge pairs per (seed, text).
static double ours_ratio(const ReportData *d, const char *protocol, int b, int u) {
    int fn = first_of(d, FMT_NORM);
    if (fn < 0 || u < 0) return NAN;
    if (!strcmp(protocol, "bet60")) return paired_ratio(d, b, d->random, fn, d->real, fn, u);
    if (!strcmp(protocol, "bet52")) return d->base_of[fn] < 0 ? NAN : paired_ratio(d, b, d->real, fn, d->real, d->base_of[fn], u);
    return NAN;
}

static void rows_table(const ReportData *d, RSection *sec, const Published *pub, const char *protocol, int b) {
    const char *names[PUB_MAX_FIGURES];
    int nn = 0, text_scope = 0;
    for (const PubFigureDef *df = published_figures; df->protocol; df++)
        if (!strcmp(df->protocol, protocol) && df->scope != PUB_ALL && nn < PUB_MAX_FIGURES) {
            names[nn++] = df->name;
            text_scope |= df->scope == PUB_TEXT;
        }
    int ncols = 1 + text_scope + 2 * nn + 3, c0 = 1 + text_scope;
    const char **cols = xcalloc((size_t)ncols, sizeof *cols);
    char (*heads)[48] = xcalloc((size_t)2 * nn + 1, sizeof *heads);
    cols[0] = "user";
    if (text_scope) cols[1] = "slice";
    for (int i = 0; i < nn; i++) {
        snprintf(heads[2 * i], 48, "%s seeds", names[i]);
        snprintf(heads[2 * i + 1], 48, "%s here", names[i]);
        cols[c0 + 2 * i] = heads[2 * i];
        cols[c0 + 2 * i + 1] = heads[2 * i + 1];
    }
    cols[ncols - 3] = "seeds' class";
    cols[ncols - 2] = "class here";
    cols[ncols - 1] = "same";
    char title[256];
    snprintf(title, sizeof title, "The seeds' figures beside this run's (base %s)", fmt_label(d, AX_BASE, b));
    RTable *t = section_add_table(sec, title, ncols, cols);
    for (int i = 0; i < pub->n_rows; i++) {
        const PubRow *row = &pub->rows[i];
        int u = user_index(d, row->user);
        Fig fs[PUB_MAX_FIGURES], fo[PUB_MAX_FIGURES];
        table_add_row(t);
        table_text(t, 0, "%s", row->user);
        if (text_scope) table_num(t, 1, row->text, NUM_INT);
        for (int k = 0; k < nn; k++) {
            const PubFigure *pf = published_find(pub, row, names[k]);
            fs[k] = (Fig){names[k], pf ? pf->value : NAN};
            fo[k] = (Fig){names[k], ours(d, protocol, names[k], b, u, row->text)};
            if (pf) table_text(t, c0 + 2 * k, "%s", pf->text);
            else table_num(t, c0 + 2 * k, NAN, NUM_G);
            table_num(t, c0 + 2 * k + 1, fo[k].v, !strcmp(names[k], "improvement") ? NUM_PCT : NUM_G);
        }
        const char *cs = row_class(protocol, fs, nn, NAN);
        const char *co = u < 0 ? "missing" : row_class(protocol, fo, nn, ours_ratio(d, protocol, b, u));
        int same = !strcmp(cs, co);
        table_text(t, ncols - 3, "%s", cs);
        table_text(t, ncols - 2, "%s", co);
        table_text(t, ncols - 1, "%s", same ? "yes" : "no");
        char where[96] = "";
        if (row->text) snprintf(where, sizeof where, " (slice %d)", row->text);
        if (u < 0) section_note(sec, "%s%s: the seeds give figures, this run has no such user.", row->user, where);
        else if (!strcmp(co, "missing"))
            section_note(sec, "%s%s: the seeds' figures class as %s; this run's figures are missing, so it has no class "
                              "yet: they differ.", row->user, where, cs);
        else if (!same)
            section_note(sec, "%s%s: the seeds' figures class as %s, this run's as %s: they differ.", row->user, where, cs, co);
    }
    free(heads);
    free(cols);
}

static void all_table(RSection *sec, const Published *pub, const char *protocol, const RVerdict *v) {
    static const char *const cols[] = {"figure", "seeds", "here"};
    RTable *t = section_add_table(sec, "The seeds' protocol-wide figures beside this run's", 3, cols);
    for (int i = 0; i < pub->n_all; i++) {
        const PubFigure *pf = &pub->all[i];
        const char *num = !strcmp(protocol, "bet61") ? (!strcmp(pf->name, "min_margin") ? "min_margin_percent"
                                                                                         : "max_margin_percent")
                                                     : pf->name;   // Bet 46's names are its verdict's numbers
        table_add_row(t);
        table_text(t, 0, "%s", pf->name);
        table_text(t, 1, "%s", pf->text);
        table_num(t, 2, verdict_value(v, num), NUM_G);
    }
}

void report_reproduction_section(const ReportData *d, Report *r) {
    const Published *pub = d->published;
    const char *protocol = r->protocol;
    if (!pub || !pub->present || !published_protocol_known(protocol)) return;
    RSection *sec = report_add_section(r, "reproduction", "Reproduction beside the seeds", NULL);
    section_note(sec, "The seeds' figures are copied from %s (spec field published); they come from another harness "
                      "and another model.", pub->source);
    if (pub->says[0]) section_note(sec, "The seeds say: \"%s\"", pub->says);
    const RVerdict *v = protocol_verdict(r, protocol);
    const char *here = !v ? "not judged" : !v->judged ? "cannot be judged" : verdict_name(v->level);
    section_note(sec, "Verdict: the seeds %s; this run %s%s%s%s.", pub->verdict, here, v ? " (" : "", v ? v->scope : "",
                 v ? (v->provisional ? ", provisional)" : ")") : "");
    if (!v || !v->judged || strcmp(pub->verdict, verdict_name(v->level)))
        section_note(sec, "The verdicts differ: the seeds reached %s, this run %s.", pub->verdict, here);
    else
        section_note(sec, "The verdicts agree: %s.", pub->verdict);
    if (pub->n_rows) {
        section_note(sec, "Classes are the protocol's thresholds read on each row's figures (this run's Bet 52 and "
                          "Bet 60 classes on the judge's paired ratios); Bet 37 and Bet 49 rows take the size criterion "
                          "as met, as the seeds' sizes meet it. Figures written N+ are the seeds' lower bounds.");
        rows_table(d, sec, pub, protocol, v && v->base >= 0 ? v->base : 0);
    }
    if (pub->n_all) all_table(sec, pub, protocol, v);
}
