// The model under each compute precision: gradients of bf16 (and int8 on a ternary base) against
// the fp32 engine's (which the double-precision finite-difference tests and the PyTorch parity test
// verify), short training runs whose losses track fp32 step by step, and determinism: the same job
// gives the same bits whatever ran before it in the process and at 1 or 2 threads.
//
// The gradient tolerance bf16 justifies: every product rounds both inputs to 8 significant bits
// (unit roundoff u = 2^-8 ~ 3.9e-3), so one product's outputs are off by up to ~2u of the sum of their
// terms' magnitudes; a gradient passes through a forward and a backward chain of a few such
// products per layer, and cancellation in the sums amplifies relative errors, so we allow a
// norm-wise relative error of about 5u = 2e-2 per trainable tensor group and demand a cosine of at
// least 0.999 with the fp32 gradient. The same comparison between fp32 and fp32-dnnl (summation
// order only) must come out below 1e-4, and bf16's error must exceed that (the rounding happened).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adamw.h"
#include "engine/mat.h"
#include "engine/model.h"
#include "engine/ternary.h"
#include "engine/train.h"
#include "engine/util.h"
#include "testlib.h"

static ModelConfig cfg;
static real *block;
static Weights base, tern;
static uint8_t *trits;
static float *trit_scales;

// A small Llama (GQA, untied) with random weights, and its layers' projections quantised to ternary.
static void make_bases(void) {
    cfg = (ModelConfig){ .dim = 64, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 96, .vocab = 128,
                         .context = 32, .rope_theta = 10000, .norm_eps = 1e-5, .tied = 0, .qkv_bias = 0 };
    block = xaligned(config_n_params(&cfg) * sizeof(real));
    weights_init_random(block, &cfg, 42);
    weights_carve(&base, &cfg, block);
    tern = base;
    size_t nb = 0, ns = 0;
    for (int pass = 0; pass < 2; pass++) {
        nb = ns = 0;
        for (int l = 0; l < cfg.n_layers; l++) {
            Mat *m[7] = { &tern.layer[l].q, &tern.layer[l].k, &tern.layer[l].v, &tern.layer[l].o,
                          &tern.layer[l].gate, &tern.layer[l].up, &tern.layer[l].down };
            for (int j = 0; j < 7; j++) {
                if (pass) {
                    const Mat *src = m[j];
                    ternary_quantize_rows(trits + nb, trit_scales + ns, (const float *)src->data, src->rows, src->cols);
                    *m[j] = (Mat){ MAT_TERNARY, src->rows, src->cols, trits + nb, trit_scales + ns, NULL, NULL, 0 };
                }
                nb += ternary_packed_bytes(m[j]->rows, m[j]->cols);
                ns += (size_t)m[j]->rows;
            }
        }
        if (!pass) {
            trits = xmalloc(nb);
            trit_scales = xmalloc(ns * sizeof(float));
        }
    }
}

// A token stream with structure to learn: a noisy repeating pattern over the vocabulary.
static int *make_stream(long n, unsigned seed) {
    int *t = xmalloc(sizeof(int) * n);
    unsigned s = seed;
    for (long i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        t[i] = (s >> 16) % 8 == 0 ? (int)((s >> 8) % cfg.vocab) : (int)((i * 5 + i / 7) % cfg.vocab);
    }
    return t;
}

// d(loss)/d(trainable) of one batch at precision p, into grads (ad.n values); returns the loss.
static double gradients(const Weights *w, AdapterFormat f, MatPrecision p, const int *stream, real *grads,
                        size_t *n_out) {
    enum { B = 3, T = 24 };
    int in[B * T], tg[B * T];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) in[b * T + t] = stream[b * 40 + t], tg[b * T + t] = stream[b * 40 + t + 1];
    LoraSpec lora = { .rank = 4, .alpha = 8, .targets = LORA_ALL };
    Adapter ad;
    adapter_init(&ad, f, &lora, w, 3);
    if (f == FMT_LORA)   // B = 0 at init leaves dA zero: give B values so every LoRA gradient is observable
        for (size_t i = 0; i < ad.n; i++)
            if (ad.params[i] == 0) ad.params[i] = (real)(0.01 * ((int)(i % 11) - 5));
    Weights eff;
    adapter_apply(&ad, w, &eff);
    Acts *a = acts_create(&cfg, B, T);
    eff.mc = mat_context_create(p);
    adapter_zero_grad(&ad);
    double loss = model_forward(&eff, &ad, a, in, tg, B, T);
    model_backward(&eff, &ad, a, in, tg, B, T);
    mat_context_free(eff.mc);
    memcpy(grads, ad.grads, ad.n * sizeof(real));
    *n_out = ad.n;
    acts_free(a);
    adapter_free(&ad);
    return loss;
}

typedef struct { double rel, cosine; } Cmp;

static Cmp compare(const real *g, const real *ref, size_t n) {
    double d2 = 0, r2 = 0, g2 = 0, dot = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)g[i] - ref[i];
        d2 += d * d, r2 += (double)ref[i] * ref[i], g2 += (double)g[i] * g[i], dot += (double)g[i] * ref[i];
    }
    return (Cmp){ sqrt(d2 / (r2 > 0 ? r2 : 1e-300)), dot / sqrt((r2 > 0 ? r2 : 1e-300) * (g2 > 0 ? g2 : 1e-300)) };
}

static void test_gradients(const int *stream) {
    const AdapterFormat fmts[3] = { FMT_NORM, FMT_LORA, FMT_FULL };
    size_t cap = config_n_params(&cfg) + 4096;
    real *g32 = xmalloc(cap * sizeof(real)), *gd = xmalloc(cap * sizeof(real)), *gb = xmalloc(cap * sizeof(real));
    for (int k = 0; k < 3; k++) {
        size_t n;
        const char *name = format_name(fmts[k]);
        double l32 = gradients(&base, fmts[k], MAT_PREC_FP32, stream, g32, &n);
        double ld = gradients(&base, fmts[k], MAT_PREC_FP32_DNNL, stream, gd, &n);
        double lb = gradients(&base, fmts[k], MAT_PREC_BF16, stream, gb, &n);
        Cmp cd = compare(gd, g32, n), cb = compare(gb, g32, n);
        printf("%s: fp32-dnnl vs fp32: rel %.2e; bf16 vs fp32: rel %.2e cosine %.6f; loss %.6f / %.6f / %.6f\n",
               name, cd.rel, cb.rel, cb.cosine, l32, ld, lb);
        CHECK(cd.rel < 1e-4, "%s: fp32-dnnl gradient off fp32 by %.2e", name, cd.rel);
        CHECK(cb.rel < 2e-2 && cb.cosine > 0.999, "%s: bf16 gradient off fp32 by %.2e (cosine %.6f)", name, cb.rel,
              cb.cosine);
        CHECK(cb.rel > cd.rel, "%s: bf16 gradient (%.2e) no further from fp32 than fp32-dnnl (%.2e)", name, cb.rel,
              cd.rel);
        CHECK(fabs(lb - l32) < 2e-3 * l32, "%s: bf16 loss %.6f vs fp32 %.6f", name, lb, l32);
    }
    // the ternary base: int8 (forward and backward-input int8) and bf16 against fp32's int16 kernels
    for (int k = 0; k < 2; k++) {
        size_t n;
        const char *name = format_name(fmts[k]);
        double l32 = gradients(&tern, fmts[k], MAT_PREC_FP32, stream, g32, &n);
        double l8 = gradients(&tern, fmts[k], MAT_PREC_INT8, stream, gd, &n);
        double lb = gradients(&tern, fmts[k], MAT_PREC_BF16, stream, gb, &n);
        Cmp c8 = compare(gd, g32, n), cb = compare(gb, g32, n);
        printf("ternary %s: int8 vs fp32: rel %.2e cosine %.6f; bf16: rel %.2e cosine %.6f; loss %.6f / %.6f / %.6f\n",
               name, c8.rel, c8.cosine, cb.rel, cb.cosine, l32, l8, lb);
        // int8 activations and output gradients (dy times the row scales): u = 1/254 of each token's
        // absmax, about bf16's 2^-8 but relative to the token's largest value, not to each one;
        // a gradient crosses an int8 forward and an int8 backward product per projection, as bf16's
        // does, so bf16's allowance of about 5u gives 5/254 ~ 2e-2; we keep 3e-2, as int8's
        // rounding is relative to the token's absmax, not to each element
        CHECK(c8.rel < 3e-2 && c8.cosine > 0.999, "ternary %s: int8 gradient off fp32 by %.2e (cosine %.6f)", name,
              c8.rel, c8.cosine);
        CHECK(cb.rel < 2e-2 && cb.cosine > 0.999, "ternary %s: bf16 gradient off fp32 by %.2e", name, cb.rel);
        CHECK(fabs(l8 - l32) < 5e-3 * l32, "ternary %s: int8 loss %.6f vs fp32 %.6f", name, l8, l32);
    }
    free(g32); free(gd); free(gb);
}

// The int8 backward-input product of a ternary matrix (engine/mat.c) against a double-precision
// reference of the same quantised computation, written here from its definition: g = dy * scale[r],
// q = round(g * 127 / absmax of g's row), dx += (sum_r q T) * absmax / 127. The int32 sums are exact,
// so the two differ only by fp32 roundings (g, the scale, two products and the add: ~5 units of 2^-24
// of the magnitudes involved). dy is built so that every g * 127 / absmax lies at least 0.1 from a
// rounding boundary: fp32 rounding cannot flip a q, and the comparison can demand near-exactness.
// Row scales spread over 2^12 make a product that leaves them out (or applies them per column) fail.
static void test_int8_backward_input(void) {
    enum { N = 5, ROWS = 203, COLS = 77 };
    float *w = xmalloc(sizeof(float) * ROWS * COLS), *scale = xmalloc(sizeof(float) * ROWS);
    uint8_t *packed = xmalloc(ternary_packed_bytes(ROWS, COLS));
    real *dy = xmalloc(sizeof(real) * N * ROWS), *dx = xmalloc(sizeof(real) * N * COLS);
    real *dx0 = xmalloc(sizeof(real) * N * COLS), *dec = xmalloc(sizeof(real) * ROWS * COLS);
    int *T = xmalloc(sizeof(int) * ROWS * COLS);
    unsigned s = 12345;
#define RND() (s = s * 1103515245u + 12345u, (double)((s >> 8) & 0xffff) / 65536.0)   // [0, 1)
    for (int i = 0; i < ROWS * COLS; i++) w[i] = (float)(RND() * 2 - 1);
    ternary_quantize_rows(packed, scale, w, ROWS, COLS);
    for (int r = 0; r < ROWS; r++) scale[r] = (float)(0.001 * (1 << (r * 7 % 13)));   // spread over 2^12
    Mat W = { MAT_TERNARY, ROWS, COLS, packed, scale, NULL, NULL, 0 };
    mat_decode_rows(dec, &W, 0, ROWS);
    for (int i = 0; i < ROWS * COLS; i++) T[i] = (int)lrint((double)dec[i] / scale[i / COLS]);
    for (int m = 0; m < N; m++) {
        double unit = 1e-3 * (m + 1);   // the token's absmax / 127
        for (int r = 0; r < ROWS; r++) {
            double k = floor(RND() * 255) - 127, frac = RND() * 0.8 - 0.4;
            if (r == (m * 37) % ROWS) k = m % 2 ? -127 : 127, frac = 0;   // the absmax, exact
            if (fabs(k + frac) > 127) frac = 0;
            dy[m * ROWS + r] = (real)((k + frac) * unit / scale[r]);
        }
    }
#undef RND
    for (int i = 0; i < N * COLS; i++) dx0[i] = dx[i] = (real)(0.01 * ((i % 13) - 6));
    MatContext *mc = mat_context_create(MAT_PREC_INT8);
    mat_backward_input(mc, dx, dy, &W, N);
    mat_context_free(mc);
    double worst = 0, d2 = 0, e2 = 0, u2 = 0;   // worst: against the reference; d2/e2/u2: against exact
    for (int m = 0; m < N; m++) {
        double g[ROWS], amax = 0;
        for (int r = 0; r < ROWS; r++) g[r] = (double)dy[m * ROWS + r] * scale[r], amax = fmax(amax, fabs(g[r]));
        for (int c = 0; c < COLS; c++) {
            double acc = 0, exact = 0, unscaled = 0, umax = 0;
            for (int r = 0; r < ROWS; r++) umax = fmax(umax, fabs((double)dy[m * ROWS + r]));
            for (int r = 0; r < ROWS; r++) {
                int t = T[r * COLS + c];
                acc += nearbyint(g[r] * 127 / amax) * t;
                exact += g[r] * t;
                unscaled += nearbyint((double)dy[m * ROWS + r] * 127 / umax) * t;
            }
            double ref = dx0[m * COLS + c] + acc * amax / 127, got = dx[m * COLS + c];
            double mag = fabs(acc * amax / 127) + fabs(dx0[m * COLS + c]);
            worst = fmax(worst, fabs(got - ref) / mag);
            double e = exact, d = got - dx0[m * COLS + c], un = unscaled * umax / 127;
            d2 += (d - e) * (d - e), e2 += e * e, u2 += (un - e) * (un - e);
        }
    }
    double rel = sqrt(d2 / e2), rel_unscaled = sqrt(u2 / e2);
    printf("int8 backward-input: worst vs double reference %.2e of magnitude; vs exact product rel %.2e "
           "(scales left out: %.2e)\n", worst, rel, rel_unscaled);
    CHECK(worst < 4e-7, "int8 backward-input off its double reference by %.2e of the magnitude", worst);
    // int8 of g: each term off by at most absmax / 254, so a norm-wise error of about 1/254/sqrt(3) ~ 2e-3
    CHECK(rel < 1e-2, "int8 backward-input off the exact product by %.2e", rel);
    CHECK(rel_unscaled > 10 * rel, "the scale-free variant (%.2e) is no worse than int8 (%.2e): test blind",
          rel_unscaled, rel);
    free(w); free(scale); free(packed); free(dy); free(dx); free(dx0); free(dec); free(T);
}

// Training curves: 30 steps of norm and lora at each precision on the same batches.
static void train(const Weights *w, AdapterFormat f, MatPrecision p, const int *stream, long n, uint64_t seed,
                  float *curve, int steps) {
    LoraSpec lora = { .rank = 4, .alpha = 8, .targets = LORA_ALL };
    Adapter ad;
    adapter_init(&ad, f, &lora, w, seed);
    TrainConfig tc;
    train_config_default(&tc);
    tc.steps = steps;
    tc.batch = 4;
    tc.seq = 32;
    tc.lr = f == FMT_NORM ? 2e-2 : f == FMT_LORA ? 5e-3 : 2e-3;
    TrainResult res;
    Weights wp = *w;
    wp.mc = mat_context_create(p);
    int rc = train_adapter(&wp, &ad, stream, n, &tc, seed, curve, &res, NULL, NULL);
    mat_context_free(wp.mc);
    CHECK(rc == 0 && !res.diverged && res.steps_done == steps, "%s %s: rc %d diverged %d", format_name(f),
          mat_precision_name(p), rc, res.diverged);
    adapter_free(&ad);
}

static double worst_step_gap(const float *a, const float *ref, int steps) {
    double w = 0;
    for (int s = 0; s < steps; s++) w = fmax(w, fabs((double)a[s] - ref[s]) / ref[s]);
    return w;
}

static void test_curves(const int *stream, long n) {
    enum { S = 30 };
    float c32[S], cp[S];
    const AdapterFormat fmts[3] = { FMT_NORM, FMT_LORA, FMT_FULL };
    for (int k = 0; k < 3; k++) {
        train(&base, fmts[k], MAT_PREC_FP32, stream, n, 5, c32, S);
        CHECK(c32[S - 1] < c32[0] - 0.02, "%s fp32: loss did not fall (%.4f -> %.4f)", format_name(fmts[k]), c32[0],
              c32[S - 1]);
        train(&base, fmts[k], MAT_PREC_BF16, stream, n, 5, cp, S);
        double gap = worst_step_gap(cp, c32, S);
        printf("%s: loss %.4f -> %.4f; bf16 worst step gap %.3f%%\n", format_name(fmts[k]), c32[0], c32[S - 1],
               100 * gap);
        CHECK(gap < 0.01, "%s: bf16 loss curve leaves fp32's by %.3f%%", format_name(fmts[k]), 100 * gap);
    }
    for (int k = 0; k < 2; k++) {
        train(&tern, fmts[k], MAT_PREC_FP32, stream, n, 5, c32, S);
        train(&tern, fmts[k], MAT_PREC_INT8, stream, n, 5, cp, S);
        double gap = worst_step_gap(cp, c32, S);
        printf("ternary %s: loss %.4f -> %.4f; int8 worst step gap %.3f%%\n", format_name(fmts[k]), c32[0],
               c32[S - 1], 100 * gap);
        CHECK(gap < 0.01, "ternary %s: int8 loss curve leaves fp32's by %.3f%%", format_name(fmts[k]), 100 * gap);
    }
}

// The same job, the same bits: after other jobs in the same process (the weight cache holds their
// conversions), and at 2 threads where the backend promises it.
static void test_determinism(const int *stream, long n) {
    enum { S = 6 };
    const MatPrecision precs[3] = { MAT_PREC_FP32_DNNL, MAT_PREC_BF16, MAT_PREC_INT8 };
    for (int k = 0; k < 3; k++) {
        const Weights *w = precs[k] == MAT_PREC_INT8 ? &tern : &base;
        const char *name = mat_precision_name(precs[k]);
        float a[S], b[S], c[S], d[S], e[S];
        train(w, FMT_FULL, precs[k], stream, n, 9, a, S);
        train(w, FMT_NORM, precs[k], stream, n, 10, b, S);   // another job in between
        train(w, FMT_FULL, precs[k], stream, n, 9, c, S);
        CHECK(!memcmp(a, c, sizeof a), "%s: full FT after another job gives other losses", name);
        train(w, FMT_NORM, precs[k], stream, n, 10, d, S);
        CHECK(!memcmp(b, d, sizeof b), "%s: norm after full FT gives other losses", name);
        engine_set_threads(2);
        train(w, FMT_FULL, precs[k], stream, n, 9, e, S);
        engine_set_threads(1);
        if (!strcmp(mat_precision_backend(precs[k]), "onednn"))
            CHECK(!memcmp(a, e, sizeof a), "%s: 2 threads give other losses", name);
    }
}

int main(void) {
    engine_set_threads(1);
    make_bases();
    long n = 4000;
    int *stream = make_stream(n, 7);
    printf("precision backends: bf16 %s, int8 %s\n", mat_precision_backend(MAT_PREC_BF16),
           mat_precision_backend(MAT_PREC_INT8));
    test_int8_backward_input();
    test_gradients(stream);
    test_curves(stream, n);
    test_determinism(stream, n);
    free(stream);
    free(trits);
    free(trit_scales);
    free(block);
    return tl_finish("test_precision");
}
