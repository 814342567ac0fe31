// Ternary matrices: 5 trits per byte in base 3 (byte = sum (trit_i + 1) * 3^i, trit 0 in the
// lowest digit), each row starting on a byte boundary, one float absmean scale per row.
//
// Products never expand the matrix whole. Two kernels:
//  - int16 (float build on CPUs with AVX-512 VNNI, the default): each activation row is quantised to
//    int16 with its own absmax scale, trits are unpacked a 64-wide panel at a time into int16 pairs,
//    and vpdpwssd accumulates exact int32 dot products (about twice the fp32 FMA rate). The only
//    rounding is the activations' to 1/32767 of their row's absmax: |error| <= 0.5 * absmax / 32767
//    * sum |w| per output, far below the ternary quantisation itself.
//  - decode + BLAS (the double build, and ternary_use_int_kernels(0)): row tiles decoded to real in a
//    cache-sized scratch and multiplied by sgemm/dgemm; exact up to BLAS rounding.
#include "engine/ternary.h"
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#include <immintrin.h>
#define HAVE_VNNI16 1
#endif

#define TRITS_PER_BYTE 5
#define TILE_BYTES (256 * 1024)   // decoded tile stays in L2 while BLAS streams x through it

// trit_lut[b][i] = trit i of byte b; bytes > 242 never occur in valid data but still decode to
// trits in {-1, 0, 1} so that corrupt input cannot index out of range
static real trit_lut[256][8];
static int8_t trit_lut8[256][8];
static pthread_once_t trit_lut_once = PTHREAD_ONCE_INIT;

static void trit_lut_build(void) {
    for (int b = 0; b < 256; b++) {
        int v = b;
        for (int i = 0; i < TRITS_PER_BYTE; i++) {
            trit_lut[b][i] = (real)(v % 3 - 1);
            trit_lut8[b][i] = (int8_t)(v % 3 - 1);
            v /= 3;
        }
    }
}

static int int_kernels = 1;
void ternary_use_int_kernels(int on) { int_kernels = on; }

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

// The thread's tile buffer (engine/util.h tile_buffer), n reals.
static real *tile_scratch(size_t n) { return tile_buffer(n * sizeof(real)); }

static int tile_rows(const Mat *W) {
    int tr = (int)(TILE_BYTES / ((size_t)W->cols * sizeof(real)));
    if (tr < 8) tr = 8;
    return tr < W->rows ? tr : W->rows;
}

static void forward_decoded(real *y, const real *x, const Mat *W, int n, int accumulate) {
    int tr = tile_rows(W);
    real *tile = tile_scratch((size_t)tr * W->cols);
    for (int r0 = 0; r0 < W->rows; r0 += tr) {
        int r1 = r0 + tr < W->rows ? r0 + tr : W->rows;
        ternary_decode_rows(tile, W, r0, r1);
        blas_gemm(1, n, r1 - r0, W->cols, x, W->cols, tile, W->cols, accumulate ? 1 : 0, y + r0, W->rows);
    }
}

static void backward_decoded(real *dx, const real *dy, const Mat *W, int n) {
    int tr = tile_rows(W);
    real *tile = tile_scratch((size_t)tr * W->cols);
    for (int r0 = 0; r0 < W->rows; r0 += tr) {
        int r1 = r0 + tr < W->rows ? r0 + tr : W->rows;
        ternary_decode_rows(tile, W, r0, r1);
        blas_gemm(0, n, W->cols, r1 - r0, dy + r0, W->rows, tile, W->cols, 1, dx, W->cols);
    }
}

// Trits [k0, k1) of one packed row as int8: a partial first byte, whole bytes as one 8-byte copy
// from the table each (writing 3 bytes past the end, so out has room for k1 - k0 + 3), a partial last.
static void trits_i8(int8_t *out, const uint8_t *row, int k0, int k1) {
    int k = k0;
    for (; k < k1 && k % TRITS_PER_BYTE; k++) *out++ = trit_lut8[row[k / TRITS_PER_BYTE]][k % TRITS_PER_BYTE];
    for (; k + TRITS_PER_BYTE <= k1; k += TRITS_PER_BYTE, out += TRITS_PER_BYTE)
        memcpy(out, trit_lut8[row[k / TRITS_PER_BYTE]], 8);
    for (; k < k1; k++) *out++ = trit_lut8[row[k / TRITS_PER_BYTE]][k % TRITS_PER_BYTE];
}

void ternary_unpack_i8(int8_t *out, const Mat *W) {
    pthread_once(&trit_lut_once, trit_lut_build);
    size_t rb = ternary_packed_bytes(1, W->cols);
    for (int r = 0; r < W->rows; r++) {
        const uint8_t *row = (const uint8_t *)W->data + (size_t)r * rb;
        int8_t *o = out + (size_t)r * W->cols;
        if (r + 1 < W->rows) { trits_i8(o, row, 0, W->cols); continue; }   // its overrun lands in the next row
        for (int k = 0; k < W->cols; k++) o[k] = trit_lut8[row[k / TRITS_PER_BYTE]][k % TRITS_PER_BYTE];
    }
}

#ifdef HAVE_VNNI16
// ---------------------------------------------------------------------------------------------
// int16 x trit kernels

#define MR 6    // activation rows per micro-tile
#define NR 64   // outputs per micro-tile: four zmm of 16 int32 lanes; 24 accumulators in registers
#define KC 128  // input pairs per pass: a 32 KB slice of the panel stays in L1 while every row streams by
#define Q16 32767.0f

static _Thread_local int16_t *q_buf, *panel_buf;
static _Thread_local size_t q_cap, panel_cap, acc_cap;
static _Thread_local int32_t *acc_buf;
static _Thread_local float *qs_buf;
static _Thread_local size_t qs_cap;

static void *grow(void *buf, size_t *cap, size_t bytes) {
    if (bytes <= *cap) return buf;
    free(buf);
    *cap = bytes;
    return xaligned(bytes);
}

// q[Mp][Kp] = rows of x (times colscale, when given) in int16, each scaled by 32767 / its absmax;
// qs[m] = absmax / 32767 (NaN for a row holding NaN or inf, so the product shows it). Pad is zero.
static void quantize_rows_i16(int16_t *q, float *qs, const real *x, const float *colscale, int n, int K,
                              int Kp, int Mp) {
    float *tmp = xaligned(sizeof(float) * ((size_t)Kp + 16));
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (int m = 0; m < Mp; m++) {
        int16_t *qm = q + (size_t)m * Kp;
        if (m >= n) { memset(qm, 0, sizeof(int16_t) * Kp); qs[m] = 0; continue; }
        const real *xm = x + (size_t)m * K;
        for (int k = 0; k < K; k++) tmp[k] = (float)xm[k];
        for (int k = K; k < K + 16; k++) tmp[k] = 0;
        __m512 vmax = _mm512_setzero_ps();
        __mmask16 bad = 0;
        for (int k = 0; k < K; k += 16) {
            __m512 v = _mm512_load_ps(tmp + k);
            if (colscale) {
                __mmask16 in = K - k >= 16 ? 0xffff : (__mmask16)((1u << (K - k)) - 1);
                v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(in, colscale + k));
                _mm512_store_ps(tmp + k, v);
            }
            bad |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            vmax = _mm512_max_ps(vmax, _mm512_andnot_ps(sign, v));
        }
        float amax = _mm512_reduce_max_ps(vmax);
        if (bad || !isfinite(amax) || amax == 0) {
            memset(qm, 0, sizeof(int16_t) * Kp);
            qs[m] = amax == 0 && !bad ? 0 : NAN;
            continue;
        }
        __m512 inv = _mm512_set1_ps(Q16 / amax);
        int k = 0;
        for (; k + 16 <= K; k += 16) {   // round to nearest even, saturate to int16
            __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_load_ps(tmp + k), inv));
            _mm256_storeu_si256((__m256i *)(qm + k), _mm512_cvtsepi32_epi16(v));
        }
        for (; k < K; k++) qm[k] = (int16_t)lrintf(tmp[k] * (Q16 / amax));
        for (; k < Kp; k++) qm[k] = 0;
        qs[m] = amax / Q16;
    }
    free(tmp);
}

// C[MR][NR] = A[MR][2 * K2] . panel, panel [K2][NR][2]: int16 pairs, int32 sums (exact).
// Plain stores: an accumulate-into-C variant makes gcc -O2 spill the 24 accumulators.
__attribute__((noipa))   // specialised for its call site (K2 > 0), gcc -O2 spills the accumulators
static void kernel_6x64(int32_t *C, const int16_t *A, size_t lda, const int16_t *panel, int K2) {
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00,
            c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00,
            c40 = c00, c41 = c00, c42 = c00, c43 = c00, c50 = c00, c51 = c00, c52 = c00, c53 = c00;
    for (int p = 0; p < K2; p++) {
        const int16_t *b = panel + (size_t)p * NR * 2;
        __m512i b0 = _mm512_load_si512((const void *)b), b1 = _mm512_load_si512((const void *)(b + 32));
        __m512i b2 = _mm512_load_si512((const void *)(b + 64)), b3 = _mm512_load_si512((const void *)(b + 96));
        __m512i a;
        int32_t pair;
#define ROW(m) \
        memcpy(&pair, A + (m) * lda + 2 * (size_t)p, 4); \
        a = _mm512_set1_epi32(pair); \
        c##m##0 = _mm512_dpwssd_epi32(c##m##0, a, b0); c##m##1 = _mm512_dpwssd_epi32(c##m##1, a, b1); \
        c##m##2 = _mm512_dpwssd_epi32(c##m##2, a, b2); c##m##3 = _mm512_dpwssd_epi32(c##m##3, a, b3);
        ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
    }
#define STORE(m) \
    _mm512_store_si512((void *)(C + (m) * NR), c##m##0); _mm512_store_si512((void *)(C + (m) * NR + 16), c##m##1); \
    _mm512_store_si512((void *)(C + (m) * NR + 32), c##m##2); _mm512_store_si512((void *)(C + (m) * NR + 48), c##m##3);
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
}

// acc[Mp][NR] = q[Mp][2 * K2] . panel, in KC slices of the reduction.
static void panel_product(int32_t *acc, const int16_t *q, size_t ldq, int Mp, const int16_t *panel, int K2) {
    _Alignas(64) int32_t part[MR * NR];
    for (int k0 = 0; k0 < K2; k0 += KC) {
        int kn = K2 - k0 < KC ? K2 - k0 : KC;
        for (int m0 = 0; m0 < Mp; m0 += MR) {
            int32_t *c = acc + (size_t)m0 * NR;
            kernel_6x64(k0 ? part : c, q + (size_t)m0 * ldq + 2 * (size_t)k0, ldq, panel + (size_t)k0 * NR * 2, kn);
            if (k0) for (int i = 0; i < MR * NR; i++) c[i] += part[i];
        }
    }
}

// y[n][rows] (=|+=) x W^T: panels of NR output rows, trits paired along the inputs.
static void forward_int16(real *y, const real *x, const Mat *W, int n, int accumulate) {
    int K = W->cols, rows = W->rows, Kp = (K + 1) & ~1, Mp = (n + MR - 1) / MR * MR;
    size_t rb = ternary_packed_bytes(1, K);
    q_buf = grow(q_buf, &q_cap, sizeof(int16_t) * (size_t)Mp * Kp);
    qs_buf = grow(qs_buf, &qs_cap, sizeof(float) * (size_t)Mp);
    panel_buf = grow(panel_buf, &panel_cap, sizeof(int16_t) * (size_t)Kp * NR);
    acc_buf = grow(acc_buf, &acc_cap, sizeof(int32_t) * (size_t)Mp * NR);
    quantize_rows_i16(q_buf, qs_buf, x, NULL, n, K, Kp, Mp);
    int8_t *t = xmalloc((size_t)Kp + 8);
    for (int r0 = 0; r0 < rows; r0 += NR) {
        int nr = rows - r0 < NR ? rows - r0 : NR;
        if (nr < NR) memset(panel_buf, 0, sizeof(int16_t) * (size_t)Kp * NR);
        for (int j = 0; j < nr; j++) {
            trits_i8(t, (const uint8_t *)W->data + (size_t)(r0 + j) * rb, 0, K);
            if (K < Kp) t[K] = 0;
            for (int p = 0; p < Kp / 2; p++) {
                panel_buf[((size_t)p * NR + j) * 2] = t[2 * p];
                panel_buf[((size_t)p * NR + j) * 2 + 1] = t[2 * p + 1];
            }
        }
        const float *ws = W->scale + r0;
        panel_product(acc_buf, q_buf, (size_t)Kp, Mp, panel_buf, Kp / 2);
        for (int m = 0; m < n; m++) {
            real *ym = y + (size_t)m * rows + r0;
            float s = qs_buf[m];
            const int32_t *cm = acc_buf + (size_t)m * NR;
            if (accumulate) for (int j = 0; j < nr; j++) ym[j] += (real)((float)cm[j] * s * ws[j]);
            else for (int j = 0; j < nr; j++) ym[j] = (real)((float)cm[j] * s * ws[j]);
        }
    }
    free(t);
}

// dx[n][cols] += dy W: the row scales fold into dy before it is quantised; panels of NR inputs,
// trits paired along the rows.
static void backward_int16(real *dx, const real *dy, const Mat *W, int n) {
    int K = W->cols, rows = W->rows, Rp = (rows + 1) & ~1, Mp = (n + MR - 1) / MR * MR;
    size_t rb = ternary_packed_bytes(1, K);
    q_buf = grow(q_buf, &q_cap, sizeof(int16_t) * (size_t)Mp * Rp);
    qs_buf = grow(qs_buf, &qs_cap, sizeof(float) * (size_t)Mp);
    panel_buf = grow(panel_buf, &panel_cap, sizeof(int16_t) * (size_t)Rp * NR);
    acc_buf = grow(acc_buf, &acc_cap, sizeof(int32_t) * (size_t)Mp * NR);
    quantize_rows_i16(q_buf, qs_buf, dy, W->scale, n, rows, Rp, Mp);
    int8_t t[NR + 8];
    for (int k0 = 0; k0 < K; k0 += NR) {
        int nk = K - k0 < NR ? K - k0 : NR;
        if (nk < NR || rows < Rp) memset(panel_buf, 0, sizeof(int16_t) * (size_t)Rp * NR);
        for (int r = 0; r < rows; r++) {
            trits_i8(t, (const uint8_t *)W->data + (size_t)r * rb, k0, k0 + nk);
            int16_t *dst = panel_buf + (size_t)(r / 2) * NR * 2 + (r & 1);
            for (int j = 0; j < nk; j++) dst[2 * j] = t[j];
        }
        panel_product(acc_buf, q_buf, (size_t)Rp, Mp, panel_buf, Rp / 2);
        for (int m = 0; m < n; m++) {
            real *dxm = dx + (size_t)m * K + k0;
            float s = qs_buf[m];
            const int32_t *cm = acc_buf + (size_t)m * NR;
            for (int j = 0; j < nk; j++) dxm[j] += (real)((float)cm[j] * s);
        }
    }
}
#endif

// int32 sums of int16 x trit stay exact while inputs * 32767 < 2^31
#ifdef HAVE_VNNI16
static int use_int16(const Mat *W) {
    return REAL_IS_FLOAT && int_kernels && W->cols < 65536 && W->rows < 65536;
}
#endif

void ternary_forward(real *y, const real *x, const Mat *W, int n, int accumulate) {
    if (n <= 0 || W->rows <= 0) return;
    pthread_once(&trit_lut_once, trit_lut_build);
#ifdef HAVE_VNNI16
    if (use_int16(W)) { forward_int16(y, x, W, n, accumulate); return; }
#endif
    forward_decoded(y, x, W, n, accumulate);
}

void ternary_backward_input(real *dx, const real *dy, const Mat *W, int n) {
    if (n <= 0 || W->rows <= 0) return;
    pthread_once(&trit_lut_once, trit_lut_build);
#ifdef HAVE_VNNI16
    if (use_int16(W)) { backward_int16(dx, dy, W, n); return; }
#endif
    backward_decoded(dx, dy, W, n);
}

int ternary_int_kernels_active(void) {
#ifdef HAVE_VNNI16
    return REAL_IS_FLOAT && int_kernels;
#else
    return 0;
#endif
}
