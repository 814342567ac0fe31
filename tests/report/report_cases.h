// The perplexities of the report tests' result files, one function per protocol, each with a small
// context that picks the case (tests/unit/test_report.c says which verdict each case must give).
#pragma once
#include "tests/report/report_fixtures.h"

typedef struct { double norm[3], full[3]; JobStatus full_status; } B37;

static inline double b37_ppl(const Plan *p, const Job *j, int e, const void *ctx) {
    const B37 *c = ctx;
    int k = fx_slice(p, e);
    switch (fx_kind(p, j)) {
    case 0: return 1000;
    case 1: return c->norm[k];
    case 2: return 50;
    default: return c->full[k];
    }
}

static inline JobStatus b37_status(const Plan *p, const Job *j, const void *ctx) {
    return fx_kind(p, j) == 3 ? ((const B37 *)ctx)->full_status : JOB_OK;
}

typedef struct { double norm[5][3]; int pending_full_seed; } B46;

static inline double b46_ppl(const Plan *p, const Job *j, int e, const void *ctx) {
    const B46 *c = ctx;
    return fx_kind(p, j) == 1 ? c->norm[j->ax[AX_SEED]][fx_slice(p, e)] : 100;
}

static inline JobStatus b46_status(const Plan *p, const Job *j, const void *ctx) {
    const B46 *c = ctx;
    return fx_kind(p, j) == 3 && j->ax[AX_SEED] == c->pending_full_seed ? JOB_PENDING : JOB_OK;
}

typedef enum { DOM, TIE_PERSONAL, WORSE_GENERAL } B49Kind;
typedef struct { B49Kind user[3]; int pending_lora_user; } B49;

static inline double b49_ppl(const Plan *p, const Job *j, int e, const void *ctx) {
    const B49 *c = ctx;
    int kind = fx_kind(p, j), u = fx_user(j);
    if (fx_is_general(p, e)) {
        if (kind == 3) return 5000;
        if (kind == 2) return 100;
        return c->user[u] == WORSE_GENERAL ? 101 : 100;   // equal to lora's: no worse
    }
    if (kind == 3) return 1000;
    if (kind == 2) return 12;
    return c->user[u] == TIE_PERSONAL ? 12 : 10;
}

static inline JobStatus b49_status(const Plan *p, const Job *j, const void *ctx) {
    return fx_kind(p, j) == 2 && fx_user(j) == ((const B49 *)ctx)->pending_lora_user ? JOB_PENDING : JOB_OK;
}

typedef struct { double norm[3]; } B52;

static inline double b52_ppl(const Plan *p, const Job *j, int e, const void *ctx) {
    (void)e;
    return fx_kind(p, j) == 0 ? 100 : ((const B52 *)ctx)->norm[fx_user(j)];
}

typedef struct { double random[3]; } B60;

static inline double b60_ppl(const Plan *p, const Job *j, int e, const void *ctx) {
    (void)e;
    return fx_is_random(p, j) ? ((const B60 *)ctx)->random[fx_user(j)] : 100;
}

typedef struct { double own[3]; } B61;

static inline double b61_ppl(const Plan *p, const Job *j, int e, const void *ctx) {
    int u = fx_user(j), t = fx_owner(p, e);
    return u == t ? ((const B61 *)ctx)->own[u] : 100;
}

typedef struct { int five; } P1B;   // users 0..five-1 win by exactly 5%, the rest by 1%

static inline double p1b_ppl(const Plan *p, const Job *j, int e, const void *ctx) {
    int kind = fx_kind(p, j), u = fx_user(j), t = fx_owner(p, e);
    if (kind == 0) return 200;
    if (kind == 2) return fx_is_general(p, e) ? 100 : 120;
    if (kind == 3) return fx_is_general(p, e) ? 5000 : 1000;
    if (fx_is_random(p, j)) return 300;
    if (fx_is_general(p, e)) return 100;
    if (u != t) return 100;
    return u < ((const P1B *)ctx)->five ? 95 : 99;
}

static inline double demo_ppl(const Plan *p, const Job *j, int e, const void *ctx) {
    (void)ctx;
    int kind = fx_kind(p, j), t = fx_owner(p, e);
    if (kind == 0) return 300;
    if (fx_is_general(p, e)) return 150;
    return fx_user(j) == t ? (kind == 1 ? 90 : 95) : 100;
}

