// Magnitude pruning (engine/prune.c): exact counts per row and per tensor, the smallest magnitudes
// are the ones zeroed, ties go to the lower index, and the count's rounding.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/prune.h"
#include "engine/rng.h"
#include "tests/unit/testlib.h"

enum { R = 7, C = 10 };

// Zeros in w[lo..hi), and whether every zeroed weight of `orig` is no larger in |w| than every kept one.
static int check_group(const real *orig, const real *w, long lo, long hi, long *zeros) {
    double max_zeroed = 0, min_kept = INFINITY;
    *zeros = 0;
    for (long i = lo; i < hi; i++) {
        if (w[i] == 0) { (*zeros)++; max_zeroed = fmax(max_zeroed, fabs(orig[i])); }
        else {
            if (w[i] != orig[i]) return 0;   // a kept weight must be unchanged
            min_kept = fmin(min_kept, fabs(orig[i]));
        }
    }
    return max_zeroed <= min_kept;
}

int main(void) {
    Rng rng;
    rng_seed(&rng, 48);
    real orig[R * C], w[R * C];
    for (int i = 0; i < R * C; i++) orig[i] = (real)rng_normal(&rng);   // no exact zeros, no ties

    // per row: round(0.3 x 10) = 3 in every row
    memcpy(w, orig, sizeof w);
    long z = prune_magnitude(w, R, C, 0.3, PRUNE_PER_ROW);
    CHECK(z == 3 * R, "per row: %ld zeroed, want %d", z, 3 * R);
    for (int r = 0; r < R; r++) {
        long zeros;
        CHECK(check_group(orig, w, (long)r * C, (long)(r + 1) * C, &zeros) && zeros == 3,
              "row %d: %ld zeros, or a kept weight smaller than a zeroed one", r, zeros);
    }

    // per tensor: round(0.3 x 70) = 21 over the matrix, one threshold (rows may differ)
    memcpy(w, orig, sizeof w);
    z = prune_magnitude(w, R, C, 0.3, PRUNE_PER_TENSOR);
    long zeros;
    CHECK(z == 21 && check_group(orig, w, 0, R * C, &zeros) && zeros == 21, "per tensor: %ld zeroed, %ld zeros", z, zeros);
    int rows_differ = 0;
    for (int r = 0; r < R; r++) {
        long zr = 0;
        for (int c = 0; c < C; c++) zr += w[r * C + c] == 0;
        rows_differ |= zr != 3;
    }
    CHECK(rows_differ, "per tensor zeroed exactly 3 in every row: not a global threshold");

    // ties: equal magnitudes go to the lower index, whatever the sign
    real t[6] = { 1, -1, 1, -1, 0.5f, 2 };
    prune_magnitude(t, 1, 6, 0.5, PRUNE_PER_ROW);
    CHECK(t[4] == 0 && t[0] == 0 && t[1] == 0 && t[2] == 1 && t[3] == -1 && t[5] == 2,
          "ties: %g %g %g %g %g %g", t[0], t[1], t[2], t[3], t[4], t[5]);

    // sparsity 0 changes nothing
    memcpy(w, orig, sizeof w);
    CHECK(prune_magnitude(w, R, C, 0, PRUNE_PER_ROW) == 0 && !memcmp(w, orig, sizeof w), "sparsity 0 changed weights");

    // the count: round(S n), halves up, and immune to 0.29 x 100 = 28.999...
    CHECK(prune_count(0.29, 100) == 29 && prune_count(0.5, 3) == 2 && prune_count(0.3, 10) == 3 &&
          prune_count(0.0, 10) == 0 && prune_count(0.999, 10) == 10, "prune_count rounding");
    PruneScope s;
    CHECK(prune_scope_parse("tensor", &s) == 0 && s == PRUNE_PER_TENSOR && prune_scope_parse("col", &s) == -1,
          "scope parsing");
    return tl_finish("test_prune");
}
