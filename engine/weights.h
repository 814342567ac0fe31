// A model's weights as named views. The same struct describes a base mapped read-only from a
// file (mixed storage types), an in-memory fp block (random init, pretraining) and the weights a
// forward pass sees after an adapter replaces some of them.
#pragma once
#include <stddef.h>
#include "engine/config.h"
#include "engine/mat.h"

typedef struct {
    const real *attn_norm, *ffn_norm;        // [dim]
    Mat q, k, v, o;                          // [H*hd][dim], [KV*hd][dim] x2, [dim][H*hd]
    const real *bq, *bk, *bv;                // NULL unless cfg.qkv_bias
    Mat gate, up, down;                      // [ffn][dim] x2, [dim][ffn]
} LayerWeights;

#define SWEEP_MAX_LAYERS 128

typedef struct {
    ModelConfig cfg;
    Mat embed;                               // [vocab][dim]
    LayerWeights layer[SWEEP_MAX_LAYERS];
    const real *final_norm;                  // [dim]
    Mat head;                                // [vocab][dim]; the embedding when tied
    MatContext *mc;                          // the job's compute context for the products of these
                                             // weights (engine/mat.h); NULL: fp32, the reference
} Weights;

// The canonical tensor table: Hugging Face Llama names, in this order, which is also the order of
// the contiguous parameter block, of model files and of the PyTorch parity test:
//   model.embed_tokens.weight; per layer i: model.layers.i.input_layernorm.weight,
//   self_attn.{q,k,v}_proj.weight (+ .bias when qkv_bias), self_attn.o_proj.weight,
//   post_attention_layernorm.weight, mlp.{gate,up,down}_proj.weight; model.norm.weight;
//   lm_head.weight (untied only).
typedef enum { TK_EMBED, TK_NORM, TK_MATRIX, TK_BIAS, TK_HEAD } TensorKind;
typedef struct {
    char name[80];
    TensorKind kind;
    int layer;            // -1 for embed, final norm and head
    int rows, cols;       // cols == 1 for vectors
    size_t offset;        // in scalars, within the contiguous block
} TensorInfo;

// Fills t (if not NULL, room for weights_n_tensors entries); returns the count.
int weights_tensors(const ModelConfig *c, TensorInfo *t);
int weights_n_tensors(const ModelConfig *c);
// Carves the contiguous block (config_n_params scalars) into w's named views, all MAT_REAL.
void weights_carve(Weights *w, const ModelConfig *c, real *block);
// The view of tensor `i` of the table inside w: a Mat for matrices, or the vector pointer.
Mat *weights_mat(Weights *w, const TensorInfo *t);
const real **weights_vec(Weights *w, const TensorInfo *t);
// Llama-style initialisation: normal(0, 0.02) matrices (output projections scaled by
// 1/sqrt(2 * layers)), unit gains, zero biases; deterministic in seed.
void weights_init_random(real *block, const ModelConfig *c, unsigned long long seed);
