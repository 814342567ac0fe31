// The canonical tensor table and the carving of one contiguous block into named views.
#include "engine/weights.h"
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "engine/rng.h"

// Stream id of the weight initialisation within a seed ("WINI"), apart from LoRA init and batches.
#define STREAM_WEIGHTS_INIT 0x57494e49ULL

static int add(TensorInfo *t, int i, size_t *off, const char *name, TensorKind kind, int layer,
               int rows, int cols) {
    if (t) {
        snprintf(t[i].name, sizeof t[i].name, "%s", name);
        t[i].kind = kind;
        t[i].layer = layer;
        t[i].rows = rows;
        t[i].cols = cols;
        t[i].offset = *off;
    }
    *off += (size_t)rows * cols;
    return i + 1;
}

int weights_tensors(const ModelConfig *c, TensorInfo *t) {
    int d = c->dim, hd = config_head_dim(c), qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    int f = c->ffn_dim, i = 0;
    size_t off = 0;
    char nm[80];
    i = add(t, i, &off, "model.embed_tokens.weight", TK_EMBED, -1, c->vocab, d);
    for (int l = 0; l < c->n_layers; l++) {
#define NAME(suffix) (snprintf(nm, sizeof nm, "model.layers.%d.%s", l, suffix), nm)
        i = add(t, i, &off, NAME("input_layernorm.weight"), TK_NORM, l, d, 1);
        i = add(t, i, &off, NAME("self_attn.q_proj.weight"), TK_MATRIX, l, qd, d);
        if (c->qkv_bias) i = add(t, i, &off, NAME("self_attn.q_proj.bias"), TK_BIAS, l, qd, 1);
        i = add(t, i, &off, NAME("self_attn.k_proj.weight"), TK_MATRIX, l, kvd, d);
        if (c->qkv_bias) i = add(t, i, &off, NAME("self_attn.k_proj.bias"), TK_BIAS, l, kvd, 1);
        i = add(t, i, &off, NAME("self_attn.v_proj.weight"), TK_MATRIX, l, kvd, d);
        if (c->qkv_bias) i = add(t, i, &off, NAME("self_attn.v_proj.bias"), TK_BIAS, l, kvd, 1);
        i = add(t, i, &off, NAME("self_attn.o_proj.weight"), TK_MATRIX, l, d, qd);
        i = add(t, i, &off, NAME("post_attention_layernorm.weight"), TK_NORM, l, d, 1);
        i = add(t, i, &off, NAME("mlp.gate_proj.weight"), TK_MATRIX, l, f, d);
        i = add(t, i, &off, NAME("mlp.up_proj.weight"), TK_MATRIX, l, f, d);
        i = add(t, i, &off, NAME("mlp.down_proj.weight"), TK_MATRIX, l, d, f);
#undef NAME
    }
    i = add(t, i, &off, "model.norm.weight", TK_NORM, -1, d, 1);
    if (!c->tied) i = add(t, i, &off, "lm_head.weight", TK_HEAD, -1, c->vocab, d);
    return i;
}

int weights_n_tensors(const ModelConfig *c) { return weights_tensors(c, NULL); }

// The field of w a per-layer tensor name refers to, by the text after "model.layers.N.".
static Mat *layer_mat(LayerWeights *lw, const char *what) {
    if (!strncmp(what, "self_attn.q_proj", 16)) return &lw->q;
    if (!strncmp(what, "self_attn.k_proj", 16)) return &lw->k;
    if (!strncmp(what, "self_attn.v_proj", 16)) return &lw->v;
    if (!strncmp(what, "self_attn.o_proj", 16)) return &lw->o;
    if (!strncmp(what, "mlp.gate_proj", 13)) return &lw->gate;
    if (!strncmp(what, "mlp.up_proj", 11)) return &lw->up;
    if (!strncmp(what, "mlp.down_proj", 13)) return &lw->down;
    return NULL;
}

static const char *after_layer(const char *name) {
    const char *p = strchr(name + strlen("model.layers."), '.');
    return p ? p + 1 : name;
}

Mat *weights_mat(Weights *w, const TensorInfo *t) {
    if (t->kind == TK_EMBED) return &w->embed;
    if (t->kind == TK_HEAD) return &w->head;
    if (t->kind != TK_MATRIX) return NULL;
    return layer_mat(&w->layer[t->layer], after_layer(t->name));
}

const real **weights_vec(Weights *w, const TensorInfo *t) {
    if (t->kind == TK_NORM) {
        if (t->layer < 0) return &w->final_norm;
        const char *what = after_layer(t->name);
        return !strncmp(what, "input_layernorm", 15) ? &w->layer[t->layer].attn_norm
                                                      : &w->layer[t->layer].ffn_norm;
    }
    if (t->kind == TK_BIAS) {
        LayerWeights *lw = &w->layer[t->layer];
        const char *what = after_layer(t->name);
        if (!strncmp(what, "self_attn.q_proj", 16)) return &lw->bq;
        if (!strncmp(what, "self_attn.k_proj", 16)) return &lw->bk;
        return &lw->bv;
    }
    return NULL;
}

void weights_carve(Weights *w, const ModelConfig *c, real *block) {
    memset(w, 0, sizeof *w);
    w->cfg = *c;
    int n = weights_n_tensors(c);
    TensorInfo t[n];
    weights_tensors(c, t);
    for (int i = 0; i < n; i++) {
        real *p = block + t[i].offset;
        Mat *m = weights_mat(w, &t[i]);
        if (m) *m = mat_real(p, t[i].rows, t[i].cols);
        else *weights_vec(w, &t[i]) = p;
    }
    if (c->tied) w->head = w->embed;
}

void weights_init_random(real *block, const ModelConfig *c, unsigned long long seed) {
    Rng rng;
    rng_seed_stream(&rng, seed, STREAM_WEIGHTS_INIT);
    int n = weights_n_tensors(c);
    TensorInfo t[n];
    weights_tensors(c, t);
    // GPT-2 / Llama practice: residual-branch outputs shrink with depth so the residual stays O(1).
    double out_std = 0.02 / sqrt(2.0 * c->n_layers);
    for (int i = 0; i < n; i++) {
        real *p = block + t[i].offset;
        size_t count = (size_t)t[i].rows * t[i].cols;
        if (t[i].kind == TK_NORM) {
            for (size_t j = 0; j < count; j++) p[j] = 1;
        } else if (t[i].kind == TK_BIAS) {
            for (size_t j = 0; j < count; j++) p[j] = 0;
        } else {
            const char *what = t[i].kind == TK_MATRIX ? after_layer(t[i].name) : "";
            int is_out = !strncmp(what, "self_attn.o_proj", 16) || !strncmp(what, "mlp.down_proj", 13);
            double std = is_out ? out_std : 0.02;
            for (size_t j = 0; j < count; j++) p[j] = (real)(std * rng_normal(&rng));
        }
    }
}
