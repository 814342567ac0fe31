// Double-precision engine: ternary_backward_input is the gradient of ternary_forward, proven by
// central finite differences of L(x) = sum g . (x W^T) through the packed products themselves.
#include <math.h>
#include <stdlib.h>
#include "engine/ternary.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

static unsigned long long lcg = 777;
static double drand(void) {
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg >> 11) / (double)(1ULL << 53) * 2 - 1;
}

static double loss(const real *x, const real *g, const Mat *W, int n, real *y) {
    ternary_forward(y, x, W, n, 0);
    double s = 0;
    for (int i = 0; i < n * W->rows; i++) s += (double)g[i] * y[i];
    return s;
}

static void check(int n, int rows, int cols) {
    float *w = xmalloc(sizeof(float) * rows * cols), *scale = xmalloc(sizeof(float) * rows);
    uint8_t *packed = xmalloc(ternary_packed_bytes(rows, cols));
    for (int i = 0; i < rows * cols; i++) w[i] = (float)drand();
    ternary_quantize_rows(packed, scale, w, rows, cols);
    Mat W = { MAT_TERNARY, rows, cols, packed, scale, NULL, NULL, 0 };
    real *x = xmalloc(sizeof(real) * n * cols), *g = xmalloc(sizeof(real) * n * rows);
    real *y = xmalloc(sizeof(real) * n * rows), *dx = xcalloc((size_t)n * cols, sizeof(real));
    for (int i = 0; i < n * cols; i++) x[i] = drand();
    for (int i = 0; i < n * rows; i++) g[i] = drand();
    ternary_backward_input(dx, g, &W, n);
    double worst = 0, h = 1e-3;   // L is linear in x: no truncation error, so a wide step only cuts roundoff
    for (int i = 0; i < n * cols; i++) {
        real keep = x[i];
        x[i] = keep + h; double lp = loss(x, g, &W, n, y);
        x[i] = keep - h; double lm = loss(x, g, &W, n, y);
        x[i] = keep;
        double e = tl_relerr((lp - lm) / (2 * h), dx[i], 1e-6);
        if (e > worst) worst = e;
    }
    CHECK(worst < 1e-7, "%dx%dx%d: finite-difference rel err %g", n, rows, cols, worst);
    free(w); free(scale); free(packed); free(x); free(g); free(y); free(dx);
}

int main(void) {
    CHECK(sizeof(real) == sizeof(double), "engine64 must be built with real = double");
    check(1, 3, 4);
    check(3, 11, 17);
    check(2, 200, 700);   // several decoded row tiles
    return tl_finish("test_ternary_grad");
}
