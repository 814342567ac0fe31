// Magnitude pruning: sort each group by (|w|, index) and zero the first k.
#include "engine/prune.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *prune_scope_name(PruneScope s) { return s == PRUNE_PER_TENSOR ? "tensor" : "row"; }

int prune_scope_parse(const char *s, PruneScope *out) {
    if (!strcmp(s, "row")) *out = PRUNE_PER_ROW;
    else if (!strcmp(s, "tensor")) *out = PRUNE_PER_TENSOR;
    else return -1;
    return 0;
}

long prune_count(double sparsity, long n) {
    return (long)floor(sparsity * (double)n + 0.5);
}

typedef struct {
    double mag;
    long idx;
} Ranked;

static int by_magnitude(const void *a, const void *b) {
    const Ranked *x = a, *y = b;
    if (x->mag != y->mag) return x->mag < y->mag ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

// Zeroes the k smallest-magnitude of g[0..n); r is scratch for n entries.
static void prune_group(real *g, long n, long k, Ranked *r) {
    for (long i = 0; i < n; i++) r[i] = (Ranked){ fabs((double)g[i]), i };
    qsort(r, (size_t)n, sizeof *r, by_magnitude);
    for (long i = 0; i < k; i++) g[r[i].idx] = 0;
}

long prune_magnitude(real *w, int rows, int cols, double sparsity, PruneScope scope) {
    long group = scope == PRUNE_PER_TENSOR ? (long)rows * cols : cols;
    long n_groups = scope == PRUNE_PER_TENSOR ? 1 : rows;
    long k = prune_count(sparsity, group);
    if (k <= 0 || group <= 0) return 0;
    Ranked *r = malloc((size_t)group * sizeof *r);
    if (!r) return -1;
    for (long g = 0; g < n_groups; g++) prune_group(w + g * group, group, k, r);
    free(r);
    return k * n_groups;
}
