// The matrix-product layer: every weight product of the engine goes through here, whatever the
// storage type of the weight and the compute precision of the run. In fp32, stored types other
// than real are decoded a tile of rows at a time into a thread-local buffer, so a mapped base is
// never expanded whole; in bf16 and int8 the weights are converted once into a cache (below) and
// multiplied by oneDNN (engine/mat_dnnl.c), or by BLAS on inputs rounded the same way without it.
#include "engine/mat.h"
#include "engine/int4.h"
#include "engine/mat_dnnl.h"
#include "engine/ternary.h"
#include "engine/util.h"
#include <cblas.h>
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void gemm(int transA, int transB, int M, int N, int K, real alpha, const real *A, int lda,
          const real *B, int ldb, real beta, real *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {   // BLAS argument checks reject lda < 1 for an empty product
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * C[(size_t)i * ldc + j];
        return;
    }
    enum CBLAS_TRANSPOSE ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans;
    if (REAL_IS_FLOAT)
        cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, (float)alpha, (const float *)A, lda,
                    (const float *)B, ldb, (float)beta, (float *)C, ldc);
    else
        cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, (double)alpha, (const double *)A, lda,
                    (const double *)B, ldb, (double)beta, (double *)C, ldc);
}

void engine_set_threads(int n) {
    openblas_set_num_threads(n < 1 ? 1 : n);
    mat_dnnl_set_threads(n);
}

// A weight the gemm can read in place: real elements, or fp32 elements in the float build.
static const real *mat_direct(const Mat *W) {
    if (W->type == MAT_REAL || (W->type == MAT_F32 && REAL_IS_FLOAT)) return (const real *)W->data;
    return NULL;
}

// Tiles of about 512K elements (2 MB in float): deep enough (256 rows at dim 2048) that the input
// gradient, which every tile adds into, is not re-read from memory too often.
static int tile_rows(const Mat *W) {
    int r = (1 << 19) / (W->cols > 0 ? W->cols : 1);
    r = r < 16 ? 16 : (r & ~15);
    return r < W->rows ? r : W->rows;
}

// The thread's tile buffer (engine/util.h tile_buffer), n reals.
static real *tile_scratch(size_t n) { return tile_buffer(n * sizeof(real)); }

static void bf16_decode(float *out, const uint16_t *src, size_t n) {
    size_t i = 0;
#ifdef __AVX512F__
    for (; i + 16 <= n; i += 16) {
        __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + i)));
        _mm512_storeu_ps(out + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
#endif
    for (; i < n; i++) out[i] = bf16_to_f32(src[i]);
}

void mat_decode_rows(real *out, const Mat *W, int r0, int r1) {
    size_t cols = (size_t)W->cols, n = (size_t)(r1 - r0) * cols, off = (size_t)r0 * cols;
    if (r1 <= r0) return;
    switch (W->type) {
    case MAT_REAL:
        memcpy(out, (const real *)W->data + off, n * sizeof(real));
        break;
    case MAT_F32: {
        const float *src = (const float *)W->data + off;
        for (size_t i = 0; i < n; i++) out[i] = (real)src[i];
        break;
    }
    case MAT_BF16: {
        const uint16_t *src = (const uint16_t *)W->data + off;
        if (REAL_IS_FLOAT) bf16_decode((float *)out, src, n);
        else for (size_t i = 0; i < n; i++) out[i] = (real)bf16_to_f32(src[i]);
        break;
    }
    case MAT_TERNARY:
        ternary_decode_rows(out, W, r0, r1);
        break;
    case MAT_INT4:
        int4_decode_rows(out, W, r0, r1);
        break;
    }
}

void mat_decode_row(real *out, const Mat *W, int r) { mat_decode_rows(out, W, r, r + 1); }

size_t mat_storage_bytes(const Mat *W) {
    size_t n = (size_t)W->rows * W->cols;
    switch (W->type) {
    case MAT_REAL: return n * sizeof(real);
    case MAT_F32: return n * sizeof(float);
    case MAT_BF16: return n * sizeof(uint16_t);
    case MAT_TERNARY:   // the packed trits and one float scale per row
        return ternary_packed_bytes(W->rows, W->cols) + (size_t)W->rows * sizeof(float);
    case MAT_INT4:      // the packed nibbles and one float scale per group
        return int4_bytes(W->rows, W->cols, W->group);
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// fp32 on OpenBLAS: the reference

static void fp32_forward(real *y, const real *x, const Mat *W, int n, int accumulate) {
    if (W->type == MAT_TERNARY) { ternary_forward(y, x, W, n, accumulate); return; }
    const real *direct = mat_direct(W);
    real beta = accumulate ? 1 : 0;
    if (direct) {
        gemm(0, 1, n, W->rows, W->cols, 1, x, W->cols, direct, W->cols, beta, y, W->rows);
        return;
    }
    int step = tile_rows(W);
    real *tile = tile_scratch((size_t)step * W->cols);
    for (int r0 = 0; r0 < W->rows; r0 += step) {
        int r1 = r0 + step < W->rows ? r0 + step : W->rows;
        mat_decode_rows(tile, W, r0, r1);
        gemm(0, 1, n, r1 - r0, W->cols, 1, x, W->cols, tile, W->cols, beta, y + r0, W->rows);
    }
}

static void fp32_backward_input(real *dx, const real *dy, const Mat *W, int n) {
    if (W->type == MAT_TERNARY) { ternary_backward_input(dx, dy, W, n); return; }
    const real *direct = mat_direct(W);
    if (direct) {
        gemm(0, 0, n, W->cols, W->rows, 1, dy, W->rows, direct, W->cols, 1, dx, W->cols);
        return;
    }
    int step = tile_rows(W);
    real *tile = tile_scratch((size_t)step * W->cols);
    for (int r0 = 0; r0 < W->rows; r0 += step) {
        int r1 = r0 + step < W->rows ? r0 + step : W->rows;
        mat_decode_rows(tile, W, r0, r1);
        gemm(0, 0, n, W->cols, r1 - r0, 1, dy + r0, W->rows, tile, W->cols, 1, dx, W->cols);
    }
}

static void fp32_backward_weight(real *dW, const real *dy, const real *x, int n, int rows, int cols) {
    gemm(1, 0, rows, cols, n, 1, dy, rows, x, cols, 1, dW, cols);
}

// ---------------------------------------------------------------------------------------------
// Compute precision

const char *const mat_precision_names[] = { "fp32", "fp32-dnnl", "bf16", "int8", NULL };

const char *mat_precision_name(MatPrecision p) {
    return (unsigned)p <= MAT_PREC_INT8 ? mat_precision_names[p] : "unknown";
}

int mat_precision_parse(const char *s, MatPrecision *p) {
    for (int i = 0; i <= MAT_PREC_INT8; i++)
        if (s && !strcmp(s, mat_precision_names[i])) { *p = (MatPrecision)i; return 0; }
    return -1;
}

static int dnnl_usable(void) { return REAL_IS_FLOAT && mat_dnnl_available(); }

const char *mat_precision_backend(MatPrecision p) {
    if (p == MAT_PREC_FP32) return "openblas";
    if (dnnl_usable()) return "onednn";
    return p == MAT_PREC_FP32_DNNL ? "openblas" : "openblas-emulated";
}

// ---------------------------------------------------------------------------------------------
// Rounding kernels, shared by the oneDNN path and its BLAS emulation so that both see the same inputs

// out[i] = x[i] rounded to bf16, exactly as f32_to_bf16
static void round_bf16(uint16_t *out, const real *x, size_t n) {
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

static void bf16_to_real(real *out, const uint16_t *h, size_t n) {
    if (REAL_IS_FLOAT) bf16_decode((float *)out, h, n);
    else for (size_t i = 0; i < n; i++) out[i] = (real)bf16_to_f32(h[i]);
}

// Per-row int8 quantisation (BitNet b1.58's absmax per token): q[m][k] = round(x[m][k] * 127 / amax),
// xs[m] = amax / 127. A row holding NaN or inf gets q = 0 and xs = NaN, so the product shows it.
static void quantize_rows_i8(int8_t *q, float *xs, const real *x, int n, size_t K) {
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
static void dequantize(real *y, const int32_t *acc, const float *xs, const float *ws, int n, int rows,
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

// ---------------------------------------------------------------------------------------------
// Converted weights, cached: one bf16 copy (or int8 trits) per weight matrix, made on first use.
// Key: address, kind, type and shape. Every use re-hashes 64 sampled 8-byte words (and scales) of
// the source, so a matrix freed and reallocated with other values at the same address is seen.
// Weights that receive weight gradients change in place by tiny amounts a sample can miss; for
// them (MAT_REAL) an epoch starts at the first forward after a mat_backward_weight, and entries
// of an older epoch are converted again: once per training step, as full FT needs.

typedef enum { PREP_BF16, PREP_TRITS } PrepKind;

typedef struct {
    const void *src;
    const float *scale;
    MatType type;
    int rows, cols;
    PrepKind kind;
    uint64_t sample, epoch, last_use;
    void *data;
    size_t bytes;
} Prepared;

#define CACHE_LIMIT ((size_t)6 << 30)   // a 1B model's bf16 copy and int8 trits fit
enum { N_SCRATCH = 5 };

// Everything a job's products keep between calls; nothing of it is shared with another context.
struct MatContext {
    MatPrecision precision;
    Prepared *prep;              // converted weights without a ready form, least recently used out
    int n_prep, cap_prep;
    size_t prep_bytes;
    uint64_t epoch, uses;
    int grads_since_forward;
    void *scratch[N_SCRATCH];    // converted activations and int32 sums, grown as needed
    size_t scratch_cap[N_SCRATCH];
    MatDnnl *dnnl;               // oneDNN primitives and scratchpad (NULL until the first oneDNN product)
};

MatContext *mat_context_create(MatPrecision p) {
    MatContext *mc = xcalloc(1, sizeof *mc);
    mc->precision = (unsigned)p <= MAT_PREC_INT8 ? p : MAT_PREC_FP32;
    return mc;
}

MatPrecision mat_context_precision(const MatContext *mc) { return mc ? mc->precision : MAT_PREC_FP32; }

static uint64_t sample_hash(const Mat *W) {
    uint64_t h = fnv1a64(&W->rows, sizeof W->rows, FNV1A64_INIT);
    h = fnv1a64(&W->cols, sizeof W->cols, h);
    size_t bytes = W->type == MAT_TERNARY ? ternary_packed_bytes(W->rows, W->cols)
                                          : mat_storage_bytes(W);
    const uint8_t *p = W->data;
    if (bytes <= 64 * 8) h = fnv1a64(p, bytes, h);
    else
        for (size_t i = 0; i < 64; i++) h = fnv1a64(p + (bytes - 8) / 63 * i, 8, h);
    if (W->type == MAT_TERNARY)
        for (int i = 0; i < 8; i++) h = fnv1a64(W->scale + (size_t)(W->rows - 1) * i / 7, sizeof(float), h);
    return h;
}

static void prep_drop(MatContext *mc, int i) {
    mc->prep_bytes -= mc->prep[i].bytes;
    free(mc->prep[i].data);
    mc->prep[i] = mc->prep[--mc->n_prep];
}

void mat_cache_clear(MatContext *mc) {
    while (mc && mc->n_prep) prep_drop(mc, mc->n_prep - 1);
}

size_t mat_cache_bytes(const MatContext *mc) { return mc ? mc->prep_bytes : 0; }

void mat_context_free(MatContext *mc) {
    if (!mc) return;
    mat_cache_clear(mc);
    free(mc->prep);
    for (int i = 0; i < N_SCRATCH; i++) free(mc->scratch[i]);
    mat_dnnl_free(mc->dnnl);
    free(mc);
}

void mat_convert_bf16(uint16_t *out, const Mat *W) {
    const real *direct = mat_direct(W);
    size_t cols = (size_t)W->cols;
    if (direct) { round_bf16(out, direct, (size_t)W->rows * cols); return; }
    int step = tile_rows(W);
    real *tile = tile_scratch((size_t)step * cols);
    for (int r0 = 0; r0 < W->rows; r0 += step) {
        int r1 = r0 + step < W->rows ? r0 + step : W->rows;
        mat_decode_rows(tile, W, r0, r1);
        round_bf16(out + (size_t)r0 * cols, tile, (size_t)(r1 - r0) * cols);
    }
}

// Memory for converted weights: the conversion writes all of it, so it is not zeroed first, and
// large buffers ask for huge pages (page faults were most of a first conversion's time here).
static void *cache_alloc(size_t bytes) {
    size_t align = bytes >= ((size_t)2 << 20) ? (size_t)2 << 20 : 64;
    size_t rounded = (bytes + align - 1) / align * align;
    void *p = aligned_alloc(align, rounded ? rounded : align);
    if (!p) {
        fprintf(stderr, "sweep: out of memory (%zu bytes for converted weights)\n", bytes);
        exit(3);
    }
#ifdef MADV_HUGEPAGE
    if (align > 64) madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
}

// The converted form of W: its ready form when it has one (mapped, shared per node), else the
// context's private copy; valid until the next call.
static const void *prepared(MatContext *mc, const Mat *W, PrepKind kind) {
    if (kind == PREP_BF16 && W->type == MAT_BF16) return W->data;   // already bf16: used in place
    if (kind == PREP_BF16 && W->ready_bf16) return W->ready_bf16;
    if (kind == PREP_TRITS && W->ready_i8) return W->ready_i8;
    uint64_t sample = sample_hash(W);
    Prepared *e = NULL;
    for (int i = 0; i < mc->n_prep && !e; i++)
        if (mc->prep[i].src == W->data && mc->prep[i].kind == kind) e = &mc->prep[i];
    if (e && e->sample == sample && e->type == W->type && e->rows == W->rows && e->cols == W->cols &&
        e->scale == W->scale && (W->type != MAT_REAL || e->epoch == mc->epoch)) {
        e->last_use = ++mc->uses;
        return e->data;
    }
    size_t bytes = (size_t)W->rows * W->cols * (kind == PREP_BF16 ? sizeof(uint16_t) : 1);
    if (e && e->bytes != bytes) { prep_drop(mc, (int)(e - mc->prep)); e = NULL; }
    if (!e) {
        while (mc->n_prep && mc->prep_bytes + bytes > CACHE_LIMIT) {   // least recently used first
            int lru = 0;
            for (int i = 1; i < mc->n_prep; i++)
                if (mc->prep[i].last_use < mc->prep[lru].last_use) lru = i;
            prep_drop(mc, lru);
        }
        if (mc->n_prep == mc->cap_prep) {
            mc->cap_prep = mc->cap_prep ? 2 * mc->cap_prep : 64;
            Prepared *grown = xmalloc(sizeof *mc->prep * (size_t)mc->cap_prep);
            if (mc->n_prep) memcpy(grown, mc->prep, sizeof *mc->prep * (size_t)mc->n_prep);
            free(mc->prep);
            mc->prep = grown;
        }
        e = &mc->prep[mc->n_prep++];
        *e = (Prepared){ .data = cache_alloc(bytes), .bytes = bytes };
        mc->prep_bytes += bytes;
    }
    e->src = W->data, e->scale = W->scale, e->type = W->type, e->rows = W->rows, e->cols = W->cols;
    e->kind = kind, e->sample = sample, e->epoch = mc->epoch, e->last_use = ++mc->uses;
    if (kind == PREP_BF16) mat_convert_bf16(e->data, W);
    else ternary_unpack_i8(e->data, W);
    return e->data;
}

// The context's scratch buffer `slot`, grown as needed.
static void *scratch(MatContext *mc, int slot, size_t bytes) {
    if (bytes > mc->scratch_cap[slot]) {
        free(mc->scratch[slot]);
        mc->scratch[slot] = xaligned(bytes);
        mc->scratch_cap[slot] = bytes;
    }
    return mc->scratch[slot];
}

// ---------------------------------------------------------------------------------------------
// bf16 products: inputs rounded to bf16, fp32 sums. oneDNN when present, else the rounded inputs
// decoded back to real and multiplied by BLAS (the same numbers, up to the order of fp32 sums).

// The context's oneDNN backend, made on first use; NULL when oneDNN cannot compute here.
static MatDnnl *use_dnnl(MatContext *mc) {
    if (!dnnl_usable()) return NULL;
    mat_dnnl_set_threads(openblas_get_num_threads());
    if (!mc->dnnl) mc->dnnl = mat_dnnl_create();
    return mc->dnnl;
}

static void bf16_forward(MatContext *mc, real *y, const real *x, const Mat *W, int n, int accumulate) {
    size_t nx = (size_t)n * W->cols;
    const uint16_t *wb = prepared(mc, W, PREP_BF16);
    uint16_t *xb = scratch(mc, 0, nx * sizeof(uint16_t));
    round_bf16(xb, x, nx);
    if (use_dnnl(mc) &&
        !mat_dnnl_gemm(mc->dnnl, MAT_DNNL_BF16, 0, 1, n, W->rows, W->cols, xb, wb, y, accumulate)) return;
    real *xr = scratch(mc, 1, nx * sizeof(real));
    bf16_to_real(xr, xb, nx);
    Mat Wb = { MAT_BF16, W->rows, W->cols, wb, NULL, NULL, NULL, 0 };
    fp32_forward(y, xr, &Wb, n, accumulate);
}

static void bf16_backward_input(MatContext *mc, real *dx, const real *dy, const Mat *W, int n) {
    size_t ny = (size_t)n * W->rows;
    const uint16_t *wb = prepared(mc, W, PREP_BF16);
    uint16_t *dyb = scratch(mc, 0, ny * sizeof(uint16_t));
    round_bf16(dyb, dy, ny);
    if (use_dnnl(mc) && !mat_dnnl_gemm(mc->dnnl, MAT_DNNL_BF16, 0, 0, n, W->cols, W->rows, dyb, wb, dx, 1)) return;
    real *dyr = scratch(mc, 1, ny * sizeof(real));
    bf16_to_real(dyr, dyb, ny);
    Mat Wb = { MAT_BF16, W->rows, W->cols, wb, NULL, NULL, NULL, 0 };
    fp32_backward_input(dx, dyr, &Wb, n);
}

static void bf16_backward_weight(MatContext *mc, real *dW, const real *dy, const real *x, int n, int rows, int cols) {
    size_t ny = (size_t)n * rows, nx = (size_t)n * cols;
    uint16_t *dyb = scratch(mc, 0, ny * sizeof(uint16_t)), *xb = scratch(mc, 2, nx * sizeof(uint16_t));
    round_bf16(dyb, dy, ny);
    round_bf16(xb, x, nx);
    if (use_dnnl(mc) && !mat_dnnl_gemm(mc->dnnl, MAT_DNNL_BF16, 1, 0, rows, cols, n, dyb, xb, dW, 1)) return;
    real *dyr = scratch(mc, 1, ny * sizeof(real)), *xr = scratch(mc, 3, nx * sizeof(real));
    bf16_to_real(dyr, dyb, ny);
    bf16_to_real(xr, xb, nx);
    fp32_backward_weight(dW, dyr, xr, n, rows, cols);
}

// int8 forward of a ternary matrix: exact int32 sums of int8 activations x trits, then scaled by
// the token's and the row's scales. Without oneDNN the same sums come from BLAS on small integers,
// exact in float while cols * 127 < 2^24.
static void int8_forward(MatContext *mc, real *y, const real *x, const Mat *W, int n, int accumulate) {
    int rows = W->rows, cols = W->cols;
    const int8_t *trits = prepared(mc, W, PREP_TRITS);
    int8_t *q = scratch(mc, 0, (size_t)n * cols);
    float *xs = scratch(mc, 2, (size_t)n * sizeof(float));
    int32_t *acc = scratch(mc, 3, (size_t)n * rows * sizeof(int32_t));
    quantize_rows_i8(q, xs, x, n, (size_t)cols);
    if (!use_dnnl(mc) || mat_dnnl_gemm(mc->dnnl, MAT_DNNL_S8, 0, 1, n, rows, cols, q, trits, acc, 0)) {
        real *qr = scratch(mc, 1, (size_t)n * cols * sizeof(real));
        for (size_t i = 0; i < (size_t)n * cols; i++) qr[i] = q[i];
        int step = tile_rows(W);
        real *tile = tile_scratch((size_t)step * cols), *sums = scratch(mc, 4, (size_t)n * step * sizeof(real));
        for (int r0 = 0; r0 < rows; r0 += step) {
            int r1 = r0 + step < rows ? r0 + step : rows;
            for (size_t i = 0; i < (size_t)(r1 - r0) * cols; i++) tile[i] = trits[(size_t)r0 * cols + i];
            gemm(0, 1, n, r1 - r0, cols, 1, qr, cols, tile, cols, 0, sums, r1 - r0);
            for (int m = 0; m < n; m++)
                for (int r = r0; r < r1; r++) acc[(size_t)m * rows + r] = (int32_t)sums[(size_t)m * (r1 - r0) + r - r0];
        }
    }
    dequantize(y, acc, xs, W->scale, n, rows, accumulate);
}

// int8 backward-input product of a ternary matrix, as SwitchBack (Wortsman et al. 2023) computes
// the input gradient: the row scales folded into the output gradient, g[m][r] = dy[m][r] * scale[r]
// (they sit on the summed dimension, so they cannot be applied after the sums), g quantised to
// int8 per token (absmax, as the forward's activations), acc[m][c] = sum_r q[m][r] * T[r][c] exact
// in int32 over the forward's cached trits, then dx[m][c] += acc[m][c] * s_m. Without oneDNN the
// same sums come from BLAS on small integers in tiles of at most 2^17 rows, each exact in float
// (2^17 * 127 < 2^24), added up in int32; int32 itself holds any rows * 127 < 2^31.
static void int8_backward_input(MatContext *mc, real *dx, const real *dy, const Mat *W, int n) {
    int rows = W->rows, cols = W->cols;
    const int8_t *trits = prepared(mc, W, PREP_TRITS);
    size_t ng = (size_t)n * rows;
    real *g = scratch(mc, 1, ng * sizeof(real));
    int8_t *q = scratch(mc, 0, ng);
    float *gs = scratch(mc, 2, (size_t)n * sizeof(float));
    int32_t *acc = scratch(mc, 3, (size_t)n * cols * sizeof(int32_t));
    for (int m = 0; m < n; m++) {
        const real *dym = dy + (size_t)m * rows;
        real *gm = g + (size_t)m * rows;
        for (int r = 0; r < rows; r++) gm[r] = dym[r] * (real)W->scale[r];
    }
    quantize_rows_i8(q, gs, g, n, (size_t)rows);
    if (!use_dnnl(mc) || mat_dnnl_gemm(mc->dnnl, MAT_DNNL_S8, 0, 0, n, cols, rows, q, trits, acc, 0)) {
        real *qr = g;   // g is spent: its buffer holds q as real
        for (size_t i = 0; i < ng; i++) qr[i] = q[i];
        int step = tile_rows(W);
        step = step < (1 << 17) ? step : (1 << 17);
        real *tile = tile_scratch((size_t)step * cols), *sums = scratch(mc, 4, (size_t)n * cols * sizeof(real));
        memset(acc, 0, (size_t)n * cols * sizeof(int32_t));
        for (int r0 = 0; r0 < rows; r0 += step) {
            int r1 = r0 + step < rows ? r0 + step : rows;
            for (size_t i = 0; i < (size_t)(r1 - r0) * cols; i++) tile[i] = trits[(size_t)r0 * cols + i];
            gemm(0, 0, n, cols, r1 - r0, 1, qr + r0, rows, tile, cols, 0, sums, cols);
            for (size_t i = 0; i < (size_t)n * cols; i++) acc[i] += (int32_t)sums[i];
        }
    }
    dequantize(dx, acc, gs, NULL, n, cols, 1);
}

// ---------------------------------------------------------------------------------------------
// The interface

// 4-bit matrices decode tiles in every precision (engine/int4.c): bf16 rounds them and the inputs,
// int8 computes them as bf16 (its integer kernels are for trits), fp32-dnnl as fp32.
static int int4_bf16(MatPrecision p) { return p == MAT_PREC_BF16 || p == MAT_PREC_INT8; }

void mat_forward(MatContext *mc, real *y, const real *x, const Mat *W, int n, int accumulate) {
    if (n <= 0 || W->rows <= 0) return;
    MatPrecision p = mat_context_precision(mc);
    if (W->type == MAT_INT4) { int4_forward(y, x, W, n, accumulate, int4_bf16(p)); return; }
    if (p == MAT_PREC_FP32 || W->cols <= 0) { fp32_forward(y, x, W, n, accumulate); return; }
    if (mc->grads_since_forward) { mc->epoch++; mc->grads_since_forward = 0; }
    const real *direct = mat_direct(W);
    if (p == MAT_PREC_FP32_DNNL) {
        if (!direct || !use_dnnl(mc) ||
            mat_dnnl_gemm(mc->dnnl, MAT_DNNL_F32, 0, 1, n, W->rows, W->cols, x, direct, y, accumulate))
            fp32_forward(y, x, W, n, accumulate);
    } else if (p == MAT_PREC_INT8 && W->type == MAT_TERNARY) {
        int8_forward(mc, y, x, W, n, accumulate);
    } else {
        bf16_forward(mc, y, x, W, n, accumulate);
    }
}

void mat_backward_input(MatContext *mc, real *dx, const real *dy, const Mat *W, int n) {
    if (n <= 0 || W->rows <= 0) return;
    MatPrecision p = mat_context_precision(mc);
    if (W->type == MAT_INT4) { int4_backward_input(dx, dy, W, n, int4_bf16(p)); return; }
    if (p == MAT_PREC_FP32 || W->cols <= 0) { fp32_backward_input(dx, dy, W, n); return; }
    const real *direct = mat_direct(W);
    if (p == MAT_PREC_FP32_DNNL) {
        if (!direct || !use_dnnl(mc) ||
            mat_dnnl_gemm(mc->dnnl, MAT_DNNL_F32, 0, 0, n, W->cols, W->rows, dy, direct, dx, 1))
            fp32_backward_input(dx, dy, W, n);
    } else if (p == MAT_PREC_INT8 && W->type == MAT_TERNARY) {
        // int8 on the forward's cached trits: the int16 kernel of engine/ternary.c (fp32's path) was
        // slower here than bf16's backward on oneDNN; int8 sums are exact, only dy's rounding is new
        int8_backward_input(mc, dx, dy, W, n);
    } else {
        bf16_backward_input(mc, dx, dy, W, n);
    }
}

void mat_backward_weight(MatContext *mc, real *dW, const real *dy, const real *x, int n, int rows, int cols) {
    if (n <= 0 || rows <= 0 || cols <= 0) return;
    MatPrecision p = mat_context_precision(mc);
    if (p == MAT_PREC_FP32) { fp32_backward_weight(dW, dy, x, n, rows, cols); return; }
    mc->grads_since_forward = 1;   // some weight will change before the next forward: see the cache
    if (p == MAT_PREC_FP32_DNNL) {
        if (!use_dnnl(mc) || mat_dnnl_gemm(mc->dnnl, MAT_DNNL_F32, 1, 0, rows, cols, n, dy, x, dW, 1))
            fp32_backward_weight(dW, dy, x, n, rows, cols);
    } else {
        bf16_backward_weight(mc, dW, dy, x, n, rows, cols);
    }
}
