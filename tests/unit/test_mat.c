// The matrix-product layer in the float build: every product against naive double loops over the
// weights as stored (bf16 decoded exactly), for each storage type, ragged tiles, accumulate flags.
#include "engine/mat.h"
#include "engine/rng.h"
#include "testlib.h"
#include <stdlib.h>
#include <string.h>

static Rng rng;

static float *rnd(long n) {
    float *a = malloc((size_t)n * sizeof(float));
    for (long i = 0; i < n; i++) a[i] = (float)(2 * rng_uniform(&rng) - 1);
    return a;
}

// |got - ref| relative to sum |terms|: float rounding of a K-term sum stays below ~K * 6e-8 of that
typedef struct { double worst; } Err;
static void err_add(Err *e, double got, double ref, double abssum) {
    double r = fabs(got - ref) / (abssum > 1e-30 ? abssum : 1e-30);
    if (r > e->worst || r != r) e->worst = r;
}

static const char *type_name(MatType t) {
    return t == MAT_REAL ? "real" : t == MAT_F32 ? "f32" : t == MAT_BF16 ? "bf16" : "ternary";
}

static void check(MatType type, int n, int rows, int cols) {
    long nw = (long)rows * cols;
    float *w = rnd(nw), *x = rnd((long)n * cols), *dy = rnd((long)n * rows);
    float *dec = malloc(sizeof(float) * nw);   // what the product must use: the stored values
    uint16_t *w16 = NULL;
    Mat W;
    if (type == MAT_BF16) {
        w16 = malloc(sizeof(uint16_t) * nw);
        for (long i = 0; i < nw; i++) { w16[i] = f32_to_bf16(w[i]); dec[i] = bf16_to_f32(w16[i]); }
        W = (Mat){ MAT_BF16, rows, cols, w16, NULL, NULL, NULL, 0 };
    } else {
        memcpy(dec, w, sizeof(float) * nw);
        W = (Mat){ type, rows, cols, w, NULL, NULL, NULL, 0 };
    }
    char name[64];
    snprintf(name, sizeof name, "%s %dx%d n%d", type_name(type), rows, cols, n);

    // forward overwrites (y starts as NaN) and then accumulates
    float *y = malloc(sizeof(float) * n * rows);
    for (long i = 0; i < (long)n * rows; i++) y[i] = NAN;
    mat_forward(NULL, y, x, &W, n, 0);
    float *y2 = malloc(sizeof(float) * n * rows);
    for (long i = 0; i < (long)n * rows; i++) y2[i] = 0.25f;
    mat_forward(NULL, y2, x, &W, n, 1);
    Err ef = { 0 }, ea = { 0 };
    for (int i = 0; i < n; i++)
        for (int r = 0; r < rows; r++) {
            double s = 0, a = 0;
            for (int c = 0; c < cols; c++) {
                double t = (double)x[(long)i * cols + c] * dec[(long)r * cols + c];
                s += t; a += fabs(t);
            }
            err_add(&ef, y[(long)i * rows + r], s, a);
            err_add(&ea, y2[(long)i * rows + r], s + 0.25, a + 0.25);
        }
    CHECK(ef.worst < 1e-5, "%s: forward vs naive: %.3e", name, ef.worst);
    CHECK(ea.worst < 1e-5, "%s: forward accumulating onto 0.25 vs naive: %.3e", name, ea.worst);

    // dx += dy . W
    float *dx = malloc(sizeof(float) * n * cols);
    for (long i = 0; i < (long)n * cols; i++) dx[i] = 0.5f;
    mat_backward_input(NULL, dx, dy, &W, n);
    Err eb = { 0 };
    for (int i = 0; i < n; i++)
        for (int c = 0; c < cols; c++) {
            double s = 0.5, a = 0.5;
            for (int r = 0; r < rows; r++) {
                double t = (double)dy[(long)i * rows + r] * dec[(long)r * cols + c];
                s += t; a += fabs(t);
            }
            err_add(&eb, dx[(long)i * cols + c], s, a);
        }
    CHECK(eb.worst < 1e-5, "%s: backward_input (accumulating onto 0.5) vs naive: %.3e", name, eb.worst);

    // decode: row r0..r1 as stored
    int r0 = rows / 3, r1 = rows / 3 + 2 < rows ? rows / 3 + 2 : rows;
    float *rowsbuf = malloc(sizeof(float) * cols * 2);
    mat_decode_rows(rowsbuf, &W, r0, r1);
    int same = !memcmp(rowsbuf, dec + (long)r0 * cols, sizeof(float) * cols * (r1 - r0));
    mat_decode_row(rowsbuf, &W, rows - 1);
    same &= !memcmp(rowsbuf, dec + (long)(rows - 1) * cols, sizeof(float) * cols);
    CHECK(same, "%s: decode_rows / decode_row give the stored values", name);
    CHECK(mat_storage_bytes(&W) == (size_t)nw * (type == MAT_BF16 ? 2 : 4), "%s: storage bytes %zu", name,
          mat_storage_bytes(&W));

    free(rowsbuf); free(dx); free(y2); free(y); free(w16); free(dec); free(dy); free(x); free(w);
}

static void check_weight_grad(int n, int rows, int cols) {
    float *x = rnd((long)n * cols), *dy = rnd((long)n * rows);
    float *dW = malloc(sizeof(float) * rows * cols);
    for (long i = 0; i < (long)rows * cols; i++) dW[i] = -1.0f;
    mat_backward_weight(NULL, dW, dy, x, n, rows, cols);
    Err e = { 0 };
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            double s = -1, a = 1;
            for (int i = 0; i < n; i++) {
                double t = (double)dy[(long)i * rows + r] * x[(long)i * cols + c];
                s += t; a += fabs(t);
            }
            err_add(&e, dW[(long)r * cols + c], s, a);
        }
    CHECK(e.worst < 1e-5, "backward_weight %dx%d n%d (accumulating onto -1) vs naive: %.3e", rows, cols, n, e.worst);
    free(dW); free(dy); free(x);
}

int main(void) {
    rng_seed(&rng, 5);
    engine_set_threads(1);
    MatType types[3] = { MAT_REAL, MAT_F32, MAT_BF16 };
    for (int t = 0; t < 3; t++) {
        check(types[t], 7, 33, 19);       // odd shapes
        check(types[t], 5, 6000, 96);     // two row tiles, the second one ragged
        check(types[t], 2, 41, 40000);    // tiles of the 16-row minimum: 16 + 16 + 9
        check(types[t], 1, 1, 1);
    }
    check_weight_grad(7, 33, 19);
    check_weight_grad(64, 96, 256);

    // n = 0 touches nothing
    float wv[6] = { 1, 2, 3, 4, 5, 6 }, yv[2] = { 9, 9 };
    Mat W = mat_real(wv, 2, 3);
    mat_forward(NULL, yv, wv, &W, 0, 0);
    CHECK(yv[0] == 9 && yv[1] == 9, "n = 0 leaves y alone");

    // gemm's transposes on a 2x2 case worked by hand: A = [1 2; 3 4], B = [5 6; 7 8]
    float A[4] = { 1, 2, 3, 4 }, Bm[4] = { 5, 6, 7, 8 }, C[4];
    gemm(0, 0, 2, 2, 2, 1, A, 2, Bm, 2, 0, C, 2);
    CHECK(C[0] == 19 && C[1] == 22 && C[2] == 43 && C[3] == 50, "gemm NN");
    gemm(1, 0, 2, 2, 2, 1, A, 2, Bm, 2, 0, C, 2);
    CHECK(C[0] == 26 && C[1] == 30 && C[2] == 38 && C[3] == 44, "gemm TN");
    gemm(0, 1, 2, 2, 2, 1, A, 2, Bm, 2, 0, C, 2);
    CHECK(C[0] == 17 && C[1] == 23 && C[2] == 39 && C[3] == 53, "gemm NT");
    gemm(0, 1, 2, 2, 2, 2, A, 2, Bm, 2, 1, C, 2);
    CHECK(C[0] == 51 && C[1] == 69 && C[2] == 117 && C[3] == 159, "gemm alpha 2, beta 1");
    gemm(0, 0, 2, 2, 0, 1, A, 2, Bm, 2, 0.5f, C, 2);
    CHECK(C[0] == 25.5f && C[3] == 79.5f, "gemm with K = 0 scales C by beta");

    return tl_finish("test_mat");
}
