// The model's operations, forward and backward, on plain arrays. Matrix-shaped work goes to gemm;
// the row kernels that need exp (softmax, cross-entropy, SiLU) have an AVX-512 path in the float
// build, because at vocab 8192 the exps of the loss alone cost more than the head's product.
#if defined(__GNUC__) && !defined(__clang__)
// GCC's -O2 only vectorises loops whose trip count is a known multiple of the vector width; the
// elementwise loops here (norms, RoPE, residuals) need its ordinary cost model.
#pragma GCC optimize("vect-cost-model=dynamic")
#endif
#include "engine/ops.h"
#include <math.h>
#include <string.h>

// SWEEP_REAL is a type name; pasting a suffix onto it lets the preprocessor tell float from double.
#define float_IS_F32 1
#define double_IS_F32 0
#define OPS_PASTE_(a, b) a##b
#define OPS_PASTE(a, b) OPS_PASTE_(a, b)
#if OPS_PASTE(SWEEP_REAL, _IS_F32) && defined(__AVX512F__)
#define OPS_AVX512 1
#include <immintrin.h>
#else
#define OPS_AVX512 0
#endif

// ---------------------------------------------------------------------------------------------
// Row kernels

#if OPS_AVX512
// e^x to about 1 ulp: x = n ln2 + r with |r| <= ln2/2, Cephes' polynomial for e^r, scalef for 2^n.
// NaN stays NaN; large negative x gives 0, large positive x gives inf.
static inline __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_set1_ps(88.8f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

static inline __mmask16 tail_mask(int left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1); }
#endif

static real row_max(const real *x, int n) {
#if OPS_AVX512
    __m512 m = _mm512_set1_ps(-INFINITY);
    for (int i = 0; i < n; i += 16)
        m = _mm512_max_ps(m, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail_mask(n - i), x + i));
    return _mm512_reduce_max_ps(m);
#else
    real m = -INFINITY;
    for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
#endif
}

// out[i] = exp(x[i] - shift) unless out is NULL (out may alias x); returns the sum of those values.
static double exp_shift_sum(real *out, const real *x, int n, real shift) {
#if OPS_AVX512
    __m512 acc = _mm512_setzero_ps(), sh = _mm512_set1_ps(shift);
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), sh));
        acc = _mm512_mask_add_ps(acc, k, acc, e);
        if (out) _mm512_mask_storeu_ps(out + i, k, e);
    }
    return _mm512_reduce_add_ps(acc);
#else
    double s = 0;
    for (int i = 0; i < n; i++) {
        real e = exp(x[i] - shift);
        if (out) out[i] = e;
        s += e;
    }
    return s;
#endif
}

static void scale_row(real *x, int n, real a) {
#if OPS_AVX512
    __m512 av = _mm512_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), av));
    if (i < n) {
        __mmask16 k = tail_mask(n - i);
        _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), av));
    }
#else
    for (int i = 0; i < n; i++) x[i] *= a;
#endif
}

static double dot(const real *a, const real *b, int n) {
#if OPS_AVX512
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, a + i), _mm512_maskz_loadu_ps(k, b + i), acc);
    }
    return _mm512_reduce_add_ps(acc);
#else
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
#endif
}

// sum of a[i] b[i] c[i]
static double dot3(const real *a, const real *b, const real *c, int n) {
#if OPS_AVX512
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        __m512 ab = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, a + i), _mm512_maskz_loadu_ps(k, b + i));
        acc = _mm512_fmadd_ps(ab, _mm512_maskz_loadu_ps(k, c + i), acc);
    }
    return _mm512_reduce_add_ps(acc);
#else
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i] * c[i];
    return s;
#endif
}

// ---------------------------------------------------------------------------------------------
// Embedding

void embedding_forward(real *out, const int *tokens, int n, const Mat *emb) {
    for (int i = 0; i < n; i++) mat_decode_row(out + (size_t)i * emb->cols, emb, tokens[i]);
}

void embedding_backward(real *demb, const real *dout, const int *tokens, int n, int dim) {
    for (int i = 0; i < n; i++) {
        real *d = demb + (size_t)tokens[i] * dim;
        const real *g = dout + (size_t)i * dim;
        for (int j = 0; j < dim; j++) d[j] += g[j];
    }
}

// ---------------------------------------------------------------------------------------------
// RMSNorm

void rmsnorm_forward(real *out, real *rstd, const real *x, const real *gain, int n, int dim, double eps) {
    for (int i = 0; i < n; i++) {
        const real *xi = x + (size_t)i * dim;
        real *oi = out + (size_t)i * dim;
        real r = (real)(1.0 / sqrt(dot(xi, xi, dim) / dim + eps));
        rstd[i] = r;
        for (int j = 0; j < dim; j++) oi[j] = xi[j] * r * gain[j];
    }
}

// With y = x r g and r = (mean x^2 + eps)^-1/2:  dx = r (g dy) - x r^3 / dim * sum(g dy x).
void rmsnorm_backward(real *dx, real *dgain, const real *dout, const real *x, const real *gain,
                      const real *rstd, int n, int dim) {
    for (int i = 0; i < n; i++) {
        const real *xi = x + (size_t)i * dim, *di = dout + (size_t)i * dim;
        real *dxi = dx + (size_t)i * dim;
        real r = rstd[i];
        real c = (real)(dot3(di, gain, xi, dim) * r * r * r / dim);
        for (int j = 0; j < dim; j++) dxi[j] += r * gain[j] * di[j] - c * xi[j];
        if (dgain)
            for (int j = 0; j < dim; j++) dgain[j] += di[j] * xi[j] * r;
    }
}

// ---------------------------------------------------------------------------------------------
// RoPE

void rope_tables(real *cos_t, real *sin_t, int T, int hd, double theta) {
    int half = hd / 2;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < half; j++) {
            double angle = t * pow(theta, -2.0 * j / hd);
            cos_t[(size_t)t * half + j] = (real)cos(angle);
            sin_t[(size_t)t * half + j] = (real)sin(angle);
        }
}

// Rotates each pair (j, j + hd/2) of every head by +angle (sign 1) or -angle (sign -1).
static void rope_rotate(real *x, const real *cos_t, const real *sin_t, int B, int T, int heads, int hd,
                        real sign) {
    int half = hd / 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const real *c = cos_t + (size_t)t * half, *s = sin_t + (size_t)t * half;
            for (int h = 0; h < heads; h++) {
                real *v = x + (((size_t)b * T + t) * heads + h) * hd;
                for (int j = 0; j < half; j++) {
                    real x1 = v[j], x2 = v[j + half], sj = sign * s[j];
                    v[j] = x1 * c[j] - x2 * sj;
                    v[j + half] = x2 * c[j] + x1 * sj;
                }
            }
        }
}

void rope_forward(real *x, const real *cos_t, const real *sin_t, int B, int T, int heads, int hd) {
    rope_rotate(x, cos_t, sin_t, B, T, heads, hd, 1);
}

void rope_backward(real *d, const real *cos_t, const real *sin_t, int B, int T, int heads, int hd) {
    rope_rotate(d, cos_t, sin_t, B, T, heads, hd, -1);
}

// ---------------------------------------------------------------------------------------------
// Causal attention with grouped KV heads. Each (batch, head) is two gemms over blocks of query
// rows; a block of rows [i0, i1) only meets keys [0, i1), so the masked half is mostly skipped.

enum { ATT_BLOCK = 64 };

static inline int imin(int a, int b) { return a < b ? a : b; }

// p[0..len) becomes softmax(p[0..len)); p[len..end) becomes 0 (masked keys)
static void softmax_causal_row(real *p, int len, int end) {
    real mx = row_max(p, len);
    double sum = exp_shift_sum(p, p, len, mx);
    scale_row(p, len, (real)(1.0 / sum));
    memset(p + len, 0, (size_t)(end - len) * sizeof(real));
}

void attention_forward(real *out, real *att, const real *q, const real *k, const real *v,
                       int B, int T, int n_heads, int n_kv_heads, int hd) {
    int group = n_heads / n_kv_heads;
    int qs = n_heads * hd, ks = n_kv_heads * hd;   // row strides of q/out and of k/v
    real scale = (real)(1.0 / sqrt((double)hd));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < n_heads; h++) {
            const real *qh = q + (size_t)b * T * qs + (size_t)h * hd;
            const real *kh = k + (size_t)b * T * ks + (size_t)(h / group) * hd;
            const real *vh = v + (size_t)b * T * ks + (size_t)(h / group) * hd;
            real *oh = out + (size_t)b * T * qs + (size_t)h * hd;
            real *P = att + ((size_t)b * n_heads + h) * T * T;
            for (int i0 = 0; i0 < T; i0 += ATT_BLOCK) {
                int i1 = imin(i0 + ATT_BLOCK, T), m = i1 - i0;
                gemm(0, 1, m, i1, hd, scale, qh + (size_t)i0 * qs, qs, kh, ks, 0, P + (size_t)i0 * T, T);
                for (int t = i0; t < i1; t++) softmax_causal_row(P + (size_t)t * T, t + 1, T);
                gemm(0, 0, m, hd, i1, 1, P + (size_t)i0 * T, T, vh, ks, 0, oh + (size_t)i0 * qs, qs);
            }
        }
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

void attention_backward(real *dq, real *dk, real *dv, const real *dout, const real *att,
                        const real *q, const real *k, const real *v,
                        int B, int T, int n_heads, int n_kv_heads, int hd, real *scratch) {
    int group = n_heads / n_kv_heads;
    int qs = n_heads * hd, ks = n_kv_heads * hd;
    real scale = (real)(1.0 / sqrt((double)hd));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < n_heads; h++) {
            size_t qoff = (size_t)b * T * qs + (size_t)h * hd, koff = (size_t)b * T * ks + (size_t)(h / group) * hd;
            const real *qh = q + qoff, *kh = k + koff, *vh = v + koff, *doh = dout + qoff;
            real *dqh = dq + qoff, *dkh = dk + koff, *dvh = dv + koff;
            const real *P = att + ((size_t)b * n_heads + h) * T * T;
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

// ---------------------------------------------------------------------------------------------
// SwiGLU: out = silu(gate) * up, silu(g) = g * sigmoid(g)

void swiglu_forward(real *out, const real *gate, const real *up, long n) {
    long i = 0;
#if OPS_AVX512
    __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 g = _mm512_loadu_ps(gate + i);
        __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(g, s), _mm512_loadu_ps(up + i)));
    }
#endif
    for (; i < n; i++) {
        real s = 1 / (1 + exp(-gate[i]));
        out[i] = gate[i] * s * up[i];
    }
}

// d silu(g) / dg = s (1 + g (1 - s)) with s = sigmoid(g)
void swiglu_backward(real *dgate, real *dup, const real *dout, const real *gate, const real *up, long n) {
    long i = 0;
#if OPS_AVX512
    __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 g = _mm512_loadu_ps(gate + i), d = _mm512_loadu_ps(dout + i);
        __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
        __m512 dsilu = _mm512_mul_ps(s, _mm512_fmadd_ps(g, _mm512_sub_ps(one, s), one));
        __m512 du = _mm512_mul_ps(d, _mm512_loadu_ps(up + i));
        _mm512_storeu_ps(dgate + i, _mm512_fmadd_ps(du, dsilu, _mm512_loadu_ps(dgate + i)));
        _mm512_storeu_ps(dup + i, _mm512_fmadd_ps(d, _mm512_mul_ps(g, s), _mm512_loadu_ps(dup + i)));
    }
#endif
    for (; i < n; i++) {
        real g = gate[i], s = 1 / (1 + exp(-g));
        dgate[i] += dout[i] * up[i] * s * (1 + g * (1 - s));
        dup[i] += dout[i] * g * s;
    }
}

// ---------------------------------------------------------------------------------------------
// Bias, residual

void bias_forward(real *y, const real *b, int n, int rows) {
    for (int i = 0; i < n; i++)
        for (int r = 0; r < rows; r++) y[(size_t)i * rows + r] += b[r];
}

void bias_backward(real *db, const real *dy, int n, int rows) {
    for (int i = 0; i < n; i++)
        for (int r = 0; r < rows; r++) db[r] += dy[(size_t)i * rows + r];
}

void residual_add(real *y, const real *x, long n) {
    for (long i = 0; i < n; i++) y[i] += x[i];
}

// ---------------------------------------------------------------------------------------------
// Cross-entropy, fused: loss(row) = logsumexp(row) - row[target]

static long count_targets(const int *targets, int n) {
    long c = 0;
    for (int i = 0; i < n; i++) c += targets[i] >= 0;
    return c;
}

double cross_entropy_forward(const real *logits, const int *targets, int n, int vocab, real *nll) {
    double total = 0;
    long count = 0;
    for (int i = 0; i < n; i++) {
        if (targets[i] < 0) {
            if (nll) nll[i] = 0;
            continue;
        }
        const real *row = logits + (size_t)i * vocab;
        real mx = row_max(row, vocab);
        double loss = mx + log(exp_shift_sum(NULL, row, vocab, mx)) - row[targets[i]];
        if (nll) nll[i] = (real)loss;
        total += loss;
        count++;
    }
    return count ? total / count : 0;
}

void cross_entropy_backward(real *dlogits, const real *logits, const int *targets, int n, int vocab, real dloss) {
    long count = count_targets(targets, n);
    real g = count ? (real)(dloss / count) : 0;
    for (int i = 0; i < n; i++) {
        real *d = dlogits + (size_t)i * vocab;
        const real *row = logits + (size_t)i * vocab;
        if (targets[i] < 0) {
            memset(d, 0, (size_t)vocab * sizeof(real));
            continue;
        }
        real mx = row_max(row, vocab);
        double sum = exp_shift_sum(d, row, vocab, mx);   // d may be row itself: read before written
        scale_row(d, vocab, (real)(g / sum));
        d[targets[i]] -= g;
    }
}
