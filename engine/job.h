// One job of a sweep, the parts that decide its numbers: the adapter's initialisation, the random
// corpus, the training call and the scoring of an eval text. `sweep run` (mpi/job_exec.c) and
// `sweep train` (cli/cmd_train.c) both go through here, so one job gives the same bits in either.
#pragma once
#include <stdint.h>
#include "engine/adapter.h"
#include "engine/train.h"

#define JOB_EVAL_BATCH 8   // eval windows per forward pass

typedef struct {
    AdapterFormat format;
    LoraSpec lora;          // read for FMT_LORA only
    SteerSpec steer;        // read for FMT_STEER only (all zero: the last block)
    TrainConfig train;
    uint64_t seed;          // the adapter's initialisation, the batch stream and the random corpus
    int random_condition;   // train on job_random_corpus instead of the user's text (Bet 60's noise floor)
    long eval_tokens;       // tokens of each eval text to score (0: all)
} JobSpec;

// The seeds' values (DESIGN.md): train_config_default, LoRA rank 4 and alpha 8 on all seven projections,
// seed 0, the real condition, every eval token; format FMT_NONE until one is chosen. Specs and sweep
// train take their defaults from here (sweeps/hparams.h).
void job_spec_default(JobSpec *js);

// The trainable block (no optimizer state yet) from the base and the seed. 0 ok; -1 (errno).
int job_adapter_init(Adapter *ad, const JobSpec *js, const Weights *base);

// The random condition's corpus: as many tokens as the steps can consume, steps x batch x (seq + 1),
// uniform over [0, vocab) from the seed. _length says how many before anyone allocates them; specs
// and sweep train refuse more than JOB_MAX_RANDOM_TOKENS (8 GiB of tokens held by each job).
#define JOB_MAX_RANDOM_TOKENS (1L << 31)
long job_random_corpus_length(const JobSpec *js);
int *job_random_corpus(const JobSpec *js, int vocab, long *n);   // malloc'd, *n tokens

// train_adapter with the job's hyperparameters and seed; its return value.
int job_train(const Weights *base, Adapter *ad, const JobSpec *js, const int *tokens, long n, float *loss_curve,
              TrainResult *res, train_progress_fn cb, void *cbctx);

// How far training moved the job's trained parameters: the largest |final - initial| over every trainable
// scalar of ad (norm gains, LoRA's A and B themselves, a full copy's weights, steering vectors), the
// initial values made again by job_adapter_init from the job's spec and base (so it costs one more
// adapter while it runs; free the AdamW moments first and a job's peak does not grow). The tensor holding
// it goes to tensor[len] (may be NULL). 0 and "" for none (nothing is trained); NaN when a change is not
// finite (diverged) or the initial values cannot be made.
double job_max_param_change(const Adapter *ad, const JobSpec *js, const Weights *base, char *tensor, size_t len);

// Perplexity of one eval text as a job scores it: the first eval_tokens + 1 tokens of the stream (so
// that eval_tokens tokens are predicted; all of it when shorter or eval_tokens is 0), in windows of the
// base's context. ad may be NULL or a none adapter: the base itself. *nll_sum and *n_pred may be NULL.
double job_eval_perplexity(const Weights *base, const Adapter *ad, const JobSpec *js, const int *tokens, long n,
                           double *nll_sum, long *n_pred);
// The same under evaluation noise (Bet 63; eval_perplexity_noise) of sigma_rel, drawn from the job's
// seed: every eval text and every sigma of a job see the same draws (common random numbers).
double job_eval_perplexity_noise(const Weights *base, const Adapter *ad, const JobSpec *js, double sigma_rel,
                                 const int *tokens, long n, double *nll_sum, long *n_pred);
// The same text scored by the mixture of K adapters' next-token distributions (Bet 55's ensemble;
// eval_perplexity_ensemble, engine/ensemble.h). K = 1 gives job_eval_perplexity's bits.
double job_eval_perplexity_ensemble(const Weights *base, const Adapter *const *ads, int K, const JobSpec *js,
                                    const int *tokens, long n, double *nll_sum, long *n_pred);
