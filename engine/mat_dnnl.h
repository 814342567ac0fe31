// Private to the matrix-product layer (engine/mat*.c): the oneDNN backend. Present only when the
// float engine is built with oneDNN (SWEEP_HAVE_DNNL); elsewhere mat_dnnl_gemm always declines.
#pragma once
#include <stddef.h>

typedef enum { MAT_DNNL_F32, MAT_DNNL_BF16, MAT_DNNL_S8 } MatDnnlInput;

// One compute context's primitives, memory objects, stream and scratchpad (engine/mat_context.c's MatContext
// owns one): contexts share none of them.
typedef struct MatDnnl MatDnnl;
MatDnnl *mat_dnnl_create(void);   // never NULL (an empty object when oneDNN is absent)
void mat_dnnl_free(MatDnnl *d);   // NULL ok

// C[M][N] (= | +=) op(A)[M][K] . op(B)[K][N], all row-major and tightly packed: A is stored [M][K],
// or [K][M] when transA; B is stored [K][N], or [N][K] when transB. A and B hold `in` elements
// (float, uint16 bf16 or int8); C is float, or int32 when in is S8 (S8 never accumulates).
// One primitive per shape, created on first use and kept in d. Returns 0, or -1 when oneDNN is
// absent or cannot compute this product (the caller then computes it another way). Not reentrant
// on one d.
int mat_dnnl_gemm(MatDnnl *d, MatDnnlInput in, int transA, int transB, int M, int N, int K, const void *A,
                  const void *B, void *C, int accumulate);
// 1 when oneDNN is built in and initialised on this machine
int mat_dnnl_available(void);
// oneDNN's threads for the calling thread's products (it runs on OpenMP, not on OpenBLAS's pool;
// each thread has its own count)
void mat_dnnl_set_threads(int n);
