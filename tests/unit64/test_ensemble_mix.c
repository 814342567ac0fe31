// The ensemble's mixture perplexity (engine/ensemble.h) in double precision on config_tiny, against
// a direct computation: every window alone, each member's logits from model_forward, the target's
// softmax probability exp(z_t - max) / sum exp(z - max) per member, their plain mean, -log of it
// summed over every predicted token. Three different members of three formats; batched (B = 8) and
// one window at a time (B = 1) must both agree with it to 1e-12 relative.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/ensemble.h"
#include "engine/model.h"
#include "engine/rng.h"
#include "engine/train.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

#define K 3

static void perturb(Adapter *a, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    for (size_t i = 0; i < a->n; i++) a->params[i] += (real)(0.3 * rng_normal(&rng));
}

int main(void) {
    engine_set_threads(1);
    ModelConfig c;
    config_tiny(&c);
    real *block = xaligned(config_n_params(&c) * sizeof(real));
    weights_init_random(block, &c, 8);
    Weights base;
    weights_carve(&base, &c, block);
    int n = 100, T = c.context, V = c.vocab;
    int *tok = malloc(n * sizeof(int));
    random_tokens(tok, n, V, 4);
    LoraSpec ls = { .rank = 2, .alpha = 4, .targets = LORA_Q | LORA_UP };
    Adapter ad[K];
    adapter_init(&ad[0], FMT_NORM, NULL, &base, 0);
    adapter_init(&ad[1], FMT_LORA, &ls, &base, 2);
    adapter_init(&ad[2], FMT_STEER, NULL, &base, 0);
    for (int k = 0; k < K; k++) perturb(&ad[k], 31 + k);
    const Adapter *members[K] = { &ad[0], &ad[1], &ad[2] };

    // direct: one window at a time, each member's probability of the target
    Acts *acts = acts_create(&c, 1, T);
    int in[64], tg[64];
    double total = 0;
    long count = 0;
    for (long start = 0; start + 1 < n; start += T) {
        for (int t = 0; t < T; t++) {
            long i = start + t;
            in[t] = i < n ? tok[i] : 0;
            tg[t] = i + 1 < n ? tok[i + 1] : -1;
        }
        double pmix[64] = { 0 };
        for (int k = 0; k < K; k++) {
            Weights eff;
            adapter_apply(members[k], &base, &eff);
            model_forward(&eff, members[k], acts, in, NULL, 1, T);
            const real *z = acts_logits(acts);
            for (int t = 0; t < T; t++) {
                if (tg[t] < 0) continue;
                double mx = -INFINITY, den = 0;
                for (int v = 0; v < V; v++) mx = fmax(mx, z[t * V + v]);
                for (int v = 0; v < V; v++) den += exp(z[t * V + v] - mx);
                pmix[t] += exp(z[t * V + tg[t]] - mx) / den / K;
            }
        }
        for (int t = 0; t < T; t++)
            if (tg[t] >= 0) { total -= log(pmix[t]); count++; }
    }
    acts_free(acts);
    double want = exp(total / count);
    for (int B = 8; B >= 1; B -= 7) {
        double nll;
        long np;
        double got = eval_perplexity_ensemble(&base, members, K, tok, n, T, B, &nll, &np);
        CHECK(np == count && np == n - 1, "B %d: %ld predicted, want %ld", B, np, count);
        CHECK(tl_relerr(got, want, 0) <= 1e-12 && tl_relerr(nll, total, 0) <= 1e-12,
              "B %d: ppl %.17g, direct %.17g (nll %.17g, direct %.17g)", B, got, want, nll, total);
    }
    // and the mixture is not some member's own, nor the mean of their log-likelihoods
    double own[K], mean_nll = 0;
    for (int k = 0; k < K; k++) {
        eval_perplexity(&base, members[k], tok, n, T, 8, &own[k], NULL);
        mean_nll += own[k] / K;
        CHECK(fabs(own[k] - total) > 1e-6 * total, "member %d alone scores the mixture", k);
    }
    CHECK(total < mean_nll, "mixture nll %.9g not below the members' mean %.9g (Jensen)", total, mean_nll);
    printf("tiny, 3 members: mixture ppl %.9f (direct), members' mean nll/token %.6f, mixture %.6f\n", want,
           mean_nll / count, total / count);
    for (int k = 0; k < K; k++) adapter_free(&ad[k]);
    free(tok);
    free(block);
    return tl_finish("test_ensemble_mix");
}
