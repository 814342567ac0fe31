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

// Own ppl per user and slice against 100 for every other adapter: margins whose intervals vary
// (with one seed and three slices the bootstrap interval of the median is the slices' min .. max).
typedef struct { double own[3][3]; } B61S;

static inline double b61s_ppl(const Plan *p, const Job *j, int e, const void *ctx) {
    int u = fx_user(j), t = fx_owner(p, e);
    return u == t ? ((const B61S *)ctx)->own[u][fx_slice(p, e)] : 100;
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


// ---- compute precision: none, norm (and full) at fp32 and bf16, the bf16 numbers different on
// purpose, so that comparing a variant with the other precision's base or full changes its verdict.

// Bet 52 at two precisions; every adapter on every user's texts (confusion matrices with the base).
static const char *const prec52_spec =
    "{\"protocol\": \"bet52\", \"output\": \"x.h5\", \"bases\": {\"ternary\": \"base-ternary.sweep\"},"
    " \"tokenizer\": \"t.bpe\", \"data\": \"data\", \"users\": [\"programmer\", \"novelist\", \"scientist\"],"
    " \"formats\": {\"none\": {}, \"norm\": {}}, \"train\": {\"steps\": 4, \"precision\": [\"fp32\", \"bf16\"]},"
    " \"seeds\": [0], \"eval\": {\"users\": \"all\", \"slices\": 2, \"general\": false}}";
// The same with the base evaluated at fp32 only: norm at bf16 has no base of its own precision.
static const char *const prec52_fallback_spec =
    "{\"protocol\": \"bet52\", \"output\": \"x.h5\", \"bases\": {\"ternary\": \"base-ternary.sweep\"},"
    " \"tokenizer\": \"t.bpe\", \"data\": \"data\", \"users\": [\"programmer\", \"novelist\", \"scientist\"],"
    " \"formats\": {\"none\": {}, \"norm\": {\"precision\": [\"fp32\", \"bf16\"]}}, \"train\": {\"steps\": 4},"
    " \"seeds\": [0], \"eval\": {\"users\": \"own\", \"slices\": 2, \"general\": false}}";
// Bet 37 at two precisions.
static const char *const prec37_spec =
    "{\"protocol\": \"bet37\", \"output\": \"x.h5\", \"bases\": {\"fp\": \"base.sweep\"}, \"tokenizer\": \"t.bpe\","
    " \"data\": \"data\", \"users\": [\"programmer\"], \"formats\": {\"none\": {}, \"norm\": {}, \"full\": {}},"
    " \"train\": {\"steps\": 4, \"precision\": [\"fp32\", \"bf16\"]}, \"seeds\": [0],"
    " \"eval\": {\"users\": \"own\", \"slices\": 3, \"general\": false}}";

typedef struct { double none[2], norm[2], full[2]; } Prec;   // ppl by kind at [fp32, bf16]

static inline double prec_ppl(const Plan *p, const Job *j, int e, const void *ctx) {
    const Prec *c = ctx;
    int bf = p->formats[j->ax[AX_FORMAT]].precision == MAT_PREC_BF16, kind = fx_kind(p, j);
    if (kind == 0) return c->none[bf];
    if (fx_owner(p, e) != fx_user(j)) return 500;   // another user's text: every adapter's own text wins
    return kind == 1 ? c->norm[bf] : c->full[bf];
}

// Bet 52 (paired ratio norm/base per user, every user alike):
//   fp32: 80/100 = 0.80, a 20% improvement: LENIENT (>= 15% on all, not >= 30%).
//         Against the bf16 base it would be 80/200 = 0.40: STRICT.
//   bf16: 130/200 = 0.65, 35%: STRICT. Against the fp32 base 130/100 = 1.30, no improvement: CATASTROPHIC.
static const Prec prec52_values = {{100, 200}, {80, 130}, {0, 0}};
// Bet 37 (norm/full per configuration):
//   fp32: 15/10 = 1.5: STRICT. bf16: 40/4 = 10, not > 10 and not < 5: none.
//   Across precisions: 15/4 = 3.75 and 40/10 = 4, both LENIENT.
static const Prec prec37_values = {{1000, 1000}, {15, 40}, {10, 4}};
