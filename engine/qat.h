// Quantisation-aware training of a ternary base (BitNet b1.58's recipe): the forward and backward run
// on a quantised shadow of the trainable (latent) weights, and the shadow's weight gradients are
// applied to the latent weights unchanged (the straight-through estimator). The shadow is what a
// ternary model file holds (sweep pretrain's base-ternary.sweep): every projection ternary by
// ternary_quantize_rows (the one rule of engine/ternary.h), the embedding and head in bf16, norm gains
// and biases as they are. So the written ternary file's forward is the QAT forward.
#pragma once
#include <stdint.h>
#include "engine/weights.h"

typedef struct {
    Weights w;              // the shadow: views into the buffers below; vectors point at the latent
    uint8_t *trits;         // every projection's packed trits, in tensor order
    float *scales;          // their row scales
    uint16_t *embed_bf16;   // the embedding, and after it the head when untied
} QatShadow;

// Allocates the shadow of latent (all MAT_REAL, e.g. a full adapter's weights) and quantises it.
// The shadow multiplies in latent->mc.
void qat_init(QatShadow *q, const Weights *latent);
// Quantises latent into the shadow again (before every training step) and clears the compute
// context's converted copies of the old shadow.
void qat_quantize(QatShadow *q, const Weights *latent);
void qat_free(QatShadow *q);
