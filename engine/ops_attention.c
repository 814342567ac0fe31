// The model's causal attention on plain arrays (engine/ops.h): the reference loops (gemm over blocks
// of query rows, fp32 and the double build) and the row passes of the product path (engine/attention.c),
// with an AVX-512 path for the exps in the float build.
#if defined(__GNUC__) && !defined(__clang__)
// GCC's -O2 only vectorises loops whose trip count is a known multiple of the vector width; as in ops.c.
#pragma GCC optimize("vect-cost-model=dynamic")
#endif
#include "engine/ops.h"
#include "engine/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops_kernels.h"

enum { PAR_MAX_THREADS = PAR_WORKERS };

// Scratch for worker w >= 1 of the calling thread's parallel regions, grown once to the largest
// size asked for. Call it in the caller, not in the workers: the buffers live in the caller's TLS.
static real *worker_scratch(int worker, size_t n) {
    static _Thread_local real *buf[PAR_MAX_THREADS];
    static _Thread_local size_t cap[PAR_MAX_THREADS];
    if (n > cap[worker]) {
        free(buf[worker]);
        buf[worker] = xaligned(n * sizeof(real));
        cap[worker] = n;
    }
    return buf[worker];
}

// ---------------------------------------------------------------------------------------------
// Causal attention with grouped KV heads. Each (batch, head) is two gemms over blocks of query
// rows; a block of rows [i0, i1) only meets keys [0, i1), so the masked half is mostly skipped.

enum { ATT_BLOCK = 64 };

// p[0..len) becomes softmax(p[0..len)); p[len..end) becomes 0 (masked keys)
static void softmax_causal_row(real *p, int len, int end) {
    real mx = row_max(p, len);
    double sum = exp_shift_sum(p, p, len, mx);
    scale_row(p, len, (real)(1.0 / sum));
    memset(p + len, 0, (size_t)(end - len) * sizeof(real));
}

typedef struct {
    real *out, *att, *dq, *dk, *dv;
    real **scratch;   // T*T reals per worker
    const real *q, *k, *v, *dout, *probs;
    int B, T, n_heads, n_kv_heads, hd;
} AttentionArgs;

// one (batch, head): scores of query rows [i0, i1) against keys [0, i1), softmax, times V
static void attention_forward_head(void *ctx, int item, int worker) {
    (void)worker;
    const AttentionArgs *a = ctx;
    int T = a->T, hd = a->hd, b = item / a->n_heads, h = item % a->n_heads, g = h / (a->n_heads / a->n_kv_heads);
    int qs = a->n_heads * hd, ks = a->n_kv_heads * hd;   // row strides of q/out and of k/v
    real scale = (real)(1.0 / sqrt((double)hd));
    const real *qh = a->q + (size_t)b * T * qs + (size_t)h * hd;
    const real *kh = a->k + (size_t)b * T * ks + (size_t)g * hd;
    const real *vh = a->v + (size_t)b * T * ks + (size_t)g * hd;
    real *oh = a->out + (size_t)b * T * qs + (size_t)h * hd;
    real *P = a->att + (size_t)item * T * T;
    for (int i0 = 0; i0 < T; i0 += ATT_BLOCK) {
        int i1 = imin(i0 + ATT_BLOCK, T), m = i1 - i0;
        gemm(0, 1, m, i1, hd, scale, qh + (size_t)i0 * qs, qs, kh, ks, 0, P + (size_t)i0 * T, T);
        for (int t = i0; t < i1; t++) softmax_causal_row(P + (size_t)t * T, t + 1, T);
        gemm(0, 0, m, hd, i1, 1, P + (size_t)i0 * T, T, vh, ks, 0, oh + (size_t)i0 * qs, qs);
    }
}

void attention_forward(real *out, real *att, const real *q, const real *k, const real *v,
                       int B, int T, int n_heads, int n_kv_heads, int hd) {
    AttentionArgs a = { .out = out, .att = att, .q = q, .k = k, .v = v,
                        .B = B, .T = T, .n_heads = n_heads, .n_kv_heads = n_kv_heads, .hd = hd };
    parallel_for(B * n_heads, attention_forward_head, &a);
}

// With P = softmax(S), dS = P * (dP - sum(P dP)) over the row; keys past the row stay 0.
static void softmax_backward_row(real *ds, const real *p, int len, int end) {
    real d = (real)dot(p, ds, len);
#if OPS_AVX512
    __m512 dv = _mm512_set1_ps(d);
    for (int i = 0; i < len; i += 16) {
        __mmask16 k = tail_mask(len - i);
        __m512 g = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, p + i), _mm512_sub_ps(_mm512_maskz_loadu_ps(k, ds + i), dv));
        _mm512_mask_storeu_ps(ds + i, k, g);
    }
#else
    for (int i = 0; i < len; i++) ds[i] = p[i] * (ds[i] - d);
#endif
    memset(ds + len, 0, (size_t)(end - len) * sizeof(real));
}

// The product path's row passes (engine/attention.c), with the score scale applied here instead of
// in the products, each writing the next product's operand as it goes: forward three passes over the
// row (max; exp and sum; normalise, with the copy or the bf16 rounding), backward two (dot, with P's
// copy or rounding; update, with the rounding). scale > 0, so the largest scaled score is scale times the largest score.

// x[0..n) *= a, with the products also to c (fp32) or c16 (bf16) when not NULL
static void scale_row_out(real *x, real *c, uint16_t *c16, int n, real a) {
#if OPS_AVX512
    __m512 av = _mm512_set1_ps(a);
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        __m512 y = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), av);
        _mm512_mask_storeu_ps(x + i, k, y);
        if (c) _mm512_mask_storeu_ps(c + i, k, y);
        if (c16) _mm512_mask_cvtepi32_storeu_epi16(c16 + i, k, round_bf16_512(y));
    }
#else
    for (int i = 0; i < n; i++) {
        x[i] *= a;
        if (c) c[i] = x[i];
        if (c16) c16[i] = f32_to_bf16((float)x[i]);
    }
#endif
}

void attention_softmax_row(real *p, real *pc, uint16_t *p16, const real *s, real scale, int len, int end) {
    real mx = row_max(s, len) * scale;
    double sum;
#if OPS_AVX512
    __m512 acc = _mm512_setzero_ps(), sc = _mm512_set1_ps(scale), sh = _mm512_set1_ps(mx);
    for (int i = 0; i < len; i += 16) {
        __mmask16 k = tail_mask(len - i);
        __m512 e = exp512(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(k, s + i), sc, sh));
        acc = _mm512_mask_add_ps(acc, k, acc, e);
        _mm512_mask_storeu_ps(p + i, k, e);
    }
    sum = _mm512_reduce_add_ps(acc);
#else
    sum = 0;
    for (int i = 0; i < len; i++) sum += p[i] = exp(s[i] * scale - mx);
#endif
    scale_row_out(p, pc, p16, len, (real)(1.0 / sum));
    memset(p + len, 0, (size_t)(end - len) * sizeof(real));
    if (pc) memset(pc + len, 0, (size_t)(end - len) * sizeof(real));
    if (p16) memset(p16 + len, 0, (size_t)(end - len) * sizeof(uint16_t));
}

void attention_softmax_backward_row(real *ds, uint16_t *ds16, real *pc, uint16_t *p16, const real *p, real scale,
                                    int len, int end) {
    // sum(P dP) as dot() sums it, with P's copy for the dV product written on the way
    real d;
#if OPS_AVX512
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < len; i += 16) {
        __mmask16 k = tail_mask(len - i);
        __m512 pv = _mm512_maskz_loadu_ps(k, p + i);
        acc = _mm512_fmadd_ps(pv, _mm512_maskz_loadu_ps(k, ds + i), acc);
        if (pc) _mm512_mask_storeu_ps(pc + i, k, pv);
        if (p16) _mm512_mask_cvtepi32_storeu_epi16(p16 + i, k, round_bf16_512(pv));
    }
    d = (real)(double)_mm512_reduce_add_ps(acc);
    __m512 dv = _mm512_set1_ps(d), sc = _mm512_set1_ps(scale);
    for (int i = 0; i < len; i += 16) {
        __mmask16 k = tail_mask(len - i);
        __m512 g = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, p + i), sc),
                                 _mm512_sub_ps(_mm512_maskz_loadu_ps(k, ds + i), dv));
        if (ds16) _mm512_mask_cvtepi32_storeu_epi16(ds16 + i, k, round_bf16_512(g));
        else _mm512_mask_storeu_ps(ds + i, k, g);
    }
#else
    double sum = 0;
    for (int i = 0; i < len; i++) {
        sum += (double)p[i] * ds[i];
        if (pc) pc[i] = p[i];
        if (p16) p16[i] = f32_to_bf16((float)p[i]);
    }
    d = (real)sum;
    for (int i = 0; i < len; i++) {
        real g = p[i] * scale * (ds[i] - d);
        if (ds16) ds16[i] = f32_to_bf16((float)g);
        else ds[i] = g;
    }
#endif
    if (pc) memset(pc + len, 0, (size_t)(end - len) * sizeof(real));
    if (p16) memset(p16 + len, 0, (size_t)(end - len) * sizeof(uint16_t));
    if (ds16) memset(ds16 + len, 0, (size_t)(end - len) * sizeof(uint16_t));
    else memset(ds + len, 0, (size_t)(end - len) * sizeof(real));
}

// one (batch, KV head) and the query heads that share it: dk and dv of a KV head have one writer
static void attention_backward_group(void *ctx, int item, int worker) {
    const AttentionArgs *a = ctx;
    int T = a->T, hd = a->hd, b = item / a->n_kv_heads, g = item % a->n_kv_heads;
    int group = a->n_heads / a->n_kv_heads, qs = a->n_heads * hd, ks = a->n_kv_heads * hd;
    real scale = (real)(1.0 / sqrt((double)hd));
    real *scratch = a->scratch[worker];
    size_t koff = (size_t)b * T * ks + (size_t)g * hd;
    const real *kh = a->k + koff, *vh = a->v + koff;
    real *dkh = a->dk + koff, *dvh = a->dv + koff;
    for (int h = g * group; h < (g + 1) * group; h++) {
        size_t qoff = (size_t)b * T * qs + (size_t)h * hd;
        const real *qh = a->q + qoff, *doh = a->dout + qoff;
        real *dqh = a->dq + qoff;
        const real *P = a->probs + ((size_t)b * a->n_heads + h) * T * T;
        for (int i0 = 0; i0 < T; i0 += ATT_BLOCK) {
            int i1 = imin(i0 + ATT_BLOCK, T), m = i1 - i0;
            const real *Pb = P + (size_t)i0 * T, *dob = doh + (size_t)i0 * qs;
            real *dS = scratch + (size_t)i0 * T;
            // dP = dout . V^T, then dV += P^T . dout (P is 0 past the diagonal)
            gemm(0, 1, m, i1, hd, 1, dob, qs, vh, ks, 0, dS, T);
            gemm(1, 0, i1, hd, m, 1, Pb, T, dob, qs, 1, dvh, ks);
            for (int t = i0; t < i1; t++)
                softmax_backward_row(scratch + (size_t)t * T, P + (size_t)t * T, t + 1, i1);
            gemm(0, 0, m, hd, i1, scale, dS, T, kh, ks, 1, dqh + (size_t)i0 * qs, qs);
            gemm(1, 0, i1, hd, m, scale, dS, T, qh + (size_t)i0 * qs, qs, 1, dkh, ks);
        }
    }
}

void attention_backward(real *dq, real *dk, real *dv, const real *dout, const real *att,
                        const real *q, const real *k, const real *v,
                        int B, int T, int n_heads, int n_kv_heads, int hd, real *scratch) {
    int items = B * n_kv_heads;
    real *scratch_of[PAR_MAX_THREADS] = { scratch };
    for (int w = 1; w < parallel_threads(items); w++) scratch_of[w] = worker_scratch(w, (size_t)T * T);
    AttentionArgs a = { .dq = dq, .dk = dk, .dv = dv, .scratch = scratch_of, .q = q, .k = k, .v = v,
                        .dout = dout, .probs = att, .B = B, .T = T, .n_heads = n_heads,
                        .n_kv_heads = n_kv_heads, .hd = hd };
    parallel_for(items, attention_backward_group, &a);
}
