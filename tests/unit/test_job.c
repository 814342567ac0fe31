// engine/job.h, the parts of a job that sweep run and sweep train share: how many eval tokens are
// scored, which LoRA settings reach the adapter, the random corpus, the seed of the batch stream and
// the largest change of a trained parameter.
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adamw.h"
#include "engine/job.h"
#include "engine/mat.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

static Weights base;
static ModelConfig cfg;

static JobSpec spec(AdapterFormat f, uint64_t seed) {
    JobSpec js = { .format = f, .lora = { 2, 4, LORA_Q | LORA_DOWN }, .seed = seed };
    train_config_default(&js.train);
    js.train.steps = 4;
    js.train.batch = 3;
    js.train.seq = 5;
    js.train.lr = 1e-2;
    return js;
}

// eval.tokens N scores N tokens: the first N + 1 of the stream, in windows of the base's context.
static void test_eval_tokens(const int *tok, long L) {
    JobSpec js = spec(FMT_NONE, 1);
    double nll, ref_nll;
    long np, ref_np;
    js.eval_tokens = 0;
    double all = job_eval_perplexity(&base, NULL, &js, tok, L, &nll, &np);
    CHECK(np == L - 1, "eval_tokens 0: %ld predicted, want every token after the first, %ld", np, L - 1);
    // one window per pass: the definition, not the job's batching
    double ref = eval_perplexity(&base, NULL, tok, L, cfg.context, 1, &ref_nll, &ref_np);
    CHECK(tl_relerr(all, ref, 1e-9) < 1e-5 && np == ref_np, "eval_tokens 0: ppl %.9g, one window a pass %.9g",
          all, ref);

    const long N = 20;   // more than one window of the tiny context 12, fewer than the stream
    js.eval_tokens = N;
    double cut = job_eval_perplexity(&base, NULL, &js, tok, L, &nll, &np);
    CHECK(np == N, "eval_tokens %ld: %ld predicted", N, np);
    ref = eval_perplexity(&base, NULL, tok, N + 1, cfg.context, 1, &ref_nll, &ref_np);
    CHECK(tl_relerr(cut, ref, 1e-9) < 1e-5 && tl_relerr(nll, ref_nll, 1e-9) < 1e-5,
          "eval_tokens %ld: ppl %.9g nll %.9g; the first %ld tokens give %.9g %.9g", N, cut, nll, N + 1, ref, ref_nll);
    CHECK(cut != all, "eval_tokens %ld scores the same as all tokens (%.9g)", N, cut);

    js.eval_tokens = 10 * L;
    double longer = job_eval_perplexity(&base, NULL, &js, tok, L, NULL, &np);
    CHECK(np == L - 1 && longer == all, "eval_tokens beyond the stream: %ld predicted, ppl %.9g (all: %.9g)", np,
          longer, all);
}

// A none adapter is the base itself; any other adapter is applied.
static void test_eval_adapter(const int *tok, long L) {
    JobSpec none = spec(FMT_NONE, 1), norm = spec(FMT_NORM, 1);
    Adapter a0, a1;
    CHECK(job_adapter_init(&a0, &none, &base) == 0 && a0.n == 0, "none adapter: %zu scalars", a0.n);
    CHECK(job_adapter_init(&a1, &norm, &base) == 0, "norm adapter");
    double base_ppl = job_eval_perplexity(&base, NULL, &none, tok, L, NULL, NULL);
    double none_ppl = job_eval_perplexity(&base, &a0, &none, tok, L, NULL, NULL);
    double same_gains = job_eval_perplexity(&base, &a1, &norm, tok, L, NULL, NULL);
    CHECK(none_ppl == base_ppl, "none adapter %.9g, base %.9g", none_ppl, base_ppl);
    CHECK(tl_relerr(same_gains, base_ppl, 1e-9) < 1e-5, "norm adapter at the base's gains %.9g, base %.9g",
          same_gains, base_ppl);
    for (size_t i = 0; i < a1.n; i++) a1.params[i] *= 3;
    double scaled = job_eval_perplexity(&base, &a1, &norm, tok, L, NULL, NULL);
    CHECK(fabs(scaled - base_ppl) > 1e-3 * base_ppl, "norm adapter with gains x3 not applied: %.9g, base %.9g",
          scaled, base_ppl);
    adapter_free(&a0);
    adapter_free(&a1);
}

// The LoRA settings reach a LoRA adapter only: a norm or full job never fails on them.
static void test_adapter_init(void) {
    JobSpec js = spec(FMT_NORM, 3);
    js.lora = (LoraSpec){ -1, NAN, 0xffff };   // what adapter_init refuses for a LoRA adapter
    Adapter ad;
    CHECK(job_adapter_init(&ad, &js, &base) == 0 && ad.n == (size_t)(2 * cfg.n_layers + 1) * cfg.dim,
          "norm adapter with nonsense LoRA settings: %zu scalars", ad.n);
    int same = ad.n == (size_t)(2 * cfg.n_layers + 1) * cfg.dim;
    for (int l = 0; same && l < cfg.n_layers; l++)
        for (int i = 0; i < cfg.dim; i++)
            same &= ad.attn_norm[(size_t)l * cfg.dim + i] == base.layer[l].attn_norm[i] &&
                    ad.ffn_norm[(size_t)l * cfg.dim + i] == base.layer[l].ffn_norm[i];
    for (int i = 0; same && i < cfg.dim; i++) same &= ad.final_norm[i] == base.final_norm[i];
    CHECK(same, "norm adapter starts at the base's gains, each from its place");
    adapter_free(&ad);
    js.format = FMT_FULL;
    CHECK(job_adapter_init(&ad, &js, &base) == 0 && ad.n == config_n_params(&cfg),
          "full adapter with nonsense LoRA settings: %zu scalars, want %zu", ad.n, config_n_params(&cfg));
    adapter_free(&ad);
    js.format = FMT_LORA;
    CHECK(job_adapter_init(&ad, &js, &base) != 0, "LoRA adapter with rank -1 accepted");
    adapter_free(&ad);

    // rank 2 on q (16 -> 16) and down (24 -> 16) in each of 2 layers: 2 * 2 * ((16 + 16) + (24 + 16))
    JobSpec a = spec(FMT_LORA, 3), b = spec(FMT_LORA, 3), c = spec(FMT_LORA, 4);
    Adapter aa, ab, ac;
    CHECK(!job_adapter_init(&aa, &a, &base) && !job_adapter_init(&ab, &b, &base) && !job_adapter_init(&ac, &c, &base),
          "LoRA adapters");
    CHECK(aa.n == 2 * 2 * ((16 + 16) + (24 + 16)), "LoRA rank 2 on q and down: %zu scalars", aa.n);
    CHECK(!memcmp(aa.params, ab.params, aa.n * sizeof(real)), "LoRA: one seed, two initialisations");
    CHECK(memcmp(aa.params, ac.params, aa.n * sizeof(real)), "LoRA: seeds 3 and 4 give one initialisation");
    adapter_free(&aa);
    adapter_free(&ab);
    adapter_free(&ac);
}

static void test_random_corpus(void) {
    JobSpec a = spec(FMT_NORM, 9), b = spec(FMT_NORM, 9), c = spec(FMT_NORM, 10);
    long na, nb, nc;
    int *ta = job_random_corpus(&a, cfg.vocab, &na), *tb = job_random_corpus(&b, cfg.vocab, &nb),
        *tc = job_random_corpus(&c, cfg.vocab, &nc);
    // 4 steps x 3 windows x (5 + 1) tokens
    CHECK(na == 72 && job_random_corpus_length(&a) == 72, "corpus of %ld tokens (length says %ld), want 72", na,
          job_random_corpus_length(&a));
    int in_range = 1, seen_top = 0;
    for (long i = 0; i < na; i++) {
        in_range &= ta[i] >= 0 && ta[i] < cfg.vocab;
        seen_top |= ta[i] >= cfg.vocab / 2;
    }
    CHECK(in_range && seen_top, "tokens within [0, %d) and not all in its lower half", cfg.vocab);
    CHECK(nb == na && !memcmp(ta, tb, na * sizeof *ta), "one seed, two corpora");
    CHECK(nc == na && memcmp(ta, tc, na * sizeof *ta), "seeds 9 and 10, one corpus");
    // Every recorded sweep's random condition was drawn with this salt on the seed: it may never change.
    int *recorded = xmalloc(na * sizeof *recorded);
    random_tokens(recorded, na, cfg.vocab, 9 ^ 0x52414e444f4dULL);
    CHECK(!memcmp(ta, recorded, na * sizeof *ta), "the corpus of seed 9 is not the one recorded sweeps drew");
    free(recorded);

    // The job trains on it with its own seed as the batch stream's.
    Adapter ad;
    float curve[4], ref_curve[4];
    TrainResult res, ref_res;
    job_adapter_init(&ad, &a, &base);
    CHECK(job_train(&base, &ad, &a, ta, na, curve, &res, NULL, NULL) == 0 && res.tokens == 4 * 3 * 5,
          "job_train: %ld tokens, want 60", res.tokens);
    adapter_free(&ad);
    job_adapter_init(&ad, &a, &base);
    train_adapter(&base, &ad, ta, na, &a.train, 9, ref_curve, &ref_res, NULL, NULL);
    CHECK(!memcmp(curve, ref_curve, sizeof curve), "job_train is not train_adapter with the job's seed");
    adapter_free(&ad);
    job_adapter_init(&ad, &a, &base);
    train_adapter(&base, &ad, ta, na, &a.train, 10, ref_curve, &ref_res, NULL, NULL);
    CHECK(memcmp(curve, ref_curve, sizeof curve), "batch streams of seeds 9 and 10 give one loss curve");
    adapter_free(&ad);
    free(ta);
    free(tb);
    free(tc);
}

// One AdamW step from the job's initial values with known gradients. At t = 1 the bias-corrected
// moments are m = g and sqrt(v) = |g|, so each scalar moves by lr |g| / (|g| + eps) (weight decay 0,
// no clipping): with eps = 1 the largest move is the largest |g|'s, G, by lr G / (G + 1); with the
// seeds' eps = 1e-8 every scalar with a gradient moves by lr to within 1e-8. job_max_param_change must
// give that, name the tensor holding the largest |g|, and make the initial values again exactly
// (a LoRA A redrawn from another seed would move by ~0.25, far above lr).
static void one_step(AdapterFormat f, size_t at, double eps, const char *want_tensor) {
    JobSpec js = spec(f, 3);
    Adapter ad;
    CHECK(job_adapter_init(&ad, &js, &base) == 0 && adamw_alloc(&ad) == 0 && at < ad.n, "%s adapter", format_name(f));
    if (at >= ad.n) { adapter_free(&ad); return; }
    const double lr = 1e-2, G = 3;
    double pmax = 0;   // the largest |initial value|: the float rounding of an update is relative to it
    for (size_t i = 0; i < ad.n; i++) {
        ad.grads[i] = (real)(i % 5 == 4 ? 0 : ((double)(i % 7) - 3) / 3);   // |g| <= 1, some 0
        if (fabs((double)ad.params[i]) > pmax) pmax = fabs((double)ad.params[i]);
    }
    ad.grads[at] = (real)-G;
    adamw_step(&ad, 1, lr, 0.9, 0.95, eps, 0, 0);
    char tensor[96];
    double got = job_max_param_change(&ad, &js, &base, tensor, sizeof tensor);
    double want = eps >= 1 ? lr * G / (G + eps) : lr;
    double tol = 4 * FLT_EPSILON * (pmax + lr) + lr * 1e-6;   // float parameters and moments
    CHECK(fabs(got - want) <= tol, "%s, eps %g: largest change %.9g, one AdamW step gives %.9g (tolerance %.2g)",
          format_name(f), eps, got, want, tol);
    if (want_tensor)
        CHECK(!strcmp(tensor, want_tensor), "%s: the largest change is in '%s', want '%s'", format_name(f), tensor,
              want_tensor);
    adapter_free(&ad);
}

static void test_max_param_change(void) {
    JobSpec none = spec(FMT_NONE, 3);
    Adapter a0;
    char tensor[96] = "x";
    CHECK(job_adapter_init(&a0, &none, &base) == 0 && job_max_param_change(&a0, &none, &base, tensor, sizeof tensor) == 0
          && !tensor[0], "none: nothing trained, change 0 and no tensor");
    adapter_free(&a0);
    int d = cfg.dim, L = cfg.n_layers;
    // norm: [attn L][ffn L][final]; the scalar 3 of block 1's ffn gain, then one of the final gain
    one_step(FMT_NORM, (size_t)(L + 1) * d + 3, 1, "model.layers.1.post_attention_layernorm.weight");
    one_step(FMT_NORM, (size_t)2 * L * d + 5, 1, "model.norm.weight");
    one_step(FMT_NORM, 7, 1e-8, NULL);
    // LoRA rank 2 on q (16 -> 16) and down (24 -> 16): per layer A_q 2x16, B_q 16x2, A_down 2x24, B_down 16x2
    size_t per_layer = 2 * 16 + 16 * 2 + 2 * 24 + 16 * 2;
    one_step(FMT_LORA, per_layer + 2 * 16 + 16 * 2 + 2 * 24 + 1, 1, "model.layers.1.mlp.down_proj.lora_B.weight");
    one_step(FMT_LORA, 2 * 16 + 16 * 2 + 5, 1, "model.layers.0.mlp.down_proj.lora_A.weight");
    one_step(FMT_LORA, 9, 1e-8, NULL);
    // full: the first scalar of the tensor table's fourth entry, named by the table
    TensorInfo t[64];
    int nt = weights_tensors(&cfg, NULL);
    CHECK(nt <= 64, "tiny config has %d tensors", nt);
    if (nt <= 64) {
        weights_tensors(&cfg, t);
        one_step(FMT_FULL, t[3].offset + 1, 1, t[3].name);
    }
    one_step(FMT_STEER, 4, 1, "steer.1");   // the empty set: the last block

    // a non-finite change (a diverged job) is NaN, not a number that looks small
    JobSpec js = spec(FMT_NORM, 3);
    Adapter ad;
    job_adapter_init(&ad, &js, &base);
    ad.params[2] = (real)NAN;
    CHECK(isnan(job_max_param_change(&ad, &js, &base, NULL, 0)), "a NaN parameter gives NaN");
    adapter_free(&ad);
}

int main(void) {
    engine_set_threads(1);   // the team shares two cores
    config_tiny(&cfg);
    real *block = xaligned(config_n_params(&cfg) * sizeof(real));
    weights_init_random(block, &cfg, 5);
    // larger weights than the init, so the model is far from uniform and an adapter's gains matter
    for (size_t i = 0; i < config_n_params(&cfg); i++) block[i] *= 20;
    weights_carve(&base, &cfg, block);
    // distinct gains (the init makes them all equal): a norm adapter must copy each from its place
    for (int l = 0; l < cfg.n_layers; l++)
        for (int i = 0; i < cfg.dim; i++) {
            ((real *)base.layer[l].attn_norm)[i] = (real)(20 * (0.5 + 0.03 * i + 0.2 * l));
            ((real *)base.layer[l].ffn_norm)[i] = (real)(20 * (1.5 - 0.03 * i + 0.2 * l));
        }
    for (int i = 0; i < cfg.dim; i++) ((real *)base.final_norm)[i] = (real)(20 * (0.25 + 0.05 * i));
    enum { L = 60 };
    int tok[L];
    random_tokens(tok, L, cfg.vocab, 11);
    test_eval_tokens(tok, L);
    test_eval_adapter(tok, L);
    test_adapter_init();
    test_random_corpus();
    test_max_param_change();
    free(block);
    return tl_finish("test_job");
}
