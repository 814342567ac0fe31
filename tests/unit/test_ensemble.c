// The ensemble evaluation (engine/ensemble.h) on the float engine: an ensemble of one adapter scores
// exactly (bit for bit: ppl and nll sum) what job_eval_perplexity scores for it, for every format; K
// copies of one adapter score what one does; a mixture of two different adapters is no worse than
// their mean log-likelihood (Jensen) and differs from each; member order moves only the last bits.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/ensemble.h"
#include "engine/job.h"
#include "engine/rng.h"
#include "engine/train.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

static void perturb(Adapter *a, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    for (size_t i = 0; i < a->n; i++) a->params[i] += (real)(0.2 * rng_normal(&rng));
}

static int same(double a, double b) { return !memcmp(&a, &b, sizeof a); }

int main(void) {
    engine_set_threads(1);
    ModelConfig c;
    config_tiny(&c);
    real *block = xaligned(config_n_params(&c) * sizeof(real));
    weights_init_random(block, &c, 5);
    Weights *base = malloc(sizeof *base);
    weights_carve(base, &c, block);
    int n = 230;   // 20 windows of 12: three batches of 8, the last window short
    int *tok = malloc(n * sizeof(int));
    random_tokens(tok, n, c.vocab, 3);
    LoraSpec ls = { .rank = 2, .alpha = 4, .targets = LORA_Q | LORA_V | LORA_DOWN };
    const AdapterFormat fmts[4] = { FMT_NORM, FMT_LORA, FMT_FULL, FMT_STEER };
    for (int f = 0; f < 4; f++) {
        Adapter a;
        CHECK(adapter_init(&a, fmts[f], &ls, base, 1) == 0, "%s init", format_name(fmts[f]));
        perturb(&a, 11 + f);
        JobSpec js = { .format = fmts[f], .lora = ls, .seed = 1, .eval_tokens = 150 };
        double s1, sk, s3;
        long n1, nk, n3;
        double p1 = job_eval_perplexity(base, &a, &js, tok, n, &s1, &n1);
        const Adapter *one[1] = { &a }, *three[3] = { &a, &a, &a };
        double pk = job_eval_perplexity_ensemble(base, one, 1, &js, tok, n, &sk, &nk);
        double p3 = job_eval_perplexity_ensemble(base, three, 3, &js, tok, n, &s3, &n3);
        CHECK(same(p1, pk) && same(s1, sk) && n1 == nk && n1 == 150, "%s: ensemble of one ppl %.17g nll %.17g (%ld), alone %.17g %.17g (%ld)",
              format_name(fmts[f]), pk, sk, nk, p1, s1, n1);
        CHECK(same(p1, p3) && same(s1, s3) && n3 == n1, "%s: ensemble of three copies ppl %.17g nll %.17g, alone %.17g %.17g",
              format_name(fmts[f]), p3, s3, p1, s1);
        adapter_free(&a);
    }
    // two different norm adapters: the mixture's nll sum is at most the mean of theirs (Jensen), and
    // neither's own; the order of the members changes rounding only
    Adapter a, b;
    adapter_init(&a, FMT_NORM, NULL, base, 0);
    adapter_init(&b, FMT_NORM, NULL, base, 0);
    perturb(&a, 21);
    perturb(&b, 22);
    double sa, sb, sab, sba;
    eval_perplexity(base, &a, tok, n, c.context, 8, &sa, NULL);
    eval_perplexity(base, &b, tok, n, c.context, 8, &sb, NULL);
    const Adapter *ab[2] = { &a, &b }, *ba[2] = { &b, &a };
    double pab = eval_perplexity_ensemble(base, ab, 2, tok, n, c.context, 8, &sab, NULL);
    eval_perplexity_ensemble(base, ba, 2, tok, n, c.context, 8, &sba, NULL);
    CHECK(sab <= 0.5 * (sa + sb) * (1 + 1e-6) && sab != sa && sab != sb, "mixture nll %.9g, members %.9g and %.9g", sab, sa, sb);
    CHECK(fabs(sab - sba) <= 1e-9 * fabs(sab), "member order: %.17g against %.17g", sab, sba);
    printf("norm x2 on tiny: members' nll %.6f and %.6f, mixture %.6f (ppl %.6f)\n", sa, sb, sab, pab);
    // a NULL member is the base; K < 1 and a token outside the vocabulary are refused
    double s0, sn;
    eval_perplexity(base, NULL, tok, n, c.context, 8, &s0, NULL);
    const Adapter *none[1] = { NULL };
    eval_perplexity_ensemble(base, none, 1, tok, n, c.context, 8, &sn, NULL);
    CHECK(same(s0, sn), "ensemble of the base: %.17g, the base %.17g", sn, s0);
    CHECK(isnan(eval_perplexity_ensemble(base, ab, 0, tok, n, c.context, 8, NULL, NULL)), "K = 0 is refused");
    tok[7] = c.vocab;
    CHECK(isnan(eval_perplexity_ensemble(base, ab, 2, tok, n, c.context, 8, NULL, NULL)), "a token past the vocabulary is refused");
    adapter_free(&a);
    adapter_free(&b);
    free(tok);
    free(block);
    free(base);
    return tl_finish("test_ensemble");
}
