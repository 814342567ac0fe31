// LoRA's rank-r products (engine/lora.h), the fused passes and the BLAS reference, against the same
// sums written out in double: shapes with tails past whole vectors and whole groups of rows, every
// rank the fused passes take and two past them, the layer's input gradient skipped; and the fused
// passes' numbers at 1 and 3 threads, bit for bit. The model-level gradients are proven by finite
// differences in tests/unit64 (on the reference) and by PyTorch parity.
#include "engine/lora.h"
#include "engine/mat.h"
#include "engine/rng.h"
#include "testlib.h"
#include <stdlib.h>
#include <string.h>

static Rng rng;

static float *rnd(long n, double scale) {
    float *a = malloc((size_t)n * sizeof(float));
    for (long i = 0; i < n; i++) a[i] = (float)(scale * (2 * rng_uniform(&rng) - 1));
    return a;
}

static float *copy(const float *a, long n) {
    float *b = malloc((size_t)n * sizeof(float));
    memcpy(b, a, (size_t)n * sizeof(float));
    return b;
}

// The largest error of got against want (double), relative to the largest |want|.
static double worst(const float *got, const double *want, long n) {
    double big = 1e-30, err = 0;
    for (long i = 0; i < n; i++) big = fmax(big, fabs(want[i]));
    for (long i = 0; i < n; i++) err = fmax(err, fabs(got[i] - want[i]) / big);
    return err;
}

typedef struct {
    int n, in, out, r;
    float *x, *A, *B, *dy, *y0, *dx0, *dA0, *dB0;
    double s;
    double *y, *u, *du, *dx, *dA, *dB;   // the sums in double
} Case;

static Case make_case(int n, int in, int out, int r) {
    Case c = { .n = n, .in = in, .out = out, .r = r, .s = 2.0 / r };
    c.x = rnd((long)n * in, 1); c.A = rnd((long)r * in, 0.5); c.B = rnd((long)out * r, 0.5);
    c.dy = rnd((long)n * out, 1); c.y0 = rnd((long)n * out, 1); c.dx0 = rnd((long)n * in, 1);
    c.dA0 = rnd((long)r * in, 1); c.dB0 = rnd((long)out * r, 1);
    c.u = calloc((size_t)n * r, sizeof(double)); c.du = calloc((size_t)n * r, sizeof(double));
    c.y = calloc((size_t)n * out, sizeof(double)); c.dx = calloc((size_t)n * in, sizeof(double));
    c.dA = calloc((size_t)r * in, sizeof(double)); c.dB = calloc((size_t)out * r, sizeof(double));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < r; j++) {
            double u = 0, du = 0;
            for (int k = 0; k < in; k++) u += (double)c.x[(long)i * in + k] * c.A[(long)j * in + k];
            for (int o = 0; o < out; o++) du += (double)c.dy[(long)i * out + o] * c.B[(long)o * r + j];
            c.u[(long)i * r + j] = u;
            c.du[(long)i * r + j] = c.s * du;
        }
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double t = 0;
            for (int j = 0; j < r; j++) t += c.u[(long)i * r + j] * c.B[(long)o * r + j];
            c.y[(long)i * out + o] = c.y0[(long)i * out + o] + c.s * t;
        }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < in; k++) {
            double t = 0;
            for (int j = 0; j < r; j++) t += c.du[(long)i * r + j] * c.A[(long)j * in + k];
            c.dx[(long)i * in + k] = c.dx0[(long)i * in + k] + t;
        }
    for (int j = 0; j < r; j++)
        for (int k = 0; k < in; k++) {
            double t = 0;
            for (int i = 0; i < n; i++) t += c.du[(long)i * r + j] * c.x[(long)i * in + k];
            c.dA[(long)j * in + k] = c.dA0[(long)j * in + k] + t;
        }
    for (int o = 0; o < out; o++)
        for (int j = 0; j < r; j++) {
            double t = 0;
            for (int i = 0; i < n; i++) t += (double)c.dy[(long)i * out + o] * c.u[(long)i * r + j];
            c.dB[(long)o * r + j] = c.dB0[(long)o * r + j] + c.s * t;
        }
    return c;
}

static void free_case(Case *c) {
    float *f[] = { c->x, c->A, c->B, c->dy, c->y0, c->dx0, c->dA0, c->dB0 };
    double *d[] = { c->y, c->u, c->du, c->dx, c->dA, c->dB };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) free(d[i]);
}

// Outputs of one run of the forward and backward, fused (ref 0) or BLAS (ref 1).
typedef struct { float *y, *u, *du, *dx, *dA, *dB; } Outs;

static Outs run(const Case *c, int ref, int with_dx) {
    long n = c->n, in = c->in, out = c->out, r = c->r;
    Outs o = { copy(c->y0, n * out), calloc((size_t)(n * r), sizeof(float)), calloc((size_t)(n * r), sizeof(float)),
               copy(c->dx0, n * in), copy(c->dA0, r * in), copy(c->dB0, out * r) };
    float *bt = malloc((size_t)(r * out) * sizeof(float));
    float *dx = with_dx ? o.dx : NULL;
    if (ref) {
        lora_forward_ref(o.y, o.u, c->x, c->A, c->B, c->s, c->n, c->in, c->out, c->r);
        lora_backward_ref(dx, o.dA, o.dB, o.du, c->dy, c->x, o.u, c->A, c->B, c->s, c->n, c->in, c->out, c->r);
    } else {
        lora_forward(o.y, o.u, c->x, c->A, c->B, bt, c->s, c->n, c->in, c->out, c->r);
        lora_backward(dx, o.dA, o.dB, o.du, c->dy, c->x, o.u, c->A, c->B, bt, c->s, c->n, c->in, c->out, c->r);
    }
    free(bt);
    return o;
}

static void free_outs(Outs *o) {
    float *f[] = { o->y, o->u, o->du, o->dx, o->dA, o->dB };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
}

static void test_against_double(void) {
    // (n, in, out): whole vectors and groups of rows; tails of rows, of vectors and of column tiles;
    // widths under one vector
    int shapes[][3] = { { 64, 256, 768 }, { 37, 40, 72 }, { 70, 33, 17 }, { 5, 7, 3 } };
    int ranks[] = { 1, 2, 3, 4, 5, 8, 9, 12, 16, 17, 24 };
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t ri = 0; ri < sizeof ranks / sizeof ranks[0]; ri++) {
            Case c = make_case(shapes[si][0], shapes[si][1], shapes[si][2], ranks[ri]);
            long n = c.n, in = c.in, out = c.out, r = c.r;
            for (int ref = 0; ref < 2; ref++) {
                Outs o = run(&c, ref, 1);
                double e[6] = { worst(o.y, c.y, n * out), worst(o.u, c.u, n * r), worst(o.du, c.du, n * r),
                                worst(o.dx, c.dx, n * in), worst(o.dA, c.dA, r * in), worst(o.dB, c.dB, out * r) };
                double e_max = 0;
                for (int k = 0; k < 6; k++) e_max = fmax(e_max, e[k]);
                CHECK(e_max < 2e-6, "%s n %ld in %ld out %ld r %ld vs double: y %.2e u %.2e du %.2e dx %.2e dA %.2e dB %.2e",
                      ref ? "BLAS" : "fused", n, in, out, r, e[0], e[1], e[2], e[3], e[4], e[5]);
                free_outs(&o);
            }
            Outs o = run(&c, 0, 0);   // no input gradient: dx is left alone, the rest is the same
            CHECK(!memcmp(o.dx, c.dx0, sizeof(float) * n * in), "n %ld r %ld: dx written without dx", n, r);
            CHECK(worst(o.dA, c.dA, r * in) < 2e-6 && worst(o.dB, c.dB, out * r) < 2e-6,
                  "n %ld r %ld: dA, dB without dx", n, r);
            free_outs(&o);
            free_case(&c);
        }
}

// Rows and column tiles go to threads; every sum over rows is one tile's, in row order: the same bits.
static void test_thread_count(void) {
    int ranks[] = { 4, 8, 16 };
    for (size_t ri = 0; ri < sizeof ranks / sizeof ranks[0]; ri++) {
        Case c = make_case(3 * 32 + 7, 200, 136, ranks[ri]);
        long n = c.n, in = c.in, out = c.out, r = c.r;
        engine_set_threads(1);
        Outs one = run(&c, 0, 1);
        engine_set_threads(3);
        Outs three = run(&c, 0, 1);
        engine_set_threads(1);
        long sizes[6] = { n * out, n * r, n * r, n * in, r * in, out * r };
        float *a[6] = { one.y, one.u, one.du, one.dx, one.dA, one.dB }, *b[6] = { three.y, three.u, three.du, three.dx, three.dA, three.dB };
        const char *names[6] = { "y", "u", "du", "dx", "dA", "dB" };
        for (int k = 0; k < 6; k++)
            CHECK(!memcmp(a[k], b[k], sizeof(float) * sizes[k]), "r %ld: %s identical at 1 and 3 threads", r, names[k]);
        free_outs(&one);
        free_outs(&three);
        free_case(&c);
    }
}

int main(void) {
    rng_seed(&rng, 41);
    test_against_double();
    test_thread_count();
    return tl_finish("test_lora");
}
