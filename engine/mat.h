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
    MAT_INT4,       // packed nibbles in [-7, 7] with one float scale per group of inputs (engine/int4.h)
} MatType;

typedef struct {
    MatType type;
    int rows, cols;
    const void *data;
    const float *scale;   // MAT_TERNARY: rows scales (absmean per output row); MAT_INT4: [rows][groups]
    // Compute-ready forms made once per node and mapped read-only (engine/matcache.h), or NULL:
    // the bf16 products read ready_bf16[rows][cols], the int8 products ready_i8[rows][cols] (trits)
    // instead of converting W into a context's private cache.
    const uint16_t *ready_bf16;
    const int8_t *ready_i8;
    int group;            // MAT_INT4: inputs per scale (engine/int4.h); 0 otherwise
} Mat;

static inline Mat mat_real(const real *w, int rows, int cols) {
    return (Mat){ MAT_REAL, rows, cols, w, NULL, NULL, NULL, 0 };
}

typedef struct MatContext MatContext;

// The weight products take the compute context of the job (precision, converted-weight cache,
// oneDNN primitives and scratch; see below). mc NULL: fp32 on OpenBLAS, the reference.
// y[n][rows] = x[n][cols] . W^T ; overwrites y unless accumulate
void mat_forward(MatContext *mc, real *y, const real *x, const Mat *W, int n, int accumulate);
// dx[n][cols] += dy[n][rows] . W
void mat_backward_input(MatContext *mc, real *dx, const real *dy, const Mat *W, int n);
// 1 when mat_backward_input at mc's precision rounds dy to bf16 (round to nearest even) for its
// product; mat_backward_input_bf16 is then the same product on dy already rounded, the same bits, for
// a caller that writes dy in bf16 in the first place (engine/model.c: the loss's gradient).
int mat_backward_input_rounds_bf16(const MatContext *mc, const Mat *W);
void mat_backward_input_bf16(MatContext *mc, real *dx, const uint16_t *dyb, const Mat *W, int n);
// dW[rows][cols] += dy^T . x  (weight gradients exist only for trainable MAT_REAL weights)
void mat_backward_weight(MatContext *mc, real *dW, const real *dy, const real *x, int n, int rows, int cols);
// rows [r0, r1) of W decoded into out[(r1-r0)][cols]
void mat_decode_rows(real *out, const Mat *W, int r0, int r1);
// row r of W decoded into out[cols] (embedding lookup)
void mat_decode_row(real *out, const Mat *W, int r);
// bytes W occupies in its storage type
size_t mat_storage_bytes(const Mat *W);
// out[rows][cols] = W's values rounded to bf16 (ternary: trit x row scale, then rounded): the bf16
// products' form of a weight that is not stored in bf16
void mat_convert_bf16(uint16_t *out, const Mat *W);

// Compute precision of the weight products (mat_forward, mat_backward_input, mat_backward_weight);
// held by a MatContext, chosen per job. LoRA's rank-r products (engine/lora.h) and the fp32 attention
// stay fp32 in every precision; the attention's products at other precisions go through mat_act_product.
//   FP32       OpenBLAS sgemm: the exact reference and the default
//   FP32_DNNL  oneDNN's fp32 matmul (AVX-512 kernels); differs from FP32 in summation order only
//   BF16       inputs rounded to bf16 (round to nearest even), fp32 accumulation and output
//   INT8       forward products of ternary weights: exact int8 trits times activations quantised
//              to int8 per token (absmax, as BitNet b1.58), exact int32 sums, then both scales;
//              their backward-input products likewise (SwitchBack): dy times the row scales,
//              quantised to int8 per token, exact int32 sums over the same trits, times the token's
//              scale; weight gradients (of trainable weights only) and products of every other
//              weight (embeddings, head, full FT's copies) as BF16
// MAT_INT4 weights (engine/int4.h) at every precision: tiles decoded from the packed nibbles; FP32 and
// FP32_DNNL multiply them in fp32 on OpenBLAS, BF16 and INT8 round tile and inputs to bf16 first (fp32
// sums on OpenBLAS): no converted copy of an int4 matrix is ever made or cached.
// Without oneDNN (or in the double build) BF16 and INT8 give the same numbers by rounding the inputs
// and calling BLAS (slower than fp32); FP32_DNNL is then FP32.
typedef enum { MAT_PREC_FP32 = 0, MAT_PREC_FP32_DNNL, MAT_PREC_BF16, MAT_PREC_INT8 } MatPrecision;

extern const char *const mat_precision_names[];   // in MatPrecision order, NULL-terminated
const char *mat_precision_name(MatPrecision p);           // "fp32", "fp32-dnnl", "bf16", "int8"
int mat_precision_parse(const char *s, MatPrecision *p);  // 0 ok, -1 unknown name
// "openblas", "onednn" or "openblas-emulated": what computes the weight products at precision p
const char *mat_precision_backend(MatPrecision p);
// A job's compute context: its precision, and everything its products keep between calls (the
// private cache of converted weights, oneDNN's primitives, scratch). Contexts share nothing, so
// two precisions in one process cannot interfere. Not for two threads at once.
// Weights without a ready form (Mat.ready_bf16 / ready_i8) that a product needs converted (bf16
// copies, int8 trits) are converted into the context's cache, keyed by address and checked against
// a sample of their elements on every use: in a sweep only the job's own trainable copies (full
// FT), since a base's forms are made once per node (engine/matcache.h). Weights that get weight
// gradients (full FT, pretraining) are converted again at the first forward after
// mat_backward_weight. A caller that writes into weights any other way calls mat_cache_clear.
MatContext *mat_context_create(MatPrecision p);   // p out of range: fp32
void mat_context_free(MatContext *mc);
MatPrecision mat_context_precision(const MatContext *mc);   // NULL: fp32
// mat_backward_input_rounds_bf16 for a weight of type t at precision p (engine/memest.c, no weights)
int mat_backward_input_rounds_bf16_at(MatPrecision p, MatType t);
void mat_cache_clear(MatContext *mc);
size_t mat_cache_bytes(const MatContext *mc);   // bytes held by the context's converted weights
// A buffer of at least `bytes` owned by mc for its caller's work between products (grown as needed,
// kept until mc is freed; the products never touch it).
void *mat_context_work(MatContext *mc, size_t bytes);
// The context of worker w of a parallel region (0: mc itself; w < 64), made with mc's precision on
// first use and freed with mc: one per thread, as contexts are not for two threads at once. Call it
// in the thread that owns mc, before the region.
MatContext *mat_context_worker(MatContext *mc, int w);

// Plain row-major GEMM on real arrays: C[M][N] = alpha * op(A) . op(B) + beta * C
void gemm(int transA, int transB, int M, int N, int K, real alpha, const real *A, int lda,
          const real *B, int ldb, real beta, real *C, int ldc);

// C[M][N] (= | +=) op(A) . op(B) for two activations at mc's precision, all row-major and tightly
// packed: A is stored [M][K] (or [K][M] when transA), B [K][N] (or [N][K] when transB). FP32 (and mc
// NULL, and the double build): gemm above. FP32_DNNL: oneDNN's fp32 matmul. BF16 and INT8: both inputs
// rounded to bf16, fp32 sums (oneDNN, else BLAS on the rounded values). Uses mc's scratch.
void mat_act_product(MatContext *mc, int transA, int transB, int M, int N, int K, const real *A,
                     const real *B, real *C, int accumulate);
// The same at precision p instead of mc's (mc's oneDNN backend and scratch are used).
void mat_act_product_at(MatContext *mc, MatPrecision p, int transA, int transB, int M, int N, int K,
                        const real *A, const real *B, real *C, int accumulate);
// BF16's product on inputs already rounded (mat_act_round_bf16, as the product itself rounds), for a
// caller that uses one rounded operand in several products
void mat_act_product_bf16(MatContext *mc, int transA, int transB, int M, int N, int K, const uint16_t *A,
                          const uint16_t *B, real *C, int accumulate);
void mat_act_round_bf16(uint16_t *out, const real *x, size_t n);

// BLAS threads for this process (a sweep runs one rank per core, so the default is 1)
void engine_set_threads(int n);
// Which library's threads serve the rank's n threads, for products at precision p: OpenMP's team
// (oneDNN's, and parallel_for's) beside oneDNN; at fp32 OpenBLAS's alone, as idle OpenBLAS threads
// spin against a team beside them (2 threads at fp32: 5,914 -> 3,783 tok/s with both). Call it once
// a job's compute context is made.
void engine_threads_for(MatPrecision p);

static inline float bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v = { .u = (uint32_t)h << 16 };
    return v.f;
}
static inline uint16_t f32_to_bf16(float f) {   // round to nearest even; NaN stays NaN
    union { float f; uint32_t u; } v = { .f = f };
    if ((v.u & 0x7fffffff) > 0x7f800000) return (uint16_t)((v.u >> 16) | 0x40);
    return (uint16_t)((v.u + 0x7fff + ((v.u >> 16) & 1)) >> 16);
}
