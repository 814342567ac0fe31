// The Llama-style decoder, forward and backward, over the ops of engine/ops.h.
#include "engine/model.h"
#include "engine/lora.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "engine/attention.h"
#include "engine/ops.h"
#include "engine/profile.h"
#include "engine/rng.h"
#include "engine/util.h"

// Every buffer of a job, allocated once for Bmax x Tmax tokens. Per-layer buffers are [L][nmax][...]
// with a fixed stride, so smaller batches reuse the same slots.
struct Acts {
    ModelConfig cfg;
    int Bmax, Tmax;
    size_t nmax;            // Bmax * Tmax
    int recompute;          // one slot for all layers' saved activations; the backward recomputes each
                            // layer from its input x[l] (bit-identical: the same calls on the same data)
    // saved by the forward for the backward; [L] means [L] slots, or 1 when recomputing
    real *x;                // [L+1][n][dim] residual stream entering each layer (x[L]: final norm input)
    real *x_mid;            // [L][n][dim] residual after the attention block
    real *rstd1, *rstd2;    // [L][n]
    real *xn1, *xn2;        // [L][n][dim] normalised inputs of attention and FFN
    real *q, *k, *v;        // [L][n][qd], [L][n][kvd] x2, q and k after RoPE
    real *att;              // [L][B][H][T][T] attention probabilities
    real *attn_out;         // [L][n][qd]
    real *gate, *up, *hid;  // [L][n][ffn] pre-activations and silu(gate) * up
    real *rstdf, *xnf;      // [n], [n][dim]
    int loss_rows;          // rows of logits held at a time (0: all n): the head and the loss go over
                            // row chunks, and the backward computes each chunk's logits again
    real *logits;           // [n][vocab], or [loss_rows][vocab]
    int loss_grad;          // what the last forward left of the loss's gradient (model_forward_train):
                            // LOSS_GRAD_NONE, _DLOGITS (dlogits), _DXN (dxn: the head's input gradient)
    int dlogits_bf16;       // dlogits holds the gradient rounded to bf16 ([rows][vocab] uint16_t), as the
                            // head's backward product would round it (mat_backward_input_rounds_bf16)
    real *lora_u;           // [L][7][n][r] x A^T of each LoRA pair, allocated on first LoRA forward
    int lora_rank;
    // backward scratch
    real *dres, *dxn, *dq, *dk, *dv, *dattn, *dgate, *dup, *dhid, *dlogits, *att_scratch, *lora_du, *lora_bt;
    real *cos_t, *sin_t;    // RoPE tables [Tmax][hd/2]
    // evaluation-time noise (Bet 63), off unless acts_set_noise: sigma_rel x the position's RMS
    int noise_on;
    double noise_sigma;
    Rng noise_rng;
    Profile *prof;          // where the time goes (sweep bench --profile); NULL: not measured
};

enum { LOSS_GRAD_NONE, LOSS_GRAD_DLOGITS, LOSS_GRAD_DXN };

// Runs one op, adding its time to the job's profile under kind k when there is one.
#define TIMED(k, op) do { double t0_ = prof_start(a->prof); op; prof_add(a->prof, k, t0_); } while (0)

void acts_set_profile(Acts *a, Profile *p) { a->prof = p; }

// Stream id of evaluation noise within a seed ("NOIS").
#define STREAM_EVAL_NOISE 0x4e4f4953ULL

void acts_set_noise(Acts *a, double sigma_rel, uint64_t seed) {
    a->noise_on = sigma_rel >= 0;
    a->noise_sigma = sigma_rel;
    rng_seed_stream(&a->noise_rng, seed, STREAM_EVAL_NOISE);
}

// x[n][d] += sigma x rms(row) x N(0, 1), element by element, in row order.
static void add_noise(Acts *a, real *x, int n, int d) {
    for (int i = 0; i < n; i++) {
        real *row = x + (size_t)i * d;
        double ss = 0;
        for (int j = 0; j < d; j++) ss += (double)row[j] * row[j];
        double amp = a->noise_sigma * sqrt(ss / d);
        for (int j = 0; j < d; j++) row[j] += (real)(amp * rng_normal(&a->noise_rng));
    }
}

static real *buf(size_t n) { return xaligned(n * sizeof(real)); }

Acts *acts_create(const ModelConfig *c, int B, int T) { return acts_create_chunked(c, B, T, 0, 0); }

Acts *acts_create_recompute(const ModelConfig *c, int B, int T, int recompute) {
    return acts_create_chunked(c, B, T, recompute, 0);
}

// Whether the head's product gives each row the same bits whatever the number of rows: oneDNN's
// matmul does (tests/unit/test_loss_chunks.c); OpenBLAS's sgemm does not (its kernels' tails and its
// thread split follow the row count), so fp32 and the BLAS fallbacks (mat.c) keep one piece.
static int head_rows_exact(MatPrecision p, MatType head) {
    if (strcmp(mat_precision_backend(p), "onednn") || head == MAT_INT4) return 0;
    if (p == MAT_PREC_FP32_DNNL) return head == MAT_REAL || (head == MAT_F32 && REAL_IS_FLOAT);
    return 1;   // bf16, and int8 (ternary on oneDNN's s8 with per-row scales, else bf16)
}

int model_loss_rows_at(const ModelConfig *c, MatPrecision p, MatType head) {
    if (!head_rows_exact(p, head)) return 0;
    size_t rows = MODEL_LOSS_CHUNK_BYTES / ((size_t)c->vocab * sizeof(real)) / MODEL_LOSS_ROW_ALIGN;
    return (int)((rows < 1 ? 1 : rows > 4096 ? 4096 : rows) * MODEL_LOSS_ROW_ALIGN);
}

int model_loss_rows(const Weights *w) {
    return model_loss_rows_at(&w->cfg, mat_context_precision(w->mc), w->head.type);
}

Acts *acts_create_chunked(const ModelConfig *c, int B, int T, int recompute, int loss_rows) {
    Acts *a = xcalloc(1, sizeof *a);
    a->cfg = *c;
    a->Bmax = B;
    a->Tmax = T;
    a->recompute = recompute != 0;
    size_t n = (size_t)B * T, L = recompute ? 1 : c->n_layers, d = c->dim, hd = config_head_dim(c);
    a->loss_rows = loss_rows > 0 && (size_t)loss_rows < n ? loss_rows : 0;   // one chunk of all rows: none
    size_t nl = a->loss_rows ? (size_t)a->loss_rows : n;
    size_t qd = (size_t)c->n_heads * hd, kvd = (size_t)c->n_kv_heads * hd, f = c->ffn_dim;
    a->nmax = n;
    a->x = buf(((size_t)c->n_layers + 1) * n * d);
    a->x_mid = buf(L * n * d);
    a->rstd1 = buf(L * n);
    a->rstd2 = buf(L * n);
    a->xn1 = buf(L * n * d);
    a->xn2 = buf(L * n * d);
    a->q = buf(L * n * qd);
    a->k = buf(L * n * kvd);
    a->v = buf(L * n * kvd);
    a->att = buf(L * (size_t)B * c->n_heads * T * T);
    a->attn_out = buf(L * n * qd);
    a->gate = buf(L * n * f);
    a->up = buf(L * n * f);
    a->hid = buf(L * n * f);
    a->rstdf = buf(n);
    a->xnf = buf(n * d);
    a->logits = buf(nl * c->vocab);
    a->dres = buf(n * d);
    a->dxn = buf(n * d);
    a->dq = buf(n * qd);
    a->dk = buf(n * kvd);
    a->dv = buf(n * kvd);
    a->dattn = buf(n * qd);
    a->dgate = buf(n * f);
    a->dup = buf(n * f);
    a->dhid = buf(n * f);
    a->dlogits = buf(nl * c->vocab);
    a->att_scratch = buf((size_t)T * T);
    a->cos_t = buf((size_t)T * hd / 2);
    a->sin_t = buf((size_t)T * hd / 2);
    rope_tables_scaled(a->cos_t, a->sin_t, T, (int)hd, c->rope_theta, &c->rope_scaling);
    return a;
}

void acts_free(Acts *a) {
    if (!a) return;
    real *all[] = { a->x, a->x_mid, a->rstd1, a->rstd2, a->xn1, a->xn2, a->q, a->k, a->v, a->att,
                    a->attn_out, a->gate, a->up, a->hid, a->rstdf, a->xnf, a->logits, a->lora_u,
                    a->dres, a->dxn, a->dq, a->dk, a->dv, a->dattn, a->dgate, a->dup, a->dhid,
                    a->dlogits, a->att_scratch, a->lora_du, a->lora_bt, a->cos_t, a->sin_t };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
    free(a);
}

const real *acts_logits(const Acts *a) { return a->loss_rows ? NULL : a->logits; }

static int is_lora(const Adapter *ad) { return ad && ad->format == FMT_LORA; }

// The steering vector after block l, or NULL.
static const real *steer_of(const Adapter *ad, int l) {
    return ad && ad->format == FMT_STEER ? ad->steer_vec[l] : NULL;
}

static void ensure_lora(Acts *a, int r) {
    if (a->lora_rank >= r) return;
    free(a->lora_u);
    free(a->lora_du);
    free(a->lora_bt);
    a->lora_u = buf((size_t)(a->recompute ? 1 : a->cfg.n_layers) * LORA_N_TARGETS * a->nmax * r);
    a->lora_du = buf(a->nmax * r);
    a->lora_bt = buf((size_t)r * lora_widest_out(&a->cfg));
    a->lora_rank = r;
}

// The slot of layer l's saved activations.
static size_t slot(const Acts *a, int l) { return a->recompute ? 0 : (size_t)l; }

static real *lora_u_of(Acts *a, int l, int t) {
    return a->lora_u + (slot(a, l) * LORA_N_TARGETS + t) * a->nmax * a->lora_rank;
}

// Where layer l's activations live.
typedef struct {
    real *x, *x_next, *x_mid, *xn1, *xn2, *rstd1, *rstd2, *q, *k, *v, *att, *ao, *gate, *up, *hid;
} LayerActs;

static LayerActs layer_acts(const Acts *a, int l) {
    const ModelConfig *c = &a->cfg;
    size_t N = a->nmax, d = c->dim, hd = config_head_dim(c), s = slot(a, l);
    size_t qd = (size_t)c->n_heads * hd, kvd = (size_t)c->n_kv_heads * hd, f = c->ffn_dim;
    return (LayerActs){
        .x = a->x + l * N * d, .x_next = a->x + (l + 1) * N * d, .x_mid = a->x_mid + s * N * d,
        .xn1 = a->xn1 + s * N * d, .xn2 = a->xn2 + s * N * d, .rstd1 = a->rstd1 + s * N, .rstd2 = a->rstd2 + s * N,
        .q = a->q + s * N * qd, .k = a->k + s * N * kvd, .v = a->v + s * N * kvd,
        .att = a->att + s * a->Bmax * c->n_heads * a->Tmax * a->Tmax, .ao = a->attn_out + s * N * qd,
        .gate = a->gate + s * N * f, .up = a->up + s * N * f, .hid = a->hid + s * N * f,
    };
}

// y (=|+=) x W^T (+ bias) (+ scale (x A^T) B^T); u keeps x A^T for the backward.
static void proj_forward(MatContext *mc, Profile *p, real *y, const real *x, const Mat *W, const real *bias,
                         const LoraPair *lp, double scale, real *u, real *bt, int r, int n, int accumulate) {
    double t0 = prof_start(p);
    mat_forward(mc, y, x, W, n, accumulate);
    prof_add_product(p, PROD_FORWARD, n, W->rows, W->cols, t0);
    if (bias) { t0 = prof_start(p); bias_forward(y, bias, n, W->rows); prof_add(p, PROF_RESIDUAL, t0); }
    if (lp && lp->A) {
        t0 = prof_start(p);
        lora_forward(y, u, x, lp->A, lp->B, bt, scale, n, W->cols, W->rows, r);
        prof_add(p, PROF_LORA, t0);
    }
}

// dx += dy W (skipped when dx is NULL) and the LoRA path; dW, dbias and the LoRA pair only where trained.
static void proj_backward(MatContext *mc, Profile *p, real *dx, const real *dy, const real *x, const Mat *W,
                          real *dW, real *dbias, const LoraPair *lp, double scale, const real *u, real *du, real *bt,
                          int r, int n) {
    int out = W->rows, in = W->cols;
    double t0 = prof_start(p);
    if (dx) { mat_backward_input(mc, dx, dy, W, n); prof_add_product(p, PROD_BACKWARD_INPUT, n, out, in, t0); }
    if (dW) { t0 = prof_start(p); mat_backward_weight(mc, dW, dy, x, n, out, in); prof_add_product(p, PROD_BACKWARD_WEIGHT, n, out, in, t0); }
    if (dbias) { t0 = prof_start(p); bias_backward(dbias, dy, n, out); prof_add(p, PROF_RESIDUAL, t0); }
    t0 = prof_start(p);
    if (lp && lp->A) {
        lora_backward(dx, lp->dA, lp->dB, du, dy, x, u, lp->A, lp->B, bt, scale, n, in, out, r);
        prof_add(p, PROF_LORA, t0);
    }
}

// Layer l from its input x[l]: everything the backward reads, then (unless upto_hid, as when the
// backward recomputes it) the residual stream x[l+1].
static void layer_forward(const Weights *w, const Adapter *ad, Acts *a, int l, int B, int T, int upto_hid) {
    const ModelConfig *c = &w->cfg;
    int n = B * T, d = c->dim, hd = config_head_dim(c), H = c->n_heads, KV = c->n_kv_heads, f = c->ffn_dim;
    int r = is_lora(ad) ? ad->lora.rank : 0;
    double s = is_lora(ad) ? ad->lora_scale : 0;
    const LayerWeights *lw = &w->layer[l];
    const LoraPair *lp = is_lora(ad) ? ad->lora_w[l] : NULL;
    LayerActs la = layer_acts(a, l);
#define LP(t) (lp ? &lp[t] : NULL), s, (r ? lora_u_of(a, l, t) : NULL), a->lora_bt, r, n
    TIMED(PROF_NORM, rmsnorm_forward(la.xn1, la.rstd1, la.x, lw->attn_norm, n, d, c->norm_eps));
    proj_forward(w->mc, a->prof, la.q, la.xn1, &lw->q, lw->bq, LP(0), 0);
    proj_forward(w->mc, a->prof, la.k, la.xn1, &lw->k, lw->bk, LP(1), 0);
    proj_forward(w->mc, a->prof, la.v, la.xn1, &lw->v, lw->bv, LP(2), 0);
    TIMED(PROF_ROPE, rope_forward(la.q, a->cos_t, a->sin_t, B, T, H, hd); rope_forward(la.k, a->cos_t, a->sin_t, B, T, KV, hd));
    attention_forward_mc(w->mc, a->prof, la.ao, la.att, la.q, la.k, la.v, B, T, H, KV, hd);
    TIMED(PROF_COPY, copy_reals(la.x_mid, la.x, (long)n * d));
    proj_forward(w->mc, a->prof, la.x_mid, la.ao, &lw->o, NULL, LP(3), 1);
    TIMED(PROF_NORM, rmsnorm_forward(la.xn2, la.rstd2, la.x_mid, lw->ffn_norm, n, d, c->norm_eps));
    proj_forward(w->mc, a->prof, la.gate, la.xn2, &lw->gate, NULL, LP(4), 0);
    proj_forward(w->mc, a->prof, la.up, la.xn2, &lw->up, NULL, LP(5), 0);
    TIMED(PROF_SWIGLU, swiglu_forward(la.hid, la.gate, la.up, (long)n * f));
    if (upto_hid) {   // the down projection's output is not needed, its LoRA pair's x A^T is
        if (lp && lp[6].A) TIMED(PROF_LORA, lora_u(lora_u_of(a, l, 6), la.hid, lp[6].A, n, f, r));
        return;
    }
    TIMED(PROF_COPY, copy_reals(la.x_next, la.x_mid, (long)n * d));
    proj_forward(w->mc, a->prof, la.x_next, la.hid, &lw->down, NULL, LP(6), 1);
    if (steer_of(ad, l)) TIMED(PROF_RESIDUAL, bias_forward(la.x_next, steer_of(ad, l), n, d));   // the residual stream, steered
    if (a->noise_on) TIMED(PROF_RESIDUAL, add_noise(a, la.x_next, n, d));
#undef LP
}

// logits[0..m) = the head's product of the final norm's output rows r0 .. r0 + m.
static void head_forward(const Weights *w, Acts *a, int r0, int m) {
    int d = w->cfg.dim;
    double t0 = prof_start(a->prof);
    mat_forward(w->mc, a->logits, a->xnf + (size_t)r0 * d, &w->head, m, 0);
    prof_add_product(a->prof, PROD_FORWARD, m, w->cfg.vocab, d, t0);
}

// The loss's gradient is dloss / count for each counted row (the same division in both paths).
static real loss_scale(const int *targets, int n) {
    long count = 0;
    for (int i = 0; i < n; i++) count += targets[i] >= 0;
    real dloss = 1;
    return count ? (real)(dloss / count) : 0;
}

// dlogits of rows r0 .. r0 + m times the head, into their rows of dxn (zeroed before the first)
static void head_backward_input(const Weights *w, Acts *a, int r0, int m) {
    double t0 = prof_start(a->prof);
    real *dx = a->dxn + (size_t)r0 * w->cfg.dim;
    if (a->dlogits_bf16) mat_backward_input_bf16(w->mc, dx, (const uint16_t *)a->dlogits, &w->head, m);
    else mat_backward_input(w->mc, dx, a->dlogits, &w->head, m);
    prof_add_product(a->prof, PROD_BACKWARD_INPUT, m, w->cfg.vocab, w->cfg.dim, t0);
}

// The training step's loss with its gradient (train): in one piece, dlogits with the loss; in row
// chunks, each chunk's dlogits with its loss and at once its rows of dxn, so that the backward needs
// neither the logits again nor another head product. The same calls on the same data as the backward
// would make: the same bits. Where the head's backward product rounds its input to bf16 and nothing
// else reads dlogits (not a full fine-tune: its head gradient does), the gradient is written rounded
// (bf16), the same bits as that product's own rounding, in half the bytes and one pass less.
static double loss_forward(const Weights *w, const Adapter *ad, Acts *a, const int *targets, int n, int train) {
    int V = w->cfg.vocab;
    a->loss_grad = LOSS_GRAD_NONE;
    a->dlogits_bf16 = train && !(ad && ad->format == FMT_FULL) && mat_backward_input_rounds_bf16(w->mc, &w->head);
    uint16_t *d16 = a->dlogits_bf16 ? (uint16_t *)a->dlogits : NULL;
    if (!a->loss_rows) {
        head_forward(w, a, 0, n);
        if (!targets) return 0;
        double total = 0;
        long count = 0;
        if (!train) TIMED(PROF_LOSS, cross_entropy_forward_sum(a->logits, targets, n, V, NULL, &total, &count));
        else {
            real g = loss_scale(targets, n);
            TIMED(PROF_LOSS, cross_entropy_forward_backward(a->dlogits, d16, a->logits, targets, n, V, g, NULL, &total, &count));
            a->loss_grad = LOSS_GRAD_DLOGITS;
        }
        return count ? total / count : 0;
    }
    // Row chunks: each row's logits and loss are computed by the same calls on the same data as in
    // one piece, and the losses summed in row order (cross_entropy_forward_sum): the same bits.
    if (!targets) return 0;   // nobody can read the logits of a chunked forward
    double total = 0;
    long count = 0;
    real g = train ? loss_scale(targets, n) : 0;
    if (train) TIMED(PROF_COPY, zero_reals(a->dxn, (long)n * w->cfg.dim));
    for (int r0 = 0; r0 < n; r0 += a->loss_rows) {
        int m = n - r0 < a->loss_rows ? n - r0 : a->loss_rows;
        head_forward(w, a, r0, m);
        if (!train) {
            TIMED(PROF_LOSS, cross_entropy_forward_sum(a->logits, targets + r0, m, V, NULL, &total, &count));
            continue;
        }
        TIMED(PROF_LOSS, cross_entropy_forward_backward(a->dlogits, d16, a->logits, targets + r0, m, V, g, NULL, &total, &count));
        head_backward_input(w, a, r0, m);
    }
    if (train) a->loss_grad = LOSS_GRAD_DXN;
    return count ? total / count : 0;
}

static double forward(const Weights *w, const Adapter *ad, Acts *a, const int *tokens, const int *targets,
                      int B, int T, int train) {
    const ModelConfig *c = &w->cfg;
    if (B > a->Bmax || T > a->Tmax || B < 1 || T < 1) {
        fprintf(stderr, "sweep: model_forward: batch %d x %d exceeds the buffers (%d x %d)\n", B, T,
                a->Bmax, a->Tmax);
        abort();
    }
    int n = B * T, d = c->dim, L = c->n_layers;
    size_t N = a->nmax;
    if (is_lora(ad)) ensure_lora(a, ad->lora.rank);
    if (a->prof) a->prof->phase = PROF_FORWARD;
    TIMED(PROF_EMBED, embedding_forward(a->x, tokens, n, &w->embed));
    for (int l = 0; l < L; l++) layer_forward(w, ad, a, l, B, T, 0);
    TIMED(PROF_NORM, rmsnorm_forward(a->xnf, a->rstdf, a->x + L * N * d, w->final_norm, n, d, c->norm_eps));
    return loss_forward(w, ad, a, targets, n, train);
}

double model_forward(const Weights *w, const Adapter *ad, Acts *a, const int *tokens,
                     const int *targets, int B, int T) {
    return forward(w, ad, a, tokens, targets, B, T, 0);
}

double model_forward_train(const Weights *w, const Adapter *ad, Acts *a, const int *tokens,
                           const int *targets, int B, int T) {
    return forward(w, ad, a, tokens, targets, B, T, targets != NULL);
}

// Gradient slots of one layer's trainable tensors (NULL where frozen).
typedef struct {
    real *attn_norm, *ffn_norm, *q, *k, *v, *o, *bq, *bk, *bv, *gate, *up, *down;
} LayerGrads;

// The gradient of a full-FT weight sits at the same offset in grads as the weight in params.
static real *full_grad(const Adapter *ad, const void *param) {
    return param ? ad->grads + ((const real *)param - ad->params) : NULL;
}

static LayerGrads layer_grads(const Adapter *ad, int l) {
    LayerGrads g = { 0 };
    int d = ad->cfg.dim, L = ad->cfg.n_layers;
    if (ad->format == FMT_NORM) {
        g.attn_norm = ad->grads + (size_t)l * d;
        g.ffn_norm = ad->grads + ((size_t)L + l) * d;
    } else if (ad->format == FMT_FULL) {
        const LayerWeights *lw = &ad->full.layer[l];
        g.attn_norm = full_grad(ad, lw->attn_norm);
        g.ffn_norm = full_grad(ad, lw->ffn_norm);
        g.q = full_grad(ad, lw->q.data);
        g.k = full_grad(ad, lw->k.data);
        g.v = full_grad(ad, lw->v.data);
        g.o = full_grad(ad, lw->o.data);
        g.bq = full_grad(ad, lw->bq);
        g.bk = full_grad(ad, lw->bk);
        g.bv = full_grad(ad, lw->bv);
        g.gate = full_grad(ad, lw->gate.data);
        g.up = full_grad(ad, lw->up.data);
        g.down = full_grad(ad, lw->down.data);
    }
    return g;
}

void model_backward(const Weights *w, Adapter *ad, Acts *a, const int *tokens, const int *targets,
                    int B, int T) {
    if (!ad || ad->format == FMT_NONE) return;
    const ModelConfig *c = &w->cfg;
    int n = B * T, d = c->dim, hd = config_head_dim(c), H = c->n_heads, KV = c->n_kv_heads;
    int qd = H * hd, f = c->ffn_dim, L = c->n_layers;
    size_t N = a->nmax;
    int full = ad->format == FMT_FULL, r = is_lora(ad) ? ad->lora.rank : 0;
    double s = is_lora(ad) ? ad->lora_scale : 0;
    real *final_gain_grad = ad->format == FMT_NORM ? ad->grads + (size_t)2 * L * d
                          : full ? full_grad(ad, ad->full.final_norm) : NULL;

    if (a->prof) a->prof->phase = PROF_BACKWARD;
    if (a->loss_rows && full) {   // the head's weight gradient sums over all rows in one product
        fprintf(stderr, "sweep: model_backward: a full fine-tune needs the whole logits (acts_create_chunked)\n");
        abort();
    }
    // The head's input gradient into dxn, from what model_forward_train left, else from the logits.
    if (a->loss_grad != LOSS_GRAD_DXN) TIMED(PROF_COPY, zero_reals(a->dxn, (long)n * d));
    if (a->loss_grad == LOSS_GRAD_DLOGITS) head_backward_input(w, a, 0, n);
    else if (a->loss_grad == LOSS_GRAD_NONE && !a->loss_rows) {
        TIMED(PROF_LOSS, cross_entropy_backward_scaled(a->dlogits, a->logits, targets, n, c->vocab, loss_scale(targets, n)));
        head_backward_input(w, a, 0, n);
    } else if (a->loss_grad == LOSS_GRAD_NONE) {
        // Row chunks: each chunk's logits again, its dlogits with the whole batch's 1 / count, and
        // its rows of dxn; row by row the same calls on the same data as in one piece.
        real g = loss_scale(targets, n);
        for (int r0 = 0; r0 < n; r0 += a->loss_rows) {
            int m = n - r0 < a->loss_rows ? n - r0 : a->loss_rows;
            head_forward(w, a, r0, m);
            TIMED(PROF_LOSS, cross_entropy_backward_scaled(a->dlogits, a->logits, targets + r0, m, c->vocab, g));
            head_backward_input(w, a, r0, m);
        }
    }
    a->loss_grad = LOSS_GRAD_NONE;   // used once
    a->dlogits_bf16 = 0;
    // Tied: the head's gradient lands on the embedding, which also gets the lookup's gradient below.
    if (full) {
        double t0 = prof_start(a->prof);
        mat_backward_weight(w->mc, full_grad(ad, ad->full.head.data), a->dlogits, a->xnf, n, c->vocab, d);
        prof_add_product(a->prof, PROD_BACKWARD_WEIGHT, n, c->vocab, d, t0);
    }
    TIMED(PROF_COPY, zero_reals(a->dres, (long)n * d));
    TIMED(PROF_NORM, rmsnorm_backward(a->dres, final_gain_grad, a->dxn, a->x + L * N * d, w->final_norm, a->rstdf, n, d));

    // Steering needs dres after each steered block, and nothing below the lowest one.
    int steer_low = ad->format == FMT_STEER ? steer_layers_lowest(&ad->steer) : -1;
    for (int l = L - 1; l >= 0; l--) {
        if (steer_of(ad, l)) TIMED(PROF_RESIDUAL, bias_backward(ad->grads + (steer_of(ad, l) - ad->params), a->dres, n, d));
        if (l == steer_low) break;
        const LayerWeights *lw = &w->layer[l];
        const LoraPair *lp = r ? ad->lora_w[l] : NULL;
        LayerGrads g = layer_grads(ad, l);
        if (a->recompute && l != L - 1) layer_forward(w, ad, a, l, B, T, 1);   // the forward left the last in the slot
        LayerActs la = layer_acts(a, l);
        real *x = la.x, *x_mid = la.x_mid, *xn1 = la.xn1, *xn2 = la.xn2, *q = la.q, *k = la.k, *v = la.v;
        real *att = la.att, *ao = la.ao, *gate = la.gate, *up = la.up, *hid = la.hid;
        // Below layer 0's norms only the embedding is left: LoRA needs no dx there, norm and full do
        // (the first gain, the embedding).
        int need_dx0 = l > 0 || (ad->format != FMT_LORA && ad->format != FMT_STEER);
#define LP(t) (lp ? &lp[t] : NULL), s, (r ? lora_u_of(a, l, t) : NULL), a->lora_du, a->lora_bt, r, n

        // x_next = x_mid + down(silu(gate(xn2)) * up(xn2)), xn2 = norm2(x_mid)
        TIMED(PROF_COPY, zero_reals(a->dhid, (long)n * f));
        proj_backward(w->mc, a->prof, a->dhid, a->dres, hid, &lw->down, g.down, NULL, LP(6));
        TIMED(PROF_SWIGLU, swiglu_backward_set(a->dgate, a->dup, a->dhid, gate, up, (long)n * f));
        TIMED(PROF_COPY, zero_reals(a->dxn, (long)n * d));
        proj_backward(w->mc, a->prof, a->dxn, a->dgate, xn2, &lw->gate, g.gate, NULL, LP(4));
        proj_backward(w->mc, a->prof, a->dxn, a->dup, xn2, &lw->up, g.up, NULL, LP(5));
        TIMED(PROF_NORM, rmsnorm_backward(a->dres, g.ffn_norm, a->dxn, x_mid, lw->ffn_norm, la.rstd2, n, d));

        // x_mid = x + o(attn(rope(q(xn1)), rope(k(xn1)), v(xn1))), xn1 = norm1(x)
        TIMED(PROF_COPY, zero_reals(a->dattn, (long)n * qd));
        proj_backward(w->mc, a->prof, a->dattn, a->dres, ao, &lw->o, g.o, NULL, LP(3));
        attention_backward_set_mc(w->mc, a->prof, a->dq, a->dk, a->dv, a->dattn, att, q, k, v, B, T, H, KV, hd,
                              a->att_scratch);
        TIMED(PROF_ROPE, rope_backward(a->dq, a->cos_t, a->sin_t, B, T, H, hd); rope_backward(a->dk, a->cos_t, a->sin_t, B, T, KV, hd));
        real *dxn = need_dx0 ? a->dxn : NULL;
        if (dxn) TIMED(PROF_COPY, zero_reals(dxn, (long)n * d));
        proj_backward(w->mc, a->prof, dxn, a->dq, xn1, &lw->q, g.q, g.bq, LP(0));
        proj_backward(w->mc, a->prof, dxn, a->dk, xn1, &lw->k, g.k, g.bk, LP(1));
        proj_backward(w->mc, a->prof, dxn, a->dv, xn1, &lw->v, g.v, g.bv, LP(2));
        if (dxn) TIMED(PROF_NORM, rmsnorm_backward(a->dres, g.attn_norm, dxn, x, lw->attn_norm, la.rstd1, n, d));
#undef LP
    }
    if (full) TIMED(PROF_EMBED, embedding_backward(full_grad(ad, ad->full.embed.data), a->dres, tokens, n, d));
}

// ---- FLOP counts (2 m n k per matrix product; attention over the causal triangle only) ----------

static double proj_flops(const ModelConfig *c) {   // per token, every projection of every layer
    double d = c->dim, hd = config_head_dim(c), qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    double f = c->ffn_dim;
    return c->n_layers * 2.0 * (d * qd + 2 * d * kvd + qd * d + 3 * d * f);
}

static double attn_flops(const ModelConfig *c, int B, int T) {   // QK^T and PV, causal pairs
    double pairs = (double)T * (T + 1) / 2;
    return c->n_layers * (double)B * c->n_heads * pairs * 2.0 * 2 * config_head_dim(c);
}

double model_forward_flops(const ModelConfig *c, int B, int T) {
    double n = (double)B * T;
    return n * (proj_flops(c) + 2.0 * c->dim * c->vocab) + attn_flops(c, B, T);
}

double model_steer_backward_flops(const ModelConfig *c, int lowest, int B, int T) {
    double n = (double)B * T, blocks = c->n_layers - 1 - lowest;   // the blocks above the lowest steered one
    return n * 2.0 * c->dim * c->vocab + blocks / c->n_layers * (n * proj_flops(c) + 2 * attn_flops(c, B, T));
}

double model_backward_flops(const ModelConfig *c, AdapterFormat f, const LoraSpec *lora, int B, int T) {
    if (f == FMT_NONE) return 0;
    double n = (double)B * T;
    double input_grads = n * (proj_flops(c) + 2.0 * c->dim * c->vocab);
    double attn = 2 * attn_flops(c, B, T);   // dP, dV, dQ, dK: four products where the forward has two
    // Steering after the last block stops at the final norm: the head's input gradient only.
    if (f == FMT_STEER) return model_steer_backward_flops(c, c->n_layers - 1, B, T);
    double weight_grads = f == FMT_FULL ? input_grads : 0;
    double lora_flops = 0;
    if (f == FMT_LORA && lora) {
        double d = c->dim, hd = config_head_dim(c), qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
        double ff = c->ffn_dim;
        double io[LORA_N_TARGETS] = { d + qd, d + kvd, d + kvd, qd + d, d + ff, d + ff, ff + d };
        for (int t = 0; t < LORA_N_TARGETS; t++)
            if (lora->targets & (1u << t)) lora_flops += 2 * 2.0 * n * lora->rank * io[t];   // dB, du; dA, dx
        lora_flops *= c->n_layers;
    }
    return input_grads + attn + weight_grads + lora_flops;
}
