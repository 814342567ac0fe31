// The C half of the PyTorch parity test: loads weights written by reference.py in the canonical
// tensor order, runs one format's forward and backward on a fixed batch, then 10 AdamW steps on that
// same batch, and writes every number the reference must reproduce as named float64 tensors.
//
//   parity_driver [--precision P] CASE WEIGHTS TOKENS OUT [ADAPTER_IN]
//   parity_driver [--precision P] --backend      prints what computes the products at P
//
// P is the compute precision of the weight products (engine/mat.h: fp32, the default, or bf16, ...).
// CASE is "key value" lines (model shape, batch, format, optimiser); WEIGHTS raw little-endian
// float32 in weights_tensors order; TOKENS int32 [batch][seq + 1]; OUT receives records of
// "name rows cols\n" followed by rows*cols float64. ADAPTER_IN (same record format) overrides
// trainable tensors by name, so a test can give LoRA B nonzero values and make dA observable.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adamw.h"
#include "engine/adapter.h"
#include "engine/mat.h"
#include "engine/model.h"
#include "engine/qat.h"
#include "engine/ternary.h"
#include "engine/util.h"
#include "engine/weights.h"

typedef struct {
    ModelConfig cfg;
    int batch, seq, steps;
    AdapterFormat format;
    LoraSpec lora;
    SteerSpec steer;
    double lr, beta1, beta2, eps, weight_decay, grad_clip;
    unsigned long long seed;
    int qat;   // full format, trained quantisation-aware (engine/qat.h): forward and backward on the shadow
} Case;

// One trainable tensor of an adapter, by its canonical name.
typedef struct {
    char name[96];
    int rows, cols;
    real *param, *grad;
} Trainable;

static const char *lora_target_names[LORA_N_TARGETS] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj" };

static void read_case(Case *c, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) die_input("%s: cannot open: %s", path, strerror(errno));
    memset(c, 0, sizeof *c);
    c->format = FMT_NONE;
    c->lora = (LoraSpec){ .rank = 2, .alpha = 4, .targets = LORA_ALL };
    c->steps = 10;
    c->beta1 = 0.9; c->beta2 = 0.95; c->eps = 1e-8;
    char key[64], val[128];
    int line = 0;
    while (fscanf(f, "%63s %127s", key, val) == 2) {
        line++;
        ModelConfig *m = &c->cfg;
        if (!strcmp(key, "dim")) m->dim = atoi(val);
        else if (!strcmp(key, "n_layers")) m->n_layers = atoi(val);
        else if (!strcmp(key, "n_heads")) m->n_heads = atoi(val);
        else if (!strcmp(key, "n_kv_heads")) m->n_kv_heads = atoi(val);
        else if (!strcmp(key, "ffn_dim")) m->ffn_dim = atoi(val);
        else if (!strcmp(key, "vocab")) m->vocab = atoi(val);
        else if (!strcmp(key, "context")) m->context = atoi(val);
        else if (!strcmp(key, "rope_theta")) m->rope_theta = atof(val);
        else if (!strcmp(key, "norm_eps")) m->norm_eps = atof(val);
        else if (!strcmp(key, "tied")) m->tied = atoi(val);
        else if (!strcmp(key, "qkv_bias")) m->qkv_bias = atoi(val);
        else if (!strcmp(key, "batch")) c->batch = atoi(val);
        else if (!strcmp(key, "seq")) c->seq = atoi(val);
        else if (!strcmp(key, "steps")) c->steps = atoi(val);
        else if (!strcmp(key, "format")) {
            if (format_parse(val, &c->format)) die_input("%s: field format: unknown format '%s'", path, val);
        }
        else if (!strcmp(key, "lora_rank")) c->lora.rank = atoi(val);
        else if (!strcmp(key, "lora_alpha")) c->lora.alpha = atof(val);
        else if (!strcmp(key, "lora_targets")) {
            if (lora_targets_parse(val, &c->lora.targets))
                die_input("%s: field lora_targets: unknown target in '%s'", path, val);
        }
        else if (!strcmp(key, "steer_layers")) {
            if (steer_layers_parse(val, &c->steer))
                die_input("%s: field steer_layers: '%s' is not 'last' or a list of blocks", path, val);
        }
        else if (!strcmp(key, "lr")) c->lr = atof(val);
        else if (!strcmp(key, "beta1")) c->beta1 = atof(val);
        else if (!strcmp(key, "beta2")) c->beta2 = atof(val);
        else if (!strcmp(key, "eps")) c->eps = atof(val);
        else if (!strcmp(key, "weight_decay")) c->weight_decay = atof(val);
        else if (!strcmp(key, "grad_clip")) c->grad_clip = atof(val);
        else if (!strcmp(key, "seed")) c->seed = strtoull(val, NULL, 10);
        else if (!strcmp(key, "qat")) c->qat = atoi(val);
        else die_input("%s: line %d: unknown field '%s'", path, line, key);
    }
    fclose(f);
    const char *bad = config_check(&c->cfg);
    if (bad) die_input("%s: model shape: %s", path, bad);
    if (c->cfg.n_layers > SWEEP_MAX_LAYERS) die_input("%s: field n_layers: more than %d", path, SWEEP_MAX_LAYERS);
    if (c->batch <= 0 || c->seq <= 0 || c->seq > c->cfg.context)
        die_input("%s: field batch/seq: need batch > 0 and 0 < seq <= context", path);
    if (c->steps < 0 || c->steps > 1000) die_input("%s: field steps: out of range", path);
    if (c->format == FMT_LORA && c->lora.rank <= 0) die_input("%s: field lora_rank: must be positive", path);
    if (c->qat && c->format != FMT_FULL) die_input("%s: field qat: needs format full", path);
}

static void *read_exact(const char *path, size_t bytes, const char *what) {
    size_t len = 0;
    char *buf = read_whole_file(path, &len);
    if (!buf) die_input("%s: cannot read: %s", path, strerror(errno));
    if (len != bytes) die_input("%s: %s: %zu bytes, expected %zu", path, what, len, bytes);
    return buf;
}

static void lora_shape(const ModelConfig *c, int target, int *out, int *in) {
    int hd = config_head_dim(c), q = c->n_heads * hd, kv = c->n_kv_heads * hd;
    switch (target) {
    case 0: *out = q; *in = c->dim; break;
    case 1: case 2: *out = kv; *in = c->dim; break;
    case 3: *out = c->dim; *in = q; break;
    case 4: case 5: *out = c->ffn_dim; *in = c->dim; break;
    default: *out = c->dim; *in = c->ffn_dim; break;
    }
}

// Lists the adapter's trainable tensors under the names reference.py uses; returns the count.
static int list_trainables(Adapter *ad, Trainable *t, int cap) {
    const ModelConfig *c = &ad->cfg;
    int n = 0, d = c->dim;
    if (ad->format == FMT_NORM) {
        for (int l = 0; l < c->n_layers && n + 2 <= cap; l++) {
            t[n] = (Trainable){ "", d, 1, ad->attn_norm + (size_t)l * d, NULL };
            snprintf(t[n++].name, sizeof t->name, "model.layers.%d.input_layernorm.weight", l);
            t[n] = (Trainable){ "", d, 1, ad->ffn_norm + (size_t)l * d, NULL };
            snprintf(t[n++].name, sizeof t->name, "model.layers.%d.post_attention_layernorm.weight", l);
        }
        if (n < cap) { t[n] = (Trainable){ "model.norm.weight", d, 1, ad->final_norm, NULL }; n++; }
    } else if (ad->format == FMT_LORA) {
        for (int l = 0; l < c->n_layers; l++)
            for (int k = 0; k < LORA_N_TARGETS && n + 2 <= cap; k++) {
                LoraPair *p = &ad->lora_w[l][k];
                if (!p->A) continue;
                int out, in;
                lora_shape(c, k, &out, &in);
                // A and B live inside ad->params; the views are const only for the forward pass
                t[n] = (Trainable){ "", ad->lora.rank, in, (real *)p->A, p->dA };
                snprintf(t[n++].name, sizeof t->name, "model.layers.%d.%s.lora_A", l, lora_target_names[k]);
                t[n] = (Trainable){ "", out, ad->lora.rank, (real *)p->B, p->dB };
                snprintf(t[n++].name, sizeof t->name, "model.layers.%d.%s.lora_B", l, lora_target_names[k]);
            }
    } else if (ad->format == FMT_STEER) {
        for (int l = 0; l < c->n_layers && n < cap; l++) {
            if (!ad->steer_vec[l]) continue;
            t[n] = (Trainable){ "", d, 1, ad->steer_vec[l], NULL };
            snprintf(t[n++].name, sizeof t->name, "model.layers.%d.steer", l);
        }
    } else if (ad->format == FMT_FULL) {
        int nt = weights_n_tensors(c);
        TensorInfo *info = xcalloc((size_t)nt, sizeof *info);
        weights_tensors(c, info);
        for (int i = 0; i < nt && n < cap; i++) {
            const real *p = (info[i].kind == TK_NORM || info[i].kind == TK_BIAS)
                                ? *weights_vec(&ad->full, &info[i])
                                : (const real *)weights_mat(&ad->full, &info[i])->data;
            t[n] = (Trainable){ "", info[i].rows, info[i].cols, (real *)p, NULL };
            snprintf(t[n++].name, sizeof t->name, "%s", info[i].name);
        }
        free(info);
    }
    // norm, steer and full gradients sit at the same offset in ad->grads as the parameter in ad->params
    for (int i = 0; i < n; i++)
        if (!t[i].grad) {
            if (t[i].param < ad->params || t[i].param >= ad->params + ad->n) {
                fprintf(stderr, "parity_driver: tensor %s lies outside the adapter block\n", t[i].name);
                exit(3);
            }
            t[i].grad = ad->grads + (t[i].param - ad->params);
        }
    return n;
}

static void write_record(FILE *f, const char *name, int rows, int cols, const real *x) {
    fprintf(f, "%s %d %d\n", name, rows, cols);
    for (long i = 0; i < (long)rows * cols; i++) {
        double v = (double)x[i];
        fwrite(&v, sizeof v, 1, f);
    }
}

static void write_doubles(FILE *f, const char *name, int n, const double *x) {
    fprintf(f, "%s %d %d\n", name, 1, n);
    fwrite(x, sizeof *x, (size_t)n, f);
}

// Overwrites trainable tensors with the records of path (names and shapes must match).
static void load_overrides(const char *path, Trainable *t, int n) {
    FILE *f = fopen(path, "rb");
    if (!f) die_input("%s: cannot open: %s", path, strerror(errno));
    char name[128];
    int rows, cols;
    while (fscanf(f, "%127s %d %d", name, &rows, &cols) == 3) {
        if (fgetc(f) != '\n') die_input("%s: record %s: header not followed by a newline", path, name);
        int i = 0;
        while (i < n && strcmp(t[i].name, name)) i++;
        if (i == n) die_input("%s: record %s: not a trainable tensor of this format", path, name);
        if (rows != t[i].rows || cols != t[i].cols)
            die_input("%s: record %s: shape %dx%d, expected %dx%d", path, name, rows, cols, t[i].rows, t[i].cols);
        for (long k = 0; k < (long)rows * cols; k++) {
            double v;
            if (fread(&v, sizeof v, 1, f) != 1) die_input("%s: record %s: truncated", path, name);
            t[i].param[k] = (real)v;
        }
    }
    if (!feof(f)) die_input("%s: malformed record header", path);
    fclose(f);
}

int main(int argc, char **argv) {
    MatPrecision precision = MAT_PREC_FP32;
    if (argc >= 3 && !strcmp(argv[1], "--precision")) {
        if (mat_precision_parse(argv[2], &precision))
            die_input("parity_driver: --precision: unknown precision '%s' (fp32, fp32-dnnl, bf16, int8)", argv[2]);
        argv += 2;   // the positional arguments keep their numbers
        argc -= 2;
    }
    if (argc == 2 && !strcmp(argv[1], "--backend")) {   // what computes the products, for the test's log
        printf("%s\n", mat_precision_backend(precision));
        return 0;
    }
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: parity_driver [--precision P] CASE WEIGHTS TOKENS OUT [ADAPTER_IN]\n");
        return 2;
    }
    Case cs;
    read_case(&cs, argv[1]);
    const ModelConfig *c = &cs.cfg;
    int B = cs.batch, T = cs.seq, V = c->vocab;
    engine_set_threads(1);

    size_t np = config_n_params(c);
    float *blob = read_exact(argv[2], np * sizeof(float), "weights");
    real *block = xaligned(np * sizeof(real));
    for (size_t i = 0; i < np; i++) block[i] = (real)blob[i];
    free(blob);
    Weights base;
    weights_carve(&base, c, block);
    base.mc = mat_context_create(precision);   // the case's one compute context

    int *window = read_exact(argv[3], (size_t)B * (T + 1) * sizeof(int), "tokens");
    int *tokens = xmalloc((size_t)B * T * sizeof(int)), *targets = xmalloc((size_t)B * T * sizeof(int));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int x = window[b * (T + 1) + t], y = window[b * (T + 1) + t + 1];
            if (x < 0 || x >= V) die_input("%s: token %d at [%d][%d] out of [0, %d)", argv[3], x, b, t, V);
            if (y < -1 || y >= V) die_input("%s: target %d at [%d][%d] out of [-1, %d)", argv[3], y, b, t + 1, V);
            tokens[b * T + t] = x;
            targets[b * T + t] = y;   // -1 is an ignored target, as in PyTorch's ignore_index
        }
    free(window);

    FILE *out = fopen(argv[4], "wb");
    if (!out) { fprintf(stderr, "parity_driver: %s: cannot create: %s\n", argv[4], strerror(errno)); return 2; }
    Acts *acts = acts_create(c, B, T);
    if (!acts) { fprintf(stderr, "parity_driver: cannot allocate activations\n"); return 3; }

    if (cs.format == FMT_NONE) {
        double loss = model_forward(&base, NULL, acts, tokens, targets, B, T);
        write_record(out, "logits", B * T, V, acts_logits(acts));
        write_doubles(out, "loss", 1, &loss);
        fclose(out);
        acts_free(acts);
        free(block); free(tokens); free(targets);
        return 0;
    }

    Adapter ad;
    int init_rc = cs.format == FMT_STEER ? adapter_init_steer(&ad, &cs.steer, &base)
                                         : adapter_init(&ad, cs.format, &cs.lora, &base, cs.seed);
    if (init_rc) {
        fprintf(stderr, "parity_driver: adapter_init failed: %s\n", strerror(errno));
        return 3;
    }
    if (adamw_alloc(&ad)) { fprintf(stderr, "parity_driver: adamw_alloc failed\n"); return 3; }
    int cap = 4 * c->n_layers * LORA_N_TARGETS + 16;
    Trainable *tr = xcalloc((size_t)cap, sizeof *tr);
    int ntr = list_trainables(&ad, tr, cap);
    if (argc == 6) load_overrides(argv[5], tr, ntr);
    for (int i = 0; i < ntr; i++) {
        char name[128];
        snprintf(name, sizeof name, "init.%s", tr[i].name);
        write_record(out, name, tr[i].rows, tr[i].cols, tr[i].param);
    }

    Weights eff;
    adapter_apply(&ad, &base, &eff);
    // QAT: every forward and backward below runs on the quantised shadow of the adapter's weights
    QatShadow sh;
    // fp32 products of the shadow's ternary matrices exact (decoded tiles and BLAS): the default int16
    // kernel rounds activations to 1/32767 of their row's absmax (its bound is engine/ternary.h's, tested
    // in test_ternary), which is the kernel's error, not the QAT rule's this test checks
    if (cs.qat) ternary_use_int_kernels(0);
    if (cs.qat) qat_init(&sh, &eff);
#define FWD_WEIGHTS (cs.qat ? (qat_quantize(&sh, &eff), &sh.w) : &eff)
    adapter_zero_grad(&ad);
    const Weights *w = FWD_WEIGHTS;
    double loss = model_forward(w, &ad, acts, tokens, targets, B, T);
    write_record(out, "logits", B * T, V, acts_logits(acts));
    write_doubles(out, "loss", 1, &loss);
    model_backward(w, &ad, acts, tokens, targets, B, T);
    for (int i = 0; i < ntr; i++) {
        char name[128];
        snprintf(name, sizeof name, "grad.%s", tr[i].name);
        write_record(out, name, tr[i].rows, tr[i].cols, tr[i].grad);
    }
    if (cs.qat) {
        // The straight-through rule inside the engine: the same batch through plain full training of a
        // model whose weights are the shadow's values (decoded to real) gives the gradient of the
        // quantised weights; the latent gradients above must equal it.
        size_t np2 = config_n_params(c);
        real *qblock = xaligned(np2 * sizeof(real));
        int nt = weights_n_tensors(c);
        TensorInfo *info = xcalloc((size_t)nt, sizeof *info);
        weights_tensors(c, info);
        for (int i = 0; i < nt; i++) {
            if (info[i].cols == 1) memcpy(qblock + info[i].offset, *weights_vec(&sh.w, &info[i]), info[i].rows * sizeof(real));
            else mat_decode_rows(qblock + info[i].offset, weights_mat(&sh.w, &info[i]), 0, info[i].rows);
        }
        Weights qbase;
        weights_carve(&qbase, c, qblock);
        qbase.mc = base.mc;
        Adapter qad;
        if (adapter_init(&qad, FMT_FULL, NULL, &qbase, cs.seed)) { fprintf(stderr, "parity_driver: adapter_init failed\n"); return 3; }
        Trainable *qtr = xcalloc((size_t)cap, sizeof *qtr);
        int nq = list_trainables(&qad, qtr, cap);
        Weights qeff;
        adapter_apply(&qad, &qbase, &qeff);
        adapter_zero_grad(&qad);
        model_forward(&qeff, &qad, acts, tokens, targets, B, T);
        model_backward(&qeff, &qad, acts, tokens, targets, B, T);
        for (int i = 0; i < nq; i++) {
            char name[128];
            snprintf(name, sizeof name, "qgrad.%s", qtr[i].name);
            write_record(out, name, qtr[i].rows, qtr[i].cols, qtr[i].grad);
        }
        free(qtr);
        free(info);
        adapter_free(&qad);
        free(qblock);
    }

    // the same batch every step, so both sides train on identical data without sharing a sampler
    double *losses = xcalloc((size_t)cs.steps + 1, sizeof *losses);
    double *gnorms = xcalloc((size_t)cs.steps + 1, sizeof *gnorms);
    for (int s = 1; s <= cs.steps; s++) {
        adapter_apply(&ad, &base, &eff);
        adapter_zero_grad(&ad);
        w = FWD_WEIGHTS;
        losses[s - 1] = model_forward(w, &ad, acts, tokens, targets, B, T);
        model_backward(w, &ad, acts, tokens, targets, B, T);
        gnorms[s - 1] = adamw_step(&ad, s, cs.lr, cs.beta1, cs.beta2, cs.eps, cs.weight_decay, cs.grad_clip);
    }
    adapter_apply(&ad, &base, &eff);
    losses[cs.steps] = model_forward(FWD_WEIGHTS, &ad, acts, tokens, targets, B, T);
    write_doubles(out, "losses", cs.steps + 1, losses);
    write_doubles(out, "grad_norms", cs.steps, gnorms);
    for (int i = 0; i < ntr; i++) {
        char name[128];
        snprintf(name, sizeof name, "final.%s", tr[i].name);
        write_record(out, name, tr[i].rows, tr[i].cols, tr[i].param);
    }
    if (fclose(out)) { fprintf(stderr, "parity_driver: %s: write failed\n", argv[4]); return 3; }

    if (cs.qat) qat_free(&sh);
    free(losses); free(gnorms); free(tr);
    adapter_free(&ad);
    acts_free(acts);
    free(block); free(tokens); free(targets);
    return 0;
}
