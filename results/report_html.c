// --html DIR: one self-contained page (tables, verdicts and the plots inline) plus each plot as an
// SVG file of its own, for papers and slides.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine/util.h"
#include "results/report.h"
#include "results/report_util.h"

// Writes text to path through path.tmp and a rename, so a reader never sees half a page.
static int write_file(const char *path, const char *text, char *err, size_t errlen) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) { snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno)); return -1; }
    size_t n = strlen(text);
    int bad = fwrite(text, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void safe_name(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s", name);
    for (char *s = out; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
            *s = '_';
}

static const char *badge(VerdictLevel v, int judged) {
    if (!judged) return "na";
    return v == VERDICT_STRICT ? "strict" : v == VERDICT_LENIENT ? "lenient" : v == VERDICT_CATASTROPHIC ? "cat" : "none";
}

static void verdict_item(Buf *b, const RVerdict *v) {
    buf_printf(b, "<li><span class=\"badge %s\">%s</span> <b>", badge(v->level, v->judged),
               v->judged ? verdict_name(v->level) : "none (cannot be judged)");
    buf_put_escaped(b, v->scope);
    buf_puts(b, "</b>");
    if (v->precision) { buf_puts(b, " <span class=\"prec\">"); buf_put_escaped(b, v->precision); buf_puts(b, "</span>"); }
    if (v->provisional) buf_puts(b, " <i>(provisional)</i>");
    buf_puts(b, ": ");
    buf_put_escaped(b, v->words);
    if (v->decided_by[0]) { buf_puts(b, "<div class=\"decided\">decided by: "); buf_put_escaped(b, v->decided_by); buf_puts(b, "</div>"); }
    buf_puts(b, "</li>\n");
}

static void table_html(Buf *b, const RTable *t) {
    if (t->bulk) {
        buf_puts(b, "<p class=\"note\"><b>");
        buf_put_escaped(b, t->title);
        buf_printf(b, "</b>: %d rows x %d columns, one per user: too many for a page; summaries beside it, every cell "
                      "with <code>--format json</code> or <code>csv</code>.</p>\n", t->nrows, t->ncols);
        return;
    }
    int rows = t->text_limit && t->nrows > t->text_limit ? t->text_limit : t->nrows;
    buf_puts(b, "<table>\n<caption>");
    buf_put_escaped(b, t->title);
    buf_puts(b, "</caption>\n<tr>");
    for (int c = 0; c < t->ncols; c++) { buf_puts(b, "<th>"); buf_put_escaped(b, t->cols[c]); buf_puts(b, "</th>"); }
    buf_puts(b, "</tr>\n");
    for (int i = 0; i < rows; i++) {
        buf_puts(b, "<tr>");
        for (int c = 0; c < t->ncols; c++) {
            const RCell *cell = &t->cells[(size_t)i * t->ncols + c];
            buf_puts(b, cell->is_num ? "<td class=\"n\">" : "<td>");
            buf_put_escaped(b, cell->text);
            buf_puts(b, "</td>");
        }
        buf_puts(b, "</tr>\n");
    }
    buf_puts(b, "</table>\n");
    if (rows < t->nrows)
        buf_printf(b, "<p class=\"note\">... %d more rows (--format json or csv lists every row)</p>\n", t->nrows - rows);
}

static const char *const style =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:24px;color:#111;max-width:1200px}"
    "h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}"
    ".meta{color:#444}blockquote{margin:8px 0;padding:6px 12px;background:#f4f6fa;border-left:4px solid #0072b2}"
    ".note{color:#333;font-size:13px}.decided{color:#444;font-size:13px;margin:2px 0 8px 0}"
    "table{border-collapse:collapse;margin:12px 0;font-size:13px}caption{text-align:left;font-weight:bold;padding:4px 0}"
    "th,td{border:1px solid #ccc;padding:3px 8px}th{background:#eef1f5}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".badge{display:inline-block;padding:2px 8px;border-radius:4px;color:#fff;font-weight:bold;font-size:12px}"
    ".strict{background:#1b7f3b}.lenient{background:#c77c00}.cat{background:#b3261e}.none{background:#6b6b6b}.na{background:#999}"
    ".prec{display:inline-block;padding:0 6px;border:1px solid #0072b2;border-radius:4px;color:#0072b2;font-size:12px}"
    "figure{margin:16px 0}figcaption{font-size:13px;color:#444}ul.verdicts{list-style:none;padding-left:0}";

int report_write_html(const char *dir, const Report *r, char *err, size_t errlen) {
    if (make_dirs(dir)) return errf(err, errlen, "%s: cannot create directory: %s", dir, strerror(errno));
    Buf b = {0};
    buf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>sweep report: ");
    buf_put_escaped(&b, r->path);
    buf_printf(&b, "</title><style>%s</style></head>\n<body>\n<h1>sweep report: ", style);
    buf_put_escaped(&b, r->path);
    buf_puts(&b, "</h1>\n<p class=\"meta\">protocol <b>");
    buf_put_escaped(&b, r->protocol[0] ? r->protocol : "(none)");
    buf_puts(&b, "</b>");
    if (r->forced) { buf_puts(&b, " (--protocol; the file says "); buf_put_escaped(&b, r->file_protocol); buf_puts(&b, ")"); }
    buf_puts(&b, " &middot; spec hash ");
    buf_put_escaped(&b, r->spec_hash);
    buf_puts(&b, " &middot; ");
    buf_put_escaped(&b, r->tool_version);
    buf_printf(&b, " &middot; %d jobs (", r->n_jobs);
    int first = 1;
    for (int k = 0; k < JOB_STATUS_COUNT; k++)
        if (r->by_status[k]) { buf_printf(&b, "%s%d %s", first ? "" : ", ", r->by_status[k], job_status_name((JobStatus)k)); first = 0; }
    buf_printf(&b, ")%s &middot; precision%s ", r->complete ? "" : " &middot; <b>not complete</b>", r->n_precisions > 1 ? "s" : "");
    for (int k = 0; k < r->n_precisions; k++) {
        buf_puts(&b, k ? ", <b>" : "<b>");
        buf_put_escaped(&b, r->precisions[k]);
        buf_puts(&b, "</b>");
    }
    buf_puts(&b, "</p>\n");
    int nv = 0;
    for (int i = 0; i < r->ns; i++) nv += r->s[i].nv;
    if (nv) {
        buf_puts(&b, "<h2>Verdicts</h2>\n<ul class=\"verdicts\">\n");
        for (int i = 0; i < r->ns; i++)
            for (int k = 0; k < r->s[i].nv; k++) verdict_item(&b, &r->s[i].v[k]);
        buf_puts(&b, "</ul>\n");
    }
    for (int i = 0; i < r->ns; i++) {
        const RSection *s = &r->s[i];
        buf_puts(&b, "<h2>");
        buf_put_escaped(&b, s->title);
        buf_puts(&b, "</h2>\n");
        if (s->criterion) { buf_puts(&b, "<blockquote>"); buf_put_escaped(&b, s->criterion); buf_puts(&b, "</blockquote>\n"); }
        for (int k = 0; k < s->nn; k++) { buf_puts(&b, "<p class=\"note\">"); buf_put_escaped(&b, s->notes[k]); buf_puts(&b, "</p>\n"); }
        for (int k = 0; k < s->nt; k++) table_html(&b, s->t[k]);
        for (int k = 0; k < s->nf; k++) {
            char name[256], path[1400];
            safe_name(name, sizeof name, s->fig[k].name);
            snprintf(path, sizeof path, "%s/%s.svg", dir, name);
            if (write_file(path, s->fig[k].svg, err, errlen) != 0) { buf_free(&b); return -1; }
            buf_puts(&b, "<figure>\n");
            buf_puts(&b, s->fig[k].svg);
            buf_printf(&b, "<figcaption>%s.svg: ", name);
            buf_put_escaped(&b, s->fig[k].title);
            buf_puts(&b, "</figcaption>\n</figure>\n");
        }
    }
    buf_puts(&b, "</body></html>\n");
    char path[1200];
    snprintf(path, sizeof path, "%s/index.html", dir);
    int rc = write_file(path, b.s, err, errlen);
    buf_free(&b);
    return rc;
}
