// LoRA's rank-r products (engine/lora.h). As BLAS calls each of a pair's six products reads a whole
// activation to do r multiply-adds per element: 57 GFLOP/s at the default config, and bf16 LoRA
// steps 12-20% behind norm's. Fused, one pass over rows reads each row once for u and y (forward) or
// du and dx (backward), and one pass over column tiles sums dy^T u and du^T x with the tile's sums in
// registers.
#include "engine/lora.h"
#include "engine/mat.h"
#include "engine/ops.h"
#include "engine/ops_kernels.h"

void lora_u_ref(real *u, const real *x, const real *A, int n, int in, int r) {
    gemm(0, 1, n, r, in, 1, x, in, A, in, 0, u, r);
}

void lora_forward_ref(real *y, real *u, const real *x, const real *A, const real *B, double s,
                      int n, int in, int out, int r) {
    lora_u_ref(u, x, A, n, in, r);
    gemm(0, 1, n, out, r, (real)s, u, r, B, r, 1, y, out);
}

void lora_backward_ref(real *dx, real *dA, real *dB, real *du, const real *dy, const real *x, const real *u,
                       const real *A, const real *B, double s, int n, int in, int out, int r) {
    gemm(1, 0, out, r, n, (real)s, dy, out, u, r, 1, dB, r);   // dB += s dy^T u
    gemm(0, 0, n, r, out, (real)s, dy, out, B, r, 0, du, r);   // du = s dy B
    gemm(1, 0, r, in, n, 1, du, r, x, in, 1, dA, in);          // dA += du^T x
    if (dx) gemm(0, 0, n, in, r, 1, du, r, A, in, 1, dx, in);  // dx += du A
}

#if OPS_AVX512
enum { LORA_ROWS = 32 };   // rows per item of the row passes

typedef struct {
    float *y, *u, *dx, *dA, *dB, *du;
    const float *x, *dy, *A, *bt, *u_saved;   // u_saved: the forward's u, read by the backward
    float s;
    int n, in, out, r;
} LoraArgs;

// The kernels take the rank R as a constant (one copy per rank, chosen by WITH_RANK), so that their
// sums live in registers, and work on P rows (or column tiles) at once: P * R <= 16 sums in flight,
// enough to hide the multiply-adds' latency, with each load of A or B (of a row) used P times.
#define LORA_INLINE static inline __attribute__((always_inline))
#define LORA_P(R) ((R) <= 4 ? 4 : (R) <= 8 ? 2 : 1)
// Prefetches: the row passes fetch the rows this many groups of P ahead, the column passes this many
// rows ahead; without them a pass over activations not in cache ran at a quarter of its speed.
#define LORA_AHEAD 2
#define LORA_COL_AHEAD 16
#define FOR_J _Pragma("GCC unroll 16") for (int j = 0; j < R; j++)
#define FOR_P _Pragma("GCC unroll 4") for (int p = 0; p < P; p++)

static inline __mmask16 lanes_left(int left) { return left <= 0 ? 0 : tail_mask(left); }

// w[p R + j] = scale * (c_p . m[j]) for j < R and the P rows c_p = c + p cstride of width wide,
// m [R][width]
LORA_INLINE void row_dots(float *w, const float *c, size_t cstride, const float *m, int width, float scale,
                          const int P, const int R) {
    __m512 acc[4][LORA_FUSED_MAX_RANK];
    FOR_P FOR_J acc[p][j] = _mm512_setzero_ps();
    for (int k = 0; k < width; k += 16) {
        __mmask16 t = tail_mask(width - k);
        __m512 cv[4];
        FOR_P cv[p] = _mm512_maskz_loadu_ps(t, c + p * cstride + k);
        FOR_P _mm_prefetch((const char *)(c + (LORA_AHEAD * P + p) * cstride + k), _MM_HINT_T0);
        FOR_J {
            __m512 mv = _mm512_maskz_loadu_ps(t, m + (size_t)j * width + k);
            FOR_P acc[p][j] = _mm512_fmadd_ps(cv[p], mv, acc[p][j]);
        }
    }
    FOR_P FOR_J w[p * R + j] = scale * _mm512_reduce_add_ps(acc[p][j]);
}

// y_p += scale * (w_p m) for the P rows y_p = y + p ystride of width wide, w_p = w + p R, m [R][width]
LORA_INLINE void row_add(float *y, size_t ystride, const float *w, const float *m, int width, float scale,
                         const int P, const int R) {
    __m512 wv[4][LORA_FUSED_MAX_RANK], sv = _mm512_set1_ps(scale);
    FOR_P FOR_J wv[p][j] = _mm512_set1_ps(w[p * R + j]);
    for (int k = 0; k < width; k += 16) {
        __mmask16 t = tail_mask(width - k);
        __m512 sum[4];
        FOR_P sum[p] = _mm512_setzero_ps();
        FOR_J {
            __m512 mv = _mm512_maskz_loadu_ps(t, m + (size_t)j * width + k);
            FOR_P sum[p] = _mm512_fmadd_ps(wv[p][j], mv, sum[p]);
        }
        FOR_P {
            float *yp = y + p * ystride + k;
            _mm_prefetch((const char *)(yp + LORA_AHEAD * P * ystride), _MM_HINT_T0);
            _mm512_mask_storeu_ps(yp, t, _mm512_fmadd_ps(sv, sum[p], _mm512_maskz_loadu_ps(t, yp)));
        }
    }
}

// acc[p][j] = sum over the n rows i of c[i][col + 16 p, col + 16 p + 16) * w[i][j]: P column tiles of
// c^T w, c [n][width], w [n][R]; lanes past width are 0
LORA_INLINE void col_sums(__m512 acc[][LORA_FUSED_MAX_RANK], const float *c, int width, int col, const float *w,
                          int n, const int P, const int R) {
    __mmask16 t[4];
    FOR_P t[p] = lanes_left(width - col - 16 * p);
    FOR_P FOR_J acc[p][j] = _mm512_setzero_ps();
    for (int i = 0; i < n; i++) {
        __m512 cv[4];
        FOR_P cv[p] = _mm512_maskz_loadu_ps(t[p], c + (size_t)i * width + col + 16 * p);
        FOR_P _mm_prefetch((const char *)(c + (size_t)(i + LORA_COL_AHEAD) * width + col + 16 * p), _MM_HINT_T0);
        FOR_J {
            __m512 wj = _mm512_set1_ps(w[(size_t)i * R + j]);
            FOR_P acc[p][j] = _mm512_fmadd_ps(cv[p], wj, acc[p][j]);
        }
    }
}

// Rows [item LORA_ROWS, ...) P at a time, the last few one at a time.
#define ROWS_BY_P(a, item, body)                                                       \
    do {                                                                               \
        int i = (item) * LORA_ROWS, end = imin(i + LORA_ROWS, (a)->n);                 \
        for (; i + P <= end; i += P) body(a, i, P, R);                                 \
        for (; i < end; i++) body(a, i, 1, R);                                         \
    } while (0)

LORA_INLINE void forward_row(const LoraArgs *a, int i, const int P, const int R) {
    float *u = a->u + (size_t)i * R;
    row_dots(u, a->x + (size_t)i * a->in, a->in, a->A, a->in, 1, P, R);
    if (a->y) row_add(a->y + (size_t)i * a->out, a->out, u, a->bt, a->out, a->s, P, R);
}

LORA_INLINE void backward_row(const LoraArgs *a, int i, const int P, const int R) {
    float *du = a->du + (size_t)i * R;
    row_dots(du, a->dy + (size_t)i * a->out, a->out, a->bt, a->out, a->s, P, R);
    if (a->dx) row_add(a->dx + (size_t)i * a->in, a->in, du, a->A, a->in, 1, P, R);
}

LORA_INLINE void forward_rows(const LoraArgs *a, int item, const int R) {
    const int P = LORA_P(R);
    ROWS_BY_P(a, item, forward_row);
}

LORA_INLINE void backward_rows(const LoraArgs *a, int item, const int R) {
    const int P = LORA_P(R);
    ROWS_BY_P(a, item, backward_row);
}

// The column tiles of one item of the column pass: 16 P columns
static int col_items(int width, int R) { return (width + 16 * LORA_P(R) - 1) / (16 * LORA_P(R)); }

// dB's columns [16 P item, ...) of dy: dB[o][j] += s * (dy^T u)[o][j]
LORA_INLINE void backward_dB(const LoraArgs *a, int item, const int R) {
    const int P = LORA_P(R);
    __m512 acc[4][LORA_FUSED_MAX_RANK];
    float sums[LORA_FUSED_MAX_RANK][16];
    int o0 = item * 16 * P;
    col_sums(acc, a->dy, a->out, o0, a->u_saved, a->n, P, R);
    FOR_P {
        FOR_J _mm512_storeu_ps(sums[j], acc[p][j]);
        for (int o = 0; o < imin(16, a->out - o0 - 16 * p); o++)
            for (int j = 0; j < R; j++) a->dB[(size_t)(o0 + 16 * p + o) * R + j] += a->s * sums[j][o];
    }
}

// dA's columns [16 P item, ...) of x: dA[j][k] += (du^T x)[j][k]
LORA_INLINE void backward_dA(const LoraArgs *a, int item, const int R) {
    const int P = LORA_P(R);
    __m512 acc[4][LORA_FUSED_MAX_RANK];
    int k0 = item * 16 * P;
    col_sums(acc, a->x, a->in, k0, a->du, a->n, P, R);
    FOR_P {
        __mmask16 t = lanes_left(a->in - k0 - 16 * p);
        FOR_J {
            float *d = a->dA + (size_t)j * a->in + k0 + 16 * p;
            _mm512_mask_storeu_ps(d, t, _mm512_add_ps(_mm512_maskz_loadu_ps(t, d), acc[p][j]));
        }
    }
}

#define LORA_RANKS(X) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) X(16)
#define WITH_RANK(call) \
    switch (a->r) {     \
        LORA_RANKS(call) \
    }

static void forward_item(void *ctx, int item, int worker) {
    (void)worker;
    const LoraArgs *a = ctx;
#define CASE(R) case R: forward_rows(a, item, R); break;
    WITH_RANK(CASE)
#undef CASE
}

static void backward_row_item(void *ctx, int item, int worker) {
    (void)worker;
    const LoraArgs *a = ctx;
#define CASE(R) case R: backward_rows(a, item, R); break;
    WITH_RANK(CASE)
#undef CASE
}

// items [0, col_items(out)) are dB's, the rest dA's
static void backward_col_item(void *ctx, int item, int worker) {
    (void)worker;
    const LoraArgs *a = ctx;
    int out_tiles = col_items(a->out, a->r);
    if (item < out_tiles) {
#define CASE(R) case R: backward_dB(a, item, R); break;
        WITH_RANK(CASE)
#undef CASE
    } else {
#define CASE(R) case R: backward_dA(a, item - out_tiles, R); break;
        WITH_RANK(CASE)
#undef CASE
    }
}

static void transpose_b(float *bt, const float *B, int out, int r) {
    for (int o = 0; o < out; o++)
        for (int j = 0; j < r; j++) bt[(size_t)j * out + o] = B[(size_t)o * r + j];
}

static int rows_items(int n) { return (n + LORA_ROWS - 1) / LORA_ROWS; }
#endif

void lora_u(real *u, const real *x, const real *A, int n, int in, int r) {
#if OPS_AVX512
    if (r <= LORA_FUSED_MAX_RANK) {
        LoraArgs a = { .u = u, .x = x, .A = A, .n = n, .in = in, .r = r };
        parallel_for_light(rows_items(n), forward_item, &a);
        return;
    }
#endif
    lora_u_ref(u, x, A, n, in, r);
}

void lora_forward(real *y, real *u, const real *x, const real *A, const real *B, real *bt, double s,
                  int n, int in, int out, int r) {
#if OPS_AVX512
    if (r <= LORA_FUSED_MAX_RANK) {
        transpose_b(bt, B, out, r);
        LoraArgs a = { .y = y, .u = u, .x = x, .A = A, .bt = bt, .s = (float)s, .n = n, .in = in, .out = out, .r = r };
        parallel_for_light(rows_items(n), forward_item, &a);
        return;
    }
#endif
    (void)bt;
    lora_forward_ref(y, u, x, A, B, s, n, in, out, r);
}

void lora_backward(real *dx, real *dA, real *dB, real *du, const real *dy, const real *x, const real *u,
                   const real *A, const real *B, real *bt, double s, int n, int in, int out, int r) {
#if OPS_AVX512
    if (r <= LORA_FUSED_MAX_RANK) {
        transpose_b(bt, B, out, r);
        LoraArgs a = { .dx = dx, .dA = dA, .dB = dB, .du = du, .dy = dy, .x = x, .u_saved = u, .A = A, .bt = bt,
                       .s = (float)s, .n = n, .in = in, .out = out, .r = r };
        parallel_for_light(rows_items(n), backward_row_item, &a);   // du, dx
        parallel_for_light(col_items(out, r) + col_items(in, r), backward_col_item, &a);   // dB, dA (reads du)
        return;
    }
#endif
    (void)bt;
    lora_backward_ref(dx, dA, dB, du, dy, x, u, A, B, s, n, in, out, r);
}
