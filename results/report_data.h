// A results file opened for judging: the arrays of results/h5read.h plus what the report needs to
// find a cell: each format's kind (none/norm/lora/full) and compute precision, each eval text's
// owner, the job at every grid position and the base's own job at each precision. Cells a protocol
// needs but cannot find are collected in a Missing list, which names the pending or failed jobs
// behind them.
#pragma once
#include <stdint.h>
#include "results/h5read.h"

typedef struct {
    const char *path;
    ResultsFile rf;
    int nb, nc, nf, nu, ns, ne;
    int *fkind;             // [nf] AdapterFormat, -1 when neither the spec nor the label says
    int *owner;             // [ne] the train user whose held-out text it is, -1 general or other
    int general;            // eval text "general", -1
    int real, random;       // condition indices, -1 when absent
    int none_f;             // the first format of kind none, -1
    int *job_at;            // [nb][nc][nf][nu][ns] job index, -1
    int *none_job;          // [nb][nf] the job of none format f on base b, -1
    int kinds_from_spec;    // 1: kinds and owners from the file's spec; 0: from the axis labels
    // Precision: the per-job column (a file from before it reads as fp32), or the label's
    // "precision=..." where the column says nothing else. A format is compared with the none and
    // with the other formats evaluated at its own precision.
    char (*prec)[16];       // [nf] each format's compute precision
    int *base_of;           // [nf] the none format f is compared with (its own precision's, else fp32's, else the first), -1
    int n_prec;
    const char **precs;     // [n_prec] the distinct precisions, fp32 first (MatPrecision order, unknown names last)
    int prec_mixed;         // a format whose jobs disagree on their precision (a file sweep did not write)
    // From the file's spec when it re-reads (kinds_from_spec); else NaN / 0 / NULL.
    double *lr;             // [nf] each format's learning rate
    int *steps;             // [nf] each format's training steps (0: none or unknown)
    struct Published *published;   // the seeds' figures (spec field "published"), NULL
} ReportData;

int report_data_load(const char *path, ReportData *d, char *err, size_t errlen);
void report_data_free(ReportData *d);

int rd_job(const ReportData *d, int b, int c, int f, int u, int s);
int rd_is_none(const ReportData *d, int f);
const char *rd_precision(const ReportData *d, int f);
// Whether f is compared with a base at another precision (no none at its own); 0 when there is no base.
int rd_base_cross(const ReportData *d, int f);
// The job of the base that format f is compared with (f itself when f is a none format), -1.
int rd_base_job(const ReportData *d, int b, int f);
// ppl of a cell, NaN where there is none. rd_base_ppl: the base itself (the none job) on text e, as
// compared with format f: the none at f's precision (f itself when f is a none format).
double rd_ppl(const ReportData *d, int b, int c, int f, int u, int s, int e);
double rd_base_ppl(const ReportData *d, int b, int f, int e);
// The user's own eval texts into out[ne]; returns the count.
int rd_own_texts(const ReportData *d, int u, int *out);
// Formats of a kind into out[nf]; returns the count.
int rd_formats_of(const ReportData *d, int kind, int *out);
// The formats of a kind that format f is compared with: those at f's precision; when there are none,
// those at fp32, else every format of the kind (*cross = 1 then, 0 otherwise). Returns the count.
int rd_partners(const ReportData *d, int kind, int f, int *out, int *cross);
// Adapter bytes (fp32, fp16) of the first finished job of (b, c, f) for user u (-1: any user); -1 unknown.
int64_t rd_bytes(const ReportData *d, int b, int c, int f, int u, int fp16);
int rd_job_ok(const ReportData *d, int j);

typedef struct {
    int *job;               // jobs whose cells are needed but not recorded (pending, failed)
    int n, cap;
    int unplanned;          // needed cells the grid does not hold (not in the spec)
} Missing;

double rd_need(const ReportData *d, Missing *m, int b, int c, int f, int u, int s, int e);
double rd_need_base(const ReportData *d, Missing *m, int b, int f, int e);
void missing_add_job(Missing *m, int j);
void missing_free(Missing *m);
// "2 jobs missing: norm/therneau/seed 0 (pending), full/cpython/seed 0 (diverged)"; caller frees.
char *missing_describe(const ReportData *d, const Missing *m);
// "base fp, condition real, format norm, user austen, seed 0" style name of a job; caller frees.
char *rd_job_name(const ReportData *d, int j);
