// The one matrix-product interface every op calls. A weight matrix is W[rows][cols] row-major
// (rows = outputs, cols = inputs, as PyTorch's nn.Linear stores it), in one of several storage
// types; products decode tiles as needed, so a mapped base is never expanded whole.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "engine/real.h"

typedef enum {
    MAT_REAL = 0,   // elements of type real (trainable copies, in-memory bases)
    MAT_F32,        // float elements (a mapped fp32 file; same as MAT_REAL in the float build)
    MAT_BF16,       // uint16 bfloat16 elements
    MAT_TERNARY,    // packed trits {-1,0,+1} with one float scale per row (engine/ternary.h)
} MatType;

typedef struct {
    MatType type;
    int rows, cols;
    const void *data;
    const float *scale;   // MAT_TERNARY: rows scales (absmean per output row)
} Mat;

static inline Mat mat_real(const real *w, int rows, int cols) {
    return (Mat){ MAT_REAL, rows, cols, w, NULL };
}

// y[n][rows] = x[n][cols] . W^T ; overwrites y unless accumulate
void mat_forward(real *y, const real *x, const Mat *W, int n, int accumulate);
// dx[n][cols] += dy[n][rows] . W
void mat_backward_input(real *dx, const real *dy, const Mat *W, int n);
// dW[rows][cols] += dy^T . x  (weight gradients exist only for trainable MAT_REAL weights)
void mat_backward_weight(real *dW, const real *dy, const real *x, int n, int rows, int cols);
// rows [r0, r1) of W decoded into out[(r1-r0)][cols]
void mat_decode_rows(real *out, const Mat *W, int r0, int r1);
// row r of W decoded into out[cols] (embedding lookup)
void mat_decode_row(real *out, const Mat *W, int r);
// bytes W occupies in its storage type
size_t mat_storage_bytes(const Mat *W);

// Plain row-major GEMM on real arrays: C[M][N] = alpha * op(A) . op(B) + beta * C
void gemm(int transA, int transB, int M, int N, int K, real alpha, const real *A, int lda,
          const real *B, int ldb, real beta, real *C, int ldc);

// BLAS threads for this process (a sweep runs one rank per core, so the default is 1)
void engine_set_threads(int n);

static inline float bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v = { .u = (uint32_t)h << 16 };
    return v.f;
}
static inline uint16_t f32_to_bf16(float f) {   // round to nearest even; NaN stays NaN
    union { float f; uint32_t u; } v = { .f = f };
    if ((v.u & 0x7fffffff) > 0x7f800000) return (uint16_t)((v.u >> 16) | 0x40);
    return (uint16_t)((v.u + 0x7fff + ((v.u >> 16) & 1)) >> 16);
}
