// Causal attention through the compute context's products (engine/attention.h).
#include "engine/attention.h"
#include "engine/ops.h"
#include "engine/profile.h"
#include "engine/util.h"
#include <math.h>
#include <string.h>

int attention_uses_products(const MatContext *mc) {
    return REAL_IS_FLOAT && mat_context_precision(mc) != MAT_PREC_FP32;
}

// A worker's buffer (its context's mat_context_work): seven [T][hd] panels (Q, K, V, dO of one head
// packed, and the sums O or dQ, dK, dV), two blocks of [ATTENTION_ROWS][T] (scores or dP, and
// probabilities), then at bf16 the same operands rounded once for all the products that read them:
// four bf16 panels (Q, K, V, dO) and two bf16 blocks (P, dS).
enum { W_Q, W_K, W_V, W_DO, W_DQ, W_DK, W_DV, W_PANELS };
enum { H_Q, H_K, H_V, H_DO, H_PANELS };

static size_t work_reals(int T, int hd) { return (size_t)W_PANELS * T * hd + 2 * (size_t)ATTENTION_ROWS * T; }
static size_t work_halves(int T, int hd) { return (size_t)H_PANELS * T * hd + 2 * (size_t)ATTENTION_ROWS * T; }

typedef struct {
    MatContext *mc;               // the worker's own context
    double product_seconds, flops;   // measured only when profiling
    real *panel[W_PANELS], *s, *p;
    uint16_t *half[H_PANELS], *hp, *hs;   // bf16 panels and blocks (at bf16 only)
} Work;

typedef struct {
    Work work[PAR_WORKERS];
    MatPrecision scores, rest;    // of the product S = Q K^T, and of the five others
    int half;                     // rest is bf16: its operands are rounded once, into the bf16 panels
    int profiling;
    int set;                      // backward: dq, dk, dv overwritten (attention_backward_set_mc)
    real *out, *att, *dq, *dk, *dv;
    const real *q, *k, *v, *dout, *probs;
    int B, T, n_heads, n_kv_heads, hd;
} Args;

// The workers' contexts and buffers, made in the calling thread before the parallel region.
static void setup(Args *a, MatContext *mc, Profile *prof, int items) {
    // The scores' errors reach P multiplied by the scores' size through the exponent, so S = Q K^T is
    // never rounded to bf16: at bf16 and int8 it is oneDNN's fp32 (bf16 scores took the bf16 parity
    // test's logits past their gate, tests/parity/compare.py); the others are at the context's precision.
    MatPrecision p = mat_context_precision(mc);
    a->rest = p;
    a->scores = p == MAT_PREC_BF16 || p == MAT_PREC_INT8 ? MAT_PREC_FP32_DNNL : p;
    a->half = p == MAT_PREC_BF16 || p == MAT_PREC_INT8;
    a->profiling = prof != NULL;
    int workers = parallel_threads(items);
    workers = workers < PAR_WORKERS ? workers : PAR_WORKERS;
    for (int i = 0; i < workers; i++) {
        Work *w = &a->work[i];
        // Split over threads, every worker (the caller too) takes a context of its own: in the rank's
        // context, whose primitives the weight products run on all threads, the caller's items took
        // about 1.45x the thread CPU time of the other worker's (bf16, default config, 2 threads)
        w->mc = mat_context_worker(mc, workers > 1 ? i + 1 : 0);
        w->product_seconds = w->flops = 0;
        size_t nr = work_reals(a->T, a->hd);
        real *buf = mat_context_work(w->mc, nr * sizeof(real) + work_halves(a->T, a->hd) * sizeof(uint16_t));
        for (int j = 0; j < W_PANELS; j++) w->panel[j] = buf + (size_t)j * a->T * a->hd;
        w->s = buf + (size_t)W_PANELS * a->T * a->hd;
        w->p = w->s + (size_t)ATTENTION_ROWS * a->T;
        uint16_t *h = (uint16_t *)(buf + nr);
        for (int j = 0; j < H_PANELS; j++) w->half[j] = h + (size_t)j * a->T * a->hd;
        w->hp = h + (size_t)H_PANELS * a->T * a->hd;
        w->hs = w->hp + (size_t)ATTENTION_ROWS * a->T;
    }
}

static void product(const Args *a, Work *w, MatPrecision p, int transA, int transB, int M, int N, int K,
                    const real *A, const real *B, real *C, int accumulate) {
    double t0 = a->profiling ? now_seconds() : 0;
    mat_act_product_at(w->mc, p, transA, transB, M, N, K, A, B, C, accumulate);
    if (a->profiling) {
        w->product_seconds += now_seconds() - t0;
        w->flops += 2.0 * M * N * K;
    }
}

// One of the five products at the rest's precision: on the bf16 operands when a->half, else on the
// real ones.
static void product_rest(const Args *a, Work *w, int transA, int transB, int M, int N, int K, const real *A,
                         const uint16_t *A16, const real *B, const uint16_t *B16, real *C, int accumulate) {
    double t0 = a->profiling ? now_seconds() : 0;
    if (a->half) mat_act_product_bf16(w->mc, transA, transB, M, N, K, A16, B16, C, accumulate);
    else mat_act_product_at(w->mc, a->rest, transA, transB, M, N, K, A, B, C, accumulate);
    if (a->profiling) {
        w->product_seconds += now_seconds() - t0;
        w->flops += 2.0 * M * N * K;
    }
}

// dst[T][hd] (packed, rounded to bf16) = the head at src with row stride ld
static void gather_bf16(uint16_t *dst, const real *src, int T, int hd, int ld) {
    for (int t = 0; t < T; t++) mat_act_round_bf16(dst + (size_t)t * hd, src + (size_t)t * ld, (size_t)hd);
}

// dst[T][hd] (packed) = the head at src with row stride ld, and back (adding)
static void gather(real *dst, const real *src, int T, int hd, int ld) {
    for (int t = 0; t < T; t++) memcpy(dst + (size_t)t * hd, src + (size_t)t * ld, (size_t)hd * sizeof(real));
}
static void scatter(real *dst, const real *src, int T, int hd, int ld) {
    for (int t = 0; t < T; t++) memcpy(dst + (size_t)t * ld, src + (size_t)t * hd, (size_t)hd * sizeof(real));
}
// adding, or with set onto +0 (the same sums as onto a zeroed dst, -0 becoming +0, without its pass)
static void scatter_add(real *dst, const real *src, int T, int hd, int ld, int set) {
    for (int t = 0; t < T; t++) {
        real *d = dst + (size_t)t * ld;
        const real *s = src + (size_t)t * hd;
        if (set)
            for (int j = 0; j < hd; j++) d[j] = (real)0 + s[j];
        else
            for (int j = 0; j < hd; j++) d[j] += s[j];
    }
}

// The products' time as the mean over the workers that ran (each measured its own), the rest of the
// wall time as the rest of attention.
static void finish(const Args *a, Profile *prof, int items, double t0) {
    if (!prof) return;
    int workers = parallel_threads(items);
    workers = workers < PAR_WORKERS ? workers : PAR_WORKERS;
    double products = 0;
    for (int i = 0; i < workers; i++) {
        products += a->work[i].product_seconds;
        prof->attn_flops += a->work[i].flops;
    }
    prof->attn_thread_seconds += products;
    products /= workers;
    prof_add_seconds(prof, PROF_ATTN_PRODUCT, products);
    prof_add_seconds(prof, PROF_ATTENTION, now_seconds() - t0 - products);
}

// one (batch, KV head) and the query heads that share it
static void forward_group(void *ctx, int item, int worker) {
    Args *a = ctx;
    Work *w = &a->work[worker];
    int T = a->T, hd = a->hd, b = item / a->n_kv_heads, g = item % a->n_kv_heads;
    int group = a->n_heads / a->n_kv_heads, qs = a->n_heads * hd, ks = a->n_kv_heads * hd;
    real scale = (real)(1.0 / sqrt((double)hd));
    real *Q = w->panel[W_Q], *K = w->panel[W_K], *V = w->panel[W_V], *O = w->panel[W_DQ];
    uint16_t *V16 = w->half[H_V];
    size_t koff = (size_t)b * T * ks + (size_t)g * hd;
    gather(K, a->k + koff, T, hd, ks);
    if (a->half) gather_bf16(V16, a->v + koff, T, hd, ks);
    else gather(V, a->v + koff, T, hd, ks);
    for (int h = g * group; h < (g + 1) * group; h++) {
        size_t qoff = (size_t)b * T * qs + (size_t)h * hd;
        real *P = a->att + ((size_t)b * a->n_heads + h) * T * T;
        gather(Q, a->q + qoff, T, hd, qs);
        for (int i0 = 0; i0 < T; i0 += ATTENTION_ROWS) {
            int i1 = i0 + ATTENTION_ROWS < T ? i0 + ATTENTION_ROWS : T, m = i1 - i0;
            product(a, w, a->scores, 0, 1, m, i1, hd, Q + (size_t)i0 * hd, K, w->s, 0);   // S = Q K^T
            for (int t = i0; t < i1; t++) {   // P's row into att, and at once into PV's operand
                size_t r = (size_t)(t - i0) * i1;
                attention_softmax_row(P + (size_t)t * T, a->half ? NULL : w->p + r, a->half ? w->hp + r : NULL,
                                      w->s + r, scale, t + 1, i1);
                memset(P + (size_t)t * T + i1, 0, (size_t)(T - i1) * sizeof(real));
            }
            product_rest(a, w, 0, 0, m, hd, i1, w->p, w->hp, V, V16, O + (size_t)i0 * hd, 0);   // O = P V
        }
        scatter(a->out + qoff, O, T, hd, qs);
    }
}

// one (batch, KV head) and the query heads that share it: dk and dv of a KV head have one writer
static void backward_group(void *ctx, int item, int worker) {
    Args *a = ctx;
    Work *w = &a->work[worker];
    int T = a->T, hd = a->hd, b = item / a->n_kv_heads, g = item % a->n_kv_heads;
    int group = a->n_heads / a->n_kv_heads, qs = a->n_heads * hd, ks = a->n_kv_heads * hd;
    real scale = (real)(1.0 / sqrt((double)hd));
    real *Q = w->panel[W_Q], *K = w->panel[W_K], *V = w->panel[W_V], *dO = w->panel[W_DO];
    real *dQ = w->panel[W_DQ], *dK = w->panel[W_DK], *dV = w->panel[W_DV];
    uint16_t *Q16 = w->half[H_Q], *K16 = w->half[H_K], *V16 = w->half[H_V], *dO16 = w->half[H_DO];
    size_t koff = (size_t)b * T * ks + (size_t)g * hd;
    if (a->half) {
        gather_bf16(K16, a->k + koff, T, hd, ks);
        gather_bf16(V16, a->v + koff, T, hd, ks);
    } else {
        gather(K, a->k + koff, T, hd, ks);
        gather(V, a->v + koff, T, hd, ks);
    }
    memset(dK, 0, (size_t)T * hd * sizeof(real));
    memset(dV, 0, (size_t)T * hd * sizeof(real));
    for (int h = g * group; h < (g + 1) * group; h++) {
        size_t qoff = (size_t)b * T * qs + (size_t)h * hd;
        const real *P = a->probs + ((size_t)b * a->n_heads + h) * T * T;
        if (a->half) {
            gather_bf16(Q16, a->q + qoff, T, hd, qs);
            gather_bf16(dO16, a->dout + qoff, T, hd, qs);
        } else {
            gather(Q, a->q + qoff, T, hd, qs);
            gather(dO, a->dout + qoff, T, hd, qs);
        }
        for (int i0 = 0; i0 < T; i0 += ATTENTION_ROWS) {
            int i1 = i0 + ATTENTION_ROWS < T ? i0 + ATTENTION_ROWS : T, m = i1 - i0;
            const real *dOb = dO + (size_t)i0 * hd, *Qb = Q + (size_t)i0 * hd;
            const uint16_t *dOb16 = dO16 + (size_t)i0 * hd, *Qb16 = Q16 + (size_t)i0 * hd;
            product_rest(a, w, 0, 1, m, i1, hd, dOb, dOb16, V, V16, w->s, 0);      // dP = dO V^T
            for (int t = i0; t < i1; t++) {   // dS (in place, or at bf16 into its bf16 block), and the
                size_t r = (size_t)(t - i0) * i1;   // block's probabilities packed [m][i1] on the way
                attention_softmax_backward_row(w->s + r, a->half ? w->hs + r : NULL, a->half ? NULL : w->p + r,
                                               a->half ? w->hp + r : NULL, P + (size_t)t * T, scale, t + 1, i1);
            }
            product_rest(a, w, 1, 0, i1, hd, m, w->p, w->hp, dOb, dOb16, dV, 1);   // dV += P^T dO
            product_rest(a, w, 0, 0, m, hd, i1, w->s, w->hs, K, K16, dQ + (size_t)i0 * hd, 0);   // dQ = dS K
            product_rest(a, w, 1, 0, i1, hd, m, w->s, w->hs, Qb, Qb16, dK, 1);                   // dK += dS^T Q
        }
        scatter_add(a->dq + qoff, dQ, T, hd, qs, a->set);
    }
    scatter_add(a->dk + koff, dK, T, hd, ks, a->set);
    scatter_add(a->dv + koff, dV, T, hd, ks, a->set);
}

void attention_forward_mc(MatContext *mc, Profile *prof, real *out, real *att, const real *q, const real *k,
                          const real *v, int B, int T, int n_heads, int n_kv_heads, int hd) {
    double t0 = prof_start(prof);
    if (!attention_uses_products(mc)) {
        attention_forward(out, att, q, k, v, B, T, n_heads, n_kv_heads, hd);
        prof_add(prof, PROF_ATTENTION, t0);
        return;
    }
    Args a = { .out = out, .att = att, .q = q, .k = k, .v = v, .B = B, .T = T, .n_heads = n_heads,
               .n_kv_heads = n_kv_heads, .hd = hd };
    int items = B * n_kv_heads;
    setup(&a, mc, prof, items);
    parallel_for_fixed(items, forward_group, &a);
    finish(&a, prof, items, t0);
}

static void backward(MatContext *mc, Profile *prof, real *dq, real *dk, real *dv, const real *dout, const real *att,
                     const real *q, const real *k, const real *v, int B, int T, int n_heads, int n_kv_heads, int hd,
                     real *scratch, int set) {
    double t0 = prof_start(prof);
    if (!attention_uses_products(mc)) {
        if (set) {   // the reference loops accumulate
            zero_reals(dq, (long)B * T * n_heads * hd);
            zero_reals(dk, (long)B * T * n_kv_heads * hd);
            zero_reals(dv, (long)B * T * n_kv_heads * hd);
        }
        attention_backward(dq, dk, dv, dout, att, q, k, v, B, T, n_heads, n_kv_heads, hd, scratch);
        prof_add(prof, PROF_ATTENTION, t0);
        return;
    }
    Args a = { .dq = dq, .dk = dk, .dv = dv, .dout = dout, .probs = att, .q = q, .k = k, .v = v, .B = B,
               .T = T, .n_heads = n_heads, .n_kv_heads = n_kv_heads, .hd = hd, .set = set };
    int items = B * n_kv_heads;
    setup(&a, mc, prof, items);
    parallel_for_fixed(items, backward_group, &a);
    finish(&a, prof, items, t0);
}

void attention_backward_mc(MatContext *mc, Profile *prof, real *dq, real *dk, real *dv, const real *dout,
                           const real *att, const real *q, const real *k, const real *v, int B, int T,
                           int n_heads, int n_kv_heads, int hd, real *scratch) {
    backward(mc, prof, dq, dk, dv, dout, att, q, k, v, B, T, n_heads, n_kv_heads, hd, scratch, 0);
}

void attention_backward_set_mc(MatContext *mc, Profile *prof, real *dq, real *dk, real *dv, const real *dout,
                               const real *att, const real *q, const real *k, const real *v, int B, int T,
                               int n_heads, int n_kv_heads, int hd, real *scratch) {
    backward(mc, prof, dq, dk, dv, dout, att, q, k, v, B, T, n_heads, n_kv_heads, hd, scratch, 1);
}
