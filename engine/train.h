// Training an adapter on a token stream, and perplexity on a token stream.
#pragma once
#include <stdint.h>
#include "engine/model.h"

typedef struct {
    int steps;              // optimizer steps (the seeds: 100)
    int batch;              // windows per step
    int seq;                // tokens per window (predicting seq targets from seq + 1 tokens)
    double lr;              // peak learning rate (the seeds: 5e-5)
    double beta1, beta2;    // (0.9, 0.95)
    double eps;             // 1e-8
    double weight_decay;    // decoupled (AdamW); 0 in the seeds
    double grad_clip;       // global L2 norm clip; 0 = off
    int warmup;             // linear warmup steps (0 = constant lr from step 1)
    int cosine;             // cosine decay to min_lr_frac * lr after warmup
    double min_lr_frac;
    int start_step;         // resume after this many steps (pretraining checkpoints): the batch
                            // stream and the schedule continue exactly where they stopped
    int recompute;          // execution only, not part of a job's identity: activations of one layer
                            // at a time, recomputed in the backward (acts_create_recompute), and the
                            // loss over row chunks (train_loss_rows); the same bits
} TrainConfig;

void train_config_default(TrainConfig *t);   // the seeds' values: 100 steps, lr 5e-5, betas (0.9, 0.95), wd 0
// Rows per loss chunk of a training step (acts_create_chunked): model_loss_rows with recompute, except
// for a full fine-tune (its head gradient needs all rows' logits at once); 0 (one piece) otherwise.
int train_loss_rows(const Weights *w, AdapterFormat f, const TrainConfig *tc);

typedef struct {
    double final_loss;      // mean loss of the last step
    double seconds;
    long tokens;            // training tokens processed (steps * batch * seq)
    int diverged;           // a loss or gradient became NaN/inf; training stopped at that step
    int steps_done;
} TrainResult;

// Called after each step (may be NULL): return nonzero to stop early.
typedef int (*train_progress_fn)(void *ctx, int step, double loss, double lr);

// Trains ad on tokens[0..n) from its current state. Each step draws `batch` windows of seq + 1
// tokens uniformly at random from the stream with an Rng seeded from `seed`, so the result depends
// on the seed alone. loss_curve (may be NULL) receives steps values.
int train_adapter(const Weights *base, Adapter *ad, const int *tokens, long n, const TrainConfig *tc,
                  uint64_t seed, float *loss_curve, TrainResult *res, train_progress_fn cb, void *cbctx);

// The same, except that before each step's forward fn(ctx) returns the weights that step's forward
// and backward use instead of the adapter's own (quantisation-aware training: a quantised shadow of a
// full adapter's weights, engine/qat.h). Their weight gradients land in ad's slots, applied to ad's
// weights unchanged (straight through). fn NULL: train_adapter.
typedef const Weights *(*train_weights_fn)(void *ctx);
int train_adapter_on(const Weights *base, Adapter *ad, const int *tokens, long n, const TrainConfig *tc,
                     uint64_t seed, float *loss_curve, TrainResult *res, train_progress_fn cb, void *cbctx,
                     train_weights_fn fn, void *fnctx);

// Perplexity of the model (base + optional adapter) on a token stream:
//   the stream is cut into consecutive windows of up to T + 1 tokens that overlap by one token
//   (window k holds tokens kT .. kT + T), so every token after the first is predicted exactly once
//   from the tokens before it within its window (at most T of them);
//   ppl = exp( sum of -log p(token) over all predicted tokens / number of predicted tokens ).
// B windows are evaluated per forward pass, with one slot of layer activations and the loss over row
// chunks (acts_create_chunked). Returns ppl; *nll_sum and *n_pred may be NULL.
double eval_perplexity(const Weights *base, const Adapter *ad, const int *tokens, long n, int T, int B,
                       double *nll_sum, long *n_pred);
// One batch's mean loss over its count predicted tokens into an evaluation's running nll sum: the
// one place that sum is made, so every evaluation of the same rows (eval_perplexity, the ensemble's
// engine/ensemble.h) gets the same bits whatever the compiler fuses where (not inlined: one body).
double eval_sum_batch(double sum, double batch_mean, long count);
// The same with acts_set_noise(sigma_rel, seed) noise in every forward (sigma_rel < 0: none).
double eval_perplexity_noise(const Weights *base, const Adapter *ad, const int *tokens, long n, int T, int B,
                             double sigma_rel, uint64_t seed, double *nll_sum, long *n_pred);

// Uniform random tokens over [0, vocab) from seed: the Bet 60 noise-floor corpus.
void random_tokens(int *out, long n, int vocab, uint64_t seed);
