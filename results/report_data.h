// A results file opened for judging: the arrays of results/h5read.h plus what the report needs to
// find a cell: each format's kind (none/norm/lora/full), each eval text's owner, the job at every grid
// position and the base's own job. Cells a protocol needs but cannot find are collected in a
// Missing list, which names the pending or failed jobs behind them.
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
    int *none_job;          // [nb] the none job of each base, -1
    int kinds_from_spec;    // 1: kinds and owners from the file's spec; 0: from the axis labels
} ReportData;

int report_data_load(const char *path, ReportData *d, char *err, size_t errlen);
void report_data_free(ReportData *d);

int rd_job(const ReportData *d, int b, int c, int f, int u, int s);
// ppl of a cell, NaN where there is none. rd_base_ppl: the base itself (the none job) on text e.
double rd_ppl(const ReportData *d, int b, int c, int f, int u, int s, int e);
double rd_base_ppl(const ReportData *d, int b, int e);
// The user's own eval texts into out[ne]; returns the count.
int rd_own_texts(const ReportData *d, int u, int *out);
// Formats of a kind into out[nf]; returns the count.
int rd_formats_of(const ReportData *d, int kind, int *out);
// Adapter bytes (fp32, fp16) of the first finished job of (b, c, f) for user u (-1: any user); -1 unknown.
int64_t rd_bytes(const ReportData *d, int b, int c, int f, int u, int fp16);
int rd_job_ok(const ReportData *d, int j);

typedef struct {
    int *job;               // jobs whose cells are needed but not recorded (pending, failed)
    int n, cap;
    int unplanned;          // needed cells the grid does not hold (not in the spec)
} Missing;

double rd_need(const ReportData *d, Missing *m, int b, int c, int f, int u, int s, int e);
double rd_need_base(const ReportData *d, Missing *m, int b, int e);
void missing_add_job(Missing *m, int j);
void missing_free(Missing *m);
// "2 jobs missing: norm/therneau/seed 0 (pending), full/cpython/seed 0 (diverged)"; caller frees.
char *missing_describe(const ReportData *d, const Missing *m);
// "base fp, condition real, format norm, user austen, seed 0" style name of a job; caller frees.
char *rd_job_name(const ReportData *d, int j);
