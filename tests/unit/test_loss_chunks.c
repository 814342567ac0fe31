// The head and the loss over row chunks (acts_create_chunked) against one piece: the same loss and
// the same gradients, bit for bit, at every precision, for each format that may chunk (norm, LoRA,
// steer), with and without per-layer recomputation, through model_forward or model_forward_train, with ignored targets inside chunks and a short
// last chunk; the forward-only evaluation's one slot and chunks; a training run with --recompute
// (which chunks) against one without.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adamw.h"
#include "engine/mat.h"
#include "engine/model.h"
#include "engine/rng.h"
#include "engine/train.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

static ModelConfig cfg;
static Weights base;

enum { B = 3, T = 48 };

// Loss and gradients of one step on (in, tg) with the given Acts layout; grads copied to out.
// train: through model_forward_train (the loss's gradient with the loss), else model_forward.
static double step(const Weights *w, Adapter *ad, int recompute, int rows, int train, const int *in, const int *tg,
                   real *out) {
    Acts *a = acts_create_chunked(&w->cfg, B, T, recompute, rows);
    CHECK((acts_logits(a) == NULL) == (rows > 0 && rows < B * T), "acts_logits is NULL exactly when chunked");
    adapter_zero_grad(ad);
    double loss = train ? model_forward_train(w, ad, a, in, tg, B, T) : model_forward(w, ad, a, in, tg, B, T);
    model_backward(w, ad, a, in, tg, B, T);
    memcpy(out, ad->grads, ad->n * sizeof(real));
    acts_free(a);
    return loss;
}

static void check_format(MatPrecision p, AdapterFormat f, const int *in, const int *tg) {
    Weights w = base;
    w.mc = mat_context_create(p);
    LoraSpec lora = { .rank = 4, .alpha = 8, .targets = LORA_ALL };
    Adapter ad;
    CHECK(adapter_init(&ad, f, &lora, &w, 5) == 0, "adapter %s", format_name(f));
    // LoRA's B starts at zero: give every trainable scalar a value so that every gradient path counts
    for (size_t i = 0; i < ad.n; i++) ad.params[i] += (real)(0.01 * ((int)(i % 13) - 6));
    Weights eff;
    adapter_apply(&ad, &w, &eff);
    real *g0 = xmalloc(ad.n * sizeof(real)), *g1 = xmalloc(ad.n * sizeof(real));
    double l0 = step(&eff, &ad, 0, 0, 0, in, tg, g0);
    // model_forward_train in one piece: the same bits at every precision (the same calls)
    double lt = step(&eff, &ad, 0, 0, 1, in, tg, g1);
    CHECK(!memcmp(&l0, &lt, sizeof l0) && !memcmp(g0, g1, ad.n * sizeof(real)),
          "%s %s: model_forward_train's loss %.17g (%.17g) or gradients differ", mat_precision_name(p), format_name(f),
          lt, l0);
    // Bit for bit where model_loss_rows chunks (oneDNN); OpenBLAS's sgemm gives a row other bits in
    // a chunk (model_loss_rows is 0 there): its chunks only as close as float rounding.
    int exact = model_loss_rows(&eff) > 0;
    CHECK(exact == (p != MAT_PREC_FP32 && strcmp(mat_precision_backend(p), "openblas")),
          "%s: model_loss_rows %d", mat_precision_name(p), model_loss_rows(&eff));
    const int rows[] = { 64, 128, B * T, 4 * B * T };
    for (int rc = 0; rc < 4; rc++)   // recompute rc % 2, model_forward_train rc / 2
        for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
            double l1 = step(&eff, &ad, rc % 2, rows[k], rc / 2, in, tg, g1);
            if (!exact) {
                double worst = 0;
                for (size_t i = 0; i < ad.n; i++) {
                    double e = tl_relerr(g1[i], g0[i], 1e-3);
                    worst = e > worst ? e : worst;
                }
                CHECK(tl_relerr(l1, l0, 0) < 1e-6 && worst < 1e-2, "%s %s, %d rows a chunk: loss %.9g (%.9g), gradients "
                      "within %.2g", mat_precision_name(p), format_name(f), rows[k], l1, l0, worst);
                continue;
            }
            CHECK(!memcmp(&l0, &l1, sizeof l0), "%s %s, %d rows a chunk, recompute %d, train %d: loss %.17g, one piece %.17g",
                  mat_precision_name(p), format_name(f), rows[k], rc % 2, rc / 2, l1, l0);
            size_t at = 0;
            while (at < ad.n && !memcmp(&g0[at], &g1[at], sizeof(real))) at++;
            CHECK(at == ad.n, "%s %s, %d rows a chunk, recompute %d, train %d: gradient %zu differs (%.9g, one piece %.9g)",
                  mat_precision_name(p), format_name(f), rows[k], rc % 2, rc / 2, at, at < ad.n ? (double)g1[at] : 0.0,
                  at < ad.n ? (double)g0[at] : 0.0);
        }
    free(g0);
    free(g1);
    adapter_free(&ad);
    mat_context_free(w.mc);
}

// Evaluation's Acts (one slot, chunks) against acts_create's, the last window padded as
// eval_perplexity pads it.
static void check_eval(MatPrecision p, const int *in, const int *tg) {
    Weights w = base;
    w.mc = mat_context_create(p);
    Acts *a0 = acts_create(&cfg, B, T), *a1 = acts_create_chunked(&cfg, B, T, 1, model_loss_rows(&w));
    double l0 = model_forward(&w, NULL, a0, in, tg, B, T), l1 = model_forward(&w, NULL, a1, in, tg, B, T);
    CHECK(!memcmp(&l0, &l1, sizeof l0), "%s eval: one slot and chunks of %d rows %.17g, all layers in one piece %.17g",
          mat_precision_name(p), model_loss_rows(&w), l1, l0);
    acts_free(a0);
    acts_free(a1);
    mat_context_free(w.mc);
}

// The premise at 1b's depth (2048 inputs): a oneDNN head product's rows in chunks of 64 are the
// rows of the whole product, bit for bit.
static void check_product(MatPrecision p) {
    enum { N = 256, K = 2048, V = 512 };
    real *x = xmalloc((size_t)N * K * sizeof(real)), *wt = xmalloc((size_t)V * K * sizeof(real));
    real *y0 = xmalloc((size_t)N * V * sizeof(real)), *y1 = xmalloc((size_t)N * V * sizeof(real));
    Rng rng;
    rng_seed_stream(&rng, 3, 1);
    for (size_t i = 0; i < (size_t)N * K; i++) x[i] = (real)rng_normal(&rng);
    for (size_t i = 0; i < (size_t)V * K; i++) wt[i] = (real)(0.02 * rng_normal(&rng));
    Mat W = { .type = MAT_REAL, .rows = V, .cols = K, .data = wt };
    Weights w = base;
    w.mc = mat_context_create(p);
    w.head = W;
    int rows = model_loss_rows(&w) ? MODEL_LOSS_ROW_ALIGN : 0;
    if (rows) {
        mat_forward(w.mc, y0, x, &W, N, 0);
        for (int r0 = 0; r0 < N; r0 += rows) mat_forward(w.mc, y1 + (size_t)r0 * V, x + (size_t)r0 * K, &W, rows, 0);
        CHECK(!memcmp(y0, y1, (size_t)N * V * sizeof(real)), "%s: a head product's rows in chunks of %d differ",
              mat_precision_name(p), rows);
    }
    mat_context_free(w.mc);
    free(x); free(wt); free(y0); free(y1);
}

// train_adapter with recompute (one slot and loss chunks unless full) against without: the same
// parameters after a few steps.
static void check_train(MatPrecision p, AdapterFormat f, const int *tokens, long n) {
    LoraSpec lora = { .rank = 2, .alpha = 4, .targets = LORA_ALL };
    real *params[2] = { NULL, NULL };
    size_t np = 0;
    for (int rc = 0; rc < 2; rc++) {
        Weights w = base;
        w.mc = mat_context_create(p);
        Adapter ad;
        adapter_init(&ad, f, &lora, &w, 9);
        TrainConfig tc;
        train_config_default(&tc);
        tc.steps = 3, tc.batch = B, tc.seq = T, tc.lr = 1e-2, tc.recompute = rc;
        CHECK(train_loss_rows(&w, f, &tc) == (rc && f != FMT_FULL ? model_loss_rows(&w) : 0),
              "train_loss_rows %s recompute %d", format_name(f), rc);
        TrainResult res;
        CHECK(train_adapter(&w, &ad, tokens, n, &tc, 9, NULL, &res, NULL, NULL) == 0 && res.steps_done == 3,
              "train %s", format_name(f));
        np = ad.n;
        params[rc] = xmalloc(np * sizeof(real));
        memcpy(params[rc], ad.params, np * sizeof(real));
        adapter_free(&ad);
        mat_context_free(w.mc);
    }
    CHECK(!memcmp(params[0], params[1], np * sizeof(real)), "%s %s: trained with --recompute, other parameters",
          mat_precision_name(p), format_name(f));
    free(params[0]);
    free(params[1]);
}

// adamw_end: the moments gone, every gradient zero (their pages given back)
static void check_adamw_end(void) {
    Adapter ad;
    adapter_init(&ad, FMT_FULL, NULL, &base, 1);
    adamw_alloc(&ad);
    for (size_t i = 0; i < ad.n; i++) ad.grads[i] = (real)(i % 7 + 1);
    adamw_end(&ad);
    size_t nz = 0;
    for (size_t i = 0; i < ad.n; i++) nz += ad.grads[i] != 0;
    CHECK(!ad.m && !ad.v && nz == 0, "adamw_end: moments %p %p, %zu nonzero gradients of %zu", (void *)ad.m,
          (void *)ad.v, nz, ad.n);
    adapter_free(&ad);
}

int main(void) {
    // the tiny config widened so that the products are real matrices: dim 64, vocab 300
    config_tiny(&cfg);
    cfg.dim = 64, cfg.n_heads = 4, cfg.n_kv_heads = 2, cfg.ffn_dim = 96, cfg.vocab = 300, cfg.context = T;
    real *block = xaligned(config_n_params(&cfg) * sizeof(real));
    weights_init_random(block, &cfg, 11);
    for (size_t i = 0; i < config_n_params(&cfg); i++) block[i] *= 8;
    weights_carve(&base, &cfg, block);
    long n = 2000;
    int *tokens = xmalloc(n * sizeof(int));
    random_tokens(tokens, n, cfg.vocab, 4);
    int in[B * T], tg[B * T];
    for (int i = 0; i < B * T; i++) {
        in[i] = tokens[i];
        tg[i] = i % 11 == 3 || i >= B * T - 2 ? -1 : tokens[i + 1];   // ignored targets, in and at the end
    }
    const MatPrecision precs[] = { MAT_PREC_FP32, MAT_PREC_FP32_DNNL, MAT_PREC_BF16, MAT_PREC_INT8 };
    const AdapterFormat fmts[] = { FMT_NORM, FMT_LORA, FMT_STEER };
    for (int p = 0; p < 4; p++) {
        for (int f = 0; f < 3; f++) check_format(precs[p], fmts[f], in, tg);
        check_eval(precs[p], in, tg);
        check_product(precs[p]);
    }
    const AdapterFormat trained[] = { FMT_NORM, FMT_LORA, FMT_STEER, FMT_FULL };
    for (int f = 0; f < 4; f++) {
        check_train(MAT_PREC_FP32, trained[f], tokens, n);
        check_train(MAT_PREC_BF16, trained[f], tokens, n);
    }
    check_adamw_end();
    free(tokens);
    free(block);
    return tl_finish("test_loss_chunks");
}
