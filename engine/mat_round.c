// Rounding kernels of the matrix-product layer, shared by the oneDNN path and its BLAS emulation so
// that both see the same inputs: bf16 (round to nearest even) and per-row int8 quantisation.
#include "engine/mat_impl.h"
#include "engine/ops.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

// out[i] = the bf16 value src[i] as float
void mat_bf16_decode(float *out, const uint16_t *src, size_t n) {
    size_t i = 0;
#ifdef __AVX512F__
    for (; i + 16 <= n; i += 16) {
        __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + i)));
        _mm512_storeu_ps(out + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
#endif
    for (; i < n; i++) out[i] = bf16_to_f32(src[i]);
}

// out[i] = x[i] rounded to bf16, exactly as f32_to_bf16
void mat_round_bf16(uint16_t *out, const real *x, size_t n) {
    size_t i = 0;
#ifdef __AVX512F__
    if (REAL_IS_FLOAT) {
        const float *xf = (const float *)x;
        const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff);
        const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
        const __m512i quiet = _mm512_set1_epi32(0x40);
        for (; i + 16 <= n; i += 16) {
            __m512i u = _mm512_castps_si512(_mm512_loadu_ps(xf + i));
            __m512i hi = _mm512_srli_epi32(u, 16);
            __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(bias, _mm512_and_si512(hi, one))), 16);
            __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs_mask), inf);
            r = _mm512_mask_or_epi32(r, nan, hi, quiet);
            _mm256_storeu_si256((__m256i *)(out + i), _mm512_cvtepi32_epi16(r));
        }
    }
#endif
    for (; i < n; i++) out[i] = f32_to_bf16((float)x[i]);
}

typedef struct { uint16_t *out; const real *x; size_t n; } RoundArgs;

enum { ROUND_ITEM = 1 << 14 };   // elements, a multiple of 16: each vector falls where it does on one thread

static void round_item(void *ctx, int item, int worker) {
    (void)worker;
    const RoundArgs *a = ctx;
    size_t i0 = (size_t)item * ROUND_ITEM, n = a->n - i0 < ROUND_ITEM ? a->n - i0 : ROUND_ITEM;
    mat_round_bf16(a->out + i0, a->x + i0, n);
}

void mat_round_bf16_split(uint16_t *out, const real *x, size_t n) {
    RoundArgs a = { out, x, n };
    parallel_for_light((int)((n + ROUND_ITEM - 1) / ROUND_ITEM), round_item, &a);
}

void mat_bf16_to_real(real *out, const uint16_t *h, size_t n) {
    if (REAL_IS_FLOAT) mat_bf16_decode((float *)out, h, n);
    else for (size_t i = 0; i < n; i++) out[i] = (real)bf16_to_f32(h[i]);
}

// Per-row int8 quantisation (BitNet b1.58's absmax per token): q[m][k] = round(x[m][k] * 127 / amax),
// xs[m] = amax / 127. A row holding NaN or inf gets q = 0 and xs = NaN, so the product shows it.
void mat_quantize_rows_i8(int8_t *q, float *xs, const real *x, int n, size_t K) {
    for (int m = 0; m < n; m++) {
        const real *xm = x + (size_t)m * K;
        int8_t *qm = q + (size_t)m * K;
        float amax = 0, finite = 0;   // finite becomes NaN when a value is NaN or inf
        size_t k = 0;
#ifdef __AVX512F__
        if (REAL_IS_FLOAT) {
            const float *xf = (const float *)xm;
            __m512 vmax = _mm512_setzero_ps(), vfin = _mm512_setzero_ps();
            for (; k + 16 <= K; k += 16) {
                __m512 v = _mm512_loadu_ps(xf + k);
                vmax = _mm512_max_ps(vmax, _mm512_abs_ps(v));
                vfin = _mm512_add_ps(vfin, _mm512_mul_ps(v, _mm512_setzero_ps()));
            }
            amax = _mm512_reduce_max_ps(vmax);
            finite = _mm512_reduce_add_ps(vfin);
        }
#endif
        for (; k < K; k++) {
            float a = fabsf((float)xm[k]);
            amax = a > amax ? a : amax;
            finite += (float)xm[k] * 0.0f;
        }
        if (finite != 0 || amax == 0) {   // NaN != 0 holds; an all-zero row quantises to zeros
            memset(qm, 0, K);
            xs[m] = amax == 0 && finite == 0 ? 0 : NAN;
            continue;
        }
        float inv = 127.0f / amax;
        k = 0;
#ifdef __AVX512F__
        if (REAL_IS_FLOAT) {
            const float *xf = (const float *)xm;
            __m512 vinv = _mm512_set1_ps(inv);
            for (; k + 16 <= K; k += 16) {   // round to nearest even, as lrintf
                __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xf + k), vinv));
                _mm_storeu_si128((__m128i *)(qm + k), _mm512_cvtsepi32_epi8(v));
            }
        }
#endif
        for (; k < K; k++) {
            long v = lrintf((float)xm[k] * inv);
            qm[k] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
        xs[m] = amax / 127.0f;
    }
}

// y[m][r] (=|+=) acc[m][r] * xs[m] * ws[r], in this order in every path; ws NULL: no row scale
void mat_dequantize(real *y, const int32_t *acc, const float *xs, const float *ws, int n, int rows,
                       int accumulate) {
    for (int m = 0; m < n; m++) {
        real *ym = y + (size_t)m * rows;
        const int32_t *am = acc + (size_t)m * rows;
        float s = xs[m];
        int r = 0;
#ifdef __AVX512F__
        if (REAL_IS_FLOAT) {
            float *yf = (float *)ym;
            __m512 vs = _mm512_set1_ps(s);
            for (; r + 16 <= rows; r += 16) {
                __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_loadu_si512(am + r)), vs);
                if (ws) v = _mm512_mul_ps(v, _mm512_loadu_ps(ws + r));
                if (accumulate) v = _mm512_add_ps(_mm512_loadu_ps(yf + r), v);
                _mm512_storeu_ps(yf + r, v);
            }
        }
#endif
        for (; r < rows; r++) {
            float v = (float)am[r] * s;
            if (ws) v *= ws[r];
            ym[r] = accumulate ? (real)((float)ym[r] + v) : (real)v;
        }
    }
}
