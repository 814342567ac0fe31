// LoRA's rank-r products for one target projection W [out][in] with its pair A [r][in], B [out][r]
// and scale s, on activations of n rows (all row-major, tightly packed):
//   lora_forward:  u = x A^T ([n][r], kept for the backward), y += s u B^T
//   lora_backward: dB += s dy^T u, du = s dy B ([n][r], overwritten), dA += du^T x, dx += du A
//                  (dx may be NULL: the layer's input needs no gradient)
// In the float build with AVX-512 and r <= LORA_FUSED_MAX_RANK they run as passes over rows (one read
// of each row for all of a pair's products) and over columns (the sums over rows for dA and dB, each
// column tile on one thread), on parallel_for_light's threads: the same bits at any thread count.
// Elsewhere, and in the _ref functions, they are BLAS calls (gemm): the reference the tests compare
// with. bt is the caller's scratch of r * out reals (B transposed, for the row passes).
#pragma once
#include "engine/real.h"

enum { LORA_FUSED_MAX_RANK = 16 };

void lora_u(real *u, const real *x, const real *A, int n, int in, int r);
void lora_forward(real *y, real *u, const real *x, const real *A, const real *B, real *bt, double s,
                  int n, int in, int out, int r);
void lora_backward(real *dx, real *dA, real *dB, real *du, const real *dy, const real *x, const real *u,
                   const real *A, const real *B, real *bt, double s, int n, int in, int out, int r);

void lora_u_ref(real *u, const real *x, const real *A, int n, int in, int r);
void lora_forward_ref(real *y, real *u, const real *x, const real *A, const real *B, double s,
                      int n, int in, int out, int r);
void lora_backward_ref(real *dx, real *dA, real *dB, real *du, const real *dy, const real *x, const real *u,
                       const real *A, const real *B, double s, int n, int in, int out, int r);
