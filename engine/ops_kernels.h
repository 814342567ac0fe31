// The row kernels engine/ops.c and engine/loss.c share: exp, max, sums and dots over a row, with an
// AVX-512 path in the float build (static inline: each file gets its own copy).
#pragma once
#include <math.h>
#include "engine/mat.h"
#include "engine/real.h"

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

static inline real row_max(const real *x, int n) {
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
static inline double exp_shift_sum(real *out, const real *x, int n, real shift) {
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

static inline void scale_row(real *x, int n, real a) {
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

static inline double dot(const real *a, const real *b, int n) {
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
static inline double dot3(const real *a, const real *b, const real *c, int n) {
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

#if OPS_AVX512
// x rounded to bf16 in the low half of each lane, as mat_round_bf16 and f32_to_bf16 round it (nearest
// even; NaN stays NaN, quiet); stored with _mm512_mask_cvtepi32_storeu_epi16
static inline __m512i round_bf16_512(__m512 x) {
    __m512i u = _mm512_castps_si512(x), hi = _mm512_srli_epi32(u, 16);
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff),
                                                                       _mm512_and_si512(hi, _mm512_set1_epi32(1)))), 16);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    return _mm512_mask_or_epi32(r, nan, hi, _mm512_set1_epi32(0x40));
}
#endif

static inline int imin(int a, int b) { return a < b ? a : b; }
