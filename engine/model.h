// Forward and backward of the whole decoder over a batch of B sequences of T tokens.
#pragma once
#include "engine/weights.h"
#include "engine/adapter.h"

// Activation buffers for batches up to B x T, allocated once per job and reused every step.
typedef struct Acts Acts;

Acts *acts_create(const ModelConfig *c, int B, int T);
// The same with recompute set: one slot of saved activations instead of one per layer, and the
// backward recomputes each layer's forward from its input (about one more forward of the layers per
// step; results bit-identical). For the 1B shape within a node's memory.
Acts *acts_create_recompute(const ModelConfig *c, int B, int T, int recompute);
// The same with the head's product and the loss computed over chunks of loss_rows rows (0, or as
// many as B x T: in one piece), so that the full [B*T][vocab] logits and their gradient are never
// held: the forward (with targets) keeps only the loss, the backward computes each chunk's logits
// again (one more head product per step). Bit-identical to one piece (row by row the same products
// and the same order of the loss sum). acts_logits is then NULL: a caller that reads logits makes
// its Acts without chunks. Not for a full fine-tune, whose head gradient sums all rows at once.
Acts *acts_create_chunked(const ModelConfig *c, int B, int T, int recompute, int loss_rows);
// Rows per chunk for the head of w: about MODEL_LOSS_CHUNK_BYTES of logits, a multiple of
// MODEL_LOSS_ROW_ALIGN rows; 0 (one piece) where the head's product would give a row other bits in a
// chunk than in the whole batch: OpenBLAS (fp32, and every fallback without oneDNN), int4 heads.
#define MODEL_LOSS_CHUNK_BYTES ((size_t)32 << 20)
#define MODEL_LOSS_ROW_ALIGN 64
int model_loss_rows(const Weights *w);
// The same for a head of type head multiplied at precision p (engine/memest.c, without weights).
int model_loss_rows_at(const ModelConfig *c, MatPrecision p, MatType head);
void acts_free(Acts *a);
// From now on every forward adds Gaussian noise of std sigma_rel x (the position's RMS over dim) to
// the residual stream after each block (after steering), drawn in order from seed (Bet 63's hidden-
// state noise; evaluation only: the backward ignores it). sigma_rel < 0 turns it off; 0 adds zeros.
void acts_set_noise(Acts *a, double sigma_rel, uint64_t seed);
// From now on forward and backward add their time per kind of work to p (NULL: stop measuring).
typedef struct Profile Profile;
void acts_set_profile(Acts *a, Profile *p);
// logits of the last forward, [B*T][vocab]; NULL for chunked Acts (acts_create_chunked)
const real *acts_logits(const Acts *a);

// Forward pass. w are the effective weights (adapter_apply); ad may be NULL or carry LoRA pairs.
// When targets is not NULL returns the mean cross-entropy over targets >= 0, else 0.
double model_forward(const Weights *w, const Adapter *ad, Acts *a, const int *tokens,
                     const int *targets, int B, int T);
// The same for a training step, whose model_backward follows: the loss's gradient is computed with the
// loss, in one pass over each row of logits (cross_entropy_forward_backward), and with row chunks each
// chunk's head input gradient too, so the backward neither reads the logits again nor recomputes them.
// The loss and the gradients are the same bits as model_forward's and model_backward's.
double model_forward_train(const Weights *w, const Adapter *ad, Acts *a, const int *tokens,
                           const int *targets, int B, int T);
// Backward of the last forward (with targets): accumulates d(mean loss)/d(trainable) into ad->grads.
// Only what the adapter trains gets weight gradients; frozen weights cost no weight-gradient GEMMs.
void model_backward(const Weights *w, Adapter *ad, Acts *a, const int *tokens, const int *targets,
                    int B, int T);

// FLOPs of one forward over B x T tokens (matrix products and attention), for GFLOP/s figures.
double model_forward_flops(const ModelConfig *c, int B, int T);
// FLOPs of one backward for a format (no weight-gradient products unless full; steer as for the
// default last block).
double model_backward_flops(const ModelConfig *c, AdapterFormat f, const LoraSpec *lora, int B, int T);
// Steering whose lowest vector follows block `lowest`: the head's input gradient and the input
// gradients of the blocks above it, none below.
double model_steer_backward_flops(const ModelConfig *c, int lowest, int B, int T);
