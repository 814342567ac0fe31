// The report for programs: JSON (one object, numbers as numbers, null for a missing value) and CSV
// (every table cell and verdict field as one long-format row: section,table,row,column,value).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "results/report.h"

static cJSON *number_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *verdict_json(const RSection *s, const RVerdict *v) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "section", s->key);
    cJSON_AddStringToObject(o, "scope", v->scope);
    if (v->precision) cJSON_AddStringToObject(o, "precision", v->precision);
    else cJSON_AddNullToObject(o, "precision");
    cJSON_AddStringToObject(o, "verdict", verdict_name(v->level));
    cJSON_AddBoolToObject(o, "judged", v->judged);
    cJSON_AddBoolToObject(o, "provisional", v->provisional);
    cJSON_AddStringToObject(o, "words", v->words);
    cJSON_AddStringToObject(o, "decided_by", v->decided_by);
    cJSON *n = cJSON_AddObjectToObject(o, "numbers");
    for (int k = 0; k < v->n_numbers; k++) cJSON_AddItemToObject(n, v->numbers[k].name, number_or_null(v->numbers[k].value));
    return o;
}

void report_print_json(FILE *f, const Report *r) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "file", r->path);
    cJSON_AddStringToObject(root, "protocol", r->protocol);
    cJSON_AddStringToObject(root, "file_protocol", r->file_protocol);
    cJSON_AddBoolToObject(root, "forced", r->forced);
    cJSON_AddStringToObject(root, "spec_hash", r->spec_hash);
    cJSON_AddStringToObject(root, "tool_version", r->tool_version);
    cJSON_AddStringToObject(root, "created_by", r->created_by);
    cJSON_AddBoolToObject(root, "complete", r->complete);
    cJSON *precs = cJSON_AddArrayToObject(root, "precisions");
    for (int k = 0; k < r->n_precisions; k++) cJSON_AddItemToArray(precs, cJSON_CreateString(r->precisions[k]));
    cJSON *jobs = cJSON_AddObjectToObject(root, "jobs");
    cJSON_AddNumberToObject(jobs, "total", r->n_jobs);
    for (int k = 0; k < JOB_STATUS_COUNT; k++) cJSON_AddNumberToObject(jobs, job_status_name((JobStatus)k), r->by_status[k]);
    cJSON *verdicts = cJSON_AddArrayToObject(root, "verdicts");
    cJSON *sections = cJSON_AddArrayToObject(root, "sections");
    for (int i = 0; i < r->ns; i++) {
        const RSection *s = &r->s[i];
        for (int k = 0; k < s->nv; k++) cJSON_AddItemToArray(verdicts, verdict_json(s, &s->v[k]));
        cJSON *so = cJSON_CreateObject();
        cJSON_AddStringToObject(so, "key", s->key);
        cJSON_AddStringToObject(so, "title", s->title);
        if (s->criterion) cJSON_AddStringToObject(so, "criterion", s->criterion);
        else cJSON_AddNullToObject(so, "criterion");
        cJSON *notes = cJSON_AddArrayToObject(so, "notes");
        for (int k = 0; k < s->nn; k++) cJSON_AddItemToArray(notes, cJSON_CreateString(s->notes[k]));
        cJSON *tables = cJSON_AddArrayToObject(so, "tables");
        for (int k = 0; k < s->nt; k++) {
            const RTable *t = s->t[k];
            cJSON *to = cJSON_CreateObject();
            cJSON_AddStringToObject(to, "title", t->title);
            cJSON *cols = cJSON_AddArrayToObject(to, "columns");
            for (int c = 0; c < t->ncols; c++) cJSON_AddItemToArray(cols, cJSON_CreateString(t->cols[c]));
            cJSON *rows = cJSON_AddArrayToObject(to, "rows");
            for (int i2 = 0; i2 < t->nrows; i2++) {
                cJSON *row = cJSON_CreateArray();
                for (int c = 0; c < t->ncols; c++) {
                    const RCell *cell = &t->cells[(size_t)i2 * t->ncols + c];
                    cJSON_AddItemToArray(row, cell->is_num ? number_or_null(cell->num)
                                                           : cJSON_CreateString(cell->text ? cell->text : ""));
                }
                cJSON_AddItemToArray(rows, row);
            }
            cJSON_AddItemToArray(tables, to);
        }
        cJSON *figs = cJSON_AddArrayToObject(so, "figures");
        for (int k = 0; k < s->nf; k++) cJSON_AddItemToArray(figs, cJSON_CreateString(s->fig[k].name));
        cJSON_AddItemToArray(sections, so);
    }
    char *text = cJSON_Print(root);
    if (!text) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
    fprintf(f, "%s\n", text);
    free(text);
    cJSON_Delete(root);
}

static void csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n\r")) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_row(FILE *f, const char *section, const char *table, const char *row, const char *col, const char *value) {
    csv_field(f, section); fputc(',', f);
    csv_field(f, table); fputc(',', f);
    csv_field(f, row); fputc(',', f);
    csv_field(f, col); fputc(',', f);
    csv_field(f, value); fputc('\n', f);
}

static void csv_num(char *out, size_t n, double v) {
    if (isfinite(v)) snprintf(out, n, "%.17g", v);
    else out[0] = 0;
}

void report_print_csv(FILE *f, const Report *r) {
    fprintf(f, "section,table,row,column,value\n");
    char buf[64];
    for (int i = 0; i < r->ns; i++) {
        const RSection *s = &r->s[i];
        for (int k = 0; k < s->nv; k++) {
            const RVerdict *v = &s->v[k];
            csv_row(f, s->key, "verdict", v->scope, "verdict", verdict_name(v->level));
            csv_row(f, s->key, "verdict", v->scope, "judged", v->judged ? "true" : "false");
            csv_row(f, s->key, "verdict", v->scope, "provisional", v->provisional ? "true" : "false");
            csv_row(f, s->key, "verdict", v->scope, "precision", v->precision ? v->precision : "");
            csv_row(f, s->key, "verdict", v->scope, "decided_by", v->decided_by);
            for (int q = 0; q < v->n_numbers; q++) {
                csv_num(buf, sizeof buf, v->numbers[q].value);
                csv_row(f, s->key, "verdict", v->scope, v->numbers[q].name, buf);
            }
        }
        for (int k = 0; k < s->nt; k++) {
            const RTable *t = s->t[k];
            for (int i2 = 0; i2 < t->nrows; i2++) {
                char row[16];
                snprintf(row, sizeof row, "%d", i2 + 1);
                for (int c = 0; c < t->ncols; c++) {
                    const RCell *cell = &t->cells[(size_t)i2 * t->ncols + c];
                    if (cell->is_num) csv_num(buf, sizeof buf, cell->num);
                    csv_row(f, s->key, t->title, row, t->cols[c], cell->is_num ? buf : cell->text ? cell->text : "");
                }
            }
        }
    }
}
