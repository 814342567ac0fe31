// Ternary matrices: 5 trits per byte in base 3 (byte = sum (trit_i + 1) * 3^i, trit 0 in the
// lowest digit), each row starting on a byte boundary, one float absmean scale per row.
// Products decode row tiles into a cache-sized scratch and hand them to BLAS, so a mapped base is
// never expanded whole.
#include "engine/ternary.h"
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"

#define TRITS_PER_BYTE 5
#define TILE_BYTES (256 * 1024)   // decoded tile stays in L2 while BLAS streams x through it

// trit_lut[b][i] = trit i of byte b, as real; bytes > 242 never occur in valid data but still
// decode to trits in {-1, 0, 1} so that corrupt input cannot index out of range
static real trit_lut[256][8];
static pthread_once_t trit_lut_once = PTHREAD_ONCE_INIT;

static void trit_lut_build(void) {
    for (int b = 0; b < 256; b++) {
        int v = b;
        for (int i = 0; i < TRITS_PER_BYTE; i++) { trit_lut[b][i] = (real)(v % 3 - 1); v /= 3; }
    }
}

size_t ternary_packed_bytes(int rows, int cols) {
    return (size_t)rows * (size_t)((cols + TRITS_PER_BYTE - 1) / TRITS_PER_BYTE);
}

static size_t row_bytes(int cols) { return (size_t)(cols + TRITS_PER_BYTE - 1) / TRITS_PER_BYTE; }

void ternary_quantize_rows(uint8_t *packed, float *scale, const float *w, int rows, int cols) {
    size_t rb = row_bytes(cols);
    for (int r = 0; r < rows; r++) {
        const float *wr = w + (size_t)r * cols;
        double sum = 0;
        for (int c = 0; c < cols; c++) sum += fabs((double)wr[c]);
        float s = (float)(sum / cols);
        scale[r] = s;
        uint8_t *pr = packed + (size_t)r * rb;
        for (size_t b = 0; b < rb; b++) {
            int byte = 0, pow3 = 1;
            for (int i = 0; i < TRITS_PER_BYTE; i++, pow3 *= 3) {
                int c = (int)b * TRITS_PER_BYTE + i, t = 0;
                if (c < cols && s > 0) {
                    double q = nearbyint((double)wr[c] / s);   // NaN compares false: trit 0
                    t = q >= 1 ? 1 : q <= -1 ? -1 : 0;
                }
                byte += (t + 1) * pow3;
            }
            pr[b] = (uint8_t)byte;
        }
    }
}

// One row of packed trits into out[cols], times s.
static void decode_row(real *out, const uint8_t *p, int cols, real s) {
    int full = cols / TRITS_PER_BYTE, c = 0;
    for (int b = 0; b < full; b++, c += TRITS_PER_BYTE) {
        const real *t = trit_lut[p[b]];
        for (int i = 0; i < TRITS_PER_BYTE; i++) out[c + i] = t[i] * s;
    }
    if (c < cols) {
        const real *t = trit_lut[p[full]];
        for (int i = 0; c + i < cols; i++) out[c + i] = t[i] * s;
    }
}

void ternary_decode_rows(real *out, const Mat *W, int r0, int r1) {
    pthread_once(&trit_lut_once, trit_lut_build);
    size_t rb = row_bytes(W->cols);
    const uint8_t *p = W->data;
    for (int r = r0; r < r1; r++)
        decode_row(out + (size_t)(r - r0) * W->cols, p + (size_t)r * rb, W->cols, (real)W->scale[r]);
}

// C[M][N] = A . op(B) + beta C, in the engine's precision
static void blas_gemm(int transB, int M, int N, int K, const real *A, int lda, const real *B, int ldb,
                      real beta, real *C, int ldc) {
    enum CBLAS_TRANSPOSE tb = transB ? CblasTrans : CblasNoTrans;
    if (REAL_IS_FLOAT)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, M, N, K, 1.0f, (const float *)A, lda,
                    (const float *)B, ldb, (float)beta, (float *)C, ldc);
    else
        cblas_dgemm(CblasRowMajor, CblasNoTrans, tb, M, N, K, 1.0, (const double *)A, lda,
                    (const double *)B, ldb, (double)beta, (double *)C, ldc);
}

// Per-thread scratch for decoded tiles, grown as needed and kept for the next call.
static _Thread_local real *tile_buf;
static _Thread_local size_t tile_cap;

static real *tile_scratch(size_t n) {
    if (n > tile_cap) {
        free(tile_buf);
        tile_buf = xaligned(n * sizeof(real));
        tile_cap = n;
    }
    return tile_buf;
}

static int tile_rows(const Mat *W) {
    int tr = (int)(TILE_BYTES / ((size_t)W->cols * sizeof(real)));
    if (tr < 8) tr = 8;
    return tr < W->rows ? tr : W->rows;
}

void ternary_forward(real *y, const real *x, const Mat *W, int n, int accumulate) {
    if (n <= 0 || W->rows <= 0) return;
    int tr = tile_rows(W);
    real *tile = tile_scratch((size_t)tr * W->cols);
    for (int r0 = 0; r0 < W->rows; r0 += tr) {
        int r1 = r0 + tr < W->rows ? r0 + tr : W->rows;
        ternary_decode_rows(tile, W, r0, r1);
        blas_gemm(1, n, r1 - r0, W->cols, x, W->cols, tile, W->cols, accumulate ? 1 : 0, y + r0, W->rows);
    }
}

void ternary_backward_input(real *dx, const real *dy, const Mat *W, int n) {
    if (n <= 0 || W->rows <= 0) return;
    int tr = tile_rows(W);
    real *tile = tile_scratch((size_t)tr * W->cols);
    for (int r0 = 0; r0 < W->rows; r0 += tr) {
        int r1 = r0 + tr < W->rows ? r0 + tr : W->rows;
        ternary_decode_rows(tile, W, r0, r1);
        blas_gemm(0, n, W->cols, r1 - r0, dy + r0, W->rows, tile, W->cols, 1, dx, W->cols);
    }
}
