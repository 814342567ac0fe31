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

// The work buffer: seven [T][hd] panels (Q, K, V, dO of one head packed, and the sums dQ or O, dK,
// dV), then two blocks of [ATTENTION_ROWS][T] (scores or dP, and probabilities).
enum { W_Q, W_K, W_V, W_DO, W_DQ, W_DK, W_DV, W_PANELS };

size_t attention_work_reals(int T, int hd) {
    return (size_t)W_PANELS * T * hd + 2 * (size_t)ATTENTION_ROWS * T;
}

typedef struct {
    MatContext *mc;
    MatPrecision scores, rest;   // of the product S = Q K^T, and of the five others
    Profile *prof;
    double product_seconds;
    real *panel[W_PANELS], *s, *p;
} Work;

static Work work_of(MatContext *mc, Profile *prof, real *work, int T, int hd) {
    // The scores' errors reach P multiplied by the scores' size through the exponent, so S = Q K^T is
    // never rounded to bf16: at bf16 and int8 it is oneDNN's fp32 (bf16 scores took the bf16 parity
    // test's logits past their gate, tests/parity/compare.py); the others are at the context's precision.
    MatPrecision p = mat_context_precision(mc);
    Work w = { .mc = mc, .prof = prof, .rest = p,
               .scores = p == MAT_PREC_BF16 || p == MAT_PREC_INT8 ? MAT_PREC_FP32_DNNL : p };
    for (int i = 0; i < W_PANELS; i++) w.panel[i] = work + (size_t)i * T * hd;
    w.s = work + (size_t)W_PANELS * T * hd;
    w.p = w.s + (size_t)ATTENTION_ROWS * T;
    return w;
}

static void product(Work *w, MatPrecision p, int transA, int transB, int M, int N, int K, const real *A,
                    const real *B, real *C, int accumulate) {
    double t0 = prof_start(w->prof);
    mat_act_product_at(w->mc, p, transA, transB, M, N, K, A, B, C, accumulate);
    if (w->prof) w->product_seconds += now_seconds() - t0;
}

// dst[T][hd] (packed) = the head at src with row stride ld, and back (adding)
static void gather(real *dst, const real *src, int T, int hd, int ld) {
    for (int t = 0; t < T; t++) memcpy(dst + (size_t)t * hd, src + (size_t)t * ld, (size_t)hd * sizeof(real));
}
static void scatter(real *dst, const real *src, int T, int hd, int ld) {
    for (int t = 0; t < T; t++) memcpy(dst + (size_t)t * ld, src + (size_t)t * hd, (size_t)hd * sizeof(real));
}
static void scatter_add(real *dst, const real *src, int T, int hd, int ld) {
    for (int t = 0; t < T; t++) {
        real *d = dst + (size_t)t * ld;
        const real *s = src + (size_t)t * hd;
        for (int j = 0; j < hd; j++) d[j] += s[j];
    }
}

static void finish(Work *w, double t0) {
    if (!w->prof) return;
    prof_add_seconds(w->prof, PROF_ATTN_PRODUCT, w->product_seconds);
    prof_add_seconds(w->prof, PROF_ATTENTION, now_seconds() - t0 - w->product_seconds);
}

void attention_forward_mc(MatContext *mc, Profile *prof, real *work, real *out, real *att, const real *q,
                          const real *k, const real *v, int B, int T, int n_heads, int n_kv_heads, int hd) {
    double t0 = prof_start(prof);
    if (!attention_uses_products(mc)) {
        attention_forward(out, att, q, k, v, B, T, n_heads, n_kv_heads, hd);
        prof_add(prof, PROF_ATTENTION, t0);
        return;
    }
    Work w = work_of(mc, prof, work, T, hd);
    int group = n_heads / n_kv_heads, qs = n_heads * hd, ks = n_kv_heads * hd;
    real scale = (real)(1.0 / sqrt((double)hd));
    real *Q = w.panel[W_Q], *K = w.panel[W_K], *V = w.panel[W_V], *O = w.panel[W_DQ];
    for (int b = 0; b < B; b++)
        for (int g = 0; g < n_kv_heads; g++) {
            size_t koff = (size_t)b * T * ks + (size_t)g * hd;
            gather(K, k + koff, T, hd, ks);
            gather(V, v + koff, T, hd, ks);
            for (int h = g * group; h < (g + 1) * group; h++) {
                size_t qoff = (size_t)b * T * qs + (size_t)h * hd;
                real *P = att + ((size_t)b * n_heads + h) * T * T;
                gather(Q, q + qoff, T, hd, qs);
                for (int i0 = 0; i0 < T; i0 += ATTENTION_ROWS) {
                    int i1 = i0 + ATTENTION_ROWS < T ? i0 + ATTENTION_ROWS : T, m = i1 - i0;
                    product(&w, w.scores, 0, 1, m, i1, hd, Q + (size_t)i0 * hd, K, w.s, 0);   // S = Q K^T
                    for (int t = i0; t < i1; t++) {
                        real *pt = w.p + (size_t)(t - i0) * i1;
                        attention_softmax_row(pt, w.s + (size_t)(t - i0) * i1, scale, t + 1, i1);
                        memcpy(P + (size_t)t * T, pt, (size_t)i1 * sizeof(real));
                        memset(P + (size_t)t * T + i1, 0, (size_t)(T - i1) * sizeof(real));
                    }
                    product(&w, w.rest, 0, 0, m, hd, i1, w.p, V, O + (size_t)i0 * hd, 0);   // O = P V
                }
                scatter(out + qoff, O, T, hd, qs);
            }
        }
    finish(&w, t0);
}

void attention_backward_mc(MatContext *mc, Profile *prof, real *work, real *dq, real *dk, real *dv,
                           const real *dout, const real *att, const real *q, const real *k, const real *v,
                           int B, int T, int n_heads, int n_kv_heads, int hd, real *scratch) {
    double t0 = prof_start(prof);
    if (!attention_uses_products(mc)) {
        attention_backward(dq, dk, dv, dout, att, q, k, v, B, T, n_heads, n_kv_heads, hd, scratch);
        prof_add(prof, PROF_ATTENTION, t0);
        return;
    }
    Work w = work_of(mc, prof, work, T, hd);
    int group = n_heads / n_kv_heads, qs = n_heads * hd, ks = n_kv_heads * hd;
    real scale = (real)(1.0 / sqrt((double)hd));
    real *Q = w.panel[W_Q], *K = w.panel[W_K], *V = w.panel[W_V], *dO = w.panel[W_DO];
    real *dQ = w.panel[W_DQ], *dK = w.panel[W_DK], *dV = w.panel[W_DV];
    for (int b = 0; b < B; b++)
        for (int g = 0; g < n_kv_heads; g++) {
            size_t koff = (size_t)b * T * ks + (size_t)g * hd;
            gather(K, k + koff, T, hd, ks);
            gather(V, v + koff, T, hd, ks);
            memset(dK, 0, (size_t)T * hd * sizeof(real));
            memset(dV, 0, (size_t)T * hd * sizeof(real));
            for (int h = g * group; h < (g + 1) * group; h++) {
                size_t qoff = (size_t)b * T * qs + (size_t)h * hd;
                const real *P = att + ((size_t)b * n_heads + h) * T * T;
                gather(Q, q + qoff, T, hd, qs);
                gather(dO, dout + qoff, T, hd, qs);
                for (int i0 = 0; i0 < T; i0 += ATTENTION_ROWS) {
                    int i1 = i0 + ATTENTION_ROWS < T ? i0 + ATTENTION_ROWS : T, m = i1 - i0;
                    const real *dOb = dO + (size_t)i0 * hd, *Qb = Q + (size_t)i0 * hd;
                    for (int t = i0; t < i1; t++)   // the block's probabilities, packed [m][i1]
                        memcpy(w.p + (size_t)(t - i0) * i1, P + (size_t)t * T, (size_t)i1 * sizeof(real));
                    product(&w, w.rest, 0, 1, m, i1, hd, dOb, V, w.s, 0);      // dP = dO V^T
                    product(&w, w.rest, 1, 0, i1, hd, m, w.p, dOb, dV, 1);     // dV += P^T dO
                    for (int t = i0; t < i1; t++)
                        attention_softmax_backward_row(w.s + (size_t)(t - i0) * i1, w.p + (size_t)(t - i0) * i1,
                                                       scale, t + 1, i1);
                    product(&w, w.rest, 0, 0, m, hd, i1, w.s, K, dQ + (size_t)i0 * hd, 0);   // dQ = dS K
                    product(&w, w.rest, 1, 0, i1, hd, m, w.s, Qb, dK, 1);                   // dK += dS^T Q
                }
                scatter_add(dq + qoff, dQ, T, hd, qs);
            }
            scatter_add(dk + koff, dK, T, hd, ks);
            scatter_add(dv + koff, dV, T, hd, ks);
        }
    finish(&w, t0);
}
