#include "engine/config.h"
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include "engine/weights.h"

void config_default(ModelConfig *c) {
    *c = (ModelConfig){ .dim = 256, .n_layers = 4, .n_heads = 4, .n_kv_heads = 4, .ffn_dim = 768,
                        .vocab = 8192, .context = 256, .rope_theta = 10000.0, .norm_eps = 1e-5,
                        .tied = 1, .qkv_bias = 0 };
}

void config_1b(ModelConfig *c) {
    *c = (ModelConfig){ .dim = 2048, .n_layers = 16, .n_heads = 32, .n_kv_heads = 8, .ffn_dim = 8192,
                        .vocab = 128256, .context = 256, .rope_theta = 500000.0, .norm_eps = 1e-5,
                        .tied = 1, .qkv_bias = 0,
                        .rope_scaling = { .type = ROPE_SCALING_LLAMA3, .factor = 32.0, .low_freq_factor = 1.0,
                                          .high_freq_factor = 4.0, .original_max_pos = 8192 } };
}

void config_tiny(ModelConfig *c) {
    *c = (ModelConfig){ .dim = 16, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .ffn_dim = 24,
                        .vocab = 37, .context = 12, .rope_theta = 10000.0, .norm_eps = 1e-5,
                        .tied = 0, .qkv_bias = 0 };
}

int config_by_name(ModelConfig *c, const char *name) {
    if (!strcmp(name, "default")) config_default(c);
    else if (!strcmp(name, "1b")) config_1b(c);
    else if (!strcmp(name, "tiny")) config_tiny(c);
    else return -1;
    return 0;
}

const char *config_check(const ModelConfig *c) {
    if (c->dim <= 0) return "dim must be positive";
    if (c->n_layers <= 0) return "n_layers must be positive";
    if (c->n_layers > SWEEP_MAX_LAYERS) return "n_layers is larger than this build supports (SWEEP_MAX_LAYERS)";
    if (c->n_heads <= 0 || c->dim % c->n_heads) return "n_heads must divide dim";
    if ((c->dim / c->n_heads) % 2) return "head dim must be even (RoPE rotates pairs)";
    if (c->n_kv_heads <= 0 || c->n_heads % c->n_kv_heads) return "n_kv_heads must divide n_heads";
    if (c->ffn_dim <= 0) return "ffn_dim must be positive";
    if (c->vocab <= 1) return "vocab must be at least 2";
    if (c->context <= 0) return "context must be positive";
    if (!(c->rope_theta > 0)) return "rope_theta must be positive";
    if (!(c->norm_eps > 0)) return "norm_eps must be positive";
    const RopeScaling *r = &c->rope_scaling;
    if (r->type != ROPE_SCALING_NONE && r->type != ROPE_SCALING_LLAMA3) return "rope_scaling.rope_type must be none or llama3";
    if (r->type == ROPE_SCALING_LLAMA3) {
        if (!(r->factor >= 1) || !isfinite(r->factor)) return "rope_scaling.factor must be a finite number >= 1";
        if (!(r->low_freq_factor > 0) || !isfinite(r->low_freq_factor))
            return "rope_scaling.low_freq_factor must be a finite positive number";
        // the blend between the bands divides by their difference
        if (!(r->high_freq_factor > r->low_freq_factor) || !isfinite(r->high_freq_factor))
            return "rope_scaling.high_freq_factor must be finite and greater than low_freq_factor";
        if (r->original_max_pos <= 0) return "rope_scaling.original_max_position_embeddings must be positive";
    }
    return NULL;
}

const char *config_rope_llama3_from_json(RopeScaling *r, const cJSON *rs) {
    memset(r, 0, sizeof *r);
    r->type = ROPE_SCALING_LLAMA3;
    struct { const char *key, *bad; double *dst; } nums[] = {
        { "factor", "factor: missing or not a number", &r->factor },
        { "low_freq_factor", "low_freq_factor: missing or not a number", &r->low_freq_factor },
        { "high_freq_factor", "high_freq_factor: missing or not a number", &r->high_freq_factor },
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rs, nums[i].key);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return nums[i].bad;
        *nums[i].dst = v->valuedouble;
    }
    const cJSON *omax = cJSON_GetObjectItemCaseSensitive(rs, "original_max_position_embeddings");
    if (!cJSON_IsNumber(omax) || omax->valuedouble != floor(omax->valuedouble) || omax->valuedouble < 1 ||
        omax->valuedouble > INT_MAX)
        return "original_max_position_embeddings: missing, not an integer or outside [1, 2147483647]";
    r->original_max_pos = (int)omax->valuedouble;
    return NULL;
}

size_t config_n_params(const ModelConfig *c) {
    size_t d = c->dim, hd = d / c->n_heads, kv = (size_t)c->n_kv_heads * hd, f = c->ffn_dim;
    size_t layer = 2 * d + d * d /*q*/ + 2 * kv * d /*k,v*/ + d * d /*o*/ + 3 * f * d;
    if (c->qkv_bias) layer += d + 2 * kv;
    size_t n = (size_t)c->vocab * d + c->n_layers * layer + d;
    if (!c->tied) n += (size_t)c->vocab * d;
    return n;
}

int config_n_norm_gains(const ModelConfig *c) { return (2 * c->n_layers + 1) * c->dim; }
