// Training and perplexity: determinism in the seed, the lr schedule, AdamW's update, divergence,
// and eval_perplexity's window definition against a token-by-token recomputation.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adamw.h"
#include "engine/train.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

static real *block;
static Weights base;
static ModelConfig cfg;

static void train_curve(AdapterFormat f, const LoraSpec *lora, uint64_t seed, const int *tok, long n,
                        float *curve, int steps, real *final_params) {
    Adapter ad;
    adapter_init(&ad, f, lora, &base, seed);
    TrainConfig tc;
    train_config_default(&tc);
    tc.steps = steps;
    tc.batch = 3;
    tc.seq = 8;
    tc.lr = 1e-2;
    TrainResult res;
    int rc = train_adapter(&base, &ad, tok, n, &tc, seed, curve, &res, NULL, NULL);
    CHECK(rc == 0 && res.steps_done == steps && !res.diverged, "train %s: rc %d, %d steps, diverged %d",
          format_name(f), rc, res.steps_done, res.diverged);
    CHECK(res.tokens == (long)steps * 3 * 8, "tokens %ld", res.tokens);
    if (final_params) memcpy(final_params, ad.params, ad.n * sizeof(real));
    adapter_free(&ad);
}

static double lrs[16];
static int record_lr(void *ctx, int step, double loss, double lr) {
    (void)ctx; (void)loss;
    lrs[step] = lr;
    return 0;
}

static void test_determinism(const int *tok, long n) {
    enum { S = 12 };
    float a[S], b[S], c[S];
    LoraSpec ls = { .rank = 2, .alpha = 2, .targets = LORA_ALL };
    const AdapterFormat fmts[] = { FMT_NORM, FMT_LORA, FMT_FULL };
    for (int k = 0; k < 3; k++) {
        size_t np = fmts[k] == FMT_FULL ? config_n_params(&cfg) : 4096;
        real *pa = malloc(np * sizeof(real)), *pb = malloc(np * sizeof(real));
        train_curve(fmts[k], &ls, 7, tok, n, a, S, pa);
        train_curve(fmts[k], &ls, 7, tok, n, b, S, pb);
        train_curve(fmts[k], &ls, 8, tok, n, c, S, NULL);
        CHECK(!memcmp(a, b, sizeof a), "%s: same seed, different loss curves", format_name(fmts[k]));
        CHECK(memcmp(a, c, sizeof a), "%s: different seeds, same loss curve", format_name(fmts[k]));
        // training must do something: the last steps' mean loss below the first steps'
        double first = (a[0] + a[1] + a[2]) / 3, last = (a[S - 1] + a[S - 2] + a[S - 3]) / 3;
        CHECK(last < first, "%s: loss did not fall (%.4f -> %.4f)", format_name(fmts[k]), first, last);
        printf("%s: loss %.4f -> %.4f over %d steps\n", format_name(fmts[k]), first, last, S);
        free(pa);
        free(pb);
    }
}

static void test_schedule(const int *tok, long n) {
    Adapter ad;
    adapter_init(&ad, FMT_NORM, NULL, &base, 1);
    TrainConfig tc;
    train_config_default(&tc);
    tc.steps = 10;
    tc.batch = 1;
    tc.seq = 4;
    tc.lr = 1e-3;
    tc.warmup = 4;
    tc.cosine = 1;
    tc.min_lr_frac = 0.1;
    TrainResult res;
    train_adapter(&base, &ad, tok, n, &tc, 1, NULL, &res, record_lr, NULL);
    // warmup: lr * t / 4; then cosine from lr (t = 4) to 0.1 lr (t = 10), halfway at t = 7
    CHECK(fabs(lrs[1] - 0.25e-3) < 1e-15 && fabs(lrs[2] - 0.5e-3) < 1e-15 && fabs(lrs[4] - 1e-3) < 1e-15,
          "warmup lrs %g %g %g", lrs[1], lrs[2], lrs[4]);
    CHECK(fabs(lrs[7] - 0.55e-3) < 1e-12, "cosine midpoint %g, want 5.5e-4", lrs[7]);
    CHECK(fabs(lrs[10] - 1e-4) < 1e-15, "cosine end %g, want 1e-4", lrs[10]);
    adapter_free(&ad);
}

// AdamW on a hand-fed gradient, against the update worked out from torch.optim.AdamW's documentation.
static void test_adamw(void) {
    Adapter ad;
    adapter_init(&ad, FMT_NORM, NULL, &base, 0);
    adamw_alloc(&ad);
    size_t n = ad.n;
    double *p0 = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) p0[i] = ad.params[i] = (real)(1 + 0.01 * (i % 7));
    // step 1 from zero moments: m_hat = g, v_hat = g^2, so p -= lr * g / (|g| + eps) after decay
    for (size_t i = 0; i < n; i++) ad.grads[i] = (real)((int)(i % 3) - 1) * 0.5f;   // -0.5, 0, 0.5
    double lr = 0.1, wd = 0.01, eps = 1e-8;
    double gn = adamw_step(&ad, 1, lr, 0.9, 0.95, eps, wd, 0);
    double sumsq = 0;
    for (size_t i = 0; i < n; i++) sumsq += 0.25 * ((i % 3) != 1);
    CHECK(fabs(gn - sqrt(sumsq)) < 1e-9, "grad norm %g, want %g", gn, sqrt(sumsq));
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double g = ((int)(i % 3) - 1) * 0.5;
        double want = p0[i] * (1 - lr * wd) - lr * g / (fabs(g) + eps);
        worst = fmax(worst, fabs(ad.params[i] - want));
        p0[i] = ad.params[i];
    }
    CHECK(worst < 1e-6, "step 1 differs from p(1 - lr wd) - lr sign(g) by %g", worst);
    // step 2 with clipping at 1: g2 = 2 everywhere, clipped to 1 / (|g2| + 1e-6) of itself
    for (size_t i = 0; i < n; i++) ad.grads[i] = 2;
    double clip = 1, norm2 = 2 * sqrt((double)n), c = clip / (norm2 + 1e-6);
    gn = adamw_step(&ad, 2, lr, 0.9, 0.95, eps, 0, clip);
    CHECK(fabs(gn - norm2) < 1e-9 * norm2, "step 2 returns the norm before clipping: %g, want %g", gn, norm2);
    worst = 0;
    for (size_t i = 0; i < n; i++) {
        double g1 = ((int)(i % 3) - 1) * 0.5, g2 = 2 * c;
        double m = 0.9 * 0.1 * g1 + 0.1 * g2, v = 0.95 * 0.05 * g1 * g1 + 0.05 * g2 * g2;
        double want = p0[i] - lr * (m / (1 - 0.81)) / (sqrt(v / (1 - 0.9025)) + eps);
        worst = fmax(worst, fabs(ad.params[i] - want));
    }
    CHECK(worst < 1e-6, "step 2 (bias correction, clipping) off by %g", worst);
    free(p0);
    adapter_free(&ad);
}

// Perplexity of a model whose head is zero: every distribution is uniform, so ppl = vocab exactly.
static void test_uniform_ppl(const int *tok, long n) {
    Weights w = base;
    real *head = calloc((size_t)cfg.vocab * cfg.dim, sizeof(real));
    w.head = mat_real(head, cfg.vocab, cfg.dim);
    double nll;
    long np;
    double ppl = eval_perplexity(&w, NULL, tok, n, 8, 3, &nll, &np);
    CHECK(fabs(ppl - cfg.vocab) < 1e-4 * cfg.vocab, "uniform ppl %.6f, want %d", ppl, cfg.vocab);
    CHECK(np == n - 1, "predicted %ld of %ld tokens", np, n);
    CHECK(fabs(nll - np * log(cfg.vocab)) < 1e-4 * nll, "nll sum %.6f, want %.6f", nll, np * log(cfg.vocab));
    free(head);
}

// The definition in train.h, token by token: token i (i >= 1) is predicted from tokens
// floor((i - 1) / T) * T .. i - 1, each on its own forward pass with exactly that context.
static void test_windows(const int *tok) {
    const int T = 4;
    const long lengths[] = { 2, 5, 9, 10, 11, 13 };
    for (int li = 0; li < 6; li++) {
        long n = lengths[li];
        double want = 0;
        Acts *acts = acts_create(&cfg, 1, T);
        for (long i = 1; i < n; i++) {
            long s = (i - 1) / T * T;
            int len = (int)(i - s);
            model_forward(&base, NULL, acts, tok + s, NULL, 1, len);
            const real *z = acts_logits(acts) + (size_t)(len - 1) * cfg.vocab;
            double mx = z[0], sum = 0;
            for (int j = 1; j < cfg.vocab; j++) mx = fmax(mx, z[j]);
            for (int j = 0; j < cfg.vocab; j++) sum += exp(z[j] - mx);
            want += log(sum) + mx - z[tok[i]];
        }
        acts_free(acts);
        for (int B = 1; B <= 3; B++) {
            double nll;
            long np;
            double ppl = eval_perplexity(&base, NULL, tok, n, T, B, &nll, &np);
            CHECK(np == n - 1, "n %ld: %ld predictions, want %ld", n, np, n - 1);
            CHECK(tl_relerr(nll, want, 1e-6) < 1e-5, "n %ld B %d: nll sum %.8f, token by token %.8f", n, B, nll, want);
            CHECK(tl_relerr(ppl, exp(want / (n - 1)), 1e-6) < 1e-5, "n %ld: ppl %.6f", n, ppl);
        }
    }
    double nll;
    long np;
    double ppl = eval_perplexity(&base, NULL, tok, 1, T, 1, &nll, &np);
    CHECK(isnan(ppl) && np == 0, "a one-token stream predicts nothing: ppl %g, %ld predictions", ppl, np);
}

static void test_bad_input(const int *tok, long n) {
    Adapter ad;
    adapter_init(&ad, FMT_NORM, NULL, &base, 0);
    TrainConfig tc;
    train_config_default(&tc);
    tc.steps = 2;
    tc.batch = 1;
    tc.seq = 8;
    TrainResult res;
    CHECK(train_adapter(&base, &ad, tok, 8, &tc, 1, NULL, &res, NULL, NULL) == -1, "stream shorter than a window");
    int *bad = malloc(n * sizeof(int));
    memcpy(bad, tok, n * sizeof(int));
    bad[n / 2] = cfg.vocab;
    CHECK(train_adapter(&base, &ad, bad, n, &tc, 1, NULL, &res, NULL, NULL) == -1, "token outside the vocab");
    CHECK(isnan(eval_perplexity(&base, NULL, bad, n, 8, 1, NULL, NULL)), "eval of a token outside the vocab");
    free(bad);
    // a NaN in the weights: training stops at the first step and says it diverged
    real *blk2 = malloc(config_n_params(&cfg) * sizeof(real));
    memcpy(blk2, block, config_n_params(&cfg) * sizeof(real));
    Weights w2;
    weights_carve(&w2, &cfg, blk2);
    ((real *)w2.head.data)[3] = NAN;
    float curve[2];
    int rc = train_adapter(&w2, &ad, tok, n, &tc, 1, curve, &res, NULL, NULL);
    CHECK(rc == 0 && res.diverged && res.steps_done == 1 && isnan(curve[1]), "divergence: rc %d diverged %d steps %d",
          rc, res.diverged, res.steps_done);
    free(blk2);
    adapter_free(&ad);
}

// Recomputing each layer in the backward (tc.recompute) must not change a bit: the loss curve and
// the trained parameters equal the saved-activation path's for every trainable format, at 1 and 2
// threads (the threaded ops split the same work the same way either path).
static void test_recompute(const int *tok, long n) {
    enum { S = 5 };
    LoraSpec ls = { .rank = 2, .alpha = 2, .targets = LORA_ALL };
    const AdapterFormat fmts[] = { FMT_NORM, FMT_LORA, FMT_FULL, FMT_STEER };
    for (int threads = 1; threads <= 2; threads++) {
        engine_set_threads(threads);
        for (int k = 0; k < 4; k++) {
            float curve[2][S];
            real *params[2];
            size_t np = 0;
            for (int rc = 0; rc < 2; rc++) {
                Adapter ad;
                CHECK(adapter_init(&ad, fmts[k], &ls, &base, 5) == 0, "adapter_init %s", format_name(fmts[k]));
                TrainConfig tc;
                train_config_default(&tc);
                tc.steps = S;
                tc.batch = 3;
                tc.seq = 8;
                tc.lr = 1e-2;
                tc.recompute = rc;
                TrainResult res;
                CHECK(train_adapter(&base, &ad, tok, n, &tc, 5, curve[rc], &res, NULL, NULL) == 0 && res.steps_done == S,
                      "train %s recompute %d", format_name(fmts[k]), rc);
                np = ad.n;
                params[rc] = malloc(np * sizeof(real));
                memcpy(params[rc], ad.params, np * sizeof(real));
                adapter_free(&ad);
            }
            CHECK(!memcmp(curve[0], curve[1], sizeof curve[0]), "%s, %d threads: recompute changed the loss curve",
                  format_name(fmts[k]), threads);
            CHECK(!memcmp(params[0], params[1], np * sizeof(real)), "%s, %d threads: recompute changed the trained parameters",
                  format_name(fmts[k]), threads);
            free(params[0]);
            free(params[1]);
        }
    }
    engine_set_threads(1);
}

int main(void) {
    engine_set_threads(1);   // the team shares two cores
    config_tiny(&cfg);
    block = xaligned(config_n_params(&cfg) * sizeof(real));
    weights_init_random(block, &cfg, 3);
    // larger weights than the init so the model is far from uniform and windows matter
    for (size_t i = 0; i < config_n_params(&cfg); i++) block[i] *= 20;
    weights_carve(&base, &cfg, block);
    for (int l = 0; l < cfg.n_layers; l++) {   // gains back to their init scale
        real *g1 = (real *)base.layer[l].attn_norm, *g2 = (real *)base.layer[l].ffn_norm;
        for (int i = 0; i < cfg.dim; i++) g1[i] = g2[i] = 1;
    }
    for (int i = 0; i < cfg.dim; i++) ((real *)base.final_norm)[i] = 1;
    enum { N = 240 };
    int tok[N];
    // a periodic stream with some noise: learnable, so training curves must fall
    int noise[N];
    random_tokens(noise, N, cfg.vocab, 4);
    for (int i = 0; i < N; i++) tok[i] = i % 11 == 5 ? noise[i] : (i * 7) % 13;

    test_determinism(tok, N);
    test_recompute(tok, N);
    test_schedule(tok, N);
    test_adamw();
    test_uniform_ppl(tok, N);
    test_windows(noise);
    test_bad_input(tok, N);
    free(block);
    return tl_finish("test_train");
}
