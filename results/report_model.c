// The Report document: sections of tables, verdicts, notes and figures, built by the judges.
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#include "results/report.h"
#include "results/report_util.h"

const char *verdict_name(VerdictLevel v) {
    switch (v) {
    case VERDICT_STRICT: return "STRICT";
    case VERDICT_LENIENT: return "LENIENT";
    case VERDICT_CATASTROPHIC: return "CATASTROPHIC";
    default: return "none";
    }
}

// Grows an array of n elements of size sz by one zeroed element; returns the new element.
static void *grow(void **arr, int *n, size_t sz) {
    char *a = xmalloc(((size_t)*n + 1) * sz);
    if (*n) memcpy(a, *arr, (size_t)*n * sz);
    memset(a + (size_t)*n * sz, 0, sz);
    free(*arr);
    *arr = a;
    return a + (size_t)(*n)++ * sz;
}

RSection *report_add_section(Report *r, const char *key, const char *title, const char *criterion) {
    RSection *s = grow((void **)&r->s, &r->ns, sizeof *s);
    s->key = str_dup(key);
    s->title = str_dup(title);
    s->criterion = criterion ? str_dup(criterion) : NULL;
    return s;
}

RTable *section_add_table(RSection *s, const char *title, int ncols, const char *const *cols) {
    RTable **slot = grow((void **)&s->t, &s->nt, sizeof *slot);
    RTable *t = *slot = xcalloc(1, sizeof *t);
    t->title = str_dup(title);
    t->ncols = ncols;
    t->cols = xcalloc((size_t)ncols, sizeof(char *));
    for (int c = 0; c < ncols; c++) t->cols[c] = str_dup(cols[c]);
    return t;
}

void table_add_row(RTable *t) {
    if (t->nrows == t->caprows) {
        t->caprows = t->caprows ? 2 * t->caprows : 8;
        RCell *c = xcalloc((size_t)t->caprows * (size_t)t->ncols, sizeof *c);
        if (t->nrows) memcpy(c, t->cells, (size_t)t->nrows * (size_t)t->ncols * sizeof *c);
        free(t->cells);
        t->cells = c;
    }
    RCell *row = t->cells + (size_t)t->nrows * (size_t)t->ncols;
    for (int c = 0; c < t->ncols; c++) row[c] = (RCell){NULL, NAN, 0};
    t->nrows++;
}

static RCell *last_cell(RTable *t, int col) {
    if (t->nrows == 0 || col < 0 || col >= t->ncols) return NULL;
    RCell *c = &t->cells[(size_t)(t->nrows - 1) * (size_t)t->ncols + (size_t)col];
    free(c->text);
    c->text = NULL;
    return c;
}

void table_text(RTable *t, int col, const char *fmt, ...) {
    RCell *c = last_cell(t, col);
    if (!c) return;
    va_list ap;
    va_start(ap, fmt);
    c->text = str_vprintf(fmt, ap);
    va_end(ap);
    c->is_num = 0;
}

void table_num(RTable *t, int col, double v, NumStyle style) {
    RCell *c = last_cell(t, col);
    if (!c) return;
    char buf[64];
    if (style == NUM_INT && !isnan(v)) snprintf(buf, sizeof buf, "%.0f", v);
    else if (style == NUM_PCT) fmt_pct(buf, sizeof buf, v);
    else fmt_num(buf, sizeof buf, v);
    c->text = str_dup(buf);
    c->num = v;
    c->is_num = 1;
}

RVerdict *section_add_verdict(RSection *s, const char *scope) {
    RVerdict *v = grow((void **)&s->v, &s->nv, sizeof *v);
    v->scope = str_dup(scope);
    v->judged = 1;
    v->base = v->format = -1;
    return v;
}

void verdict_number(RVerdict *v, const char *name, double value) {
    if (v->n_numbers == REPORT_MAX_NUMBERS) return;
    RNumber *n = &v->numbers[v->n_numbers++];
    snprintf(n->name, sizeof n->name, "%s", name);
    n->value = value;
}

void verdict_precision(RVerdict *v, const char *precision) {
    free(v->precision);
    v->precision = precision ? str_dup(precision) : NULL;
}

void section_note(RSection *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = str_vprintf(fmt, ap);
    va_end(ap);
    char **slot = grow((void **)&s->notes, &s->nn, sizeof *slot);
    *slot = text;
}

void section_figure(RSection *s, const char *name, const char *title, char *svg) {
    RFigure *f = grow((void **)&s->fig, &s->nf, sizeof *f);
    f->name = str_dup(name);
    f->title = str_dup(title);
    f->svg = svg;
}

static void table_free(RTable *t) {
    for (size_t i = 0; i < (size_t)t->nrows * (size_t)t->ncols; i++) free(t->cells[i].text);
    for (int c = 0; c < t->ncols; c++) free(t->cols[c]);
    free(t->cells);
    free(t->cols);
    free(t->title);
    free(t);
}

void report_free(Report *r) {
    for (int i = 0; i < r->ns; i++) {
        RSection *s = &r->s[i];
        for (int k = 0; k < s->nv; k++) {
            free(s->v[k].scope); free(s->v[k].precision); free(s->v[k].decided_by); free(s->v[k].words);
        }
        for (int k = 0; k < s->nt; k++) table_free(s->t[k]);
        for (int k = 0; k < s->nn; k++) free(s->notes[k]);
        for (int k = 0; k < s->nf; k++) { free(s->fig[k].name); free(s->fig[k].title); free(s->fig[k].svg); }
        free(s->v); free(s->t); free(s->notes); free(s->fig);
        free(s->key); free(s->title); free(s->criterion);
    }
    free(r->s);
    for (int k = 0; k < r->n_precisions; k++) free(r->precisions[k]);
    free(r->precisions);
    free(r->path); free(r->protocol); free(r->file_protocol);
    free(r->spec_hash); free(r->tool_version); free(r->created_by);
    memset(r, 0, sizeof *r);
}
