// Bet 55's report section: each user's held-out texts under the ensemble of other users' adapters
// (eval.combos' ensemble, sweeps/combos.h: the mixture of their next-token distributions, never the
// user's own adapter) beside the user's own adapter and the base. The seeds state an outcome but no
// threshold, so the section is descriptive: this run's figures are placed beside their sentence.
// Every number is a median over seeds x the user's own held-out texts of a paired ratio (the same
// text, the same seed), as in the other judges (results/report_catalogue.c).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#include "results/report_catalogue.h"
#include "results/report_stats.h"
#include "results/report_util.h"
#include "sweeps/spec.h"

#define DESCRIPTIVE "descriptive: no pre-registered criterion"

// The file's ensemble formats and the format each combines, by label, from the file's own spec; when
// it does not re-read, the labels "SOURCE+ensemble". Returns how many.
static int ensemble_formats(const ReportData *d, int *ens, int *source) {
    int n = 0;
    Plan p;
    char err[512];
    const char *spec = d->rf.spec;
    int parsed = spec && !spec_parse(spec, strlen(spec), d->path, SPEC_FILES_IGNORED, &p, err, sizeof err);
    for (int f = 0; f < d->nf; f++) {
        const char *l = fmt_label(d, AX_FORMAT, f);
        char src[64] = "";
        if (parsed) {
            for (int k = 0; k < p.n_combos; k++)
                if (p.combos[k].kind == COMBO_ENSEMBLE && !strcmp(p.combos[k].label, l))
                    snprintf(src, sizeof src, "%s", p.formats[p.combos[k].source].label);
        } else {
            const char *plus = strrchr(l, '+');
            if (plus && !strcmp(plus, "+ensemble") && (size_t)(plus - l) < sizeof src)
                snprintf(src, sizeof src, "%.*s", (int)(plus - l), l);
        }
        for (int g = 0; src[0] && g < d->nf; g++)
            if (g != f && !strcmp(fmt_label(d, AX_FORMAT, g), src)) {
                ens[n] = f;
                source[n++] = g;
                break;
            }
    }
    if (parsed) plan_free(&p);
    return n;
}

// Over seeds x u's own texts: ppl of format fa over ppl of format fb (fb < 0: the base fa is compared
// with); *ma, *mb the medians of the two sides alone.
static Summary paired(const ReportData *d, int b, int fa, int fb, int u, const char *key, double *ma, double *mb) {
    int *own = xmalloc(((size_t)d->ne + 1) * sizeof *own), no = rd_own_texts(d, u, own), n = 0;
    size_t cap = (size_t)no * (size_t)d->ns + 1;
    double *x = xmalloc(cap * sizeof *x), *xa = xmalloc(cap * sizeof *xa), *xb = xmalloc(cap * sizeof *xb);
    for (int s = 0; s < d->ns; s++)
        for (int k = 0; k < no; k++) {
            xa[n] = rd_ppl(d, b, d->real, fa, u, s, own[k]);
            xb[n] = fb < 0 ? rd_base_ppl(d, b, fa, own[k]) : rd_ppl(d, b, d->real, fb, u, s, own[k]);
            x[n] = xa[n] / xb[n];
            n++;
        }
    Summary sm;
    stats_summary(x, n, key, &sm);
    *ma = stats_median(xa, n);
    *mb = stats_median(xb, n);
    free(own);
    free(x);
    free(xa);
    free(xb);
    return sm;
}

void judge_bet55(const ReportData *d, Report *r) {
    RSection *sec = report_add_section(r, "bet55", "Bet 55: an ensemble of other users' adapters for an unknown user",
                                       DESCRIPTIVE);
    section_note(sec, "The seeds: 'Bet 55: logit-ensembling adapters for unknown users does not generalise. Routing "
                      "is non-optional.' (seed 000); 'Bets 54 and 55 showed averaging across users is destructive and "
                      "ensembling for unknown users doesn't generalise' (seed 001). They state no threshold for "
                      "'does not generalise', so this section shows the table and judges nothing.");
    section_note(sec, "Ensemble: for each user, the mean of the next-token probabilities (not logits, not parameters) "
                      "of other users' trained adapters (same base, condition and seed; never the user's own: the user "
                      "is unknown to its ensemble), scored as the perplexity of that mixture on the user's own held-out "
                      "texts. The seeds say 'logit-ensembling'; this run averages distributions (sweeps/SPEC.md). "
                      "ens/own = the ensemble's ppl over the user's own adapter's, ens/none over the base's, paired "
                      "per (seed, own held-out text), median per user: ens/own above 1 means the other users' "
                      "adapters do worse for this user than its own; ens/none below 1 that they still beat the base.");
    int *ef = xmalloc(((size_t)d->nf + 1) * sizeof(int)), *sf = xmalloc(((size_t)d->nf + 1) * sizeof(int));
    int ne = ensemble_formats(d, ef, sf);
    if (!ne || d->real < 0) {
        section_note(sec, "The file has no %s, so there is nothing to tabulate.",
                     !ne ? "ensemble of adapters (spec field eval.combos, {\"ensemble\": FORMAT})" : "real condition");
        free(ef);
        free(sf);
        return;
    }
    static const char *const cols[] = {"user", "none ppl", "own ppl", "ens ppl", "ens/own", "CI lo", "CI hi", "ens/none"};
    for (int b = 0; b < d->nb; b++)
        for (int i = 0; i < ne; i++) {
            char title[300];
            snprintf(title, sizeof title, "base %s: %s against %s", fmt_label(d, AX_BASE, b), fmt_label(d, AX_FORMAT, ef[i]),
                     fmt_label(d, AX_FORMAT, sf[i]));
            RTable *t = section_add_table(sec, title, 8, cols);
            for (int u = 0; u < d->nu; u++) {
                char key[400];
                snprintf(key, sizeof key, "bet55 %s", title);
                double me, mo, me2, mn;
                Summary so = paired(d, b, ef[i], sf[i], u, key, &me, &mo);
                if (so.n == 0) continue;   // the user is in no group of this ensemble
                snprintf(key, sizeof key, "bet55 none %s", title);
                Summary sn = paired(d, b, ef[i], -1, u, key, &me2, &mn);
                table_add_row(t);
                table_text(t, 0, "%s", fmt_label(d, AX_TRAIN_USER, u));
                table_num(t, 1, mn, NUM_G);
                table_num(t, 2, mo, NUM_G);
                table_num(t, 3, me, NUM_G);
                table_num(t, 4, so.median, NUM_G);
                table_num(t, 5, so.lo, NUM_G);
                table_num(t, 6, so.hi, NUM_G);
                table_num(t, 7, sn.median, NUM_G);
            }
        }
    free(ef);
    free(sf);
}
