// Compute precision in the report: the list of format variants with the precision that computed
// their numbers, and, where a sweep ran several precisions, each verdict at each precision side by
// side ("does Bet 37's verdict hold at bf16 too?").
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adapter.h"
#include "engine/util.h"
#include "results/report_judge.h"
#include "results/report_util.h"

void report_formats_section(const ReportData *d, Report *r) {
    static const char *const kinds[] = {"none", "norm", "lora", "full", "steer"};
    RSection *sec = report_add_section(r, "formats", "Format variants and compute precision", NULL);
    section_note(sec, "precision is what computed a format's numbers (spec field precision, sweep run --precision), as "
                      "each job recorded it in the results file; files written before the column existed computed "
                      "in fp32. Each format is compared with the base (none) and the other formats evaluated at its "
                      "own precision.");
    if (d->n_prec > 1) {
        Buf b = {0};
        for (int k = 0; k < d->n_prec; k++) buf_printf(&b, "%s%s", k ? ", " : "", d->precs[k]);
        section_note(sec, "This sweep computed at %d precisions (%s): every verdict is given per format variant, so "
                          "each precision is judged on its own formats and its own base.", d->n_prec, b.s);
        buf_free(&b);
    }
    if (d->prec_mixed)
        section_note(sec, "Some format's jobs recorded different precisions (a file sweep did not write): the table "
                          "shows the first job's.");
    static const char *const cols[] = {"format", "kind", "precision", "compared with base", "jobs ok"};
    RTable *t = section_add_table(sec, "Format variants", 5, cols);
    for (int f = 0; f < d->nf; f++) {
        int ok = 0, all = 0;
        for (int j = 0; j < d->rf.n_jobs; j++)
            if (d->rf.jobs[j].ax[AX_FORMAT] == f) { all++; ok += rd_job_ok(d, j); }
        table_add_row(t);
        table_text(t, 0, "%s", fmt_label(d, AX_FORMAT, f));
        table_text(t, 1, "%s", d->fkind[f] >= 0 && d->fkind[f] < 5 ? kinds[d->fkind[f]] : "?");
        table_text(t, 2, "%s", rd_precision(d, f));
        int g = d->base_of[f];
        if (rd_is_none(d, f)) table_text(t, 3, "-");
        else if (g < 0) table_text(t, 3, "n/a (no none format)");
        else if (rd_base_cross(d, f)) table_text(t, 3, "%s (%s; no base at %s)", fmt_label(d, AX_FORMAT, g), rd_precision(d, g),
                                                 rd_precision(d, f));
        else table_text(t, 3, "%s", fmt_label(d, AX_FORMAT, g));
        table_text(t, 4, "%d/%d", ok, all);
    }
    for (int f = 0; f < d->nf; f++)
        if (!rd_is_none(d, f)) note_base(d, sec, f);
}

// "base fp: norm[lr=0.001,precision=bf16] vs full[precision=bf16]" -> "base fp: norm[lr=0.001] vs full":
// the scope that the same comparison has at every precision.
static char *strip_precision(const char *scope) {
    Buf b = {0};
    const char *s = scope;
    while (*s) {
        const char *open = strchr(s, '['), *close = open ? strchr(open, ']') : NULL;
        if (!open || !close) { buf_puts(&b, s); break; }
        buf_putn(&b, s, (size_t)(open - s));
        Buf items = {0};
        for (const char *it = open + 1; it < close;) {
            size_t n = strcspn(it, ",]");
            if (strncmp(it, "precision=", 10) != 0) {
                if (items.len) buf_puts(&items, ",");
                buf_putn(&items, it, n);
            }
            it += n + (it[n] == ',');
        }
        if (items.len) buf_printf(&b, "[%s]", items.s);
        buf_free(&items);
        s = close + 1;
    }
    return buf_take(&b);
}

static void precision_table(const ReportData *d, RSection *sec) {
    int *present = xcalloc((size_t)d->n_prec + 1, sizeof(int)), *col_of = xcalloc((size_t)d->n_prec + 1, sizeof(int));
    int np = 0;
    for (int k = 0; k < sec->nv; k++)
        for (int p = 0; p < d->n_prec; p++)
            if (sec->v[k].precision && strcmp(sec->v[k].precision, d->precs[p]) == 0) present[p] = 1;
    for (int p = 0; p < d->n_prec; p++) np += present[p];
    if (np < 2) { free(present); free(col_of); return; }
    const char **cols = xcalloc((size_t)np + 1, sizeof *cols);
    cols[0] = "comparison";
    for (int p = 0, c = 1; p < d->n_prec; p++) {
        col_of[p] = present[p] ? c : -1;
        if (present[p]) cols[c++] = d->precs[p];
    }
    char **scopes = xcalloc((size_t)sec->nv + 1, sizeof *scopes);
    for (int k = 0; k < sec->nv; k++) scopes[k] = strip_precision(sec->v[k].scope);
    RTable *t = section_add_table(sec, "Verdict at each precision (each judged on the formats and the base evaluated "
                                       "at that precision)", np + 1, cols);
    for (int k = 0; k < sec->nv; k++) {
        int first = 1;
        for (int q = 0; q < k && first; q++) first = strcmp(scopes[q], scopes[k]) != 0;
        if (!first) continue;
        table_add_row(t);
        table_text(t, 0, "%s", scopes[k]);
        for (int c = 1; c <= np; c++) table_text(t, c, "-");
        for (int q = k; q < sec->nv; q++) {
            const RVerdict *v = &sec->v[q];
            if (strcmp(scopes[q], scopes[k]) != 0 || !v->precision) continue;
            for (int p = 0; p < d->n_prec; p++)
                if (col_of[p] > 0 && strcmp(v->precision, d->precs[p]) == 0)
                    table_text(t, col_of[p], "%s%s", v->judged ? verdict_name(v->level) : "cannot be judged",
                               v->judged && v->provisional ? " (provisional)" : "");
        }
    }
    // the answer to "does it hold at the other precision too?" comes before the tables behind it
    memmove(sec->t + 1, sec->t, (size_t)(sec->nt - 1) * sizeof *sec->t);
    sec->t[0] = t;
    section_note(sec, "Verdicts at %d precisions: each format variant is compared with the formats and the base "
                      "evaluated at its own precision; the first table puts each comparison's verdicts side by side.", np);
    for (int k = 0; k < sec->nv; k++) free(scopes[k]);
    free(scopes);
    free(cols);
    free(present);
    free(col_of);
}

void report_precision_tables(const ReportData *d, Report *r) {
    if (d->n_prec < 2) return;
    for (int i = 0; i < r->ns; i++)
        if (r->s[i].nv) precision_table(d, &r->s[i]);
}
