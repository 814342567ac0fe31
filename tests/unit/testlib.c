#include "testlib.h"

int tl_passed, tl_failed;

double tl_relerr(double a, double b, double floor) {
    double d = fabs(a - b), s = fmax(fmax(fabs(a), fabs(b)), floor);
    return d / s;
}

double tl_max_relerr(const double *a, const double *b, long n, double floor, long *at) {
    double worst = 0; long w = 0;
    for (long i = 0; i < n; i++) {
        double e = tl_relerr(a[i], b[i], floor);
        if (e > worst || e != e) { worst = e; w = i; }
    }
    if (at) *at = w;
    return worst;
}

int tl_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, tl_passed, tl_failed);
    return tl_failed ? 1 : 0;
}
