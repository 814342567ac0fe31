// The bf16 and int8 weight products of the matrix-product layer (engine/mat.h describes them).
#include "engine/mat_impl.h"
#include "engine/ternary.h"
#include <cblas.h>
#include <string.h>

// bf16 products: inputs rounded to bf16, fp32 sums. oneDNN when present, else the rounded inputs
// decoded back to real and multiplied by BLAS (the same numbers, up to the order of fp32 sums).

void mat_bf16_forward(MatContext *mc, real *y, const real *x, const Mat *W, int n, int accumulate) {
    size_t nx = (size_t)n * W->cols;
    const uint16_t *wb = mat_prepared(mc, W, PREP_BF16);
    uint16_t *xb = mat_scratch(mc, 0, nx * sizeof(uint16_t));
    mat_round_bf16_split(xb, x, nx);
    if (mat_use_dnnl(mc) &&
        !mat_dnnl_gemm(mc->dnnl, MAT_DNNL_BF16, 0, 1, n, W->rows, W->cols, xb, wb, y, accumulate)) return;
    real *xr = mat_scratch(mc, 1, nx * sizeof(real));
    mat_bf16_to_real(xr, xb, nx);
    Mat Wb = { MAT_BF16, W->rows, W->cols, wb, NULL, NULL, NULL, 0 };
    mat_fp32_forward(y, xr, &Wb, n, accumulate);
}

void mat_bf16_backward_input(MatContext *mc, real *dx, const real *dy, const Mat *W, int n) {
    size_t ny = (size_t)n * W->rows;
    uint16_t *dyb = mat_scratch(mc, 0, ny * sizeof(uint16_t));
    mat_round_bf16_split(dyb, dy, ny);
    mat_bf16_backward_input_rounded(mc, dx, dyb, W, n);
}

void mat_bf16_backward_input_rounded(MatContext *mc, real *dx, const uint16_t *dyb, const Mat *W, int n) {
    size_t ny = (size_t)n * W->rows;
    const uint16_t *wb = mat_prepared(mc, W, PREP_BF16);
    if (mat_use_dnnl(mc) && !mat_dnnl_gemm(mc->dnnl, MAT_DNNL_BF16, 0, 0, n, W->cols, W->rows, dyb, wb, dx, 1)) return;
    real *dyr = mat_scratch(mc, 1, ny * sizeof(real));
    mat_bf16_to_real(dyr, dyb, ny);
    Mat Wb = { MAT_BF16, W->rows, W->cols, wb, NULL, NULL, NULL, 0 };
    mat_fp32_backward_input(dx, dyr, &Wb, n);
}

void mat_bf16_backward_weight(MatContext *mc, real *dW, const real *dy, const real *x, int n, int rows, int cols) {
    size_t ny = (size_t)n * rows, nx = (size_t)n * cols;
    uint16_t *dyb = mat_scratch(mc, 0, ny * sizeof(uint16_t)), *xb = mat_scratch(mc, 2, nx * sizeof(uint16_t));
    mat_round_bf16_split(dyb, dy, ny);
    mat_round_bf16_split(xb, x, nx);
    if (mat_use_dnnl(mc) && !mat_dnnl_gemm(mc->dnnl, MAT_DNNL_BF16, 1, 0, rows, cols, n, dyb, xb, dW, 1)) return;
    real *dyr = mat_scratch(mc, 1, ny * sizeof(real)), *xr = mat_scratch(mc, 3, nx * sizeof(real));
    mat_bf16_to_real(dyr, dyb, ny);
    mat_bf16_to_real(xr, xb, nx);
    mat_fp32_backward_weight(dW, dyr, xr, n, rows, cols);
}

// int8 forward of a ternary matrix: exact int32 sums of int8 activations x trits, then scaled by
// the token's and the row's scales. Without oneDNN the same sums come from BLAS on small integers,
// exact in float while cols * 127 < 2^24.
void mat_int8_forward(MatContext *mc, real *y, const real *x, const Mat *W, int n, int accumulate) {
    int rows = W->rows, cols = W->cols;
    const int8_t *trits = mat_prepared(mc, W, PREP_TRITS);
    int8_t *q = mat_scratch(mc, 0, (size_t)n * cols);
    float *xs = mat_scratch(mc, 2, (size_t)n * sizeof(float));
    int32_t *acc = mat_scratch(mc, 3, (size_t)n * rows * sizeof(int32_t));
    mat_quantize_rows_i8(q, xs, x, n, (size_t)cols);
    if (!mat_use_dnnl(mc) || mat_dnnl_gemm(mc->dnnl, MAT_DNNL_S8, 0, 1, n, rows, cols, q, trits, acc, 0)) {
        real *qr = mat_scratch(mc, 1, (size_t)n * cols * sizeof(real));
        for (size_t i = 0; i < (size_t)n * cols; i++) qr[i] = q[i];
        int step = mat_tile_rows(W);
        real *tile = mat_tile_scratch((size_t)step * cols), *sums = mat_scratch(mc, 4, (size_t)n * step * sizeof(real));
        for (int r0 = 0; r0 < rows; r0 += step) {
            int r1 = r0 + step < rows ? r0 + step : rows;
            for (size_t i = 0; i < (size_t)(r1 - r0) * cols; i++) tile[i] = trits[(size_t)r0 * cols + i];
            gemm(0, 1, n, r1 - r0, cols, 1, qr, cols, tile, cols, 0, sums, r1 - r0);
            for (int m = 0; m < n; m++)
                for (int r = r0; r < r1; r++) acc[(size_t)m * rows + r] = (int32_t)sums[(size_t)m * (r1 - r0) + r - r0];
        }
    }
    mat_dequantize(y, acc, xs, W->scale, n, rows, accumulate);
}

// int8 backward-input product of a ternary matrix, as SwitchBack (Wortsman et al. 2023) computes
// the input gradient: the row scales folded into the output gradient, g[m][r] = dy[m][r] * scale[r]
// (they sit on the summed dimension, so they cannot be applied after the sums), g quantised to
// int8 per token (absmax, as the forward's activations), acc[m][c] = sum_r q[m][r] * T[r][c] exact
// in int32 over the forward's cached trits, then dx[m][c] += acc[m][c] * s_m. Without oneDNN the
// same sums come from BLAS on small integers in tiles of at most 2^17 rows, each exact in float
// (2^17 * 127 < 2^24), added up in int32; int32 itself holds any rows * 127 < 2^31.
void mat_int8_backward_input(MatContext *mc, real *dx, const real *dy, const Mat *W, int n) {
    int rows = W->rows, cols = W->cols;
    const int8_t *trits = mat_prepared(mc, W, PREP_TRITS);
    size_t ng = (size_t)n * rows;
    real *g = mat_scratch(mc, 1, ng * sizeof(real));
    int8_t *q = mat_scratch(mc, 0, ng);
    float *gs = mat_scratch(mc, 2, (size_t)n * sizeof(float));
    int32_t *acc = mat_scratch(mc, 3, (size_t)n * cols * sizeof(int32_t));
    for (int m = 0; m < n; m++) {
        const real *dym = dy + (size_t)m * rows;
        real *gm = g + (size_t)m * rows;
        for (int r = 0; r < rows; r++) gm[r] = dym[r] * (real)W->scale[r];
    }
    mat_quantize_rows_i8(q, gs, g, n, (size_t)rows);
    if (!mat_use_dnnl(mc) || mat_dnnl_gemm(mc->dnnl, MAT_DNNL_S8, 0, 0, n, cols, rows, q, trits, acc, 0)) {
        real *qr = g;   // g is spent: its buffer holds q as real
        for (size_t i = 0; i < ng; i++) qr[i] = q[i];
        int step = mat_tile_rows(W);
        step = step < (1 << 17) ? step : (1 << 17);
        real *tile = mat_tile_scratch((size_t)step * cols), *sums = mat_scratch(mc, 4, (size_t)n * cols * sizeof(real));
        memset(acc, 0, (size_t)n * cols * sizeof(int32_t));
        for (int r0 = 0; r0 < rows; r0 += step) {
            int r1 = r0 + step < rows ? r0 + step : rows;
            for (size_t i = 0; i < (size_t)(r1 - r0) * cols; i++) tile[i] = trits[(size_t)r0 * cols + i];
            gemm(0, 0, n, cols, r1 - r0, 1, qr + r0, rows, tile, cols, 0, sums, cols);
            for (size_t i = 0; i < (size_t)n * cols; i++) acc[i] += (int32_t)sums[i];
        }
    }
    mat_dequantize(dx, acc, gs, NULL, n, cols, 1);
}
