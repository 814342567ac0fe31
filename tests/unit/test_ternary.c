// Ternary packing, quantisation and products, against an independent scalar reference written here.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "engine/ternary.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

static unsigned long long lcg = 12345;
static float frand(void) {   // uniform in (-1, 1)
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(lcg >> 11) / (double)(1ULL << 53) * 2 - 1);
}

// The trit the BitNet b1.58 rule gives: clamp(round(w / s), -1, 1), with 0 when s == 0.
static int ref_trit(float w, float s) {
    if (!(s > 0)) return 0;
    double q = nearbyint((double)w / s);
    return q > 1 ? 1 : q < -1 ? -1 : (int)q;
}

// Unpacks trit c of row r by base-3 digit arithmetic (not the library's table).
static int unpack_trit(const uint8_t *packed, int cols, int r, int c) {
    int rb = (cols + 4) / 5, v = packed[(size_t)r * rb + c / 5];
    for (int i = 0; i < c % 5; i++) v /= 3;
    return v % 3 - 1;
}

static void test_layout(void) {
    CHECK(ternary_packed_bytes(1, 5) == 1, "1x5 -> 1 byte");
    CHECK(ternary_packed_bytes(3, 6) == 6, "3x6 -> 6 bytes (rows start on a byte)");
    CHECK(ternary_packed_bytes(2, 10) == 4, "2x10 -> 4 bytes");
    // row [3, -3, 0, 0, 3]: scale 9/5 = 1.8, 3/1.8 rounds to 2 and clamps: trits (1, -1, 0, 0, 1),
    // byte = 2*1 + 0*3 + 1*9 + 1*27 + 2*81 = 200
    float w[5] = { 3, -3, 0, 0, 3 }, s;
    uint8_t p;
    ternary_quantize_rows(&p, &s, w, 1, 5);
    CHECK(p == 200, "packed byte %d, expected 200", p);
    CHECK(fabsf(s - 1.8f) < 1e-6f, "scale %g, expected 1.8", s);
    // an all-zero row: scale 0 and every trit 0 (byte 1 + 3 + 9 + 27 + 81 = 121)
    float z[5] = { 0 };
    ternary_quantize_rows(&p, &s, z, 1, 5);
    CHECK(p == 121 && s == 0, "zero row: byte %d scale %g", p, s);
}

static void test_quantize_decode(int rows, int cols) {
    size_t nb = ternary_packed_bytes(rows, cols);
    float *w = xmalloc(sizeof(float) * rows * cols), *scale = xmalloc(sizeof(float) * rows);
    uint8_t *packed = xmalloc(nb);
    for (int i = 0; i < rows * cols; i++) w[i] = frand() * (1 + i % 7);
    ternary_quantize_rows(packed, scale, w, rows, cols);
    Mat W = { MAT_TERNARY, rows, cols, packed, scale };
    real *dec = xmalloc(sizeof(real) * rows * cols);
    ternary_decode_rows(dec, &W, 0, rows);
    int bad_scale = 0, bad_trit = 0, bad_dec = 0, bad_byte = 0;
    for (size_t i = 0; i < nb; i++) bad_byte += packed[i] > 242;
    for (int r = 0; r < rows; r++) {
        double sum = 0;
        for (int c = 0; c < cols; c++) sum += fabs(w[r * cols + c]);
        if (fabs(scale[r] - sum / cols) > 1e-6 * (sum / cols)) bad_scale++;
        for (int c = 0; c < cols; c++) {
            int t = unpack_trit(packed, cols, r, c);
            if (t != ref_trit(w[r * cols + c], scale[r])) bad_trit++;
            if (dec[(size_t)r * cols + c] != (real)t * (real)scale[r]) bad_dec++;
        }
    }
    CHECK(!bad_scale, "%dx%d: %d scales differ from mean |w|", rows, cols, bad_scale);
    CHECK(!bad_trit, "%dx%d: %d trits differ from clamp(round(w/s))", rows, cols, bad_trit);
    CHECK(!bad_dec, "%dx%d: %d decoded values differ from trit * scale", rows, cols, bad_dec);
    CHECK(!bad_byte, "%dx%d: %d bytes above 242", rows, cols, bad_byte);
    // a sub-range decodes the same rows
    if (rows > 3) {
        real *part = xmalloc(sizeof(real) * 2 * cols);
        ternary_decode_rows(part, &W, 2, 4);
        CHECK(!memcmp(part, dec + 2 * cols, sizeof(real) * 2 * cols), "decode rows [2,4)");
        free(part);
    }
    free(w); free(scale); free(packed); free(dec);
}

// y = x W^T and dx += dy W against double-precision loops over the decoded matrix.
static void test_products(int n, int rows, int cols) {
    float *w = xmalloc(sizeof(float) * rows * cols), *scale = xmalloc(sizeof(float) * rows);
    uint8_t *packed = xmalloc(ternary_packed_bytes(rows, cols));
    for (int i = 0; i < rows * cols; i++) w[i] = frand();
    ternary_quantize_rows(packed, scale, w, rows, cols);
    Mat W = { MAT_TERNARY, rows, cols, packed, scale };
    double *Wd = xmalloc(sizeof(double) * rows * cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) Wd[(size_t)r * cols + c] = unpack_trit(packed, cols, r, c) * (double)scale[r];

    real *x = xmalloc(sizeof(real) * n * cols), *y = xmalloc(sizeof(real) * n * rows);
    real *dy = xmalloc(sizeof(real) * n * rows), *dx = xmalloc(sizeof(real) * n * cols);
    double *yref = xmalloc(sizeof(double) * n * rows), *dxref = xmalloc(sizeof(double) * n * cols);
    double *got = xmalloc(sizeof(double) * (size_t)n * (rows > cols ? rows : cols));
    for (int i = 0; i < n * cols; i++) x[i] = frand();
    for (int i = 0; i < n * rows; i++) { dy[i] = frand(); y[i] = NAN; }   // overwrite must not read y
    for (int i = 0; i < n * cols; i++) dx[i] = 0.5;                       // backward accumulates

    for (int t = 0; t < n; t++) {
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int c = 0; c < cols; c++) s += x[(size_t)t * cols + c] * Wd[(size_t)r * cols + c];
            yref[(size_t)t * rows + r] = s;
        }
        for (int c = 0; c < cols; c++) {
            double s = 0.5;
            for (int r = 0; r < rows; r++) s += dy[(size_t)t * rows + r] * Wd[(size_t)r * cols + c];
            dxref[(size_t)t * cols + c] = s;
        }
    }
    double tol = REAL_IS_FLOAT ? 1e-4 : 1e-12;   // float sums over up to 3001 terms
    long at;
    ternary_forward(y, x, &W, n, 0);
    for (int i = 0; i < n * rows; i++) got[i] = y[i];
    double e = tl_max_relerr(got, yref, (long)n * rows, 1.0, &at);
    CHECK(e < tol, "forward %dx%dx%d: rel err %g at %ld", n, rows, cols, e, at);

    ternary_forward(y, x, &W, n, 1);   // y += x W^T: twice the product
    for (int i = 0; i < n * rows; i++) { got[i] = y[i]; yref[i] *= 2; }
    e = tl_max_relerr(got, yref, (long)n * rows, 1.0, &at);
    CHECK(e < tol, "forward accumulate %dx%dx%d: rel err %g at %ld", n, rows, cols, e, at);

    ternary_backward_input(dx, dy, &W, n);
    for (int i = 0; i < n * cols; i++) got[i] = dx[i];
    e = tl_max_relerr(got, dxref, (long)n * cols, 1.0, &at);
    CHECK(e < tol, "backward %dx%dx%d: rel err %g at %ld", n, rows, cols, e, at);

    free(w); free(scale); free(packed); free(Wd); free(x); free(y); free(dy); free(dx);
    free(yref); free(dxref); free(got);
}

int main(void) {
    test_layout();
    test_quantize_decode(1, 1);
    test_quantize_decode(7, 13);
    test_quantize_decode(33, 250);
    test_products(1, 1, 1);
    test_products(3, 5, 7);
    test_products(17, 40, 64);
    test_products(5, 300, 3001);   // several row tiles and a ragged last byte
    test_products(64, 96, 256);
    return tl_finish("test_ternary");
}
