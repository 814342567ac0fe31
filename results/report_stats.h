// Aggregation over seeds and eval texts: median, min, max and a seeded bootstrap 95% interval of the
// median, so that the same file always gives the same report.
#pragma once

#define REPORT_BOOTSTRAP_SEED 0x5eedb007ULL
#define REPORT_BOOTSTRAP_RESAMPLES 2000

typedef struct {
    int n;                  // values that were not NaN
    double median, min, max;
    double lo, hi;          // percentile bootstrap 95% interval of the median
} Summary;

// Median of the non-NaN values (mean of the middle two for an even count); NaN when there are none.
double stats_median(const double *x, int n);
// The p-quantile (0..1) of the non-NaN values, linear between order statistics; NaN when there are none.
double stats_quantile(const double *x, int n, double p);
// key names the statistic: it seeds the bootstrap stream, so the interval depends only on the
// values and the key, never on what else the report computed first.
void stats_summary(const double *x, int n, const char *key, Summary *s);
