// Adapters: the trainable state of one job, one contiguous block carved into named pointers, with
// its gradients and AdamW moments. The base stays read-only; adapter_apply gives the weights the
// forward pass sees.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "engine/weights.h"

typedef enum { FMT_NONE = 0, FMT_NORM, FMT_LORA, FMT_FULL, FMT_STEER } AdapterFormat;

// LoRA target projections, by name: q k v o gate up down
enum { LORA_Q = 1, LORA_K = 2, LORA_V = 4, LORA_O = 8, LORA_GATE = 16, LORA_UP = 32, LORA_DOWN = 64,
       LORA_ALL = 127, LORA_N_TARGETS = 7 };

typedef struct {
    int rank;            // r
    double alpha;        // scale = alpha / r
    unsigned targets;    // LORA_* bits
} LoraSpec;

// Steering (Bet 58): a learned vector of dim scalars added to every position of the residual stream
// after block l, for each block l in the set (bit l % 64 of layers[l / 64]); the empty set means the
// last block, resolved against the base at initialisation. The vectors start at zero (the identity).
#define STEER_WORDS (SWEEP_MAX_LAYERS / 64)
typedef struct {
    uint64_t layers[STEER_WORDS];
} SteerSpec;

typedef struct {
    const real *A;       // [r][in], kaiming-uniform init
    const real *B;       // [out][r], zero init
    real *dA, *dB;
} LoraPair;

typedef struct {
    AdapterFormat format;
    ModelConfig cfg;
    LoraSpec lora;
    size_t n;                    // trainable scalars
    real *params, *grads;        // n each
    float *m, *v;                // AdamW moments (n each), allocated by adamw
    // norm: views into params
    real *attn_norm, *ffn_norm, *final_norm;           // [L][dim], [L][dim], [dim]
    // lora: [layer][target], A == NULL where not targeted
    LoraPair lora_w[SWEEP_MAX_LAYERS][LORA_N_TARGETS];
    double lora_scale;
    // full: every weight, carved like a base
    Weights full;
    // steer: the resolved block set, and a view per block ([dim], NULL where the block is not steered)
    SteerSpec steer;
    real *steer_vec[SWEEP_MAX_LAYERS];
} Adapter;

const char *format_name(AdapterFormat f);
int format_parse(const char *s, AdapterFormat *f);             // 0 ok, -1 unknown
// "q,k,v,o,gate,up,down" -> bits; -1 on an unknown name
int lora_targets_parse(const char *s, unsigned *targets);
// Rows (outputs) and columns (inputs) of LoRA target t (0 q .. 6 down) in a layer.
void lora_target_shape(const ModelConfig *c, int t, int *out, int *in);
// the largest out of the seven targets (the width of engine/lora.h's scratch)
int lora_widest_out(const ModelConfig *c);
// "last" (the empty set) or "3,5" (0-based block indices below SWEEP_MAX_LAYERS) -> set; -1 when not
// such a list. _format writes the set back ("last" or "3,5"); _count, _lowest and _highest (-1 when
// empty).
int steer_layers_parse(const char *s, SteerSpec *steer);
void steer_layers_format(const SteerSpec *steer, char *out, size_t len);
int steer_layers_count(const SteerSpec *steer);
int steer_layers_lowest(const SteerSpec *steer);
int steer_layers_highest(const SteerSpec *steer);

// Creates the trainable block from the base: norm copies the base gains, full copies (decodes) every
// weight, lora draws A kaiming-uniform(a = sqrt(5)) and B = 0 from seed. Returns 0, or -1 (errno).
// steer takes the last block here; adapter_init_steer takes a block set (a block past the base's
// last fails with EINVAL).
int adapter_init(Adapter *a, AdapterFormat f, const LoraSpec *lora, const Weights *base, uint64_t seed);
int adapter_init_steer(Adapter *a, const SteerSpec *steer, const Weights *base);
void adapter_free(Adapter *a);
void adapter_zero_grad(Adapter *a);
// eff = base with the adapter's replacements (norm gains / full weights); LoRA and steering are
// applied by the model from a->lora_w and a->steer_vec on top of eff.
void adapter_apply(const Adapter *a, const Weights *base, Weights *eff);
// The Hugging Face / PEFT name of the tensor holding trainable scalar i: norm "model.layers.3.input_layernorm.weight",
// lora "model.layers.3.self_attn.q_proj.lora_A.weight" (A and B are the trained parameters themselves),
// full the base's tensor names, steer "steer.3" (the vector after block 3); "" past the last scalar.
void adapter_tensor_name(const Adapter *a, size_t i, char *out, size_t len);
// The largest |a - init| over the trainable scalars of two adapters of one layout (a trained one and
// its initial value), in double; *at (may be NULL) the first scalar reaching it. 0 (*at 0) without
// scalars; NaN when a change is not finite (a diverged job) or the layouts differ.
double adapter_max_change(const Adapter *a, const Adapter *init, size_t *at);
// Size of the trainable block on disk at a given scalar width (4: fp32, 2: fp16).
size_t adapter_bytes(const Adapter *a, int bytes_per_scalar);
// Adapter files: magic, format, shape (a steer file adds its block set), then the fp32 block. 0 ok; -1 with a message in err.
int adapter_save(const Adapter *a, const char *path, char *err, size_t errlen);
int adapter_load(Adapter *a, const char *path, const Weights *base, char *err, size_t errlen);
