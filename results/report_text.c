// The report as plain text (aligned columns, for a terminal) and as markdown (for a lab notebook or
// an issue): the verdicts first, then each section's criterion, tables and notes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#include "results/report.h"
#include "results/report_util.h"

static void header_lines(FILE *f, const Report *r, const char *lead) {
    fprintf(f, "%sprotocol: %s", lead, r->protocol[0] ? r->protocol : "(none)");
    if (r->forced) fprintf(f, " (--protocol; the file says %s)", r->file_protocol[0] ? r->file_protocol : "nothing");
    else fprintf(f, " (from the file)");
    fprintf(f, "\n%sspec hash %s, written by %s, %s\n", lead, r->spec_hash, r->created_by, r->tool_version);
    fprintf(f, "%sjobs: %d (", lead, r->n_jobs);
    int first = 1;
    for (int k = 0; k < JOB_STATUS_COUNT; k++)
        if (r->by_status[k]) {
            fprintf(f, "%s%d %s", first ? "" : ", ", r->by_status[k], job_status_name((JobStatus)k));
            first = 0;
        }
    fprintf(f, ")%s\n", r->complete ? "" : r->by_status[JOB_PENDING] ? ": the sweep is not finished" : ": some jobs failed");
    fprintf(f, "%sprecision%s: ", lead, r->n_precisions > 1 ? "s" : "");
    for (int k = 0; k < r->n_precisions; k++) fprintf(f, "%s%s", k ? ", " : "", r->precisions[k]);
    fprintf(f, "%s\n", r->n_precisions > 1 ? " (each format judged against the base and the formats at its own precision)" : "");
}

static void verdict_line(FILE *f, const RSection *s, const RVerdict *v, int markdown) {
    const char *level = v->judged ? verdict_name(v->level) : "none (cannot be judged)";
    char prec[40] = "";
    if (v->precision) snprintf(prec, sizeof prec, "%s precision %s", markdown ? " at" : ",", v->precision);
    if (markdown)
        fprintf(f, "- **%s** %s%s%s: %s.%s%s\n", level, v->scope, prec, v->provisional ? " (provisional)" : "", v->words,
                v->decided_by[0] ? " Decided by: " : "", v->decided_by);
    else
        fprintf(f, "  [%s] %s: %s%s%s\n      %s\n%s%s%s", s->key, v->scope, level, v->provisional ? " (provisional)" : "",
                prec, v->words, v->decided_by[0] ? "      decided by: " : "", v->decided_by, v->decided_by[0] ? "\n" : "");
}

static int count_verdicts(const Report *r) {
    int n = 0;
    for (int i = 0; i < r->ns; i++) n += r->s[i].nv;
    return n;
}

static void text_table(FILE *f, const RTable *t) {
    if (t->bulk) {
        fprintf(f, "%s\n  (%d rows x %d columns, one per user: too many to print; summaries beside it, every cell "
                   "with --format json or csv)\n\n", t->title, t->nrows, t->ncols);
        return;
    }
    size_t *w = xcalloc((size_t)t->ncols, sizeof *w);
    int rows = t->text_limit && t->nrows > t->text_limit ? t->text_limit : t->nrows;
    for (int c = 0; c < t->ncols; c++) w[c] = utf8_width(t->cols[c]);
    for (int i = 0; i < rows; i++)
        for (int c = 0; c < t->ncols; c++) {
            const RCell *cell = &t->cells[(size_t)i * t->ncols + c];
            size_t cw = utf8_width(cell->text ? cell->text : "");
            if (cw > w[c]) w[c] = cw;
        }
    fprintf(f, "%s\n", t->title);
    for (int c = 0; c < t->ncols; c++)
        fprintf(f, "  %s%*s", t->cols[c], c == t->ncols - 1 ? 0 : (int)(w[c] - utf8_width(t->cols[c])), "");
    fprintf(f, "\n");
    for (int i = 0; i < rows; i++) {
        for (int c = 0; c < t->ncols; c++) {
            const RCell *cell = &t->cells[(size_t)i * t->ncols + c];
            const char *s = cell->text ? cell->text : "";
            int pad = (int)(w[c] - utf8_width(s));
            if (cell->is_num) fprintf(f, "  %*s%s", pad, "", s);
            else fprintf(f, "  %s%*s", s, c == t->ncols - 1 ? 0 : pad, "");
        }
        fprintf(f, "\n");
    }
    if (rows < t->nrows) fprintf(f, "  ... %d more rows (--format json or csv lists every row)\n", t->nrows - rows);
    fprintf(f, "\n");
    free(w);
}

void report_print_text(FILE *f, const Report *r) {
    fprintf(f, "sweep report: %s\n", r->path);
    header_lines(f, r, "");
    if (count_verdicts(r)) {
        fprintf(f, "\nVERDICTS\n");
        for (int i = 0; i < r->ns; i++)
            for (int k = 0; k < r->s[i].nv; k++) verdict_line(f, &r->s[i], &r->s[i].v[k], 0);
    }
    for (int i = 0; i < r->ns; i++) {
        const RSection *s = &r->s[i];
        fprintf(f, "\n== %s ==\n", s->title);
        if (s->criterion) fprintf(f, "criterion: %s\n", s->criterion);
        for (int k = 0; k < s->nn; k++) fprintf(f, "note: %s\n", s->notes[k]);
        fprintf(f, "\n");
        for (int k = 0; k < s->nt; k++) text_table(f, s->t[k]);
    }
}

static void md_cell(FILE *f, const char *s) {
    for (; s && *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else if (*s == '\n') fputc(' ', f);
        else fputc(*s, f);
    }
}

void report_print_markdown(FILE *f, const Report *r) {
    fprintf(f, "# sweep report: `%s`\n\n", r->path);
    header_lines(f, r, "- ");
    if (count_verdicts(r)) {
        fprintf(f, "\n## Verdicts\n\n");
        for (int i = 0; i < r->ns; i++)
            for (int k = 0; k < r->s[i].nv; k++) verdict_line(f, &r->s[i], &r->s[i].v[k], 1);
    }
    for (int i = 0; i < r->ns; i++) {
        const RSection *s = &r->s[i];
        fprintf(f, "\n## %s\n\n", s->title);
        if (s->criterion) fprintf(f, "> %s\n\n", s->criterion);
        for (int k = 0; k < s->nn; k++) fprintf(f, "%s\n\n", s->notes[k]);
        for (int k = 0; k < s->nt; k++) {
            const RTable *t = s->t[k];
            if (t->bulk) {
                fprintf(f, "**%s**\n\n(%d rows x %d columns, one per user: too many to print; summaries beside it, "
                           "every cell with `--format json` or `csv`)\n\n", t->title, t->nrows, t->ncols);
                continue;
            }
            int rows = t->text_limit && t->nrows > t->text_limit ? t->text_limit : t->nrows;
            fprintf(f, "**%s**\n\n|", t->title);
            for (int c = 0; c < t->ncols; c++) { fputc(' ', f); md_cell(f, t->cols[c]); fputs(" |", f); }
            fprintf(f, "\n|");
            for (int c = 0; c < t->ncols; c++) fputs(t->cells && rows && t->cells[c].is_num ? " ---: |" : " --- |", f);
            fprintf(f, "\n");
            for (int i2 = 0; i2 < rows; i2++) {
                fputc('|', f);
                for (int c = 0; c < t->ncols; c++) {
                    fputc(' ', f);
                    md_cell(f, t->cells[(size_t)i2 * t->ncols + c].text);
                    fputs(" |", f);
                }
                fprintf(f, "\n");
            }
            if (rows < t->nrows) fprintf(f, "\n... %d more rows (--format json or csv lists every row)\n", t->nrows - rows);
            fprintf(f, "\n");
        }
    }
}
