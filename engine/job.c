#include "engine/job.h"
#include <math.h>
#include "engine/ensemble.h"
#include "engine/util.h"

// "RANDOM" in ASCII: the corpus of seed s must stay that of every sweep already recorded.
#define RANDOM_CORPUS_SALT 0x52414e444f4dULL

void job_spec_default(JobSpec *js) {
    *js = (JobSpec){ .format = FMT_NONE, .lora = { .rank = 4, .alpha = 8, .targets = LORA_ALL } };
    train_config_default(&js->train);
}

int job_adapter_init(Adapter *ad, const JobSpec *js, const Weights *base) {
    const LoraSpec no_lora = { 0, 0, 0 };
    if (js->format == FMT_STEER) return adapter_init_steer(ad, &js->steer, base);
    return adapter_init(ad, js->format, js->format == FMT_LORA ? &js->lora : &no_lora, base, js->seed);
}

long job_random_corpus_length(const JobSpec *js) {
    return (long)js->train.steps * js->train.batch * (js->train.seq + 1);
}

int *job_random_corpus(const JobSpec *js, int vocab, long *n) {
    *n = job_random_corpus_length(js);
    int *tokens = xmalloc((size_t)*n * sizeof *tokens);
    random_tokens(tokens, *n, vocab, js->seed ^ RANDOM_CORPUS_SALT);
    return tokens;
}

int job_train(const Weights *base, Adapter *ad, const JobSpec *js, const int *tokens, long n, float *loss_curve,
              TrainResult *res, train_progress_fn cb, void *cbctx) {
    return train_adapter(base, ad, tokens, n, &js->train, js->seed, loss_curve, res, cb, cbctx);
}

double job_max_param_change(const Adapter *ad, const JobSpec *js, const Weights *base, char *tensor, size_t len) {
    if (tensor && len) tensor[0] = 0;
    if (ad->format == FMT_NONE || !ad->n) return 0;
    Adapter init;
    if (job_adapter_init(&init, js, base)) return NAN;
    size_t at;
    double d = adapter_max_change(ad, &init, &at);
    adapter_free(&init);
    if (tensor && len) adapter_tensor_name(ad, at, tensor, len);
    return d;
}

double job_eval_perplexity(const Weights *base, const Adapter *ad, const JobSpec *js, const int *tokens, long n,
                           double *nll_sum, long *n_pred) {
    return job_eval_perplexity_noise(base, ad, js, -1, tokens, n, nll_sum, n_pred);
}

// The tokens of an eval text a job scores: eval_tokens + 1 (eval_tokens predicted), or all of it.
static long eval_length(const JobSpec *js, long n) {
    return js->eval_tokens > 0 && n > js->eval_tokens + 1 ? js->eval_tokens + 1 : n;
}

double job_eval_perplexity_noise(const Weights *base, const Adapter *ad, const JobSpec *js, double sigma_rel,
                                 const int *tokens, long n, double *nll_sum, long *n_pred) {
    n = eval_length(js, n);
    if (ad && ad->format == FMT_NONE) ad = NULL;
    return eval_perplexity_noise(base, ad, tokens, n, base->cfg.context, JOB_EVAL_BATCH, sigma_rel, js->seed,
                                 nll_sum, n_pred);
}

double job_eval_perplexity_ensemble(const Weights *base, const Adapter *const *ads, int K, const JobSpec *js,
                                    const int *tokens, long n, double *nll_sum, long *n_pred) {
    return eval_perplexity_ensemble(base, ads, K, tokens, eval_length(js, n), base->cfg.context, JOB_EVAL_BATCH, nll_sum, n_pred);
}
