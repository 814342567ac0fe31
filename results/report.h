// `sweep report`: a results file (results/h5write.h) turned into the tables, verdicts and plots each
// protocol pre-registered (../shared/DESIGN.md, results/REPORT.md). report_build judges the file and
// fills a Report, a plain document of sections; the renderers print it as text, markdown, JSON, CSV
// or one HTML page. Nothing here exits: errors come back as one line naming the file or option.
#pragma once
#include <stddef.h>
#include <stdio.h>
#include "results/result.h"

typedef enum { VERDICT_NONE = 0, VERDICT_STRICT, VERDICT_LENIENT, VERDICT_CATASTROPHIC } VerdictLevel;
const char *verdict_name(VerdictLevel v);   // "STRICT", "LENIENT", "CATASTROPHIC", "none"

// How a numeric cell prints; the number itself goes to JSON and CSV unchanged.
typedef enum { NUM_G = 0, NUM_INT, NUM_PCT } NumStyle;

typedef struct {
    char *text;
    double num;             // NaN: no value (JSON null)
    int is_num;
} RCell;

typedef struct {
    char *title;
    int ncols;
    char **cols;
    int nrows, caprows;
    RCell *cells;           // [nrows][ncols]
    int text_limit;         // text and markdown print at most this many rows (0: all); JSON/CSV print all
    int bulk;               // a row or column per user beyond REPORT_FULL_USERS: text, markdown and HTML
                            // name it and its size only (summaries stand beside it); JSON/CSV print every cell
} RTable;

// Up to this many users the confusion matrices print in full in text, markdown and HTML; beyond it
// those print summaries (margin quantiles and histogram, the worst and best users, one aggregated
// heatmap picture) and JSON/CSV still give every cell.
#define REPORT_FULL_USERS 30
// Users listed in the worst and best tables beyond REPORT_FULL_USERS.
#define REPORT_EXTREME_USERS 5
// The aggregated heatmap's largest side in pixels (blocks of users beyond it).
#define REPORT_HEATMAP_SIDE 200

typedef struct {
    char name[40];
    double value;
} RNumber;

#define REPORT_MAX_NUMBERS 16

typedef struct {
    char *scope;            // what was judged: "base fp: norm vs full"
    char *precision;        // the judged format's compute precision ("fp32", "bf16", ...); NULL: none applies
    VerdictLevel level;
    int judged;             // 0: the file cannot decide it (a format, condition or text is not in the grid)
    int provisional;        // judged on the jobs that exist while others are pending or failed
    char *decided_by;       // the deciding numbers, one line
    char *words;            // the verdict in words, "none" explained
    int n_numbers;
    RNumber numbers[REPORT_MAX_NUMBERS];
    int base, format;       // the judged base and format (axis indices), -1 when the verdict names none
} RVerdict;

typedef struct {
    char *name;             // file name stem: "confusion-fp-norm"
    char *title;
    char *svg;
} RFigure;

typedef struct {
    char *key;              // "bet37", "confusion", "summary", "jobs", ...
    char *title;
    char *criterion;        // as pre-registered, or NULL
    int nv;
    RVerdict *v;
    int nt;
    RTable **t;
    int nn;
    char **notes;
    int nf;
    RFigure *fig;
} RSection;

typedef struct {
    char *path;
    char *protocol;         // the protocol judged
    char *file_protocol;    // the file's root attribute
    int forced;             // --protocol overrode the file's
    char *spec_hash, *tool_version, *created_by;
    int n_jobs;
    int by_status[JOB_STATUS_COUNT];
    int complete;           // every planned job ok
    int n_precisions;
    char **precisions;      // the compute precisions of the file's formats, fp32 first
    int ns;
    RSection *s;
} Report;

// The protocols report_build judges; NULL-terminated.
extern const char *const report_protocols[];

// Reads path and judges it as protocol ("auto" or NULL: the file's own; a file whose protocol is
// not one of report_protocols gets the tables and plots without a verdict). figures: also draw the
// SVG plots. 0 ok; -1 with one line in err (unreadable or not a results file, unknown protocol).
int report_build(const char *path, const char *protocol, int figures, Report *r, char *err, size_t errlen);
void report_free(Report *r);

void report_print_text(FILE *f, const Report *r);
void report_print_markdown(FILE *f, const Report *r);
void report_print_json(FILE *f, const Report *r);
void report_print_csv(FILE *f, const Report *r);
// Writes dir/index.html (tables, verdicts, plots inline) and each plot as dir/<name>.svg, creating
// dir if needed. 0 ok; -1 with one line naming the path.
int report_write_html(const char *dir, const Report *r, char *err, size_t errlen);

// Building a Report (for the judges and tests).
RSection *report_add_section(Report *r, const char *key, const char *title, const char *criterion);
RTable *section_add_table(RSection *s, const char *title, int ncols, const char *const *cols);
void table_add_row(RTable *t);
// Fill a cell of the last row.
void table_text(RTable *t, int col, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void table_num(RTable *t, int col, double v, NumStyle style);
RVerdict *section_add_verdict(RSection *s, const char *scope);
void verdict_number(RVerdict *v, const char *name, double value);
void verdict_precision(RVerdict *v, const char *precision);
void section_note(RSection *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void section_figure(RSection *s, const char *name, const char *title, char *svg);   // takes svg
