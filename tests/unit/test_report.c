// sweep report's verdicts on results files with known answers: every branch of every protocol's
// criterion, boundaries included, each expected level derived from the pre-registered criterion
// (DESIGN.md's protocols table), never from running the report. The files are written by the real
// spec parser and results writer from the bundled specs (tests/report/report_fixtures.h).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hdf5.h>
#include "results/report.h"
#include "results/report_margin.h"
#include "tests/report/report_cases.h"
#include "tests/unit/testlib.h"

static char tmpdir[256], sweeps[1024];
static int n_files;

static void load(const char *name, Plan *p) {
    char err[512];
    if (fx_load_spec(sweeps, name, p, err, sizeof err) != 0) {
        fprintf(stderr, "cannot load spec %s: %s\n", name, err);
        exit(1);
    }
}

// Writes a file for plan p and builds its report (protocol NULL: the file's own).
static int build_unrecorded;   // the next files hold no largest parameter change (files from before it)

static int build(const Plan *p, FxPpl fn, FxStatus st, const void *ctx, const long long *bytes, const char *protocol,
                 Report *r, char *path, size_t pathlen) {
    Fixture fx = fx_default_bytes;
    fx.unrecorded_param_change = build_unrecorded;
    fx.ppl = fn;
    fx.status = st;
    fx.ctx = ctx;
    if (bytes) memcpy(fx.bytes, bytes, sizeof fx.bytes);
    snprintf(path, pathlen, "%s/case%d.h5", tmpdir, n_files++);
    char err[512];
    if (fx_write(path, p, &fx, err, sizeof err) != 0) { fprintf(stderr, "write: %s\n", err); exit(1); }
    if (report_build(path, protocol, 1, r, err, sizeof err) != 0) { fprintf(stderr, "report: %s\n", err); exit(1); }
    return 0;
}

static const RVerdict *find(const Report *r, const char *section, const char *scope) {
    for (int i = 0; i < r->ns; i++)
        for (int k = 0; k < r->s[i].nv; k++)
            if (!strcmp(r->s[i].key, section) && strstr(r->s[i].v[k].scope, scope)) return &r->s[i].v[k];
    return NULL;
}

static double number(const RVerdict *v, const char *name) {
    for (int k = 0; v && k < v->n_numbers; k++)
        if (!strcmp(v->numbers[k].name, name)) return v->numbers[k].value;
    return NAN;
}

// Checks one verdict's level (and whether it is provisional); returns it for further checks.
static const RVerdict *expect(const char *what, const Report *r, const char *section, const char *scope,
                              VerdictLevel want, int provisional) {
    const RVerdict *v = find(r, section, scope);
    CHECK(v != NULL, "%s: no verdict %s '%s'", what, section, scope);
    if (!v) return NULL;
    CHECK(v->judged, "%s: not judged: %s", what, v->words);
    CHECK(v->level == want, "%s: %s, expected %s (%s; %s)", what, verdict_name(v->level), verdict_name(want), v->words,
          v->decided_by);
    CHECK(v->provisional == provisional, "%s: provisional %d, expected %d", what, v->provisional, provisional);
    return v;
}

// ---- Bet 37: one user, {none, norm, lora, full}, one seed, three texts

static void bet37(void) {
    Plan p;
    load("bet37", &p);
    struct { const char *what; double n0; long long nbytes; VerdictLevel want; } cases[] = {
        {"ratios 1.5, 0.5, 1.9: all < 2", 15, 9216, VERDICT_STRICT},
        {"a ratio of exactly 2.0 is not < 2", 20, 9216, VERDICT_LENIENT},
        {"largest ratio 4.9", 49, 9216, VERDICT_LENIENT},
        {"a ratio of exactly 5.0 is not < 5", 50, 9216, VERDICT_NONE},
        {"a ratio of exactly 10.0 is not > 10", 100, 9216, VERDICT_NONE},
        {"a ratio of 10.1 is > 10", 101, 9216, VERDICT_CATASTROPHIC},
        {"norm bytes exactly 1% of full is not < 1%", 15, 40000, VERDICT_NONE},
        {"norm bytes just under 1% of full", 15, 39999, VERDICT_STRICT},
        {"ratio 4.9 but bytes 1%: not LENIENT", 49, 40000, VERDICT_NONE},
        {"ratio 11 and bytes 1%: still CATASTROPHIC", 110, 40000, VERDICT_CATASTROPHIC},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        B37 c = {{cases[i].n0, 5, 19}, {10, 10, 10}, JOB_OK};
        long long bytes[4] = {0, cases[i].nbytes, 65536, 4000000};
        Report r;
        char path[512];
        build(&p, b37_ppl, b37_status, &c, bytes, NULL, &r, path, sizeof path);
        const RVerdict *v = expect(cases[i].what, &r, "bet37", "norm vs full", cases[i].want, 0);
        if (i == 0 && v) {
            CHECK(number(v, "max_ratio") == 1.9, "largest ratio %g, expected 1.9", number(v, "max_ratio"));
            CHECK(number(v, "configurations") == 3 && number(v, "strict") == 3, "3/3 STRICT configurations");
            CHECK(number(v, "norm_beats_full") == 1, "norm beats full in 1/3 (ratio 0.5), got %g", number(v, "norm_beats_full"));
            CHECK(number(v, "median_ratio") == 1.5, "median ratio 1.5, got %g", number(v, "median_ratio"));
            CHECK(number(v, "norm_bytes") == 9216 && number(v, "full_bytes") == 4000000, "adapter sizes in the verdict");
            CHECK(strstr(v->decided_by, "9216 B") && strstr(v->decided_by, "0.230%"), "sizes in words: %s", v->decided_by);
        }
        if (cases[i].want == VERDICT_NONE && v)
            CHECK(strstr(v->words, "neither STRICT, LENIENT nor CATASTROPHIC") != NULL, "none in words: %s", v->words);
        report_free(&r);
    }
    // a full job that diverged: nothing to compare, and the report says which job
    B37 c = {{15, 5, 19}, {10, 10, 10}, JOB_DIVERGED};
    Report r;
    char path[512];
    build(&p, b37_ppl, b37_status, &c, NULL, NULL, &r, path, sizeof path);
    const RVerdict *v = find(&r, "bet37", "norm vs full");
    CHECK(v && !v->judged && v->level == VERDICT_NONE, "diverged full: cannot be judged");
    CHECK(v && strstr(v->words, "diverged") && strstr(v->words, "full"), "names the diverged job: %s", v ? v->words : "");
    CHECK(!r.complete, "a file with a failed job is not complete");
    report_free(&r);
    plan_free(&p);
}

// ---- Bet 46: norm and full over 5 seeds x 3 texts

static void bet46(void) {
    Plan p;
    load("bet46", &p);
    B46 c;
    for (int s = 0; s < 5; s++)
        for (int k = 0; k < 3; k++) c.norm[s][k] = 1 + 3 * s + k;   // ratios 0.01 .. 0.15, median 0.08
    c.pending_full_seed = -1;
    Report r;
    char path[512];
    build(&p, b46_ppl, b46_status, &c, NULL, NULL, &r, path, sizeof path);
    const RVerdict *v = expect("15/15 configurations below 2x", &r, "bet46", "norm vs full", VERDICT_STRICT, 0);
    CHECK(number(v, "configurations") == 15 && number(v, "strict") == 15, "15/15 STRICT");
    CHECK(number(v, "norm_beats_full") == 15, "norm beats full in 15/15");
    CHECK(fabs(number(v, "median_ratio") - 0.08) < 1e-15, "median ratio 0.08, got %.17g", number(v, "median_ratio"));
    CHECK(number(v, "ratio_ci_lo") <= 0.08 && number(v, "ratio_ci_hi") >= 0.08 && number(v, "ratio_ci_lo") >= 0.01 &&
          number(v, "ratio_ci_hi") <= 0.15, "bootstrap interval inside the data and around the median");
    CHECK(v && strstr(v->decided_by, "15/15"), "counts such as 15/15 in words: %s", v ? v->decided_by : "");
    report_free(&r);

    c.norm[4][2] = 200;   // one configuration at exactly 2.0
    build(&p, b46_ppl, b46_status, &c, NULL, NULL, &r, path, sizeof path);
    v = expect("one configuration at exactly 2.0", &r, "bet46", "norm vs full", VERDICT_LENIENT, 0);
    CHECK(number(v, "strict") == 14 && number(v, "norm_beats_full") == 14, "14/15 STRICT, 14/15 beat full");
    report_free(&r);

    c.norm[4][2] = 1100;  // 11x in one configuration
    build(&p, b46_ppl, b46_status, &c, NULL, NULL, &r, path, sizeof path);
    v = expect("one configuration above 10x", &r, "bet46", "norm vs full", VERDICT_CATASTROPHIC, 0);
    CHECK(number(v, "catastrophic") == 1, "1/15 catastrophic");
    report_free(&r);

    c.norm[4][2] = 15;
    c.pending_full_seed = 4;   // a sweep still running: full seed 4 not done
    build(&p, b46_ppl, b46_status, &c, NULL, NULL, &r, path, sizeof path);
    v = expect("full seed 4 pending", &r, "bet46", "norm vs full", VERDICT_STRICT, 1);
    CHECK(number(v, "configurations") == 12 && number(v, "configurations_planned") == 15, "12 of 15 configurations");
    CHECK(v && strstr(v->decided_by, "pending") && strstr(v->decided_by, "seed 4"), "names the pending job: %s",
          v ? v->decided_by : "");
    CHECK(!r.complete && r.by_status[JOB_PENDING] == 1, "one job pending");
    report_free(&r);
    plan_free(&p);
}

// ---- Bet 49: 3 users x {norm, lora, full}, personal and general

static void bet49(void) {
    Plan p;
    load("bet49", &p);
    struct { const char *what; B49 c; VerdictLevel want; int prov; } cases[] = {
        {"3/3 users dominate (general ppl equal counts as no worse)", {{DOM, DOM, DOM}, -1}, VERDICT_STRICT, 0},
        {"2/3 users: a personal tie is not lower", {{DOM, TIE_PERSONAL, DOM}, -1}, VERDICT_LENIENT, 0},
        {"1/3 users", {{WORSE_GENERAL, DOM, TIE_PERSONAL}, -1}, VERDICT_NONE, 0},
        {"0/3 users", {{WORSE_GENERAL, TIE_PERSONAL, WORSE_GENERAL}, -1}, VERDICT_CATASTROPHIC, 0},
        {"2/3 users known, lora pending for the third", {{DOM, DOM, DOM}, 2}, VERDICT_LENIENT, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Report r;
        char path[512];
        build(&p, b49_ppl, b49_status, &cases[i].c, NULL, NULL, &r, path, sizeof path);
        const RVerdict *v = expect(cases[i].what, &r, "bet49", "norm vs lora and full", cases[i].want, cases[i].prov);
        if (i == 1) CHECK(v && strstr(v->decided_by, "2/3") && strstr(v->decided_by, "not lower than lora"),
                          "2/3 and the reason: %s", v ? v->decided_by : "");
        report_free(&r);
    }
    // equal adapter sizes: not smaller, so no user dominates
    B49 c = {{DOM, DOM, DOM}, -1};
    long long same[4] = {0, 65536, 65536, 4000000};
    Report r;
    char path[512];
    build(&p, b49_ppl, b49_status, &c, same, NULL, &r, path, sizeof path);
    expect("norm as large as lora", &r, "bet49", "norm vs lora and full", VERDICT_CATASTROPHIC, 0);
    report_free(&r);
    plan_free(&p);
}

// ---- Bet 52: ternary base x 3 users x {none, norm}

static void bet52(void) {
    Plan p;
    load("bet52", &p);
    struct { const char *what; B52 c; VerdictLevel want; } cases[] = {
        {"30% exactly, 50%, 40%: all >= 30%", {{70, 50, 60}}, VERDICT_STRICT},
        {"29%, 50%, 50%: 3/3 >= 15% but not all >= 30%", {{71, 50, 50}}, VERDICT_LENIENT},
        {"15% exactly, 20%, 5%: 2/3 >= 15%", {{85, 80, 95}}, VERDICT_LENIENT},
        {"20%, 5%, 1%: 1/3 >= 15%, all improve", {{80, 95, 99}}, VERDICT_NONE},
        {"0% exactly, -20%, -1%: no improvement anywhere", {{100, 120, 101}}, VERDICT_CATASTROPHIC},
        {"0%, -20%, 1%: one user improves a little", {{100, 120, 99}}, VERDICT_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Report r;
        char path[512];
        build(&p, b52_ppl, NULL, &cases[i].c, NULL, NULL, &r, path, sizeof path);
        const RVerdict *v = expect(cases[i].what, &r, "bet52", "base ternary", cases[i].want, 0);
        if (i == 0) CHECK(number(v, "users_30pct") == 3, "3/3 users at 30%%");
        report_free(&r);
    }
    plan_free(&p);
}

// ---- Bet 60: 3 users x norm x {real, random}

static void bet60(void) {
    Plan p;
    load("bet60", &p);
    struct { const char *what; B60 c; VerdictLevel want; } cases[] = {
        {"1.5x exactly, 2x, 1.6x: all >= 1.5x", {{150, 200, 160}}, VERDICT_STRICT},
        {"1.5x, 1.5x, 1.4x: all >= 1.1x, not all 1.5x", {{150, 150, 140}}, VERDICT_LENIENT},
        {"1.1x exactly, 1.2x, 1.05x: 2/3 >= 1.1x", {{110, 120, 105}}, VERDICT_LENIENT},
        {"random wins on 2/3", {{90, 99, 200}}, VERDICT_CATASTROPHIC},
        {"a tie is not random winning: 1/3 random, 0 >= 1.1x", {{100, 90, 105}}, VERDICT_NONE},
        {"1/3 >= 1.1x, 1/3 random wins", {{120, 90, 105}}, VERDICT_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Report r;
        char path[512];
        build(&p, b60_ppl, NULL, &cases[i].c, NULL, NULL, &r, path, sizeof path);
        expect(cases[i].what, &r, "bet60", "norm real vs random", cases[i].want, 0);
        report_free(&r);
    }
    plan_free(&p);
}

// ---- Bet 61: every norm adapter on every user's texts

static void bet61(void) {
    Plan p;
    load("bet61", &p);
    B61 c = {{90, 80, 99}};
    Report r;
    char path[512];
    build(&p, b61_ppl, NULL, &c, NULL, NULL, &r, path, sizeof path);
    const RVerdict *v = expect("own adapter wins for 3/3 users", &r, "bet61", "base fp: norm", VERDICT_STRICT, 0);
    CHECK(fabs(number(v, "min_margin_percent") - 1) < 1e-9 && fabs(number(v, "max_margin_percent") - 20) < 1e-9,
          "margins 1%% to 20%%, got %g to %g", number(v, "min_margin_percent"), number(v, "max_margin_percent"));
    int figures = 0;
    for (int i = 0; i < r.ns; i++) figures += r.s[i].nf;
    CHECK(figures >= 3, "heatmap, Pareto and loss figures (%d)", figures);
    report_free(&r);
    c.own[1] = 100;   // a tie with the other adapters: own does not beat every other
    build(&p, b61_ppl, NULL, &c, NULL, NULL, &r, path, sizeof path);
    v = expect("a tie on one user's diagonal", &r, "bet61", "base fp: norm", VERDICT_NONE, 0);
    CHECK(number(v, "users_own_wins") == 2, "2/3 users win");
    report_free(&r);
    // Bet 61 needs every adapter on every user's texts: Bet 60's file evaluated own texts only
    Plan q;
    load("bet60", &q);
    B60 c60 = {{150, 150, 150}};
    build(&q, b60_ppl, NULL, &c60, NULL, "bet61", &r, path, sizeof path);
    v = find(&r, "bet61", "norm");
    CHECK(v && !v->judged && strstr(v->words, "own user's texts only"), "own-text file: bet61 cannot be judged (%s)",
          v ? v->words : "");
    report_free(&r);
    plan_free(&q);
    plan_free(&p);
}

// The text of a cell of a section's table whose title has title_part, in the row whose first cell is row.
static const char *cell_text(const Report *r, const char *section, const char *title_part, const char *row,
                             const char *col) {
    for (int i = 0; i < r->ns; i++)
        for (int k = 0; k < r->s[i].nt; k++) {
            const RTable *t = r->s[i].t[k];
            if (strcmp(r->s[i].key, section) || !strstr(t->title, title_part)) continue;
            for (int c = 0; c < t->ncols; c++)
                if (!strcmp(t->cols[c], col))
                    for (int y = 0; y < t->nrows; y++)
                        if (t->cells[(size_t)y * t->ncols].text && !strcmp(t->cells[(size_t)y * t->ncols].text, row))
                            return t->cells[(size_t)y * t->ncols + c].text;
        }
    return NULL;
}

// The noise rule (results/report_margin.h) at its boundaries: one seed, three slices, so each user's
// interval is the min .. max of its three paired ratios own/100.
static void bet61_noise(void) {
    Plan p;
    load("bet61", &p);
    Report r;
    char path[512];
    // every slice exactly 95: a margin of exactly 5%, its interval [5%, 5%]: a win that reaches 5%
    B61S c = {{{95, 95, 95}, {95, 95, 95}, {95, 95, 95}}};
    build(&p, b61s_ppl, NULL, &c, NULL, NULL, &r, path, sizeof path);
    const RVerdict *v = expect("margins exactly 5%", &r, "bet61", "base fp: norm", VERDICT_STRICT, 0);
    CHECK(number(v, "users_margin_5pct") == 3, "3/3 users at exactly 5%% (%g)", number(v, "users_margin_5pct"));
    report_free(&r);
    CHECK(report_build(path, "protocol-1b", 0, &r, path, sizeof path) == 0, "the same file as protocol-1b");
    expect("1B+: exactly 5% on 3/3", &r, "confusion", "base fp: norm", VERDICT_STRICT, 0);
    report_free(&r);
    // cpython's slices 100, 95, 90: median margin 5%, interval [0%, 10%] touches zero: within the noise
    c.own[0][0] = 100; c.own[0][2] = 90;
    build(&p, b61s_ppl, NULL, &c, NULL, NULL, &r, path, sizeof path);
    v = expect("an interval touching zero", &r, "bet61", "base fp: norm", VERDICT_NONE, 0);
    CHECK(number(v, "users_own_wins") == 2 && number(v, "users_margin_5pct") == 2, "2/3 win beyond the noise (%g, %g)",
          number(v, "users_own_wins"), number(v, "users_margin_5pct"));
    const char *ez = cell_text(&r, "bet61", "Diagonal", "cpython", "CI excludes 0");
    const char *f5 = cell_text(&r, "bet61", "Diagonal", "cpython", ">= 5%");
    CHECK(ez && !strcmp(ez, "no"), "cpython's interval includes zero: '%s'", ez ? ez : "(none)");
    CHECK(f5 && !strcmp(f5, "no: within noise"), "cpython's 5%% inside the noise: '%s'", f5 ? f5 : "(none)");
    ez = cell_text(&r, "bet61", "Diagonal", "austen", "CI excludes 0");
    CHECK(ez && !strcmp(ez, "yes"), "austen's [5%%, 5%%] excludes zero: '%s'", ez ? ez : "(none)");
    report_free(&r);
    // two users inside the noise at a median of 5%: the 1B+ bar is met by 1 of 3, not most
    c.own[1][0] = 100; c.own[1][2] = 90;
    build(&p, b61s_ppl, NULL, &c, NULL, "protocol-1b", &r, path, sizeof path);
    expect("1B+: 5% medians inside the noise are not counted", &r, "confusion", "base fp: norm", VERDICT_NONE, 0);
    report_free(&r);
    // just off zero: 99.9, 95, 90: the interval [0.1%, 10%] excludes zero
    c.own[0][0] = 99.9; c.own[1][0] = 95; c.own[1][2] = 95;
    build(&p, b61s_ppl, NULL, &c, NULL, NULL, &r, path, sizeof path);
    expect("an interval just above zero", &r, "bet61", "base fp: norm", VERDICT_STRICT, 0);
    report_free(&r);
    // the case: margins of 0.08% with an interval of 0.00% .. 0.10% never pass
    c.own[0][0] = 100; c.own[0][1] = 99.92; c.own[0][2] = 99.9;
    build(&p, b61s_ppl, NULL, &c, NULL, NULL, &r, path, sizeof path);
    v = expect("a 0.08% margin in [0%, 0.1%]", &r, "bet61", "base fp: norm", VERDICT_NONE, 0);
    report_free(&r);
    // a tiny margin beyond the noise wins (Bet 61) but is below the 1B+ bar
    c.own[0][0] = c.own[0][1] = c.own[0][2] = 99.92;
    build(&p, b61s_ppl, NULL, &c, NULL, NULL, &r, path, sizeof path);
    expect("0.08% beyond the noise", &r, "bet61", "base fp: norm", VERDICT_STRICT, 0);
    f5 = cell_text(&r, "bet61", "Diagonal", "cpython", ">= 5%");
    CHECK(f5 && !strcmp(f5, "no"), "0.08%% is below 5%%: '%s'", f5 ? f5 : "(none)");
    report_free(&r);
    plan_free(&p);
    // the rule's one wording: SPEC.md quotes it as the report prints it
    char spec_md[1200];
    snprintf(spec_md, sizeof spec_md, "%s/SPEC.md", sweeps);
    char *md = read_whole_file(spec_md, NULL);
    CHECK(md && strstr(md, margin_rule), "%s quotes margin_rule word for word", spec_md);
    free(md);
}

// ---- the reproduction beside the seeds, the diagnostics and the verdict against lr

static int has_note(const Report *r, const char *section, const char *text) {
    for (int i = 0; i < r->ns; i++)
        for (int k = 0; !strcmp(r->s[i].key, section) && k < r->s[i].nn; k++)
            if (strstr(r->s[i].notes[k], text)) return 1;
    return 0;
}

static const RSection *section(const Report *r, const char *key) {
    for (int i = 0; i < r->ns; i++)
        if (!strcmp(r->s[i].key, key)) return &r->s[i];
    return NULL;
}

// The number in a cell (first row whose first cell is row), NaN.
static double cell_num(const Report *r, const char *sec, const char *title_part, const char *row, const char *col) {
    for (int i = 0; i < r->ns; i++)
        for (int k = 0; k < r->s[i].nt; k++) {
            const RTable *t = r->s[i].t[k];
            if (strcmp(r->s[i].key, sec) || !strstr(t->title, title_part)) continue;
            for (int c = 0; c < t->ncols; c++)
                if (!strcmp(t->cols[c], col))
                    for (int y = 0; y < t->nrows; y++)
                        if (t->cells[(size_t)y * t->ncols].text && !strcmp(t->cells[(size_t)y * t->ncols].text, row))
                            return t->cells[(size_t)y * t->ncols + c].num;
        }
    return NAN;
}

// random ppl by the format's lr: 200 above 1e-4 (random/real 2: STRICT), else 100 (1: none)
static double lr_ppl(const Plan *p, const Job *j, int e, const void *ctx) {
    (void)e; (void)ctx;
    return fx_is_random(p, j) && p->formats[j->ax[AX_FORMAT]].train.lr > 1e-4 ? 200 : 100;
}

static void reproduction(void) {
    Plan p;
    load("bet60", &p);
    Report r;
    char path[512];
    // random/real 0.9, 1.2, 1.2: LENIENT as the seeds (random wins for cpython, real >= 1.1x for the others)
    B60 c = {{90, 120, 120}};
    build(&p, b60_ppl, NULL, &c, NULL, NULL, &r, path, sizeof path);
    expect("bet60 like the seeds", &r, "bet60", "base fp", VERDICT_LENIENT, 0);
    CHECK(section(&r, "reproduction") != NULL, "bet60 with published: a reproduction section");
    CHECK(has_note(&r, "reproduction", "The verdicts agree: LENIENT."), "the verdicts agree");
    CHECK(!has_note(&r, "reproduction", "differ"), "no row differs");
    const char *t = cell_text(&r, "reproduction", "seeds' figures", "cpython", "real seeds");
    CHECK(t && !strcmp(t, "6,922"), "the seeds' figure as written: '%s'", t ? t : "(none)");
    CHECK(cell_num(&r, "reproduction", "seeds' figures", "austen", "random here") == 120, "this run's random ppl 120");
    t = cell_text(&r, "reproduction", "seeds' figures", "austen", "seeds' class");
    CHECK(t && !strcmp(t, "real >= 1.1x"), "novelist's 154 / 113 is real >= 1.1x: '%s'", t ? t : "(none)");
    // diagnostics: 100 steps x 5e-5, and the fixture's loss curve 6.0 - 3 s / steps + 0.2 user (median user 1)
    CHECK(cell_num(&r, "diagnostics", "budget", "norm", "Adam bound steps x lr") == 100 * 5e-5, "Adam bound 0.005");
    CHECK(fabs(cell_num(&r, "diagnostics", "budget", "norm", "loss first") - (float)6.2) < 1e-9 &&
          fabs(cell_num(&r, "diagnostics", "budget", "norm", "loss last") - (float)(6.0 - 3.0 * 99 / 100 + 0.2)) < 1e-9,
          "loss first 6.2 and last 3.23 (%g, %g)", cell_num(&r, "diagnostics", "budget", "norm", "loss first"),
          cell_num(&r, "diagnostics", "budget", "norm", "loss last"));
    // the largest change: the fixture's steps x lr x (0.5 + 0.1 user), max over users 0..2 at user 2
    double bound = 100 * 5e-5;
    CHECK(fabs(cell_num(&r, "diagnostics", "budget", "norm", "largest change") - 0.7 * bound) < 1e-12 &&
          fabs(cell_num(&r, "diagnostics", "budget", "norm", "change / bound") - 0.7) < 1e-9,
          "largest change 0.7 x the bound (%g, ratio %g)", cell_num(&r, "diagnostics", "budget", "norm", "largest change"),
          cell_num(&r, "diagnostics", "budget", "norm", "change / bound"));
    t = cell_text(&r, "diagnostics", "budget", "norm", "in tensor");
    CHECK(t && !strcmp(t, "model.layers.2.input_layernorm.weight"), "the largest change's tensor: '%s'", t ? t : "(none)");
    CHECK(has_note(&r, "diagnostics", "largest change 0.00350 (model.layers.2.input_layernorm.weight) = 0.700 x the "
                                      "Adam bound"), "the diagnostics line names the largest change and its ratio");
    CHECK(section(&r, "sensitivity") == NULL, "one lr: no sensitivity section");
    report_free(&r);
    // a file from before the column: the line says so, the rest stands
    build_unrecorded = 1;
    build(&p, b60_ppl, NULL, &c, NULL, NULL, &r, path, sizeof path);
    build_unrecorded = 0;
    CHECK(isnan(cell_num(&r, "diagnostics", "budget", "norm", "largest change")), "not recorded: no number");
    t = cell_text(&r, "diagnostics", "budget", "norm", "in tensor");
    CHECK(t && !strcmp(t, "not recorded"), "not recorded: '%s'", t ? t : "(none)");
    CHECK(has_note(&r, "diagnostics", "largest change not recorded") &&
          cell_num(&r, "diagnostics", "budget", "norm", "Adam bound steps x lr") == bound,
          "not recorded: the line says so and still gives the bound");
    report_free(&r);
    // random/real 1.5 everywhere: STRICT against the seeds' LENIENT; two rows differ
    c = (B60){{150, 150, 150}};
    build(&p, b60_ppl, NULL, &c, NULL, NULL, &r, path, sizeof path);
    CHECK(has_note(&r, "reproduction", "The verdicts differ: the seeds reached LENIENT, this run STRICT."), "verdicts differ");
    CHECK(has_note(&r, "reproduction", "cpython: the seeds' figures class as random wins, this run's as real >= 1.5x: "
                                       "they differ."), "cpython's row differs, in a plain line");
    report_free(&r);
    plan_free(&p);
    // the same spec without published: no reproduction section
    char specpath[1200];
    snprintf(specpath, sizeof specpath, "%s/bet60.json", sweeps);
    char *text = read_whole_file(specpath, NULL);
    cJSON *root = cJSON_Parse(text);
    cJSON_DeleteItemFromObjectCaseSensitive(root, "published");
    char *bare = cJSON_Print(root);
    char err[512];
    CHECK(fx_parse_spec(bare, "bet60-bare.json", &p, err, sizeof err) == 0, "bare spec: %s", err);
    c = (B60){{90, 120, 120}};
    build(&p, b60_ppl, NULL, &c, NULL, NULL, &r, path, sizeof path);
    CHECK(section(&r, "reproduction") == NULL, "without published: no reproduction section");
    expect("bet60 without published", &r, "bet60", "base fp", VERDICT_LENIENT, 0);
    report_free(&r);
    plan_free(&p);
    // lr as a list: the verdict against lr
    cJSON *norm = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "formats"), "norm");
    cJSON *lrs = cJSON_CreateArray();
    cJSON_AddItemToArray(lrs, cJSON_CreateNumber(5e-5));
    cJSON_AddItemToArray(lrs, cJSON_CreateNumber(1e-3));
    cJSON_AddItemToObject(norm, "lr", lrs);
    char *lrspec = cJSON_Print(root);
    CHECK(fx_parse_spec(lrspec, "bet60-lr.json", &p, err, sizeof err) == 0, "lr spec: %s", err);
    build(&p, lr_ppl, NULL, NULL, NULL, NULL, &r, path, sizeof path);
    const RSection *sens = section(&r, "sensitivity");
    CHECK(sens && sens->nt == 1 && sens->t[0]->nrows == 1 && sens->nf == 1, "one row of verdicts and a figure");
    t = cell_text(&r, "sensitivity", "Verdict per steps", "fp", "lr 5e-05");
    CHECK(t && !strcmp(t, "none"), "lr 5e-05: none ('%s')", t ? t : "(none)");
    t = cell_text(&r, "sensitivity", "Verdict per steps", "fp", "lr 0.001");
    CHECK(t && !strcmp(t, "STRICT"), "lr 0.001: STRICT ('%s')", t ? t : "(none)");
    CHECK(sens && sens->nf == 1 && strstr(sens->fig[0].svg, "<svg") && strstr(sens->fig[0].svg, "<path d=\"M") &&
          strstr(strstr(sens->fig[0].svg, "<path d=\"M"), " L"),
          "an SVG line of the verdict against lr");
    report_free(&r);
    plan_free(&p);
    free(lrspec);
    free(bare);
    cJSON_Delete(root);
    free(text);
}

// ---- protocol-1b: 10 users, 2 bases, none/norm/lora/full, norm real and random, 3 seeds

static void protocol_1b(void) {
    Plan p;
    load("protocol-1b", &p);
    P1B c = {6};
    Report r;
    char path[512];
    build(&p, p1b_ppl, NULL, &c, NULL, NULL, &r, path, sizeof path);
    const RVerdict *v = expect("margin exactly 5% on 6/10 users", &r, "confusion", "base fp: norm", VERDICT_STRICT, 0);
    CHECK(number(v, "users_margin_5pct") == 6 && number(v, "users") == 10, "6/10 users at 5%%");
    expect("same on the ternary base", &r, "confusion", "base ternary: norm", VERDICT_STRICT, 0);
    expect("lora: own equals others", &r, "confusion", "base fp: lora", VERDICT_NONE, 0);
    expect("Bet 49 at scale", &r, "bet49", "base fp: norm vs lora and full", VERDICT_STRICT, 0);
    expect("Bet 52 at scale", &r, "bet52", "base ternary", VERDICT_STRICT, 0);
    expect("Bet 60 at scale", &r, "bet60", "base ternary: norm real vs random", VERDICT_STRICT, 0);
    report_free(&r);
    c.five = 5;
    build(&p, p1b_ppl, NULL, &c, NULL, NULL, &r, path, sizeof path);
    expect("5/10 users is not most", &r, "confusion", "base fp: norm", VERDICT_NONE, 0);
    report_free(&r);
    plan_free(&p);
}

// ---- a custom format name: the kind comes from the file's spec

static double custom_ppl(const Plan *p, const Job *j, int e, const void *ctx) {
    (void)e; (void)ctx;
    return fx_kind(p, j) == 1 ? 30 : 10;   // 3x: LENIENT
}

static void custom_names(void) {
    const char *spec =
        "{\"protocol\": \"bet37\", \"output\": \"x.h5\", \"bases\": {\"fp\": \"base.sweep\"}, \"tokenizer\": \"t.bpe\","
        " \"data\": \"data\", \"users\": [\"programmer\"],"
        " \"formats\": {\"tiny\": {\"format\": \"norm\"}, \"big\": {\"format\": \"full\"}},"
        " \"seeds\": [0], \"eval\": {\"users\": \"own\", \"slices\": 2, \"general\": false}}";
    Plan p;
    char err[512];
    if (spec_parse(spec, strlen(spec), "custom.json", SPEC_FILES_IGNORED, &p, err, sizeof err) != 0) {
        CHECK(0, "custom spec: %s", err);
        return;
    }
    Report r;
    char path[512];
    build(&p, custom_ppl, NULL, NULL, NULL, NULL, &r, path, sizeof path);
    expect("formats named tiny (norm) and big (full)", &r, "bet37", "tiny vs big", VERDICT_LENIENT, 0);
    report_free(&r);
    plan_free(&p);
}

// ---- a protocol without a criterion, forced protocols, renderers

static char *capture(const Report *r, void (*print)(FILE *, const Report *)) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    print(f, r);
    fclose(f);
    return buf;
}

static void demo_and_renderers(void) {
    Plan p;
    load("demo", &p);
    Report r;
    char path[512];
    build(&p, demo_ppl, NULL, NULL, NULL, NULL, &r, path, sizeof path);
    int verdicts = 0, confusion = 0;
    for (int i = 0; i < r.ns; i++) {
        verdicts += r.s[i].nv;
        confusion += !strcmp(r.s[i].key, "confusion") && r.s[i].nt > 0;
    }
    CHECK(verdicts == 0, "demo pre-registers nothing: %d verdicts", verdicts);
    CHECK(confusion, "demo's every-user evaluation gives confusion matrices");

    char *text = capture(&r, report_print_text);
    CHECK(strstr(text, "pre-registers no criterion") != NULL, "text says why there is no verdict");
    free(text);
    report_free(&r);

    char err[512];
    CHECK(report_build(path, "bet61", 1, &r, err, sizeof err) == 0, "--protocol bet61 on the demo file: %s", err);
    expect("demo judged as Bet 61", &r, "bet61", "base fp: norm", VERDICT_STRICT, 0);
    CHECK(r.forced && !strcmp(r.file_protocol, "demo"), "forced protocol recorded");
    CHECK(find(&r, "bet61", "lora") == NULL, "Bet 61 judges norm adapters only");
    int lora_matrix = 0;
    for (int i = 0; i < r.ns; i++)
        for (int k = 0; k < r.s[i].nt; k++) lora_matrix += !strcmp(r.s[i].key, "bet61") && strstr(r.s[i].t[k]->title, "base fp: lora");
    CHECK(lora_matrix == 2, "lora's matrix and diagonal shown beside norm's (%d tables)", lora_matrix);
    text = capture(&r, report_print_text);
    CHECK(strstr(text, "[bet61] base fp: norm: STRICT") != NULL, "text verdict line");
    free(text);
    char *md = capture(&r, report_print_markdown);
    CHECK(strstr(md, "- **STRICT** base fp: norm") && strstr(md, "| adapter \\ text |"), "markdown verdict and table");
    free(md);
    char *json = capture(&r, report_print_json);
    cJSON *root = cJSON_Parse(json);
    CHECK(root != NULL, "JSON parses");
    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(root, "verdicts");
    const cJSON *v0 = cJSON_GetArrayItem(vs, 0);
    const cJSON *lv = cJSON_GetObjectItemCaseSensitive(v0, "verdict");
    CHECK(cJSON_IsString(lv) && !strcmp(lv->valuestring, "STRICT"), "JSON verdict STRICT");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(root, "forced")) == 0, "JSON forced");
    cJSON_Delete(root);
    free(json);
    char *csv = capture(&r, report_print_csv);
    CHECK(!strncmp(csv, "section,table,row,column,value\n", 31) && strstr(csv, "bet61,verdict,base fp: norm,verdict,STRICT"),
          "CSV header and verdict row");
    free(csv);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/html/deeper", tmpdir);
    CHECK(report_write_html(dir, &r, err, sizeof err) == 0, "html: %s", err);
    char f1[400], f2[400];
    snprintf(f1, sizeof f1, "%s/index.html", dir);
    snprintf(f2, sizeof f2, "%s/confusion-fp-norm.svg", dir);
    CHECK(access(f1, R_OK) == 0 && access(f2, R_OK) == 0, "index.html and the heatmap file");
    report_free(&r);
    plan_free(&p);
}

// ---- bad input: one line naming the file or the option

static void bad_input(void) {
    Report r;
    char err[512], path[512];
    CHECK(report_build("/nonexistent/x.h5", NULL, 0, &r, err, sizeof err) == -1 && strstr(err, "/nonexistent/x.h5"),
          "missing file: %s", err);
    snprintf(path, sizeof path, "%s/text.h5", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("not hdf5\n", f);
    fclose(f);
    CHECK(report_build(path, NULL, 0, &r, err, sizeof err) == -1 && strstr(err, path) && !strchr(err, '\n'),
          "text file: %s", err);
    snprintf(path, sizeof path, "%s/other.h5", tmpdir);
    hid_t h = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(h);
    CHECK(report_build(path, NULL, 0, &r, err, sizeof err) == -1 && strstr(err, path), "HDF5 but not a sweep: %s", err);
    CHECK(report_build(path, "bet99", 0, &r, err, sizeof err) == -1 && strstr(err, "--protocol") && strstr(err, "bet99"),
          "unknown protocol: %s", err);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_report.XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    fx_sweeps_dir(sweeps, sizeof sweeps);
    bet37();
    bet46();
    bet49();
    bet52();
    bet60();
    bet61();
    bet61_noise();
    reproduction();
    protocol_1b();
    custom_names();
    demo_and_renderers();
    bad_input();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return tl_finish("test_report");
}
