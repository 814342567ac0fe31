// Model shape. Llama-style decoder: the same fields describe the default base, Llama 3.2 1B,
// Qwen2.5 and SmolLM.
#pragma once
#include <stddef.h>

typedef enum { ROPE_SCALING_NONE = 0, ROPE_SCALING_LLAMA3 = 1 } RopeScalingType;

// RoPE frequency scaling, Hugging Face's rope_scaling (rope_type "llama3": Llama 3.1 / 3.2).
// All zero means none, so configs that never mention it keep plain RoPE.
typedef struct {
    RopeScalingType type;
    double factor;            // long wavelengths' frequencies are divided by this
    double low_freq_factor;   // wavelengths above original_max_pos / low_freq_factor: fully divided
    double high_freq_factor;  // wavelengths below original_max_pos / high_freq_factor: unchanged
    int original_max_pos;     // HF original_max_position_embeddings: the pretraining context
} RopeScaling;

typedef struct {
    int dim;          // residual width
    int n_layers;
    int n_heads;      // query heads
    int n_kv_heads;   // key/value heads (grouped-query attention when < n_heads)
    int ffn_dim;      // SwiGLU hidden width
    int vocab;
    int context;      // longest sequence the model is used with
    double rope_theta;
    double norm_eps;
    int tied;         // output head shares the token embedding
    int qkv_bias;     // q, k, v projections carry biases (Qwen2)
    RopeScaling rope_scaling;
} ModelConfig;

void config_default(ModelConfig *c);   // dim 256, 4 layers, 4 heads, FFN 768, vocab 8192, ctx 256, tied
void config_1b(ModelConfig *c);        // Llama 3.2 1B's shape and rope scaling
void config_tiny(ModelConfig *c);      // a few thousand parameters, for tests and parity
// Fills c from a name ("default", "1b", "tiny"); returns 0, or -1 for an unknown name.
int config_by_name(ModelConfig *c, const char *name);
// NULL if the shape is usable, else a static message naming the bad field.
const char *config_check(const ModelConfig *c);
// llama3's numbers from a rope_scaling object in Hugging Face's keys (factor, low_freq_factor,
// high_freq_factor: numbers; original_max_position_embeddings: an integer in [1, INT_MAX]) into r, whose
// type becomes llama3. The type key is the caller's to check, the ranges config_check's. NULL ok, else a
// static "KEY: what is wrong" for the first bad key, for the caller to prefix with its path.
struct cJSON;
const char *config_rope_llama3_from_json(RopeScaling *r, const struct cJSON *rs);
static inline int config_head_dim(const ModelConfig *c) { return c->dim / c->n_heads; }
size_t config_n_params(const ModelConfig *c);   // every weight, the head counted once when tied
int config_n_norm_gains(const ModelConfig *c);  // (2 * layers + 1) * dim
