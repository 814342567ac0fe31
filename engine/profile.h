// Where a training step's time goes: seconds per kind of work and phase, and the weight products by
// shape (for `sweep bench --profile`). A job that wants it hands a Profile to its Acts
// (acts_set_profile); without one each op costs a single NULL test.
#pragma once
#include <stdio.h>

typedef enum {
    PROF_PRODUCT,    // weight products x W^T and their backward (conversions inside them included)
    PROF_LORA,       // the LoRA pairs' small products
    PROF_ATTENTION,  // attention: at fp32 all of it, else the mask, softmax, copies (engine/attention.h)
    PROF_ATTN_PRODUCT,  // attention's products QK^T, PV and their gradients, when not fp32
    PROF_NORM,       // RMSNorm
    PROF_ROPE,
    PROF_SWIGLU,
    PROF_EMBED,      // the token lookup and its gradient
    PROF_LOSS,       // cross-entropy over the vocabulary; a training step (model_forward_train) computes
                     // its gradient with the loss, so all of it shows in the forward phase, as does the
                     // head's input-gradient product when the loss goes over row chunks
    PROF_COPY,       // residual copies and zeroed gradient buffers
    PROF_RESIDUAL,   // biases, steering vectors, evaluation noise
    PROF_OPTIMIZER,  // AdamW (the caller times it: prof_add with phase PROF_UPDATE)
    PROF_KINDS
} ProfKind;

typedef enum { PROF_FORWARD, PROF_BACKWARD, PROF_UPDATE, PROF_PHASES } ProfPhase;
typedef enum { PROD_FORWARD, PROD_BACKWARD_INPUT, PROD_BACKWARD_WEIGHT, PROD_KINDS } ProdKind;

#define PROF_MAX_SHAPES 48
typedef struct {
    ProdKind kind;
    int n, out, in;   // [n][in] x [out][in]^T and its gradients
    double seconds;
    long calls;
} ProfShape;

typedef struct Profile {
    ProfPhase phase;  // set by model_forward / model_backward; the optimizer's caller sets PROF_UPDATE
    double seconds[PROF_PHASES][PROF_KINDS];
    long calls[PROF_PHASES][PROF_KINDS];
    ProfShape shape[PROF_MAX_SHAPES];
    int n_shapes, shapes_dropped;
    // the attention's products (engine/attention.c): FLOPs computed (whole blocks, the masked part of
    // each included) and the seconds their threads spent on them, summed over threads
    double attn_flops, attn_thread_seconds;
} Profile;

// The time now when p profiles, else 0 (no clock read).
double prof_start(const Profile *p);
void prof_add(Profile *p, ProfKind k, double t0);
// seconds measured by the caller, counted as one call of kind k in the current phase
void prof_add_seconds(Profile *p, ProfKind k, double seconds);
// A weight product: also counted under PROF_PRODUCT in the current phase.
void prof_add_product(Profile *p, ProdKind k, int n, int out, int in, double t0);
const char *prof_kind_name(ProfKind k);
double prof_total(const Profile *p);
// A table per kind and phase, in seconds per step and share of wall_per_step (the rest is "other"),
// then the products by shape with their GFLOP/s.
void prof_print(FILE *f, const Profile *p, int steps, double wall_per_step);
// The same as one JSON object (no trailing newline).
void prof_json(FILE *f, const Profile *p, int steps, double wall_per_step);
