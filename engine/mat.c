// The matrix-product layer: every weight product of the engine goes through here, whatever the
// storage type of the weight. Stored types other than real are decoded a tile of rows at a time
// into a thread-local buffer, so a mapped base is never expanded whole.
#include "engine/mat.h"
#include "engine/ternary.h"
#include "engine/util.h"
#include <cblas.h>
#include <immintrin.h>
#include <stdlib.h>
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

void engine_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }

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

static _Thread_local real *tile_buf;
static _Thread_local size_t tile_cap;

// Thread-local tile buffer, grown once to the largest tile this thread has needed.
static real *tile_scratch(size_t n) {
    if (n > tile_cap) {
        free(tile_buf);
        tile_buf = xaligned(n * sizeof(real));
        tile_cap = n;
    }
    return tile_buf;
}

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
    }
    return 0;
}

void mat_forward(real *y, const real *x, const Mat *W, int n, int accumulate) {
    if (n <= 0 || W->rows <= 0) return;
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

void mat_backward_input(real *dx, const real *dy, const Mat *W, int n) {
    if (n <= 0 || W->rows <= 0) return;
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

void mat_backward_weight(real *dW, const real *dy, const real *x, int n, int rows, int cols) {
    if (n <= 0) return;
    gemm(1, 0, rows, cols, n, 1, dy, rows, x, cols, 1, dW, cols);
}
