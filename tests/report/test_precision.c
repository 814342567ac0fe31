// sweep report on sweeps that computed at several precisions: each format variant is compared with
// the base (none) and the formats evaluated at its own precision, each precision gets its own
// verdict, the precision is shown in every output format, and a file from before the precision
// column reports as before. The values and the verdicts they must give are in report_cases.h, each
// derived from the pre-registered criterion, with the verdict a cross-precision comparison would give
// beside it so that such a comparison cannot pass.
// usage: test_precision SWEEPS_DIR
#include <cjson/cJSON.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "results/report.h"
#include "results/report_util.h"
#include "tests/report/report_cases.h"
#include "tests/unit/testlib.h"

static char tmpdir[256];
static const char *sweeps;
static int n_files;

static void write_file(const Plan *p, FxPpl fn, const void *ctx, char *path, size_t pathlen) {
    Fixture fx = fx_default_bytes;
    fx.ppl = fn;
    fx.ctx = ctx;
    snprintf(path, pathlen, "%s/prec%d.h5", tmpdir, n_files++);
    char err[512];
    if (fx_write(path, p, &fx, err, sizeof err) != 0) { fprintf(stderr, "write: %s\n", err); exit(1); }
}

static void parse(const char *text, Plan *p) {
    char err[512];
    if (fx_parse_spec(text, "precision spec", p, err, sizeof err) != 0) { fprintf(stderr, "spec: %s\n", err); exit(1); }
}

static void build(const char *path, Report *r) {
    char err[512];
    if (report_build(path, NULL, 1, r, err, sizeof err) != 0) { fprintf(stderr, "report: %s\n", err); exit(1); }
}

static const RSection *section(const Report *r, const char *key) {
    for (int i = 0; i < r->ns; i++)
        if (!strcmp(r->s[i].key, key)) return &r->s[i];
    return NULL;
}

static const RVerdict *find(const Report *r, const char *key, const char *scope_part) {
    const RSection *s = section(r, key);
    for (int k = 0; s && k < s->nv; k++)
        if (strstr(s->v[k].scope, scope_part)) return &s->v[k];
    return NULL;
}

static int count_verdicts(const Report *r, const char *key) {
    const RSection *s = section(r, key);
    return s ? s->nv : 0;
}

static double number(const RVerdict *v, const char *name) {
    for (int k = 0; v && k < v->n_numbers; k++)
        if (!strcmp(v->numbers[k].name, name)) return v->numbers[k].value;
    return NAN;
}

static void expect(const char *what, const RVerdict *v, VerdictLevel level, const char *precision) {
    CHECK(v != NULL, "%s: no verdict", what);
    if (!v) return;
    CHECK(v->judged && v->level == level, "%s: %s, expected %s (%s)", what, verdict_name(v->level), verdict_name(level),
          v->decided_by);
    CHECK(v->precision && !strcmp(v->precision, precision), "%s: precision %s, expected %s", what,
          v->precision ? v->precision : "(null)", precision);
}

static const RTable *table(const RSection *s, const char *title_part) {
    for (int k = 0; s && k < s->nt; k++)
        if (strstr(s->t[k]->title, title_part)) return s->t[k];
    return NULL;
}

static int col(const RTable *t, const char *name) {
    for (int c = 0; t && c < t->ncols; c++)
        if (!strcmp(t->cols[c], name)) return c;
    return -1;
}

static const RCell *cell(const RTable *t, int row, int c) {
    static const RCell empty = {NULL, NAN, 0};
    if (!t || row < 0 || row >= t->nrows || c < 0) return &empty;
    return &t->cells[(size_t)row * t->ncols + c];
}

// The row whose first column is text (-1).
static int row_of(const RTable *t, const char *text) {
    for (int i = 0; t && i < t->nrows; i++)
        if (cell(t, i, 0)->text && !strcmp(cell(t, i, 0)->text, text)) return i;
    return -1;
}

static const char *text_at(const RTable *t, const char *row, const char *colname) {
    const RCell *c = cell(t, row_of(t, row), col(t, colname));
    return c->text ? c->text : "";
}

static double num_at(const RTable *t, const char *row, const char *colname) {
    return cell(t, row_of(t, row), col(t, colname))->num;
}

static int has_note(const RSection *s, const char *part) {
    for (int k = 0; s && k < s->nn; k++)
        if (strstr(s->notes[k], part)) return 1;
    return 0;
}

static char *capture(const Report *r, void (*print)(FILE *, const Report *)) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    print(f, r);
    fclose(f);
    return buf;
}

// A results file as written before the per-job precision column existed.
static void drop_precision_column(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CHECK(f >= 0 && H5Lexists(f, "precision", H5P_DEFAULT) > 0, "%s has a precision column to drop", path);
    if (f < 0) return;
    H5Ldelete(f, "precision", H5P_DEFAULT);
    CHECK(H5Lexists(f, "precision", H5P_DEFAULT) == 0, "precision column dropped");
    H5Fclose(f);
}

// ---- Bet 52 with none and norm at fp32 and bf16

static void check_prec52(const Report *r, const char *what) {
    const RVerdict *v32 = find(r, "bet52", "norm[precision=fp32]"), *v16 = find(r, "bet52", "norm[precision=bf16]");
    // fp32: 80/100, 20% on every user: LENIENT (against the bf16 base, 60%: STRICT)
    expect(what, v32, VERDICT_LENIENT, "fp32");
    // bf16: 130/200, 35%: STRICT (against the fp32 base, 1.3: CATASTROPHIC)
    expect(what, v16, VERDICT_STRICT, "bf16");
    CHECK(number(v32, "users_30pct") == 0 && number(v32, "users_15pct") == 3, "%s: fp32 counts", what);
    CHECK(number(v16, "users_30pct") == 3, "%s: bf16 counts", what);
    CHECK(count_verdicts(r, "bet52") == 2, "%s: one verdict per precision, got %d", what, count_verdicts(r, "bet52"));
    CHECK(r->n_precisions == 2 && !strcmp(r->precisions[0], "fp32") && !strcmp(r->precisions[1], "bf16"),
          "%s: precisions fp32, bf16 (%d)", what, r->n_precisions);

    const RSection *s = section(r, "bet52");
    const RTable *t32 = table(s, "norm[precision=fp32] over"), *t16 = table(s, "norm[precision=bf16] over");
    CHECK(num_at(t32, "austen", "base ppl") == 100 && num_at(t32, "austen", "norm/base") == 0.8,
          "%s: fp32 table against the fp32 base (%g, %g)", what, num_at(t32, "austen", "base ppl"),
          num_at(t32, "austen", "norm/base"));
    CHECK(num_at(t16, "austen", "base ppl") == 200 && num_at(t16, "austen", "norm/base") == 0.65,
          "%s: bf16 table against the bf16 base (%g, %g)", what, num_at(t16, "austen", "base ppl"),
          num_at(t16, "austen", "norm/base"));
    // the verdicts side by side, before the tables behind them
    const RTable *pt = s && s->nt ? s->t[0] : NULL;
    CHECK(pt && strstr(pt->title, "Verdict at each precision"), "%s: precision table first", what);
    CHECK(pt && pt->nrows == 1 && !strcmp(text_at(pt, "base ternary: norm over the base alone", "fp32"), "LENIENT") &&
          !strcmp(text_at(pt, "base ternary: norm over the base alone", "bf16"), "STRICT"),
          "%s: precision table row (%d rows)", what, pt ? pt->nrows : -1);

    // the confusion matrices' base row and margin against the base: the same precision's base
    const RSection *cs = section(r, "confusion");
    const RTable *m16 = table(cs, "Confusion matrix, base ternary: norm[precision=bf16]");
    CHECK(num_at(m16, "base (none[precision=bf16])", "austen") == 200, "%s: bf16 matrix's base row", what);
    const RTable *d16 = table(cs, "Diagonal, base ternary: norm[precision=bf16]");
    const RTable *d32 = table(cs, "Diagonal, base ternary: norm[precision=fp32]");
    CHECK(fabs(num_at(d16, "austen", "margin vs base") - 35) < 1e-9 && fabs(num_at(d32, "austen", "margin vs base") - 20) < 1e-9,
          "%s: margins against each precision's base 35%% and 20%% (%g, %g)", what, num_at(d16, "austen", "margin vs base"),
          num_at(d32, "austen", "margin vs base"));

    // the precision of every format, and which base it is compared with
    const RTable *ft = table(section(r, "formats"), "Format variants");
    CHECK(!strcmp(text_at(ft, "none[precision=bf16]", "precision"), "bf16") &&
          !strcmp(text_at(ft, "norm[precision=fp32]", "precision"), "fp32") &&
          !strcmp(text_at(ft, "norm[precision=bf16]", "compared with base"), "none[precision=bf16]"),
          "%s: formats table", what);
    const RTable *st = table(section(r, "summary"), "Perplexity on own held-out texts");
    int ok = st && st->nrows > 0 && col(st, "precision") >= 0;
    for (int i = 0; st && i < st->nrows; i++) {
        const char *label = cell(st, i, col(st, "format"))->text, *p = cell(st, i, col(st, "precision"))->text;
        ok &= label && p && strstr(label, p) != NULL;   // every label here names its precision
    }
    CHECK(ok, "%s: summary table's precision column", what);
}

static void prec52(void) {
    Plan p;
    parse(prec52_spec, &p);
    char path[512];
    write_file(&p, prec_ppl, &prec52_values, path, sizeof path);
    Report r;
    build(path, &r);
    check_prec52(&r, "bet52 at fp32 and bf16");

    char *text = capture(&r, report_print_text);
    CHECK(strstr(text, "precisions: fp32, bf16") != NULL, "text header names the precisions");
    CHECK(strstr(text, "[bet52] base ternary: norm[precision=bf16] over the base alone: STRICT, precision bf16") != NULL,
          "text verdict line with its precision");
    free(text);
    char *md = capture(&r, report_print_markdown);
    CHECK(strstr(md, "- **STRICT** base ternary: norm[precision=bf16] over the base alone at precision bf16") != NULL &&
          strstr(md, "| format | kind | precision |") != NULL, "markdown verdict and format list with precisions");
    free(md);
    char *json = capture(&r, report_print_json);
    cJSON *root = cJSON_Parse(json);
    const cJSON *precs = cJSON_GetObjectItemCaseSensitive(root, "precisions");
    CHECK(cJSON_GetArraySize(precs) == 2 && !strcmp(cJSON_GetArrayItem(precs, 1)->valuestring, "bf16"), "JSON precisions");
    int seen = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(root, "verdicts")) {
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(v, "scope"), *pr = cJSON_GetObjectItemCaseSensitive(v, "precision");
        seen += cJSON_IsString(pr) && strstr(sc->valuestring, pr->valuestring) != NULL;
    }
    CHECK(seen == 2, "JSON: each verdict's precision (%d)", seen);
    cJSON_Delete(root);
    free(json);
    char *csv = capture(&r, report_print_csv);
    CHECK(strstr(csv, "bet52,verdict,base ternary: norm[precision=bf16] over the base alone,precision,bf16\n") != NULL,
          "CSV verdict precision row");
    free(csv);
    char dir[300], page[400];
    snprintf(dir, sizeof dir, "%s/html", tmpdir);
    char err[512];
    CHECK(report_write_html(dir, &r, err, sizeof err) == 0, "html: %s", err);
    snprintf(page, sizeof page, "%s/index.html", dir);
    FILE *f = fopen(page, "r");
    char *html = xcalloc(1 << 20, 1);
    if (f) { size_t n = fread(html, 1, (1 << 20) - 1, f); html[n] = 0; fclose(f); }
    CHECK(strstr(html, "<span class=\"prec\">bf16</span>") && strstr(html, "precisions <b>fp32</b>, <b>bf16</b>"),
          "HTML verdict and header name the precision");
    free(html);
    report_free(&r);

    // the same file without the column (written by another tool): the labels still name the precisions
    drop_precision_column(path);
    build(path, &r);
    check_prec52(&r, "bet52 at fp32 and bf16, precisions from the labels");
    report_free(&r);
    plan_free(&p);
}

// ---- the base evaluated at fp32 only: norm at bf16 falls back on it, and the report says so

static void prec52_fallback(void) {
    Plan p;
    parse(prec52_fallback_spec, &p);
    char path[512];
    write_file(&p, prec_ppl, &prec52_values, path, sizeof path);
    Report r;
    build(path, &r);
    expect("fp32 norm, fp32 base", find(&r, "bet52", "norm[precision=fp32]"), VERDICT_LENIENT, "fp32");
    // 130 / 100: no improvement on any user
    expect("bf16 norm on the fp32 base", find(&r, "bet52", "norm[precision=bf16]"), VERDICT_CATASTROPHIC, "bf16");
    const RSection *s = section(&r, "bet52");
    CHECK(has_note(s, "norm[precision=bf16] (bf16) has no base evaluated at bf16") && has_note(s, "compared with none (fp32)"),
          "Bet 52 notes the fallback");
    CHECK(!has_note(s, "norm[precision=fp32] (fp32) has no base"), "no fallback note for fp32");
    const RTable *ft = table(section(&r, "formats"), "Format variants");
    CHECK(!strcmp(text_at(ft, "norm[precision=bf16]", "compared with base"), "none (fp32; no base at bf16)") &&
          !strcmp(text_at(ft, "norm[precision=fp32]", "compared with base"), "none"),
          "formats table: bf16 compared with the fp32 base (%s)", text_at(ft, "norm[precision=bf16]", "compared with base"));
    report_free(&r);
    plan_free(&p);
}

// ---- the bf16 base pending: bf16 waits for it rather than falling back on the fp32 base

static JobStatus bf16_none_pending(const Plan *p, const Job *j, const void *ctx) {
    (void)ctx;
    return fx_kind(p, j) == 0 && p->formats[j->ax[AX_FORMAT]].precision == MAT_PREC_BF16 ? JOB_PENDING : JOB_OK;
}

static void prec52_pending_base(void) {
    Plan p;
    parse(prec52_spec, &p);
    Fixture fx = fx_default_bytes;
    fx.ppl = prec_ppl;
    fx.status = bf16_none_pending;
    fx.ctx = &prec52_values;
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/prec%d.h5", tmpdir, n_files++);
    if (fx_write(path, &p, &fx, err, sizeof err) != 0) { CHECK(0, "write: %s", err); plan_free(&p); return; }
    Report r;
    build(path, &r);
    expect("fp32 unaffected", find(&r, "bet52", "norm[precision=fp32]"), VERDICT_LENIENT, "fp32");
    const RVerdict *v = find(&r, "bet52", "norm[precision=bf16]");
    CHECK(v && !v->judged && strstr(v->words, "none[precision=bf16] on base ternary (pending)"),
          "bf16 cannot be judged until its own base is evaluated: %s", v ? v->words : "(no verdict)");
    const RTable *jt = table(section(&r, "jobs"), "Jobs without results");
    CHECK(jt && jt->nrows == 1 && !strcmp(text_at(jt, cell(jt, 0, 0)->text ? cell(jt, 0, 0)->text : "", "precision"), "bf16"),
          "jobs table: the pending base's precision");
    report_free(&r);
    plan_free(&p);
}

// ---- Bet 37: norm paired with full at the same precision only

static void prec37(void) {
    Plan p;
    parse(prec37_spec, &p);
    char path[512];
    write_file(&p, prec_ppl, &prec37_values, path, sizeof path);
    Report r;
    build(path, &r);
    const RVerdict *v32 = find(&r, "bet37", "norm[precision=fp32] vs full[precision=fp32]");
    const RVerdict *v16 = find(&r, "bet37", "norm[precision=bf16] vs full[precision=bf16]");
    expect("bet37 fp32: 15/10", v32, VERDICT_STRICT, "fp32");
    expect("bet37 bf16: 40/4 = 10, not > 10", v16, VERDICT_NONE, "bf16");
    CHECK(number(v32, "max_ratio") == 1.5 && number(v16, "max_ratio") == 10, "ratios 1.5 and 10 (%g, %g)",
          number(v32, "max_ratio"), number(v16, "max_ratio"));
    CHECK(count_verdicts(&r, "bet37") == 2 && !find(&r, "bet37", "norm[precision=bf16] vs full[precision=fp32]") &&
          !find(&r, "bet37", "norm[precision=fp32] vs full[precision=bf16]"),
          "no cross-precision pairs (%d verdicts)", count_verdicts(&r, "bet37"));
    const RSection *s = section(&r, "bet37");
    const RTable *pt = s && s->nt ? s->t[0] : NULL;
    CHECK(pt && !strcmp(text_at(pt, "base fp: norm vs full", "fp32"), "STRICT") &&
          !strcmp(text_at(pt, "base fp: norm vs full", "bf16"), "none"), "Bet 37 at each precision");
    const RTable *tt = table(s, "Perplexity on cpython's held-out texts");
    CHECK(!strcmp(text_at(tt, "full[precision=bf16]", "precision"), "bf16") && num_at(tt, "full[precision=bf16]", "median") == 4,
          "per-text table: a precision column");
    report_free(&r);
    plan_free(&p);
}

// ---- a file from before the precision column reports as the same file with every job at fp32

static void old_file(void) {
    Plan p;
    char err[512];
    if (fx_load_spec(sweeps, "bet52", &p, err, sizeof err) != 0) { CHECK(0, "bet52 spec: %s", err); return; }
    B52 c = {{85, 80, 95}};   // 15% (exactly), 20%, 5%: 2 of 3 at >= 15%: LENIENT
    char with[512], without[512];
    write_file(&p, b52_ppl, &c, with, sizeof with);
    write_file(&p, b52_ppl, &c, without, sizeof without);
    drop_precision_column(without);
    Report a, b;
    build(with, &a);
    build(without, &b);
    expect("old bet52 file", find(&b, "bet52", "norm over the base alone"), VERDICT_LENIENT, "fp32");
    CHECK(b.n_precisions == 1 && !strcmp(b.precisions[0], "fp32"), "old file: all fp32");
    int nb = p.axis[AX_BASE].n;   // one verdict and one table per base (ternary, int4)
    CHECK(count_verdicts(&b, "bet52") == nb && section(&b, "bet52")->nt == nb, "old file: one verdict per base, no precision table");
    // everything but the path is the same as for the file with the column
    free(b.path);
    b.path = str_dup(a.path);
    char *ja = capture(&a, report_print_json), *jb = capture(&b, report_print_json);
    CHECK(strcmp(ja, jb) == 0, "old file's JSON report equals the fp32 file's");
    free(ja);
    free(jb);
    report_free(&a);
    report_free(&b);
    plan_free(&p);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: test_precision SWEEPS_DIR\n"); return 2; }
    sweeps = argv[1];
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sweep-report-precision-XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    prec52();
    prec52_fallback();
    prec52_pending_base();
    prec37();
    old_file();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return tl_finish("report.precision");
}
