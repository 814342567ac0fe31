// The model's operations, forward and backward, on plain arrays. Matrix-shaped work goes to gemm;
// the row kernels that need exp (softmax, cross-entropy, SiLU) have an AVX-512 path in the float
// build, because at vocab 8192 the exps of the loss alone cost more than the head's product.
#if defined(__GNUC__) && !defined(__clang__)
// GCC's -O2 only vectorises loops whose trip count is a known multiple of the vector width; the
// elementwise loops here (norms, RoPE, residuals) need its ordinary cost model.
#pragma GCC optimize("vect-cost-model=dynamic")
#endif
#include "engine/ops.h"
#include "engine/util.h"
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>

#include "engine/ops_kernels.h"

// ---------------------------------------------------------------------------------------------
// Fork-join over independent items, on as many threads as BLAS may use (engine_set_threads).
// Every item writes its own outputs, so results are the same for any thread count.
// With OpenMP (GCC's libgomp, the runtime oneDNN's products already run on) the workers are OpenMP's
// team: threads kept between regions, which spin briefly and then sleep, so a region costs
// microseconds and the rank has one pool, not two competing for its cores. Without it (another
// compiler), threads are created per call.

enum { PAR_MAX_THREADS = PAR_WORKERS };

// A worker's own range of items, taken from the front by it and, once theirs are done, by the others.
typedef struct {
    alignas(64) atomic_int next;   // a cache line each: the owner's claims do not contend
    int end;
} ParallelRange;

typedef struct {
    void (*fn)(void *ctx, int item, int worker);
    void *ctx;
    int n;
    atomic_int next;
    ParallelRange *ranges;   // NULL: first-come items from next; else n_ranges ranges, worker w's own first
    int n_ranges;
} ParallelFor;

static void parallel_run(ParallelFor *pf, int worker) {
    if (!pf->ranges) {
        for (int i; (i = atomic_fetch_add(&pf->next, 1)) < pf->n;) pf->fn(pf->ctx, i, worker);
        return;
    }
    for (int k = 0; k < pf->n_ranges; k++) {
        ParallelRange *r = &pf->ranges[(worker + k) % pf->n_ranges];
        for (int i; (i = atomic_fetch_add(&r->next, 1)) < r->end;) pf->fn(pf->ctx, i, worker);
    }
}

typedef struct { ParallelFor *pf; int worker; } ParallelWorker;

static void *parallel_thread(void *arg) {
    ParallelWorker *w = arg;
    parallel_run(w->pf, w->worker);
    return NULL;
}

// Whether OpenMP's team may serve the region: only while the products run on oneDNN
// (engine_threads_for); at fp32 OpenBLAS's idle threads would spin against the team's.
static int team_ready(int threads) {
#ifdef _OPENMP
    return omp_get_max_threads() >= threads;
#else
    (void)threads;
    return 0;
#endif
}

int parallel_threads(int n_items) {
    int t = openblas_get_num_threads();
    t = t < PAR_MAX_THREADS ? t : PAR_MAX_THREADS;
    return t < n_items ? (t > 1 ? t : 1) : n_items;
}

// fn(ctx, item, worker) for item in [0, n); worker in [0, parallel_threads(n)) names the thread.
// BLAS is set to one thread for the region: each worker's own gemms run in the worker, and a
// parallel_for inside a worker runs inline.
// Fixed ranges (the element-wise passes, parallel_for_fixed): worker w of t takes items [w n / t,
// (w + 1) n / t) first, so a row written by one thread in one pass is read by the same thread in the
// next, from its own cache, not fetched from the other core's; a worker done early takes the others'
// rest (a thread the machine runs late holds up no one). Handed out first-come, a 2 MiB RoPE pass
// took 65 us on two threads, 56 on one; in fixed ranges 31.5.
static void parallel_for_as(int n, void (*fn)(void *, int, int), void *ctx, int fixed) {
    int threads = parallel_threads(n);
    ParallelFor pf = { fn, ctx, n, 0, NULL, 0 };
    if (threads <= 1) { parallel_run(&pf, 0); return; }
    ParallelRange ranges[PAR_MAX_THREADS];
    if (fixed) {
        for (int t = 0; t < threads; t++) {
            atomic_init(&ranges[t].next, (int)((long)t * n / threads));
            ranges[t].end = (int)((long)(t + 1) * n / threads);
        }
        pf.ranges = ranges;
        pf.n_ranges = threads;
    }
    int blas_threads = openblas_get_num_threads();
    openblas_set_num_threads(1);
#ifdef _OPENMP
    if (team_ready(threads)) {
#pragma omp parallel num_threads(threads)
        {
            // a worker's own oneDNN products run on the worker alone: oneDNN sizes a primitive by
            // omp_get_max_threads() when it is made, and the team's tasks inherit the rank's count
            omp_set_num_threads(1);
            parallel_run(&pf, omp_get_thread_num());   // a smaller team leaves the items to those that run
        }
        openblas_set_num_threads(blas_threads);
        return;
    }
#endif
    pthread_t tid[PAR_MAX_THREADS];
    ParallelWorker w[PAR_MAX_THREADS];
    int started[PAR_MAX_THREADS] = { 0 };
    for (int t = 1; t < threads; t++) {
        w[t] = (ParallelWorker){ &pf, t };
        started[t] = pthread_create(&tid[t], NULL, parallel_thread, &w[t]) == 0;
    }
    parallel_run(&pf, 0);   // a thread that failed to start leaves its items to this one
    for (int t = 1; t < threads; t++)
        if (started[t]) pthread_join(tid[t], NULL);
    openblas_set_num_threads(blas_threads);
}

void parallel_for(int n, void (*fn)(void *, int, int), void *ctx) { parallel_for_as(n, fn, ctx, 0); }
void parallel_for_fixed(int n, void (*fn)(void *, int, int), void *ctx) { parallel_for_as(n, fn, ctx, 1); }

int parallel_light_threads(int n_items) {
    int threads = parallel_threads(n_items);
    return team_ready(threads) ? threads : 1;
}

void parallel_for_light(int n, void (*fn)(void *, int, int), void *ctx) {
    if (parallel_light_threads(n) > 1) { parallel_for_as(n, fn, ctx, 1); return; }
    ParallelFor pf = { fn, ctx, n, 0, NULL, 0 };
    parallel_run(&pf, 0);
}

// ---------------------------------------------------------------------------------------------
// Row-wise and element-wise passes split over threads: rows (or tokens) in items of OPS_ROWS, elements
// in items of OPS_ELEMS, a multiple of 16, so every vector and tail falls where it does on one thread.

enum { OPS_ROWS = 32, OPS_ELEMS = 1 << 14 };

static inline long lmin(long a, long b) { return a < b ? a : b; }
static inline int items_of(long n, long per) { return (int)((n + per - 1) / per); }

// ---------------------------------------------------------------------------------------------
// Embedding

typedef struct {
    real *out;
    const int *tokens;
    int n;
    const Mat *emb;
} EmbedArgs;

// the rows of tokens [item OPS_ROWS, (item + 1) OPS_ROWS), each decoded from its storage type
static void embedding_forward_rows(void *ctx, int item, int worker) {
    (void)worker;
    const EmbedArgs *a = ctx;
    for (int i = item * OPS_ROWS; i < imin((item + 1) * OPS_ROWS, a->n); i++)
        mat_decode_row(a->out + (size_t)i * a->emb->cols, a->emb, a->tokens[i]);
}

void embedding_forward(real *out, const int *tokens, int n, const Mat *emb) {
    EmbedArgs a = { out, tokens, n, emb };
    parallel_for_light(items_of(n, OPS_ROWS), embedding_forward_rows, &a);
}

void embedding_backward(real *demb, const real *dout, const int *tokens, int n, int dim) {
    for (int i = 0; i < n; i++) {
        real *d = demb + (size_t)tokens[i] * dim;
        const real *g = dout + (size_t)i * dim;
        for (int j = 0; j < dim; j++) d[j] += g[j];
    }
}

// ---------------------------------------------------------------------------------------------
// RMSNorm

typedef struct {
    real *out, *rstd, *dx, *dgain;
    const real *x, *gain, *dout, *rstd_in;
    int n, dim;
    double eps;
} NormArgs;

static void rmsnorm_forward_rows(void *ctx, int item, int worker) {
    (void)worker;
    const NormArgs *a = ctx;
    int dim = a->dim;
    const real *x = a->x, *gain = a->gain;
    real *out = a->out;
    for (int i = item * OPS_ROWS; i < imin((item + 1) * OPS_ROWS, a->n); i++) {
        const real *xi = x + (size_t)i * dim;
        real *oi = out + (size_t)i * dim;
        real r = (real)(1.0 / sqrt(dot(xi, xi, dim) / dim + a->eps));
        a->rstd[i] = r;
        for (int j = 0; j < dim; j++) oi[j] = xi[j] * r * gain[j];
    }
}

void rmsnorm_forward(real *out, real *rstd, const real *x, const real *gain, int n, int dim, double eps) {
    NormArgs a = { .out = out, .rstd = rstd, .x = x, .gain = gain, .n = n, .dim = dim, .eps = eps };
    parallel_for_light(items_of(n, OPS_ROWS), rmsnorm_forward_rows, &a);
}

// With y = x r g and r = (mean x^2 + eps)^-1/2:  dx = r (g dy) - x r^3 / dim * sum(g dy x).
static void rmsnorm_backward_rows(void *ctx, int item, int worker) {
    (void)worker;
    const NormArgs *a = ctx;
    int dim = a->dim;
    const real *x = a->x, *dout = a->dout, *gain = a->gain;
    real *dx = a->dx;
    for (int i = item * OPS_ROWS; i < imin((item + 1) * OPS_ROWS, a->n); i++) {
        const real *xi = x + (size_t)i * dim, *di = dout + (size_t)i * dim;
        real *dxi = dx + (size_t)i * dim;
        real r = a->rstd_in[i];
        real c = (real)(dot3(di, gain, xi, dim) * r * r * r / dim);
        for (int j = 0; j < dim; j++) dxi[j] += r * gain[j] * di[j] - c * xi[j];
    }
}

// The gains' gradient, a sum over rows, split by columns instead: each item owns OPS_COLS gains and
// adds the rows in row order, as one thread does, so the sums are the same for any thread count.
enum { OPS_COLS = 64 };

static void rmsnorm_dgain_cols(void *ctx, int item, int worker) {
    (void)worker;
    const NormArgs *a = ctx;
    int dim = a->dim, j0 = item * OPS_COLS, j1 = imin(j0 + OPS_COLS, dim);
    const real *x = a->x, *dout = a->dout;
    real *dgain = a->dgain;
    for (int i = 0; i < a->n; i++) {
        const real *xi = x + (size_t)i * dim, *di = dout + (size_t)i * dim;
        real r = a->rstd_in[i];
        for (int j = j0; j < j1; j++) dgain[j] += di[j] * xi[j] * r;
    }
}

void rmsnorm_backward(real *dx, real *dgain, const real *dout, const real *x, const real *gain,
                      const real *rstd, int n, int dim) {
    if (dgain && parallel_light_threads(items_of(n, OPS_ROWS)) <= 1) {
        // one thread: dx and the gains' gradient in one pass over the rows (the same sums, in the
        // same order, as the two passes below; x and dout read once)
        for (int i = 0; i < n; i++) {
            const real *xi = x + (size_t)i * dim, *di = dout + (size_t)i * dim;
            real *dxi = dx + (size_t)i * dim;
            real r = rstd[i];
            real c = (real)(dot3(di, gain, xi, dim) * r * r * r / dim);
            for (int j = 0; j < dim; j++) dxi[j] += r * gain[j] * di[j] - c * xi[j];
            for (int j = 0; j < dim; j++) dgain[j] += di[j] * xi[j] * r;
        }
        return;
    }
    NormArgs a = { .dx = dx, .dgain = dgain, .x = x, .gain = gain, .dout = dout, .rstd_in = rstd, .n = n, .dim = dim };
    parallel_for_light(items_of(n, OPS_ROWS), rmsnorm_backward_rows, &a);
    if (dgain) parallel_for_light(items_of(dim, OPS_COLS), rmsnorm_dgain_cols, &a);
}

// ---------------------------------------------------------------------------------------------
// RoPE

void rope_tables(real *cos_t, real *sin_t, int T, int hd, double theta) {
    int half = hd / 2;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < half; j++) {
            double angle = t * pow(theta, -2.0 * j / hd);
            cos_t[(size_t)t * half + j] = (real)cos(angle);
            sin_t[(size_t)t * half + j] = (real)sin(angle);
        }
}

// Llama 3's frequency scaling (rope_type "llama3"): frequencies whose wavelength exceeds
// original_max / low_freq_factor are divided by factor, those shorter than original_max /
// high_freq_factor are kept, and between the two a blend, linear in original_max / wavelength.
static double rope_llama3_inv_freq(double inv_freq, const RopeScaling *s) {
    double wavelen = 2 * M_PI / inv_freq;
    double low_freq_wavelen = s->original_max_pos / s->low_freq_factor;
    double high_freq_wavelen = s->original_max_pos / s->high_freq_factor;
    if (wavelen > low_freq_wavelen) return inv_freq / s->factor;
    if (wavelen < high_freq_wavelen) return inv_freq;
    double smooth = (s->original_max_pos / wavelen - s->low_freq_factor) / (s->high_freq_factor - s->low_freq_factor);
    return (1 - smooth) * inv_freq / s->factor + smooth * inv_freq;
}

void rope_tables_scaled(real *cos_t, real *sin_t, int T, int hd, double theta, const RopeScaling *s) {
    if (!s || s->type == ROPE_SCALING_NONE) { rope_tables(cos_t, sin_t, T, hd, theta); return; }
    int half = hd / 2;
    for (int j = 0; j < half; j++) {
        double inv_freq = rope_llama3_inv_freq(pow(theta, -2.0 * j / hd), s);
        for (int t = 0; t < T; t++) {
            double angle = t * inv_freq;
            cos_t[(size_t)t * half + j] = (real)cos(angle);
            sin_t[(size_t)t * half + j] = (real)sin(angle);
        }
    }
}

typedef struct {
    real *x;
    const real *cos_t, *sin_t;
    int B, T, heads, hd;
    real sign;
} RopeArgs;

// Rotates each pair (j, j + hd/2) of every head by +angle (sign 1) or -angle (sign -1), for the
// tokens (b, t) of one item.
static void rope_rotate_rows(void *ctx, int item, int worker) {
    (void)worker;
    const RopeArgs *a = ctx;
    int half = a->hd / 2, T = a->T, heads = a->heads, hd = a->hd;
    real *x = a->x, sign = a->sign;
    for (int bt = item * OPS_ROWS; bt < imin((item + 1) * OPS_ROWS, a->B * T); bt++) {
        int t = bt % T;
        const real *c = a->cos_t + (size_t)t * half, *s = a->sin_t + (size_t)t * half;
        for (int h = 0; h < heads; h++) {
            real *v = x + ((size_t)bt * heads + h) * hd;
            for (int j = 0; j < half; j++) {
                real x1 = v[j], x2 = v[j + half], sj = sign * s[j];
                v[j] = x1 * c[j] - x2 * sj;
                v[j + half] = x2 * c[j] + x1 * sj;
            }
        }
    }
}

static void rope_rotate(real *x, const real *cos_t, const real *sin_t, int B, int T, int heads, int hd,
                        real sign) {
    RopeArgs a = { x, cos_t, sin_t, B, T, heads, hd, sign };
    parallel_for_light(items_of((long)B * T, OPS_ROWS), rope_rotate_rows, &a);
}

void rope_forward(real *x, const real *cos_t, const real *sin_t, int B, int T, int heads, int hd) {
    rope_rotate(x, cos_t, sin_t, B, T, heads, hd, 1);
}

void rope_backward(real *d, const real *cos_t, const real *sin_t, int B, int T, int heads, int hd) {
    rope_rotate(d, cos_t, sin_t, B, T, heads, hd, -1);
}

// ---------------------------------------------------------------------------------------------
// SwiGLU: out = silu(gate) * up, silu(g) = g * sigmoid(g)

typedef struct {
    real *out, *dgate, *dup;
    const real *gate, *up, *dout;
    long n;
    int set;   // backward: the gradients start from 0 instead of their values (swiglu_backward_set)
} SwigluArgs;

static void swiglu_forward_part(real *out, const real *gate, const real *up, long i, long n) {
#if OPS_AVX512
    __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 g = _mm512_loadu_ps(gate + i);
        __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(g, s), _mm512_loadu_ps(up + i)));
    }
#endif
    for (; i < n; i++) {
        real s = 1 / (1 + exp(-gate[i]));
        out[i] = gate[i] * s * up[i];
    }
}

static void swiglu_forward_item(void *ctx, int item, int worker) {
    (void)worker;
    const SwigluArgs *a = ctx;
    long i0 = (long)item * OPS_ELEMS;
    swiglu_forward_part(a->out, a->gate, a->up, i0, lmin(i0 + OPS_ELEMS, a->n));
}

void swiglu_forward(real *out, const real *gate, const real *up, long n) {
    SwigluArgs a = { .out = out, .gate = gate, .up = up, .n = n };
    parallel_for_light(items_of(n, OPS_ELEMS), swiglu_forward_item, &a);
}

// d silu(g) / dg = s (1 + g (1 - s)) with s = sigmoid(g). With set the sums start from +0 instead of
// the gradients' values: the same additions as on gradients zeroed before, without that pass.
static void swiglu_backward_part(real *dgate, real *dup, const real *dout, const real *gate, const real *up,
                                 long i, long n, int set) {
#if OPS_AVX512
    __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    for (; i + 16 <= n; i += 16) {
        __m512 g = _mm512_loadu_ps(gate + i), d = _mm512_loadu_ps(dout + i);
        __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
        __m512 dsilu = _mm512_mul_ps(s, _mm512_fmadd_ps(g, _mm512_sub_ps(one, s), one));
        __m512 du = _mm512_mul_ps(d, _mm512_loadu_ps(up + i));
        _mm512_storeu_ps(dgate + i, _mm512_fmadd_ps(du, dsilu, set ? zero : _mm512_loadu_ps(dgate + i)));
        _mm512_storeu_ps(dup + i, _mm512_fmadd_ps(d, _mm512_mul_ps(g, s), set ? zero : _mm512_loadu_ps(dup + i)));
    }
#endif
    for (; i < n; i++) {
        real g = gate[i], s = 1 / (1 + exp(-g));
        real g0 = set ? 0 : dgate[i], u0 = set ? 0 : dup[i];
        dgate[i] = g0 + dout[i] * up[i] * s * (1 + g * (1 - s));
        dup[i] = u0 + dout[i] * g * s;
    }
}

static void swiglu_backward_item(void *ctx, int item, int worker) {
    (void)worker;
    const SwigluArgs *a = ctx;
    long i0 = (long)item * OPS_ELEMS;
    swiglu_backward_part(a->dgate, a->dup, a->dout, a->gate, a->up, i0, lmin(i0 + OPS_ELEMS, a->n), a->set);
}

void swiglu_backward(real *dgate, real *dup, const real *dout, const real *gate, const real *up, long n) {
    SwigluArgs a = { .dgate = dgate, .dup = dup, .dout = dout, .gate = gate, .up = up, .n = n };
    parallel_for_light(items_of(n, OPS_ELEMS), swiglu_backward_item, &a);
}

void swiglu_backward_set(real *dgate, real *dup, const real *dout, const real *gate, const real *up, long n) {
    SwigluArgs a = { .dgate = dgate, .dup = dup, .dout = dout, .gate = gate, .up = up, .n = n, .set = 1 };
    parallel_for_light(items_of(n, OPS_ELEMS), swiglu_backward_item, &a);
}

// ---------------------------------------------------------------------------------------------
// Copies and zeroed buffers, split over threads in items of OPS_ELEMS

typedef struct {
    real *dst;
    const real *src;   // NULL: zero
    long n;
} CopyArgs;

static void copy_item(void *ctx, int item, int worker) {
    (void)worker;
    const CopyArgs *a = ctx;
    long i0 = (long)item * OPS_ELEMS, m = lmin(i0 + OPS_ELEMS, a->n) - i0;
    if (a->src) memcpy(a->dst + i0, a->src + i0, (size_t)m * sizeof(real));
    else memset(a->dst + i0, 0, (size_t)m * sizeof(real));
}

void copy_reals(real *dst, const real *src, long n) {
    CopyArgs a = { dst, src, n };
    parallel_for_light(items_of(n, OPS_ELEMS), copy_item, &a);
}

void zero_reals(real *x, long n) {
    CopyArgs a = { x, NULL, n };
    parallel_for_light(items_of(n, OPS_ELEMS), copy_item, &a);
}

// ---------------------------------------------------------------------------------------------
// Bias, residual

void bias_forward(real *y, const real *b, int n, int rows) {
    for (int i = 0; i < n; i++)
        for (int r = 0; r < rows; r++) y[(size_t)i * rows + r] += b[r];
}

void bias_backward(real *db, const real *dy, int n, int rows) {
    for (int i = 0; i < n; i++)
        for (int r = 0; r < rows; r++) db[r] += dy[(size_t)i * rows + r];
}
