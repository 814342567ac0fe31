// Magnitude pruning of a weight matrix (Bet 48): the weights of smallest |w| become exact zeros,
// in each output row or over the whole tensor.
#pragma once
#include "engine/real.h"

typedef enum { PRUNE_PER_ROW = 0, PRUNE_PER_TENSOR = 1 } PruneScope;

const char *prune_scope_name(PruneScope s);            // "row", "tensor"
int prune_scope_parse(const char *s, PruneScope *out); // 0 ok, -1 unknown

// Weights zeroed in a group of n for a sparsity in [0, 1]: round(sparsity * n), halves up.
long prune_count(double sparsity, long n);

// Zeroes prune_count(sparsity, group) weights of w[rows][cols] in each group (a row, or the whole
// tensor): those of smallest |w|, ties broken by the lower index, so the result is a function of
// the values alone. Weights must be finite. Returns the number zeroed, or -1 when out of memory.
long prune_magnitude(real *w, int rows, int cols, double sparsity, PruneScope scope);
