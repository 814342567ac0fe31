// The matrix-product layer: every weight product of the engine goes through here, whatever the
// storage type of the weight and the compute precision of the run. In fp32, stored types other
// than real are decoded a tile of rows at a time into a thread-local buffer, so a mapped base is
// never expanded whole; in bf16 and int8 the weights are converted once into a cache
// (engine/mat_context.c) and multiplied by oneDNN (engine/mat_dnnl.c), or by BLAS on inputs rounded
// the same way without it (engine/mat_lowp.c). This file: decoding, the fp32 reference, dispatch.
#include "engine/mat_impl.h"
#include "engine/int4.h"
#include "engine/ternary.h"
#include "engine/util.h"
#include <cblas.h>
#include <string.h>

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

void engine_threads_for(MatPrecision p) {
    mat_dnnl_set_threads(p == MAT_PREC_FP32 ? 1 : openblas_get_num_threads());
}

// A weight the gemm can read in place: real elements, or fp32 elements in the float build.
const real *mat_direct(const Mat *W) {
    if (W->type == MAT_REAL || (W->type == MAT_F32 && REAL_IS_FLOAT)) return (const real *)W->data;
    return NULL;
}

// Tiles of about 512K elements (2 MB in float): deep enough (256 rows at dim 2048) that the input
// gradient, which every tile adds into, is not re-read from memory too often.
int mat_tile_rows(const Mat *W) {
    int r = (1 << 19) / (W->cols > 0 ? W->cols : 1);
    r = r < 16 ? 16 : (r & ~15);
    return r < W->rows ? r : W->rows;
}

// The thread's tile buffer (engine/util.h tile_buffer), n reals.
real *mat_tile_scratch(size_t n) { return tile_buffer(n * sizeof(real)); }

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
        if (REAL_IS_FLOAT) mat_bf16_decode((float *)out, src, n);
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

void mat_fp32_forward(real *y, const real *x, const Mat *W, int n, int accumulate) {
    if (W->type == MAT_TERNARY) { ternary_forward(y, x, W, n, accumulate); return; }
    const real *direct = mat_direct(W);
    real beta = accumulate ? 1 : 0;
    if (direct) {
        gemm(0, 1, n, W->rows, W->cols, 1, x, W->cols, direct, W->cols, beta, y, W->rows);
        return;
    }
    int step = mat_tile_rows(W);
    real *tile = mat_tile_scratch((size_t)step * W->cols);
    for (int r0 = 0; r0 < W->rows; r0 += step) {
        int r1 = r0 + step < W->rows ? r0 + step : W->rows;
        mat_decode_rows(tile, W, r0, r1);
        gemm(0, 1, n, r1 - r0, W->cols, 1, x, W->cols, tile, W->cols, beta, y + r0, W->rows);
    }
}

void mat_fp32_backward_input(real *dx, const real *dy, const Mat *W, int n) {
    if (W->type == MAT_TERNARY) { ternary_backward_input(dx, dy, W, n); return; }
    const real *direct = mat_direct(W);
    if (direct) {
        gemm(0, 0, n, W->cols, W->rows, 1, dy, W->rows, direct, W->cols, 1, dx, W->cols);
        return;
    }
    int step = mat_tile_rows(W);
    real *tile = mat_tile_scratch((size_t)step * W->cols);
    for (int r0 = 0; r0 < W->rows; r0 += step) {
        int r1 = r0 + step < W->rows ? r0 + step : W->rows;
        mat_decode_rows(tile, W, r0, r1);
        gemm(0, 0, n, W->cols, r1 - r0, 1, dy + r0, W->rows, tile, W->cols, 1, dx, W->cols);
    }
}

void mat_fp32_backward_weight(real *dW, const real *dy, const real *x, int n, int rows, int cols) {
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

int mat_dnnl_usable(void) { return REAL_IS_FLOAT && mat_dnnl_available(); }

const char *mat_precision_backend(MatPrecision p) {
    if (p == MAT_PREC_FP32) return "openblas";
    if (mat_dnnl_usable()) return "onednn";
    return p == MAT_PREC_FP32_DNNL ? "openblas" : "openblas-emulated";
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
    if (p == MAT_PREC_FP32 || W->cols <= 0) { mat_fp32_forward(y, x, W, n, accumulate); return; }
    if (mc->grads_since_forward) { mc->epoch++; mc->grads_since_forward = 0; }
    const real *direct = mat_direct(W);
    if (p == MAT_PREC_FP32_DNNL) {
        if (!direct || !mat_use_dnnl(mc) ||
            mat_dnnl_gemm(mc->dnnl, MAT_DNNL_F32, 0, 1, n, W->rows, W->cols, x, direct, y, accumulate))
            mat_fp32_forward(y, x, W, n, accumulate);
    } else if (p == MAT_PREC_INT8 && W->type == MAT_TERNARY) {
        mat_int8_forward(mc, y, x, W, n, accumulate);
    } else {
        mat_bf16_forward(mc, y, x, W, n, accumulate);
    }
}

void mat_backward_input(MatContext *mc, real *dx, const real *dy, const Mat *W, int n) {
    if (n <= 0 || W->rows <= 0) return;
    MatPrecision p = mat_context_precision(mc);
    if (W->type == MAT_INT4) { int4_backward_input(dx, dy, W, n, int4_bf16(p)); return; }
    if (p == MAT_PREC_FP32 || W->cols <= 0) { mat_fp32_backward_input(dx, dy, W, n); return; }
    const real *direct = mat_direct(W);
    if (p == MAT_PREC_FP32_DNNL) {
        if (!direct || !mat_use_dnnl(mc) ||
            mat_dnnl_gemm(mc->dnnl, MAT_DNNL_F32, 0, 0, n, W->cols, W->rows, dy, direct, dx, 1))
            mat_fp32_backward_input(dx, dy, W, n);
    } else if (p == MAT_PREC_INT8 && W->type == MAT_TERNARY) {
        // int8 on the forward's cached trits: the int16 kernel of engine/ternary.c (fp32's path) was
        // slower here than bf16's backward on oneDNN; int8 sums are exact, only dy's rounding is new
        mat_int8_backward_input(mc, dx, dy, W, n);
    } else {
        mat_bf16_backward_input(mc, dx, dy, W, n);
    }
}

int mat_backward_input_rounds_bf16_at(MatPrecision p, MatType t) {
    return t != MAT_INT4 && (p == MAT_PREC_BF16 || p == MAT_PREC_INT8) && !(p == MAT_PREC_INT8 && t == MAT_TERNARY);
}

int mat_backward_input_rounds_bf16(const MatContext *mc, const Mat *W) {
    return W->rows > 0 && W->cols > 0 && mat_backward_input_rounds_bf16_at(mat_context_precision(mc), W->type);
}

void mat_backward_input_bf16(MatContext *mc, real *dx, const uint16_t *dyb, const Mat *W, int n) {
    if (n > 0) mat_bf16_backward_input_rounded(mc, dx, dyb, W, n);
}

void mat_backward_weight(MatContext *mc, real *dW, const real *dy, const real *x, int n, int rows, int cols) {
    if (n <= 0 || rows <= 0 || cols <= 0) return;
    MatPrecision p = mat_context_precision(mc);
    if (p == MAT_PREC_FP32) { mat_fp32_backward_weight(dW, dy, x, n, rows, cols); return; }
    mc->grads_since_forward = 1;   // some weight will change before the next forward: see the cache
    if (p == MAT_PREC_FP32_DNNL) {
        if (!mat_use_dnnl(mc) || mat_dnnl_gemm(mc->dnnl, MAT_DNNL_F32, 1, 0, rows, cols, n, dy, x, dW, 1))
            mat_fp32_backward_weight(dW, dy, x, n, rows, cols);
    } else {
        mat_bf16_backward_weight(mc, dW, dy, x, n, rows, cols);
    }
}
