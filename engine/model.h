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
void acts_free(Acts *a);
// From now on every forward adds Gaussian noise of std sigma_rel x (the position's RMS over dim) to
// the residual stream after each block (after steering), drawn in order from seed (Bet 63's hidden-
// state noise; evaluation only: the backward ignores it). sigma_rel < 0 turns it off; 0 adds zeros.
void acts_set_noise(Acts *a, double sigma_rel, uint64_t seed);
// From now on forward and backward add their time per kind of work to p (NULL: stop measuring).
typedef struct Profile Profile;
void acts_set_profile(Acts *a, Profile *p);
// logits of the last forward, [B*T][vocab]
const real *acts_logits(const Acts *a);

// Forward pass. w are the effective weights (adapter_apply); ad may be NULL or carry LoRA pairs.
// When targets is not NULL returns the mean cross-entropy over targets >= 0, else 0.
double model_forward(const Weights *w, const Adapter *ad, Acts *a, const int *tokens,
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
