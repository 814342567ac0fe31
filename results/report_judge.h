// The judges behind report_build: one function per pre-registered criterion, each adding a section
// (tables, verdicts, notes, figures) to the Report. Shared helpers for verdict wording live here.
#pragma once
#include "results/report.h"
#include "results/report_data.h"
#include "results/report_stats.h"

// One file per protocol: report_bet37.c (and Bet 46), report_bet49.c, report_bet52.c, report_bet60.c,
// report_confusion.c (Bet 61, 1B+); report_bets.c and report_paired.c hold what they share.
void judge_bet37(const ReportData *d, Report *r, int replicated);   // replicated: Bet 46's framing
void judge_bet49(const ReportData *d, Report *r, const char *title);
void judge_bet52(const ReportData *d, Report *r, const char *title);
void judge_bet60(const ReportData *d, Report *r, const char *title);

typedef enum { CONFUSION_PLAIN = 0, CONFUSION_BET61, CONFUSION_1B } ConfusionMode;
// PLAIN: the matrices without a verdict (only where adapters were evaluated on other users' texts).
void judge_confusion(const ReportData *d, Report *r, ConfusionMode mode, int figures);

void report_jobs_section(const ReportData *d, Report *r);
// After the judges: the seeds' published figures beside this run's (report_published.c; nothing when
// the spec carries none), each trained format's training diagnostics (report_diagnostics.c), and the
// verdict against lr where a protocol's formats differ in lr (report_sensitivity.c).
void report_reproduction_section(const ReportData *d, Report *r);
void report_diagnostics_section(const ReportData *d, Report *r);
void report_sensitivity_section(const ReportData *d, Report *r, int figures);
void report_summary_section(const ReportData *d, Report *r, int figures);

// Sets what a verdict says; a verdict with missing cells is provisional, one with no cells at all
// cannot be judged. Takes decided and words.
void verdict_set(RVerdict *v, const ReportData *d, const Missing *m, int any_judged, VerdictLevel level,
                 char *decided, char *words);
// Per-configuration classes, shared by the judges and the reproduction (report_published.c).
VerdictLevel bet37_level(double ratio, int bytes_ok);   // norm/full ppl; adapter under 1% of full's size
const char *bet52_class(double ratio);                  // norm/base ppl: ">= 30%", ">= 15%", "improves", "no improvement"
const char *bet60_class(double ratio);                  // random/real ppl: "real >= 1.5x", ..., "random wins"

// Medians over seeds of a cell, and over seeds x the user's own texts (the base itself for none).
double seed_median(const ReportData *d, int b, int c, int f, int u, int e);
double own_median(const ReportData *d, int b, int c, int f, int u);
// A number as the report prints it (fmt_num); caller frees.
char *judge_num(double v);

// A verdict that the file cannot give, with the reason.
void verdict_cannot(RSection *s, const char *scope, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// The label of index i on an axis.
const char *fmt_label(const ReportData *d, int axis, int i);
// Notes that format f is compared across precisions: with formats of a kind (rd_partners fell back)
// or with the base (no none at f's precision). Nothing when f's own precision has them.
void note_partners(const ReportData *d, RSection *s, int f, int kind);
void note_base(const ReportData *d, RSection *s, int f);
// After the judges: in every section whose verdicts cover several precisions, a table that puts
// each scope's verdict at each precision side by side, and a note saying how precisions are judged.
void report_precision_tables(const ReportData *d, Report *r);
// The formats section: every format variant, its kind, precision and the base it is compared with.
void report_formats_section(const ReportData *d, Report *r);
