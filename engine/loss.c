// Cross-entropy over the vocabulary, forward, backward and both in one pass (engine/ops.h), with the
// row kernels of engine/ops_kernels.h.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif
#include "engine/ops.h"
#include "engine/util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "engine/ops_kernels.h"

// ---------------------------------------------------------------------------------------------
// Cross-entropy, fused: loss(row) = logsumexp(row) - row[target]

enum { CE_ROWS = 16 };   // rows per parallel item

typedef struct {
    const real *logits;
    real *dlogits, *nll;
    uint16_t *dlogits16;   // the gradient rounded to bf16 (cross_entropy_forward_backward), else NULL
    real *rows;            // with it, a row of exps per worker
    double *loss;
    const int *targets;
    int n, vocab;
    real g;
} CrossEntropyArgs;

static void cross_entropy_forward_rows(void *ctx, int item, int worker) {
    (void)worker;
    const CrossEntropyArgs *a = ctx;
    for (int i = item * CE_ROWS; i < imin((item + 1) * CE_ROWS, a->n); i++) {
        const real *row = a->logits + (size_t)i * a->vocab;
        int t = a->targets[i];
        double loss = 0;
        if (t >= 0) {
            real mx = row_max(row, a->vocab);
            loss = mx + log(exp_shift_sum(NULL, row, a->vocab, mx)) - row[t];
        }
        a->loss[i] = loss;
        if (a->nll) a->nll[i] = (real)loss;
    }
}

double cross_entropy_forward(const real *logits, const int *targets, int n, int vocab, real *nll) {
    double total = 0;
    long count = 0;
    cross_entropy_forward_sum(logits, targets, n, vocab, nll, &total, &count);
    return count ? total / count : 0;
}

// The calling thread's buffer of n rows' losses, kept between calls.
static double *row_losses(int n) {
    static _Thread_local double *row_loss;
    static _Thread_local int row_cap;
    if (n > row_cap) {
        free(row_loss);
        row_loss = xmalloc((size_t)n * sizeof(double));
        row_cap = n;
    }
    return row_loss;
}

// The rows' losses added to *total in row order, whatever the thread count or the chunks.
static void sum_losses(const double *row_loss, const int *targets, int n, double *total, long *count) {
    for (int i = 0; i < n; i++)
        if (targets[i] >= 0) { *total += row_loss[i]; (*count)++; }
}

void cross_entropy_forward_sum(const real *logits, const int *targets, int n, int vocab, real *nll, double *total,
                               long *count) {
    double *row_loss = row_losses(n);
    CrossEntropyArgs a = { .logits = logits, .nll = nll, .loss = row_loss, .targets = targets, .n = n, .vocab = vocab };
    parallel_for((n + CE_ROWS - 1) / CE_ROWS, cross_entropy_forward_rows, &a);
    sum_losses(row_loss, targets, n, total, count);
}

static void cross_entropy_backward_rows(void *ctx, int item, int worker) {
    (void)worker;
    const CrossEntropyArgs *a = ctx;
    for (int i = item * CE_ROWS; i < imin((item + 1) * CE_ROWS, a->n); i++) {
        real *d = a->dlogits + (size_t)i * a->vocab;
        const real *row = a->logits + (size_t)i * a->vocab;
        int t = a->targets[i];
        if (t < 0) {
            memset(d, 0, (size_t)a->vocab * sizeof(real));
            continue;
        }
        real mx = row_max(row, a->vocab);
        double sum = exp_shift_sum(d, row, a->vocab, mx);   // d may be row itself: read before written
        scale_row(d, a->vocab, (real)(a->g / sum));
        d[t] -= a->g;
    }
}

void cross_entropy_backward(real *dlogits, const real *logits, const int *targets, int n, int vocab, real dloss) {
    long count = 0;
    for (int i = 0; i < n; i++) count += targets[i] >= 0;
    cross_entropy_backward_scaled(dlogits, logits, targets, n, vocab, count ? (real)(dloss / count) : 0);
}

void cross_entropy_backward_scaled(real *dlogits, const real *logits, const int *targets, int n, int vocab, real g) {
    CrossEntropyArgs a = { .logits = logits, .dlogits = dlogits, .targets = targets, .n = n, .vocab = vocab, .g = g };
    parallel_for((n + CE_ROWS - 1) / CE_ROWS, cross_entropy_backward_rows, &a);
}

// out[i] = x[i] * a rounded to bf16, and out[t] = (x[t] * a - g) rounded: the values scale_row and
// `d[t] -= g` leave, as mat_round_bf16 rounds them
static void scale_round_row(uint16_t *out, const real *x, int n, real a, int t, real g) {
#if OPS_AVX512
    __m512 av = _mm512_set1_ps(a), gv = _mm512_set1_ps(g);
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = tail_mask(n - i);
        __m512 y = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), av);
        if (t >= i && t < i + 16) y = _mm512_mask_sub_ps(y, (__mmask16)(1u << (t - i)), y, gv);
        _mm512_mask_cvtepi32_storeu_epi16(out + i, k, round_bf16_512(y));
    }
#else
    for (int i = 0; i < n; i++) {
        real y = x[i] * a;
        if (i == t) y -= g;
        out[i] = f32_to_bf16((float)y);
    }
#endif
}

// Forward and backward of a row in one pass over its logits: the max, then the exps written to d with
// their sum (the same sum, hence the same loss, as the forward's), then d scaled in place. Each value
// is the one cross_entropy_forward_rows and cross_entropy_backward_rows compute.
static void cross_entropy_both_rows(void *ctx, int item, int worker) {
    const CrossEntropyArgs *a = ctx;
    for (int i = item * CE_ROWS; i < imin((item + 1) * CE_ROWS, a->n); i++) {
        uint16_t *d16 = a->dlogits16 ? a->dlogits16 + (size_t)i * a->vocab : NULL;
        real *d = d16 ? a->rows + (size_t)worker * a->vocab : a->dlogits + (size_t)i * a->vocab;
        const real *row = a->logits + (size_t)i * a->vocab;
        int t = a->targets[i];
        double loss = 0;
        if (t < 0) {
            if (d16) memset(d16, 0, (size_t)a->vocab * sizeof(uint16_t));
            else memset(d, 0, (size_t)a->vocab * sizeof(real));
        } else {
            real mx = row_max(row, a->vocab), rt = row[t];   // read before d (maybe row) is written
            double sum = exp_shift_sum(d, row, a->vocab, mx);
            loss = mx + log(sum) - rt;
            if (d16) scale_round_row(d16, d, a->vocab, (real)(a->g / sum), t, a->g);
            else {
                scale_row(d, a->vocab, (real)(a->g / sum));
                d[t] -= a->g;
            }
        }
        a->loss[i] = loss;
        if (a->nll) a->nll[i] = (real)loss;
    }
}

void cross_entropy_forward_backward(real *dlogits, uint16_t *dlogits16, const real *logits, const int *targets, int n,
                                    int vocab, real g, real *nll, double *total, long *count) {
    double *row_loss = row_losses(n);
    static _Thread_local real *rows;   // the exps of a row per worker, when the gradient goes to bf16
    static _Thread_local size_t rows_cap;
    size_t need = dlogits16 ? (size_t)parallel_threads((n + CE_ROWS - 1) / CE_ROWS) * vocab : 0;
    if (need > rows_cap) {
        free(rows);
        rows = xaligned(need * sizeof(real));
        rows_cap = need;
    }
    CrossEntropyArgs a = { .logits = logits, .dlogits = dlogits, .dlogits16 = dlogits16, .rows = rows, .nll = nll,
                           .loss = row_loss, .targets = targets, .n = n, .vocab = vocab, .g = g };
    parallel_for((n + CE_ROWS - 1) / CE_ROWS, cross_entropy_both_rows, &a);
    sum_losses(row_loss, targets, n, total, count);
}
