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
    Mat W = { MAT_TERNARY, rows, cols, packed, scale, NULL, NULL, 0 };
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
// Exact kernels (decode + BLAS): relative error at float rounding. int16 kernels: every element
// within the bound their activation rounding allows, 0.5 * absmax(row) / 32767 * sum |w|, plus
// float rounding on sum |x| |w|.
static void test_products(int n, int rows, int cols, int int_kernels) {
    ternary_use_int_kernels(int_kernels);
    int approx = ternary_int_kernels_active();
    float *w = xmalloc(sizeof(float) * rows * cols), *scale = xmalloc(sizeof(float) * rows);
    uint8_t *packed = xmalloc(ternary_packed_bytes(rows, cols));
    for (int i = 0; i < rows * cols; i++) w[i] = frand();
    ternary_quantize_rows(packed, scale, w, rows, cols);
    Mat W = { MAT_TERNARY, rows, cols, packed, scale, NULL, NULL, 0 };
    double *Wd = xmalloc(sizeof(double) * rows * cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) Wd[(size_t)r * cols + c] = unpack_trit(packed, cols, r, c) * (double)scale[r];

    real *x = xmalloc(sizeof(real) * n * cols), *y = xmalloc(sizeof(real) * n * rows);
    real *dy = xmalloc(sizeof(real) * n * rows), *dx = xmalloc(sizeof(real) * n * cols);
    double *yref = xmalloc(sizeof(double) * n * rows), *dxref = xmalloc(sizeof(double) * n * cols);
    double *ybound = xmalloc(sizeof(double) * n * rows), *dxbound = xmalloc(sizeof(double) * n * cols);
    for (int i = 0; i < n * cols; i++) x[i] = frand() * (1 + i % 3);
    for (int i = 0; i < n * rows; i++) { dy[i] = frand(); y[i] = NAN; }   // overwrite must not read y
    for (int i = 0; i < n * cols; i++) dx[i] = 0.5;                       // backward accumulates

    for (int t = 0; t < n; t++) {
        double xmax = 0, dymax = 0;
        for (int c = 0; c < cols; c++) xmax = fmax(xmax, fabs(x[(size_t)t * cols + c]));
        for (int r = 0; r < rows; r++) dymax = fmax(dymax, fabs(dy[(size_t)t * rows + r] * (double)scale[r]));
        for (int r = 0; r < rows; r++) {
            double s = 0, mag = 0, wsum = 0;
            for (int c = 0; c < cols; c++) {
                double wv = Wd[(size_t)r * cols + c], xv = x[(size_t)t * cols + c];
                s += xv * wv; mag += fabs(xv * wv); wsum += fabs(wv);
            }
            yref[(size_t)t * rows + r] = s;
            ybound[(size_t)t * rows + r] = (approx ? 0.5 * xmax / 32767 * wsum * 1.001 : 0) + 1e-6 * mag;
        }
        for (int c = 0; c < cols; c++) {
            double s = 0.5, mag = 0.5, tsum = 0;
            for (int r = 0; r < rows; r++) {
                double wv = Wd[(size_t)r * cols + c], g = dy[(size_t)t * rows + r];
                s += g * wv; mag += fabs(g * wv); tsum += wv != 0;
            }
            dxref[(size_t)t * cols + c] = s;
            dxbound[(size_t)t * cols + c] = (approx ? 0.5 * dymax / 32767 * tsum * 1.001 : 0) + 1e-6 * mag;
        }
    }
    if (!REAL_IS_FLOAT)
        for (int i = 0; i < n * (rows > cols ? rows : cols); i++) {
            if (i < n * rows) ybound[i] *= 1e-6;
            if (i < n * cols) dxbound[i] *= 1e-6;
        }
    const char *kind = approx ? "int16" : "exact";
    int bad = 0;
    double worst = 0;
    ternary_forward(y, x, &W, n, 0);
    for (int i = 0; i < n * rows; i++) {
        double e = fabs(y[i] - yref[i]);
        bad += !(e <= ybound[i]);
        worst = fmax(worst, e / ybound[i]);
    }
    CHECK(!bad, "%s forward %dx%dx%d: %d outputs outside their bound (worst %.2f of it)", kind, n, rows, cols, bad, worst);

    ternary_forward(y, x, &W, n, 1);   // y += x W^T: twice the product
    bad = 0;
    for (int i = 0; i < n * rows; i++) bad += !(fabs(y[i] - 2 * yref[i]) <= 2 * ybound[i]);
    CHECK(!bad, "%s forward accumulate %dx%dx%d: %d outputs outside their bound", kind, n, rows, cols, bad);

    ternary_backward_input(dx, dy, &W, n);
    bad = 0;
    worst = 0;
    for (int i = 0; i < n * cols; i++) {
        double e = fabs(dx[i] - dxref[i]);
        bad += !(e <= dxbound[i]);
        worst = fmax(worst, e / dxbound[i]);
    }
    CHECK(!bad, "%s backward %dx%dx%d: %d inputs outside their bound (worst %.2f of it)", kind, n, rows, cols, bad, worst);

    // a row holding NaN gives NaN outputs in that row only (a diverged step must show)
    if (n > 1) {
        x[cols + cols / 2] = NAN;
        ternary_forward(y, x, &W, n, 0);
        int nan_row = 1, clean = 1;
        for (int r = 0; r < rows; r++) { nan_row &= y[rows + r] != y[rows + r]; clean &= y[r] == y[r]; }
        CHECK(nan_row && clean, "%s forward %dx%dx%d: NaN stays in its row", kind, n, rows, cols);
    }
    free(w); free(scale); free(packed); free(Wd); free(x); free(y); free(dy); free(dx);
    free(yref); free(dxref); free(ybound); free(dxbound);
    ternary_use_int_kernels(1);
}

int main(void) {
    test_layout();
    test_quantize_decode(1, 1);
    test_quantize_decode(7, 13);
    test_quantize_decode(33, 250);
    for (int k = 0; k < 2; k++) {   // int16 kernels (where the CPU has them), then decode + BLAS
        test_products(1, 1, 1, !k);
        test_products(3, 5, 7, !k);
        test_products(17, 40, 64, !k);
        test_products(5, 300, 3001, !k);   // several tiles and panels, a ragged last byte, odd inputs
        test_products(64, 96, 256, !k);
        test_products(13, 130, 257, !k);   // partial micro-tiles in every direction
    }
    printf("int16 kernels %s on this build\n", ternary_int_kernels_active() ? "active" : "not available");
    return tl_finish("test_ternary");
}
