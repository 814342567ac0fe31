#include "results/report_stats.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "engine/rng.h"
#include "engine/util.h"

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double sorted_median(const double *v, int n) {
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int finite_copy(const double *x, int n, double *out) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i])) out[k++] = x[i];
    qsort(out, (size_t)k, sizeof *out, by_value);
    return k;
}

double stats_median(const double *x, int n) {
    double *v = xmalloc(((size_t)n + 1) * sizeof *v);
    int k = finite_copy(x, n, v);
    double m = k ? sorted_median(v, k) : NAN;
    free(v);
    return m;
}

void stats_summary(const double *x, int n, const char *key, Summary *s) {
    double *v = xmalloc(((size_t)n + 1) * sizeof *v);
    int k = finite_copy(x, n, v);
    s->n = k;
    if (k == 0) {
        s->median = s->min = s->max = s->lo = s->hi = NAN;
        free(v);
        return;
    }
    s->median = sorted_median(v, k);
    s->min = v[0];
    s->max = v[k - 1];
    Rng r;
    rng_seed_stream(&r, REPORT_BOOTSTRAP_SEED, fnv1a64(key, strlen(key), FNV1A64_INIT));
    enum { B = REPORT_BOOTSTRAP_RESAMPLES };
    double *med = xmalloc(B * sizeof *med), *re = xmalloc((size_t)k * sizeof *re);
    for (int b = 0; b < B; b++) {
        for (int i = 0; i < k; i++) re[i] = v[rng_below(&r, (uint64_t)k)];
        qsort(re, (size_t)k, sizeof *re, by_value);
        med[b] = sorted_median(re, k);
    }
    qsort(med, B, sizeof *med, by_value);
    // the 2.5th and 97.5th percentiles of the resampled medians (nearest rank)
    s->lo = med[(int)floor(0.025 * B)];
    s->hi = med[(int)ceil(0.975 * B) - 1];
    free(med);
    free(re);
    free(v);
}

double stats_quantile(const double *x, int n, double p) {
    double *v = xmalloc(((size_t)n + 1) * sizeof *v);
    int k = finite_copy(x, n, v);
    double q = NAN;
    if (k) {
        double pos = p * (k - 1);
        int lo = (int)floor(pos);
        q = lo + 1 < k ? v[lo] + (pos - lo) * (v[lo + 1] - v[lo]) : v[k - 1];
    }
    free(v);
    return q;
}
