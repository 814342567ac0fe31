// The job RNG: the published xoshiro256** stream, determinism, independent streams, unbiased
// bounded draws and a standard normal.
#include "engine/rng.h"
#include "testlib.h"
#include <stdint.h>

int main(void) {
    Rng a, b;

    // Known answers from a separate Python transcription of Vigna's splitmix64 and xoshiro256**
    // reference code (its splitmix64(0) gives the published 0xe220a8397b1dcdaf).
    static const uint64_t seed42[4] = { 0x15780b2e0c2ec716ULL, 0x6104d9866d113a7eULL,
                                        0xae17533239e499a1ULL, 0xecb8ad4703b360a1ULL };
    rng_seed(&a, 42);
    int known = 1;
    for (int i = 0; i < 4; i++) known &= rng_next(&a) == seed42[i];
    rng_seed(&a, 0);
    known &= rng_next(&a) == 0x99ec5f36cb75f2b4ULL && rng_next(&a) == 0xbf6e1f784956452aULL;
    CHECK(known, "xoshiro256** seeded by splitmix64 matches the reference stream");

    // same seed, same stream; different seeds, different streams
    rng_seed(&a, 7); rng_seed(&b, 7);
    int same = 1;
    for (int i = 0; i < 1000; i++) same &= rng_next(&a) == rng_next(&b);
    CHECK(same, "same seed gives the same stream");
    rng_seed(&a, 7); rng_seed(&b, 8);
    int collisions = 0;
    for (int i = 0; i < 1000; i++) collisions += rng_next(&a) == rng_next(&b);
    CHECK(collisions == 0, "seeds 7 and 8 give different streams (%d equal outputs)", collisions);

    // derived streams: deterministic, distinct from each other and from the plain seed
    Rng s0, s1, s0again, plain, shifted;
    rng_seed_stream(&s0, 99, 0); rng_seed_stream(&s1, 99, 1); rng_seed_stream(&s0again, 99, 0);
    rng_seed(&plain, 99); rng_seed_stream(&shifted, 100, 0);
    int eq_again = 1, eq01 = 0, eq_plain = 0, eq_shift = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x0 = rng_next(&s0);
        eq_again &= x0 == rng_next(&s0again);
        eq01 += x0 == rng_next(&s1);
        eq_plain += x0 == rng_next(&plain);
        eq_shift += rng_next(&s1) == rng_next(&shifted);
    }
    CHECK(eq_again, "rng_seed_stream is deterministic");
    CHECK(eq01 == 0 && eq_plain == 0 && eq_shift == 0,
          "streams differ: (99,0) vs (99,1) %d, vs seed 99 %d, (99,1) vs (100,0) %d equal outputs", eq01, eq_plain, eq_shift);

    // uniform: in [0, 1), mean 1/2
    rng_seed(&a, 1);
    double lo = 1, hi = 0, mean = 0;
    int N = 200000;
    for (int i = 0; i < N; i++) {
        double u = rng_uniform(&a);
        lo = u < lo ? u : lo; hi = u > hi ? u : hi; mean += u / N;
    }
    CHECK(lo >= 0 && hi < 1, "rng_uniform in [0, 1): min %g max %.17g", lo, hi);
    CHECK(fabs(mean - 0.5) < 0.005, "rng_uniform mean %.4f", mean);

    // rng_below(10): chi-square with 9 degrees of freedom; 40 is p ~ 5e-6 for a fair generator
    long counts[10] = { 0 };
    int range_ok = 1;
    for (int i = 0; i < N; i++) {
        uint64_t v = rng_below(&a, 10);
        if (v >= 10) range_ok = 0; else counts[v]++;
    }
    double chi2 = 0;
    for (int i = 0; i < 10; i++) chi2 += (counts[i] - N / 10.0) * (counts[i] - N / 10.0) / (N / 10.0);
    CHECK(range_ok, "rng_below(10) stays below 10");
    CHECK(chi2 < 40, "rng_below(10) chi-square %.2f (9 dof)", chi2);

    // n = 3 * 2^62 exposes both classic biases: `next % n` puts half the draws below n/3, and a
    // multiply-high without rejection puts half of them on multiples of 3. Fair: a third each.
    uint64_t big = 3ULL << 62;
    long below_third = 0, multiple_of_3 = 0;
    range_ok = 1;
    for (int i = 0; i < N; i++) {
        uint64_t v = rng_below(&a, big);
        range_ok &= v < big;
        below_third += v < (1ULL << 62);
        multiple_of_3 += v % 3 == 0;
    }
    CHECK(range_ok, "rng_below(3*2^62) stays below n");
    CHECK(fabs((double)below_third / N - 1.0 / 3) < 0.01, "rng_below(3*2^62): %.4f below n/3", (double)below_third / N);
    CHECK(fabs((double)multiple_of_3 / N - 1.0 / 3) < 0.01, "rng_below(3*2^62): %.4f multiples of 3",
          (double)multiple_of_3 / N);
    CHECK(rng_below(&a, 1) == 0 && rng_below(&a, 0) == 0, "rng_below(1) and rng_below(0) are 0");

    // normal: mean 0, variance 1, fourth moment 3 (standard errors about 0.002, 0.003, 0.02)
    double m1 = 0, m2 = 0, m4 = 0;
    int finite = 1;
    for (int i = 0; i < N; i++) {
        double z = rng_normal(&a);
        finite &= isfinite(z);
        m1 += z / N; m2 += z * z / N; m4 += z * z * z * z / N;
    }
    CHECK(finite, "rng_normal is finite");
    CHECK(fabs(m1) < 0.01, "rng_normal mean %.4f", m1);
    CHECK(fabs(m2 - 1) < 0.02, "rng_normal variance %.4f", m2);
    CHECK(fabs(m4 - 3) < 0.1, "rng_normal fourth moment %.4f", m4);

    return tl_finish("test_rng");
}
