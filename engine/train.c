// Training an adapter on a token stream, and perplexity on a token stream.
#include "engine/train.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include "engine/adamw.h"
#include "engine/rng.h"
#include "engine/util.h"

// Stream ids within a job's seed, apart from weight and LoRA initialisation.
#define STREAM_BATCHES 0x42415443ULL        // "BATC"
#define STREAM_RANDOM_TOKENS 0x52414e44ULL  // "RAND"

void train_config_default(TrainConfig *t) {
    *t = (TrainConfig){ .steps = 100, .batch = 8, .seq = 256, .lr = 5e-5, .beta1 = 0.9, .beta2 = 0.95,
                        .eps = 1e-8, .weight_decay = 0, .grad_clip = 0, .warmup = 0, .cosine = 0,
                        .min_lr_frac = 0 };
}

// lr at step t (1-based): linear warmup to lr over `warmup` steps, then constant, or cosine decay
// from lr at the end of warmup to min_lr_frac * lr at the last step.
static double lr_at(const TrainConfig *tc, int t) {
    if (t <= tc->warmup) return tc->lr * t / tc->warmup;
    if (!tc->cosine) return tc->lr;
    int span = tc->steps - tc->warmup;
    double progress = span > 0 ? (double)(t - tc->warmup) / span : 1.0;
    double lo = tc->min_lr_frac * tc->lr;
    return lo + (tc->lr - lo) * 0.5 * (1 + cos(M_PI * progress));
}

static int tokens_valid(const int *tokens, long n, int vocab) {
    for (long i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= vocab) return 0;
    return 1;
}

int train_loss_rows(const Weights *w, AdapterFormat f, const TrainConfig *tc) {
    return tc->recompute && f != FMT_FULL ? model_loss_rows(w) : 0;
}

int train_adapter(const Weights *base, Adapter *ad, const int *tokens, long n, const TrainConfig *tc,
                  uint64_t seed, float *loss_curve, TrainResult *res, train_progress_fn cb, void *cbctx) {
    return train_adapter_on(base, ad, tokens, n, tc, seed, loss_curve, res, cb, cbctx, NULL, NULL);
}

int train_adapter_on(const Weights *base, Adapter *ad, const int *tokens, long n, const TrainConfig *tc,
                     uint64_t seed, float *loss_curve, TrainResult *res, train_progress_fn cb, void *cbctx,
                     train_weights_fn fn, void *fnctx) {
    *res = (TrainResult){ .final_loss = NAN };
    for (int i = 0; loss_curve && i < tc->steps; i++) loss_curve[i] = NAN;
    if (tc->steps < 0 || tc->batch < 1 || tc->seq < 1 || n < (long)tc->seq + 1 ||
        !tokens_valid(tokens, n, base->cfg.vocab)) {
        errno = EINVAL;
        return -1;
    }
    if (ad->format == FMT_NONE || tc->steps == 0) return 0;
    double t0 = now_seconds();
    if (!ad->m && adamw_alloc(ad)) return -1;
    Weights eff;
    adapter_apply(ad, base, &eff);
    int B = tc->batch, T = tc->seq;
    Acts *acts = acts_create_chunked(&base->cfg, B, T, tc->recompute, train_loss_rows(&eff, ad->format, tc));
    int *in = xmalloc((size_t)B * T * sizeof(int)), *tg = xmalloc((size_t)B * T * sizeof(int));
    Rng rng;
    rng_seed_stream(&rng, seed, STREAM_BATCHES);
    for (long skip = (long)tc->start_step * B; skip > 0; skip--) rng_below(&rng, (uint64_t)(n - T));
    for (int step = tc->start_step + 1; step <= tc->steps; step++) {
        // window b holds tokens[start .. start + T]: inputs are the first T, targets the last T
        for (int b = 0; b < B; b++) {
            long start = (long)rng_below(&rng, (uint64_t)(n - T));
            for (int t = 0; t < T; t++) {
                in[b * T + t] = tokens[start + t];
                tg[b * T + t] = tokens[start + t + 1];
            }
        }
        adapter_zero_grad(ad);
        const Weights *w = fn ? fn(fnctx) : &eff;
        double loss = model_forward_train(w, ad, acts, in, tg, B, T);
        res->steps_done = step;
        res->final_loss = loss;
        if (loss_curve) loss_curve[step - 1] = (float)loss;
        if (!isfinite(loss)) { res->diverged = 1; break; }
        model_backward(w, ad, acts, in, tg, B, T);
        double lr = lr_at(tc, step);
        double gnorm = adamw_step(ad, step, lr, tc->beta1, tc->beta2, tc->eps, tc->weight_decay, tc->grad_clip);
        if (!isfinite(gnorm)) { res->diverged = 1; break; }
        if (cb && cb(cbctx, step, loss, lr)) break;
    }
    res->tokens = res->steps_done > tc->start_step ? (long)(res->steps_done - tc->start_step) * B * T : 0;
    res->seconds = now_seconds() - t0;
    free(in);
    free(tg);
    acts_free(acts);
    return 0;
}

double eval_perplexity(const Weights *base, const Adapter *ad, const int *tokens, long n, int T, int B,
                       double *nll_sum, long *n_pred) {
    return eval_perplexity_noise(base, ad, tokens, n, T, B, -1, 0, nll_sum, n_pred);
}

__attribute__((noinline)) double eval_sum_batch(double sum, double batch_mean, long count) {
    return sum + batch_mean * count;
}

double eval_perplexity_noise(const Weights *base, const Adapter *ad, const int *tokens, long n, int T, int B,
                             double sigma_rel, uint64_t seed, double *nll_sum, long *n_pred) {
    if (nll_sum) *nll_sum = 0;
    if (n_pred) *n_pred = 0;
    if (T < 1 || B < 1 || !tokens_valid(tokens, n, base->cfg.vocab)) { errno = EINVAL; return NAN; }
    if (n < 2) return NAN;
    Weights eff;
    adapter_apply(ad, base, &eff);
    long n_windows = (n - 2) / T + 1;   // window k starts at kT and must predict at least one token
    int Bmax = n_windows < B ? (int)n_windows : B;
    // A forward needs no saved activations for a backward: one slot, and the loss over row chunks.
    Acts *acts = acts_create_chunked(&base->cfg, Bmax, T, 1, model_loss_rows(&eff));
    if (sigma_rel >= 0) acts_set_noise(acts, sigma_rel, seed);
    int *in = xmalloc((size_t)Bmax * T * sizeof(int)), *tg = xmalloc((size_t)Bmax * T * sizeof(int));
    double sum = 0;
    long count = 0;
    for (long w0 = 0; w0 < n_windows; w0 += Bmax) {
        int nb = (int)(n_windows - w0 < Bmax ? n_windows - w0 : Bmax);
        long batch_count = 0;
        for (int b = 0; b < nb; b++) {
            long start = (w0 + b) * T;
            for (int t = 0; t < T; t++) {
                long i = start + t;
                // the last window is shorter: pad its inputs, and ignore the padded targets
                in[b * T + t] = i < n ? tokens[i] : 0;
                tg[b * T + t] = i + 1 < n ? tokens[i + 1] : -1;
                batch_count += i + 1 < n;
            }
        }
        double mean = model_forward(&eff, ad, acts, in, tg, nb, T);
        sum = eval_sum_batch(sum, mean, batch_count);
        count += batch_count;
    }
    free(in);
    free(tg);
    acts_free(acts);
    if (nll_sum) *nll_sum = sum;
    if (n_pred) *n_pred = count;
    return exp(sum / count);
}

void random_tokens(int *out, long n, int vocab, uint64_t seed) {
    Rng rng;
    rng_seed_stream(&rng, seed, STREAM_RANDOM_TOKENS);
    for (long i = 0; i < n; i++) out[i] = (int)rng_below(&rng, (uint64_t)vocab);
}
