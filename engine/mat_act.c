// Products of two activations at a context's precision (engine/mat.h mat_act_product): the
// attention's QK^T, PV and their gradients, which the weight products' path cannot take because
// neither operand is a weight to convert once and cache.
#include "engine/mat_impl.h"
#include <cblas.h>

// Scratch slots of the context used here (the weight products use the same ones between calls).
enum { ACT_A16 = 0, ACT_AR = 1, ACT_B16 = 2, ACT_BR = 3 };

void mat_act_product_at(MatContext *mc, MatPrecision p, int transA, int transB, int M, int N, int K,
                        const real *A, const real *B, real *C, int accumulate) {
    if (M <= 0 || N <= 0) return;
    int lda = transA ? M : K, ldb = transB ? K : N;
    if (K <= 0 || p == MAT_PREC_FP32 || !REAL_IS_FLOAT) {
        gemm(transA, transB, M, N, K, 1, A, lda, B, ldb, accumulate ? 1 : 0, C, N);
        return;
    }
    if (p == MAT_PREC_FP32_DNNL) {
        if (!mat_use_dnnl(mc) ||
            mat_dnnl_gemm(mc->dnnl, MAT_DNNL_F32, transA, transB, M, N, K, A, B, C, accumulate))
            gemm(transA, transB, M, N, K, 1, A, lda, B, ldb, accumulate ? 1 : 0, C, N);
        return;
    }
    // bf16 (and int8, whose integer kernels are for ternary weights): both inputs rounded to bf16
    size_t na = (size_t)M * K, nb = (size_t)K * N;
    uint16_t *a16 = mat_scratch(mc, ACT_A16, na * sizeof(uint16_t)), *b16 = mat_scratch(mc, ACT_B16, nb * sizeof(uint16_t));
    mat_round_bf16(a16, A, na);
    mat_round_bf16(b16, B, nb);
    mat_act_product_bf16(mc, transA, transB, M, N, K, a16, b16, C, accumulate);
}

void mat_act_product_bf16(MatContext *mc, int transA, int transB, int M, int N, int K, const uint16_t *A,
                          const uint16_t *B, real *C, int accumulate) {
    if (M <= 0 || N <= 0) return;
    int lda = transA ? M : K, ldb = transB ? K : N;
    if (K > 0 && mat_use_dnnl(mc) &&
        !mat_dnnl_gemm(mc->dnnl, MAT_DNNL_BF16, transA, transB, M, N, K, A, B, C, accumulate))
        return;
    size_t na = (size_t)M * K, nb = (size_t)K * N;
    real *ar = mat_scratch(mc, ACT_AR, na * sizeof(real)), *br = mat_scratch(mc, ACT_BR, nb * sizeof(real));
    mat_bf16_to_real(ar, A, na);
    mat_bf16_to_real(br, B, nb);
    gemm(transA, transB, M, N, K, 1, ar, lda, br, ldb, accumulate ? 1 : 0, C, N);
}

void mat_act_round_bf16(uint16_t *out, const real *x, size_t n) { mat_round_bf16(out, x, n); }

void mat_act_product(MatContext *mc, int transA, int transB, int M, int N, int K, const real *A,
                     const real *B, real *C, int accumulate) {
    mat_act_product_at(mc, mat_context_precision(mc), transA, transB, M, N, K, A, B, C, accumulate);
}
