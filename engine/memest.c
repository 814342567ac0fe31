#include "engine/memest.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/model.h"
#include "engine/weights.h"

#define TILE_BYTES ((size_t)2 << 20)   // engine/mat.c: a thread's decode tile, 512K reals

size_t memest_acts_bytes(const ModelConfig *c, int B, int T, int lora_rank, int recompute, int loss_rows) {
    // recomputing: one slot of saved activations for all layers, but the residual stream x keeps its L+1
    size_t n = (size_t)B * T, L = recompute ? 1 : c->n_layers, d = c->dim, hd = config_head_dim(c);
    size_t LX = c->n_layers;
    size_t qd = (size_t)c->n_heads * hd, kvd = (size_t)c->n_kv_heads * hd, f = c->ffn_dim, v = c->vocab;
    size_t nl = loss_rows > 0 && (size_t)loss_rows < n ? (size_t)loss_rows : n;   // rows of logits held
    // acts_create's buffers, in its order
    size_t reals = (LX + 1) * n * d + L * n * d + 2 * L * n + 2 * L * n * d + L * n * qd + 2 * L * n * kvd +
                   L * (size_t)B * c->n_heads * T * T + L * n * qd + 3 * L * n * f + n + n * d + nl * v +
                   2 * n * d + n * qd + 2 * n * kvd + n * qd + 3 * n * f + nl * v + (size_t)T * T + (size_t)T * hd;
    // ensure_lora: x A^T of every pair [L][7][n][r], one [n][r] gradient, one B transposed
    if (lora_rank > 0) reals += L * LORA_N_TARGETS * n * lora_rank + n * lora_rank + (size_t)lora_rank * lora_widest_out(c);
    return reals * sizeof(real);
}

size_t memest_matrix_params(const ModelConfig *c) {
    int nt = weights_n_tensors(c);
    TensorInfo *t = malloc((size_t)nt * sizeof *t);
    if (!t) return 0;
    weights_tensors(c, t);
    size_t n = 0;
    for (int i = 0; i < nt; i++)
        if (t[i].kind == TK_MATRIX || t[i].kind == TK_HEAD) n += (size_t)t[i].rows * t[i].cols;
    free(t);
    if (c->tied) n += (size_t)c->vocab * c->dim;   // the head is the embedding, read by a product
    return n;
}

static size_t max2(size_t a, size_t b) { return a > b ? a : b; }

// Trainable scalars of the format (engine/adapter.c format_count).
static size_t trainable(const MemJob *j) {
    const ModelConfig *c = &j->cfg;
    switch (j->format) {
    case FMT_NONE: return 0;
    case FMT_NORM: return (size_t)config_n_norm_gains(c);
    case FMT_FULL: return config_n_params(c);
    case FMT_STEER: return (size_t)(j->steer_blocks > 0 ? j->steer_blocks : 1) * c->dim;
    case FMT_LORA: {
        size_t n = 0;
        for (int t = 0; t < LORA_N_TARGETS; t++) {
            if (!(j->lora.targets & (1u << t))) continue;
            int out, in;
            lora_target_shape(c, t, &out, &in);
            n += (size_t)j->lora.rank * (in + out);
        }
        return n * c->n_layers;
    }
    }
    return 0;
}

// engine/mat.c's context scratch for n tokens at precision p: bf16 inputs (the head's output
// gradient, over the rows of one loss chunk, is the widest, unless the loss writes it in bf16
// itself: engine/model.c, not for full FT), int8 activations and int32 sums of ternary products;
// full FT's weight gradients add the bf16 inputs of mat_backward_weight. Grown, never shrunk: the
// max over phases.
static size_t scratch_bytes(const MemJob *j, size_t n, int backward, int loss_rows) {
    const ModelConfig *c = &j->cfg;
    if (j->precision != MAT_PREC_BF16 && j->precision != MAT_PREC_INT8) return 0;
    size_t wide = max2((size_t)c->dim, (size_t)c->ffn_dim);
    size_t nl = loss_rows > 0 && (size_t)loss_rows < n ? (size_t)loss_rows : n;
    int head_scratch = backward && (j->format == FMT_FULL || !mat_backward_input_rounds_bf16_at(j->precision, j->head));
    size_t s = max2(n * wide, head_scratch ? nl * (size_t)c->vocab : 0) * 2;
    if (j->precision == MAT_PREC_INT8) s += n * wide * (4 + 4 + 4);   // slots 1, 3, and int8 rows in 0
    if (backward && j->format == FMT_FULL) s += n * wide * 2;
    return s;
}

void memest_job(const MemJob *j, MemEstimate *e) {
    memset(e, 0, sizeof *e);
    const ModelConfig *c = &j->cfg;
    int trains = j->format != FMT_NONE && j->steps > 0;
    int lr = j->format == FMT_LORA ? j->lora.rank : 0;
    size_t n = trainable(j);
    size_t nt = trains ? (size_t)j->batch * j->seq : 0, ne = (size_t)j->eval_batch * c->context;
    // engine/train.c: train_loss_rows for a step, model_loss_rows for evaluation
    int rows = model_loss_rows_at(c, j->precision, j->head);
    e->loss_rows_train = j->recompute && j->format != FMT_FULL ? rows : 0;
    e->loss_rows_eval = rows;
    e->adapter = 2 * n * sizeof(real);                     // params then grads, one block
    e->optimizer = j->format != FMT_NONE ? 2 * n * sizeof(float) : 0;   // adamw_alloc: m and v
    // full FT's trainable copies are MAT_REAL: bf16 and int8 products convert them privately (mat.c)
    if (j->format == FMT_FULL && (j->precision == MAT_PREC_BF16 || j->precision == MAT_PREC_INT8))
        e->weight_copies = memest_matrix_params(c) * 2;
    e->scratch = max2(scratch_bytes(j, nt, 1, e->loss_rows_train), scratch_bytes(j, ne, 0, e->loss_rows_eval)) +
                 TILE_BYTES;
    if (trains) {
        e->acts_train = memest_acts_bytes(c, j->batch, j->seq, lr, j->recompute, e->loss_rows_train);
        e->tokens_train = (size_t)j->train_tokens * sizeof(int) + nt * 2 * sizeof(int);
    }
    // evaluation: a forward only, one slot of layer activations (engine/train.c eval_perplexity)
    e->acts_eval = memest_acts_bytes(c, j->eval_batch, c->context, lr, 1, e->loss_rows_eval);
    e->tokens_eval = (size_t)j->eval_tokens * sizeof(int) + (size_t)j->eval_text_bytes + ne * 2 * sizeof(int);
    e->result = 2 * n * sizeof(float);
    size_t params = n * sizeof(real);   // after adamw_end the gradients' pages are returned
    // tokenising holds the text and its tokens at once, before the activations exist
    e->phase_train = e->adapter + e->optimizer +
                     max2(e->acts_train + e->tokens_train,
                          trains ? (size_t)j->train_text_bytes + (size_t)j->train_tokens * sizeof(int) : 0);
    e->phase_change = j->format != FMT_NONE ? params + e->adapter : 0;
    e->phase_eval = params + e->acts_eval + e->tokens_eval;
    e->phase_result = params + e->result;
    e->job = e->weight_copies + e->scratch +
             max2(max2(e->phase_train, e->phase_change), max2(e->phase_eval, e->phase_result));
    e->shared = j->base_bytes + j->ready_bytes;
}

void memest_human(size_t bytes, char *out, size_t len) {
    double b = (double)bytes;
    if (b >= 1024.0 * 1024 * 1024) snprintf(out, len, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024) snprintf(out, len, "%.1f MiB", b / (1024.0 * 1024));
    else snprintf(out, len, "%.0f KiB", b / 1024.0);
}

int memest_parse(const char *s, size_t *bytes) {
    char *end;
    if (!s || !*s) return -1;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0) || !isfinite(v)) return -1;
    double scale = 1;
    if (*end) {
        const char *units = "KMGT";
        const char *u = strchr(units, *end >= 'a' ? *end - 32 : *end);
        if (!u || !*u) return -1;
        scale = pow(1024.0, (double)(u - units + 1));
        end++;
        if (*end == 'i' || *end == 'I') end++;
        if (*end == 'B' || *end == 'b') end++;
        if (*end) return -1;
    }
    v *= scale;
    if (v < 1 || v > 9.0e18) return -1;
    *bytes = (size_t)v;
    return 0;
}
