// The report's aggregation: medians, and the seeded bootstrap interval of the median, checked
// against intervals derived by hand for tiny samples and against the normal-theory width for a
// large one.
#include <math.h>
#include <stdio.h>
#include "engine/rng.h"
#include "results/report_stats.h"
#include "tests/unit/testlib.h"

int main(void) {
    double odd[] = {5, 1, 3}, even[] = {4, 1, 3, 2}, withnan[] = {NAN, 2, NAN, 8};
    CHECK(stats_median(odd, 3) == 3, "median of 5 1 3");
    CHECK(stats_median(even, 4) == 2.5, "median of 4 1 3 2");
    CHECK(stats_median(withnan, 4) == 5, "NaN skipped");
    CHECK(isnan(stats_median(withnan, 1)), "only NaN: NaN");

    Summary s;
    double one[] = {7};
    stats_summary(one, 1, "one", &s);
    CHECK(s.n == 1 && s.median == 7 && s.lo == 7 && s.hi == 7 && s.min == 7 && s.max == 7, "one value");
    // two values {1, 3}: a resample's median is 1 (p 1/4), 2 (1/2) or 3 (1/4), so the 2.5th and 97.5th
    // percentiles of 2000 resamples are 1 and 3 unless fewer than 51 of either end were drawn (p < 1e-30)
    double two[] = {3, 1};
    stats_summary(two, 2, "two", &s);
    CHECK(s.median == 2 && s.lo == 1 && s.hi == 3, "two values: [%g, %g] around %g", s.lo, s.hi, s.median);
    // {1, 2, 3}: P(resampled median = 1) = P(at least two 1s) = 7/27, likewise 3
    double three[] = {2, 3, 1};
    stats_summary(three, 3, "three", &s);
    CHECK(s.median == 2 && s.lo == 1 && s.hi == 3 && s.min == 1 && s.max == 3, "three values: [%g, %g]", s.lo, s.hi);
    double same[] = {4, 4, 4, 4, 4};
    stats_summary(same, 5, "same", &s);
    CHECK(s.lo == 4 && s.hi == 4, "constant sample: zero-width interval");
    double none[] = {NAN, NAN};
    stats_summary(none, 2, "none", &s);
    CHECK(s.n == 0 && isnan(s.median) && isnan(s.lo), "no values: NaN");

    // 101 standard normal draws: the median's standard error is sqrt(pi/2)/sqrt(101) = 0.1247, so a
    // 95% interval is about 2 x 1.96 x 0.1247 = 0.49 wide
    enum { N = 101 };
    double x[N];
    Rng r;
    rng_seed(&r, 12345);
    for (int i = 0; i < N; i++) x[i] = rng_normal(&r);
    Summary a, b, c;
    stats_summary(x, N, "normal", &a);
    stats_summary(x, N, "normal", &b);
    stats_summary(x, N, "other key", &c);
    CHECK(a.lo == b.lo && a.hi == b.hi, "same values and key: same interval (seeded)");
    CHECK(a.hi - a.lo > 0.3 && a.hi - a.lo < 0.7, "width %g, expected about 0.49", a.hi - a.lo);
    CHECK(a.lo <= a.median && a.median <= a.hi, "the interval holds the median");
    CHECK(fabs((c.hi - c.lo) - (a.hi - a.lo)) < 0.15, "another key's stream gives a similar width");
    return tl_finish("test_report_stats");
}
