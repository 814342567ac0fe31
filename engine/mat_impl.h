// Private to the matrix-product layer (engine/mat*.c): the compute context's layout and the pieces
// its files share. engine/mat.h is the interface; nothing outside engine/mat*.c includes this.
//   mat.c          decoding of stored types, the fp32 reference products, the interface's dispatch
//   mat_round.c    rounding kernels (bf16, per-row int8) shared by oneDNN and its BLAS emulation
//   mat_context.c  a job's context: its cache of converted weights, scratch and oneDNN backend
//   mat_lowp.c     the bf16 and int8 weight products
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "engine/mat.h"
#include "engine/mat_dnnl.h"

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


enum { N_SCRATCH = 5, MAT_MAX_WORKERS = 64 };

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
    void *work;                  // the caller's work buffer (mat_context_work)
    size_t work_cap;
    MatContext *worker[MAT_MAX_WORKERS];   // mat_context_worker's contexts, [0] unused
};


// mat.c
// A weight the gemm can read in place: real elements, or fp32 elements in the float build.
const real *mat_direct(const Mat *W);
// Rows per decoded tile of W, and the thread's tile buffer of n reals.
int mat_tile_rows(const Mat *W);
real *mat_tile_scratch(size_t n);
void mat_fp32_forward(real *y, const real *x, const Mat *W, int n, int accumulate);
void mat_fp32_backward_input(real *dx, const real *dy, const Mat *W, int n);
void mat_fp32_backward_weight(real *dW, const real *dy, const real *x, int n, int rows, int cols);
int mat_dnnl_usable(void);   // oneDNN built in, working, and real is float

// mat_round.c
void mat_bf16_decode(float *out, const uint16_t *src, size_t n);
void mat_round_bf16(uint16_t *out, const real *x, size_t n);
// the same split over parallel_for_light's threads (the activations of the weight products; the same bits)
void mat_round_bf16_split(uint16_t *out, const real *x, size_t n);
void mat_bf16_to_real(real *out, const uint16_t *h, size_t n);
void mat_quantize_rows_i8(int8_t *q, float *xs, const real *x, int n, size_t K);
void mat_dequantize(real *y, const int32_t *acc, const float *xs, const float *ws, int n, int rows,
                    int accumulate);

// mat_context.c
const void *mat_prepared(MatContext *mc, const Mat *W, PrepKind kind);
void *mat_scratch(MatContext *mc, int slot, size_t bytes);
MatDnnl *mat_use_dnnl(MatContext *mc);

// mat_lowp.c
void mat_bf16_forward(MatContext *mc, real *y, const real *x, const Mat *W, int n, int accumulate);
void mat_bf16_backward_input(MatContext *mc, real *dx, const real *dy, const Mat *W, int n);
// the same on dy already rounded to bf16 (dyb must not be scratch slot 0 or 1)
void mat_bf16_backward_input_rounded(MatContext *mc, real *dx, const uint16_t *dyb, const Mat *W, int n);
void mat_bf16_backward_weight(MatContext *mc, real *dW, const real *dy, const real *x, int n, int rows, int cols);
void mat_int8_forward(MatContext *mc, real *y, const real *x, const Mat *W, int n, int accumulate);
void mat_int8_backward_input(MatContext *mc, real *dx, const real *dy, const Mat *W, int n);
