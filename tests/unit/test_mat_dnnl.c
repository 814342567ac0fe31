// The compute precisions of the matrix-product layer (fp32-dnnl, bf16, int8) against references
// written here: naive double sums over inputs rounded the way each precision defines (bf16 by
// comparing neighbours, int8 by the BitNet absmax rule), for every storage type, ragged shapes and
// the accumulate flags; the weight cache (reuse, reallocation, training epochs, clearing); contexts
// of different precisions interleaved; ready forms read in place;
// determinism; NaN; names. Runs on oneDNN when the build has it, else on the BLAS emulation: the
// same expectations hold for both.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "engine/mat.h"
#include "engine/rng.h"
#include "engine/ternary.h"
#include "engine/util.h"
#include "testlib.h"

static Rng rng;

static float *rnd(long n) {
    float *a = xmalloc((size_t)n * sizeof(float));
    for (long i = 0; i < n; i++) a[i] = (float)(2 * rng_uniform(&rng) - 1);
    return a;
}

// The bf16 value nearest to f, ties to the even one, by comparing the two candidates around it
// (the library rounds with an integer bias instead).
static float ref_bf16(float f) {
    if (f != f) return f;
    union { float f; uint32_t u; } lo = { f }, hi;
    lo.u &= 0xffff0000u;   // toward zero
    hi = lo;
    hi.u += 0x10000;       // away from zero
    double dl = fabs((double)f - lo.f), dh = fabs((double)hi.f - f);
    if (dl != dh) return dl < dh ? lo.f : hi.f;
    return (lo.u >> 16) & 1 ? hi.f : lo.f;
}

// BitNet b1.58 activation quantisation of one row: q = clamp(round(x * 127 / absmax)), scale absmax / 127
static float ref_quant_row(int *q, const float *x, int K) {
    float amax = 0;
    for (int k = 0; k < K; k++) amax = fabsf(x[k]) > amax ? fabsf(x[k]) : amax;
    if (amax == 0) { for (int k = 0; k < K; k++) q[k] = 0; return 0; }
    float inv = 127.0f / amax;
    for (int k = 0; k < K; k++) {
        float v = nearbyintf(x[k] * inv);
        q[k] = v > 127 ? 127 : v < -127 ? -127 : (int)v;
    }
    return amax / 127.0f;
}

// |got - ref| relative to the sum of |terms|: fp32 sums of K terms stay far below 1e-5 of it
static double worst_err(const float *got, const double *ref, const double *abssum, long n) {
    double w = 0;
    for (long i = 0; i < n; i++) {
        double e = fabs(got[i] - ref[i]) / (abssum[i] > 1e-30 ? abssum[i] : 1e-30);
        if (e > w || e != e) w = e;
    }
    return w;
}

typedef struct {
    Mat W;
    float *dec;          // the stored values, decoded (trit x scale for ternary)
    int8_t *trit;        // ternary only
    void *storage;
    float *scale;
} TestMat;

static TestMat make_mat(MatType type, int rows, int cols) {
    long nw = (long)rows * cols;
    TestMat t = { 0 };
    float *w = rnd(nw);
    t.dec = xmalloc(sizeof(float) * nw);
    if (type == MAT_BF16) {
        uint16_t *h = xmalloc(sizeof(uint16_t) * nw);
        for (long i = 0; i < nw; i++) {
            union { float f; uint32_t u; } v = { ref_bf16(w[i]) };
            h[i] = (uint16_t)(v.u >> 16);
            t.dec[i] = v.f;
        }
        t.storage = h;
        free(w);
    } else if (type == MAT_TERNARY) {
        t.scale = xmalloc(sizeof(float) * rows);
        uint8_t *p = xmalloc(ternary_packed_bytes(rows, cols));
        ternary_quantize_rows(p, t.scale, w, rows, cols);
        Mat tmp = { MAT_TERNARY, rows, cols, p, t.scale, NULL, NULL, 0 };
        ternary_decode_rows(t.dec, &tmp, 0, rows);
        t.trit = xmalloc((size_t)nw);
        for (long i = 0; i < nw; i++) {
            float s = t.scale[i / cols];
            t.trit[i] = (int8_t)(s > 0 ? t.dec[i] / s : 0);
        }
        t.storage = p;
        free(w);
    } else {
        memcpy(t.dec, w, sizeof(float) * nw);
        t.storage = w;
    }
    t.W = (Mat){ type, rows, cols, t.storage, t.scale, NULL, NULL, 0 };
    return t;
}

static void free_mat(TestMat *t) { free(t->dec); free(t->trit); free(t->storage); free(t->scale); }

static const char *type_name(MatType t) {
    return t == MAT_REAL ? "real" : t == MAT_F32 ? "f32" : t == MAT_BF16 ? "bf16" : "ternary";
}

// y (=|+=) x W^T against the reference of precision p; accumulate adds onto 0.25
static void check_forward(MatPrecision p, MatType type, int n, int rows, int cols, int accumulate) {
    TestMat t = make_mat(type, rows, cols);
    float *x = rnd((long)n * cols), *y = xmalloc(sizeof(float) * n * rows);
    double *ref = xmalloc(sizeof(double) * n * rows), *raw = xmalloc(sizeof(double) * n * rows);
    double *abssum = xmalloc(sizeof(double) * n * rows);
    for (long i = 0; i < (long)n * rows; i++) y[i] = accumulate ? 0.25f : NAN;
    MatContext *mc = mat_context_create(p);
    mat_forward(mc, y, x, &t.W, n, accumulate);
    char name[96];
    snprintf(name, sizeof name, "%s forward %s %dx%d n%d%s", mat_precision_name(p), type_name(type), rows, cols, n,
             accumulate ? " acc" : "");
    int exact_int8 = p == MAT_PREC_INT8 && type == MAT_TERNARY;
    if (exact_int8) {   // int32 sums are exact: the float scaling is the only rounding, same order
        int *q = xmalloc(sizeof(int) * cols), bad = 0;
        for (int i = 0; i < n; i++) {
            float xs = ref_quant_row(q, x + (long)i * cols, cols);
            for (int r = 0; r < rows; r++) {
                long acc = 0;
                for (int c = 0; c < cols; c++) acc += (long)q[c] * t.trit[(long)r * cols + c];
                float v = (float)acc * xs * t.scale[r], want = accumulate ? 0.25f + v : v;
                bad += y[(long)i * rows + r] != want;
            }
        }
        CHECK(bad == 0, "%s: %d outputs differ from the exact int8 reference", name, bad);
        free(q);
    } else {
        int bf = p == MAT_PREC_BF16 || p == MAT_PREC_INT8;
        for (int i = 0; i < n; i++)
            for (int r = 0; r < rows; r++) {
                double s = accumulate ? 0.25 : 0, s_raw = s, a = accumulate ? 0.25 : 0;
                for (int c = 0; c < cols; c++) {
                    float xv = x[(long)i * cols + c], wv = t.dec[(long)r * cols + c];
                    double term = bf ? (double)ref_bf16(xv) * ref_bf16(wv) : (double)xv * wv;
                    s += term, s_raw += (double)xv * wv, a += fabs(term);
                }
                ref[(long)i * rows + r] = s, raw[(long)i * rows + r] = s_raw, abssum[(long)i * rows + r] = a;
            }
        // fp32 products of ternary weights take the int16 kernels: 0.5 / 32767 of each row's absmax
        double tol = type == MAT_TERNARY && !bf ? 1e-4 : 1e-5;
        double e = worst_err(y, ref, abssum, (long)n * rows);
        CHECK(e < tol, "%s: vs reference %.3e", name, e);
        if (bf && cols >= 16) {   // and the rounding happened: unrounded inputs give other numbers
            double e_raw = worst_err(y, raw, abssum, (long)n * rows);
            CHECK(e_raw > 1e-4, "%s: bf16 result equals the unrounded product (%.3e)", name, e_raw);
        }
    }
    free(x); free(y); free(ref); free(raw); free(abssum);
    free_mat(&t);
    mat_context_free(mc);
}

// dx += dy W (onto 0.5), against the reference of precision p (int8: bf16, but ternary as SwitchBack:
// dy times the row scales, quantised per token by the absmax rule, exact sums against the trits)
static void check_backward_input(MatPrecision p, MatType type, int n, int rows, int cols) {
    TestMat t = make_mat(type, rows, cols);
    float *dy = rnd((long)n * rows), *dx = xmalloc(sizeof(float) * n * cols);
    double *ref = xmalloc(sizeof(double) * n * cols), *abssum = xmalloc(sizeof(double) * n * cols);
    for (long i = 0; i < (long)n * cols; i++) dx[i] = 0.5f;
    MatContext *mc = mat_context_create(p);
    mat_backward_input(mc, dx, dy, &t.W, n);
    int bf = p == MAT_PREC_BF16 || (p == MAT_PREC_INT8 && type != MAT_TERNARY);
    int q8 = p == MAT_PREC_INT8 && type == MAT_TERNARY;
    float *g = xmalloc(sizeof(float) * rows);
    int *q = xmalloc(sizeof(int) * rows);
    for (int i = 0; i < n; i++) {
        float gs = 0;
        if (q8) {
            for (int r = 0; r < rows; r++) g[r] = dy[(long)i * rows + r] * t.scale[r];
            gs = ref_quant_row(q, g, rows);
        }
        for (int c = 0; c < cols && q8; c++) {
            long acc = 0, a = 0;
            for (int r = 0; r < rows; r++) {
                acc += (long)q[r] * t.trit[(long)r * cols + c];
                a += labs((long)q[r] * t.trit[(long)r * cols + c]);
            }
            ref[(long)i * cols + c] = 0.5 + (double)acc * gs, abssum[(long)i * cols + c] = 0.5 + (double)a * gs;
        }
        for (int c = 0; c < cols && !q8; c++) {
            double s = 0.5, a = 0.5;
            for (int r = 0; r < rows; r++) {
                float dv = dy[(long)i * rows + r], wv = t.dec[(long)r * cols + c];
                double term = bf ? (double)ref_bf16(dv) * ref_bf16(wv) : (double)dv * wv;
                s += term, a += fabs(term);
            }
            ref[(long)i * cols + c] = s, abssum[(long)i * cols + c] = a;
        }
    }
    free(g); free(q);
    double tol = type == MAT_TERNARY && !bf && !q8 ? 1e-4 : 1e-5;
    double e = worst_err(dx, ref, abssum, (long)n * cols);
    CHECK(e < tol, "%s backward_input %s %dx%d n%d: vs reference %.3e", mat_precision_name(p), type_name(type),
          rows, cols, n, e);
    free(dy); free(dx); free(ref); free(abssum);
    free_mat(&t);
    mat_context_free(mc);
}

// dW += dy^T x (onto -1)
static void check_backward_weight(MatPrecision p, int n, int rows, int cols) {
    float *x = rnd((long)n * cols), *dy = rnd((long)n * rows), *dW = xmalloc(sizeof(float) * rows * cols);
    double *ref = xmalloc(sizeof(double) * rows * cols), *abssum = xmalloc(sizeof(double) * rows * cols);
    for (long i = 0; i < (long)rows * cols; i++) dW[i] = -1.0f;
    MatContext *mc = mat_context_create(p);
    mat_backward_weight(mc, dW, dy, x, n, rows, cols);
    int bf = p != MAT_PREC_FP32_DNNL;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            double s = -1, a = 1;
            for (int i = 0; i < n; i++) {
                float dv = dy[(long)i * rows + r], xv = x[(long)i * cols + c];
                double term = bf ? (double)ref_bf16(dv) * ref_bf16(xv) : (double)dv * xv;
                s += term, a += fabs(term);
            }
            ref[(long)r * cols + c] = s, abssum[(long)r * cols + c] = a;
        }
    double e = worst_err(dW, ref, abssum, (long)rows * cols);
    CHECK(e < 1e-5, "%s backward_weight %dx%d n%d: vs reference %.3e", mat_precision_name(p), rows, cols, n, e);
    free(x); free(dy); free(dW); free(ref); free(abssum);
    mat_context_free(mc);
}

// The cache: hits reuse, a changed matrix at the same address is seen, weight gradients start an epoch.
static void check_cache(void) {
    int rows = 48, cols = 40, n = 3;
    float *w = rnd((long)rows * cols), *x = rnd((long)n * cols);
    float y1[3 * 48], y2[3 * 48], y3[3 * 48];
    Mat W = mat_real(w, rows, cols);
    MatContext *mc = mat_context_create(MAT_PREC_BF16);
    CHECK(mat_cache_bytes(mc) == 0, "a new context holds nothing: %zu bytes", mat_cache_bytes(mc));
    mat_forward(mc, y1, x, &W, n, 0);
    size_t held = mat_cache_bytes(mc);
    CHECK(held == sizeof(uint16_t) * rows * cols, "one bf16 copy cached: %zu bytes", held);
    mat_forward(mc, y2, x, &W, n, 0);
    CHECK(!memcmp(y1, y2, sizeof y1) && mat_cache_bytes(mc) == held, "second use: same bytes, same result");

    // new values at the same address (a freed matrix's memory reused): every element changes
    for (long i = 0; i < (long)rows * cols; i++) w[i] = -w[i];
    mat_forward(mc, y2, x, &W, n, 0);
    int negated = 1;
    for (int i = 0; i < n * rows; i++) negated &= y2[i] == -y1[i];
    CHECK(negated, "negated weights at the same address give the negated product");

    // one element changed in place, as an optimizer step does: seen after weight gradients ...
    for (long i = 0; i < (long)rows * cols; i++) w[i] = -w[i];
    mat_forward(mc, y1, x, &W, n, 0);
    float dW[48 * 40] = { 0 };
    mat_backward_weight(mc, dW, y1, x, n, rows, cols);
    w[7 * cols + 5] += 1.0f;   // row 7, column 5
    mat_forward(mc, y3, x, &W, n, 0);
    double want = (double)ref_bf16(x[5]) * ref_bf16(w[7 * cols + 5]) - (double)ref_bf16(x[5]) * ref_bf16(w[7 * cols + 5] - 1.0f);
    CHECK(fabs((y3[7] - y1[7]) - want) < 1e-5, "in-place change after weight gradients: output moved %.6g, want %.6g",
          y3[7] - y1[7], want);
    // ... and after mat_cache_clear
    w[7 * cols + 5] -= 1.0f;
    mat_cache_clear(mc);
    CHECK(mat_cache_bytes(mc) == 0, "cleared");
    mat_forward(mc, y3, x, &W, n, 0);
    CHECK(!memcmp(y1, y3, sizeof y1), "after clear: the restored weights give the first result");

    // bf16-stored weights are used in place: nothing cached
    uint16_t *h = xmalloc(sizeof(uint16_t) * rows * cols);
    for (long i = 0; i < (long)rows * cols; i++) h[i] = f32_to_bf16(w[i]);
    Mat Wb = { MAT_BF16, rows, cols, h, NULL, NULL, NULL, 0 };
    mat_cache_clear(mc);
    mat_forward(mc, y2, x, &Wb, n, 0);
    CHECK(mat_cache_bytes(mc) == 0, "bf16 storage needs no copy (%zu bytes cached)", mat_cache_bytes(mc));
    CHECK(!memcmp(y1, y2, sizeof y1), "bf16 storage and the fp32 matrix rounded to bf16 give the same product");
    free(h); free(w); free(x);
    mat_context_free(mc);
}

// Same inputs, same bits: twice in a row, and at 1 and 2 threads.
static void check_determinism(MatPrecision p) {
    int n = 96, rows = 300, cols = 256;
    TestMat t = make_mat(p == MAT_PREC_INT8 ? MAT_TERNARY : MAT_REAL, rows, cols);
    float *x = rnd((long)n * cols), *dy = rnd((long)n * rows);
    size_t ny = sizeof(float) * n * rows, nx = sizeof(float) * n * cols;
    float *y[3], *dx[3];
    MatContext *mc = mat_context_create(p);
    int threads[3] = { 1, 1, 2 };
    for (int k = 0; k < 3; k++) {
        engine_set_threads(threads[k]);
        y[k] = xmalloc(ny);
        dx[k] = xcalloc(1, nx);
        mat_forward(mc, y[k], x, &t.W, n, 0);
        mat_backward_input(mc, dx[k], dy, &t.W, n);
    }
    engine_set_threads(1);
    CHECK(!memcmp(y[0], y[1], ny) && !memcmp(dx[0], dx[1], nx), "%s: repeat gives other bits", mat_precision_name(p));
    // oneDNN splits the outputs, never the sums, between threads; OpenBLAS's blocking depends on the
    // thread count, so without oneDNN only the repeat is promised (a sweep runs one thread per rank)
    int same_threads = !memcmp(y[0], y[2], ny) && !memcmp(dx[0], dx[2], nx);
    if (!strcmp(mat_precision_backend(p), "onednn"))
        CHECK(same_threads, "%s: 2 threads give other bits than 1", mat_precision_name(p));
    else
        printf("%s on %s: 1 and 2 threads give %s bits\n", mat_precision_name(p), mat_precision_backend(p),
               same_threads ? "the same" : "different");
    for (int k = 0; k < 3; k++) free(y[k]), free(dx[k]);
    free(x); free(dy);
    free_mat(&t);
    mat_context_free(mc);
}

// A NaN in an input row reaches that row's outputs in every precision (divergence must show).
static void check_nan(MatPrecision p) {
    int n = 3, rows = 20, cols = 32;
    TestMat t = make_mat(p == MAT_PREC_INT8 ? MAT_TERNARY : MAT_REAL, rows, cols);
    float *x = rnd((long)n * cols), y[60];
    x[1 * cols + 4] = NAN;
    MatContext *mc = mat_context_create(p);
    mat_forward(mc, y, x, &t.W, n, 0);
    int row1_nan = 1, others_finite = 1;
    for (int r = 0; r < rows; r++) {
        row1_nan &= y[rows + r] != y[rows + r];
        others_finite &= isfinite(y[r]) && isfinite(y[2 * rows + r]);
    }
    CHECK(row1_nan && others_finite, "%s: NaN input row -> NaN outputs in that row only", mat_precision_name(p));
    free(x);
    free_mat(&t);
    mat_context_free(mc);
}

// Two contexts at different precisions, their products interleaved, give each one's own bits: what
// each gives alone in a fresh context. A precision or cache shared between them would show here.
static void check_contexts(void) {
    int n = 5, rows = 40, cols = 64;
    TestMat t = make_mat(MAT_TERNARY, rows, cols), d = make_mat(MAT_REAL, rows, cols);
    float *x = rnd((long)n * cols), *dy = rnd((long)n * rows);
    const MatPrecision ps[3] = { MAT_PREC_BF16, MAT_PREC_INT8, MAT_PREC_FP32_DNNL };
    const Mat *ws[2] = { &t.W, &d.W };
    size_t ny = sizeof(float) * n * rows, nx = sizeof(float) * n * cols;
    float *alone[3][2][2], *mixed[3][2][2];   // [precision][matrix][forward, backward-input]
    for (int k = 0; k < 3; k++) {
        MatContext *mc = mat_context_create(ps[k]);
        for (int m = 0; m < 2; m++) {
            alone[k][m][0] = xmalloc(ny);
            alone[k][m][1] = xcalloc(1, nx);
            mat_forward(mc, alone[k][m][0], x, ws[m], n, 0);
            mat_backward_input(mc, alone[k][m][1], dy, ws[m], n);
        }
        mat_context_free(mc);
    }
    MatContext *mcs[3];
    for (int k = 0; k < 3; k++) mcs[k] = mat_context_create(ps[k]);
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 3; k++) mixed[k][m][0] = xmalloc(ny), mixed[k][m][1] = xcalloc(1, nx);
    for (int m = 0; m < 2; m++) {   // forward of every context, then every backward, then again
        for (int k = 0; k < 3; k++) mat_forward(mcs[k], mixed[k][m][0], x, ws[m], n, 0);
        for (int k = 2; k >= 0; k--) mat_backward_input(mcs[k], mixed[k][m][1], dy, ws[m], n);
    }
    int same = 1, differ = 0;
    for (int k = 0; k < 3; k++)
        for (int m = 0; m < 2; m++) {
            same &= !memcmp(alone[k][m][0], mixed[k][m][0], ny) && !memcmp(alone[k][m][1], mixed[k][m][1], nx);
            differ += k && memcmp(mixed[0][m][0], mixed[k][m][0], ny) != 0;
        }
    CHECK(same, "contexts interleaved give other bits than each alone");
    // int8 differs from bf16 on the ternary matrix only (other weights it multiplies in bf16)
    CHECK(differ == 3, "bf16, int8 and fp32-dnnl products: %d of 3 differ from bf16's: test blind", differ);
    CHECK(mat_context_precision(mcs[1]) == MAT_PREC_INT8 && mat_context_precision(NULL) == MAT_PREC_FP32,
          "context precisions");
    for (int k = 0; k < 3; k++) {
        mat_context_free(mcs[k]);
        for (int m = 0; m < 2; m++) free(alone[k][m][0]), free(alone[k][m][1]), free(mixed[k][m][0]), free(mixed[k][m][1]);
    }
    free(x); free(dy);
    free_mat(&t); free_mat(&d);
}

// Ready forms (Mat.ready_bf16 / ready_i8, mapped per node in a sweep) are read instead of a private
// conversion: the same bits, nothing cached, and a ready form that lies is what the product shows.
static void check_ready(void) {
    int n = 4, rows = 36, cols = 48;
    TestMat t = make_mat(MAT_TERNARY, rows, cols), d = make_mat(MAT_F32, rows, cols);
    float *x = rnd((long)n * cols);
    size_t ny = sizeof(float) * n * rows;
    float *y0 = xmalloc(ny), *y1 = xmalloc(ny);
    int8_t *i8 = xmalloc((size_t)rows * cols);
    uint16_t *b16 = xmalloc(sizeof(uint16_t) * rows * cols), *d16 = xmalloc(sizeof(uint16_t) * rows * cols);
    ternary_unpack_i8(i8, &t.W);
    mat_convert_bf16(b16, &t.W);
    mat_convert_bf16(d16, &d.W);
    Mat tr = t.W, dr = d.W;
    tr.ready_i8 = i8, tr.ready_bf16 = b16, dr.ready_bf16 = d16;
    const MatPrecision ps[2] = { MAT_PREC_INT8, MAT_PREC_BF16 };
    for (int k = 0; k < 2; k++)
        for (int m = 0; m < 2; m++) {
            MatContext *a = mat_context_create(ps[k]), *b = mat_context_create(ps[k]);
            mat_forward(a, y0, x, m ? &d.W : &t.W, n, 0);
            mat_forward(b, y1, x, m ? &dr : &tr, n, 0);
            CHECK(!memcmp(y0, y1, ny) && mat_cache_bytes(b) == 0 && mat_cache_bytes(a) > 0,
                  "%s %s: ready form gives other bits or was copied (%zu bytes cached)", mat_precision_name(ps[k]),
                  m ? "f32" : "ternary", mat_cache_bytes(b));
            mat_context_free(a);
            mat_context_free(b);
        }
    memset(i8, 0, (size_t)rows * cols);   // trits all zero: the int8 product must be zero
    MatContext *c = mat_context_create(MAT_PREC_INT8);
    mat_forward(c, y1, x, &tr, n, 0);
    int zero = 1;
    for (int i = 0; i < n * rows; i++) zero &= y1[i] == 0;
    CHECK(zero, "int8 product did not read the ready trits");
    mat_context_free(c);
    free(y0); free(y1); free(i8); free(b16); free(d16); free(x);
    free_mat(&t); free_mat(&d);
}

int main(void) {
    rng_seed(&rng, 11);
    engine_set_threads(1);
    printf("backends: fp32-dnnl %s, bf16 %s, int8 %s\n", mat_precision_backend(MAT_PREC_FP32_DNNL),
           mat_precision_backend(MAT_PREC_BF16), mat_precision_backend(MAT_PREC_INT8));

    const MatPrecision precs[3] = { MAT_PREC_FP32_DNNL, MAT_PREC_BF16, MAT_PREC_INT8 };
    const MatType types[4] = { MAT_REAL, MAT_F32, MAT_BF16, MAT_TERNARY };
    const int shapes[4][3] = { { 7, 33, 19 }, { 64, 96, 256 }, { 5, 300, 40 }, { 1, 1, 1 } };   // n, rows, cols
    for (int p = 0; p < 3; p++)
        for (int t = 0; t < 4; t++)
            for (int s = 0; s < 4; s++) {
                check_forward(precs[p], types[t], shapes[s][0], shapes[s][1], shapes[s][2], 0);
                check_forward(precs[p], types[t], shapes[s][0], shapes[s][1], shapes[s][2], 1);
                check_backward_input(precs[p], types[t], shapes[s][0], shapes[s][1], shapes[s][2]);
            }
    for (int p = 0; p < 3; p++) {
        check_backward_weight(precs[p], 7, 33, 19);
        check_backward_weight(precs[p], 64, 96, 256);
        check_determinism(precs[p]);
        check_nan(precs[p]);
    }
    check_cache();
    check_contexts();
    check_ready();

    MatPrecision q;
    int names_ok = 1;
    for (int p = 0; p <= MAT_PREC_INT8; p++)
        names_ok &= !mat_precision_parse(mat_precision_name((MatPrecision)p), &q) && q == (MatPrecision)p;
    CHECK(names_ok, "precision names parse back");
    CHECK(mat_precision_parse("fp16", &q) == -1 && mat_precision_parse("", &q) == -1, "unknown names refused");
    return tl_finish("test_mat_dnnl");
}
