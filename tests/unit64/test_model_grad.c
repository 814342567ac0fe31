// Whole-model gradients under each adapter format (norm, lora, full, steer) against central finite
// differences of the mean loss, in double precision, on config_tiny and a tied, qkv-bias variant.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adapter.h"
#include "engine/model.h"
#include "engine/rng.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

enum { B = 2, T = 6 };

// Weights far from the init (gains != 1, biases != 0, O(1) activations) so every path carries signal.
static void fill_random(real *block, const ModelConfig *c, Rng *rng) {
    int nt = weights_n_tensors(c);
    TensorInfo t[nt];
    weights_tensors(c, t);
    for (int i = 0; i < nt; i++) {
        real *p = block + t[i].offset;
        size_t count = (size_t)t[i].rows * t[i].cols;
        for (size_t j = 0; j < count; j++) {
            double z = rng_normal(rng);
            if (t[i].kind == TK_NORM) p[j] = 1 + 0.3 * z;
            else if (t[i].kind == TK_BIAS) p[j] = 0.3 * z;
            else if (t[i].kind == TK_EMBED) p[j] = z;
            else p[j] = z / sqrt((double)t[i].cols);
        }
    }
}

typedef struct { size_t off, len; char name[96]; } Segment;

// The tensors of an adapter's block, to check that each one receives some gradient.
static int segments(const Adapter *ad, Segment *s) {
    const ModelConfig *c = &ad->cfg;
    int k = 0;
    if (ad->format == FMT_NORM) {
        for (int i = 0; i < 2 * c->n_layers + 1; i++) {
            s[k] = (Segment){ (size_t)i * c->dim, (size_t)c->dim, "" };
            snprintf(s[k++].name, 96, "gain vector %d", i);
        }
    } else if (ad->format == FMT_FULL) {
        int nt = weights_n_tensors(c);
        TensorInfo t[nt];
        weights_tensors(c, t);
        for (int i = 0; i < nt; i++) {
            s[k] = (Segment){ t[i].offset, (size_t)t[i].rows * t[i].cols, "" };
            snprintf(s[k++].name, 96, "%s", t[i].name);
        }
    } else if (ad->format == FMT_STEER) {
        for (int l = 0; l < c->n_layers; l++) {
            if (!ad->steer_vec[l]) continue;
            s[k] = (Segment){ (size_t)(ad->steer_vec[l] - ad->params), (size_t)c->dim, "" };
            snprintf(s[k++].name, 96, "steering vector after block %d", l);
        }
    } else if (ad->format == FMT_LORA) {
        static const char *tn[] = { "q", "k", "v", "o", "gate", "up", "down" };
        for (int l = 0; l < c->n_layers; l++)
            for (int t = 0; t < LORA_N_TARGETS; t++) {
                const LoraPair *p = &ad->lora_w[l][t];
                if (!p->A) continue;
                size_t a_len = (size_t)(p->B - p->A);
                s[k] = (Segment){ (size_t)(p->A - ad->params), a_len, "" };
                snprintf(s[k++].name, 96, "layer %d %s A", l, tn[t]);
                int rows = t == 1 || t == 2 ? c->n_kv_heads * config_head_dim(c)
                         : t == 4 || t == 5 ? c->ffn_dim : c->dim;
                s[k] = (Segment){ (size_t)(p->B - ad->params), (size_t)rows * ad->lora.rank, "" };
                snprintf(s[k++].name, 96, "layer %d %s B", l, tn[t]);
            }
    }
    return k;
}

static double loss_of(const Weights *base, const Adapter *ad, Acts *acts, const int *tok, const int *tgt) {
    Weights eff;
    adapter_apply(ad, base, &eff);
    return model_forward(&eff, ad, acts, tok, tgt, B, T);
}

static void check_format(const char *label, const Weights *base, AdapterFormat f, const LoraSpec *lora,
                         const SteerSpec *steer, Acts *acts, const int *tok, const int *tgt, Rng *rng) {
    Adapter ad;
    int rc = f == FMT_STEER ? adapter_init_steer(&ad, steer, base) : adapter_init(&ad, f, lora, base, 11);
    CHECK(rc == 0, "%s: adapter_init", label);
    double base_loss = model_forward(base, NULL, acts, tok, tgt, B, T);
    // At init every adapter is the identity: same loss as the base, to rounding.
    double init_loss = loss_of(base, &ad, acts, tok, tgt);
    CHECK(fabs(init_loss - base_loss) < 1e-12, "%s: initial loss %.15g, base %.15g", label, init_loss, base_loss);
    if (f == FMT_LORA || f == FMT_STEER) {
        // B = 0 would make dA vanish; random B checks both products of the pair. Steering vectors
        // start at zero too: away from zero the downstream blocks see a shifted stream.
        for (size_t i = 0; i < ad.n; i++) ad.params[i] += 0.3 * rng_normal(rng);
    }
    adapter_zero_grad(&ad);
    Weights eff;
    adapter_apply(&ad, base, &eff);
    model_forward(&eff, &ad, acts, tok, tgt, B, T);
    model_backward(&eff, &ad, acts, tok, tgt, B, T);
    double *analytic = malloc(ad.n * sizeof(double)), *numeric = malloc(ad.n * sizeof(double));
    for (size_t i = 0; i < ad.n; i++) analytic[i] = ad.grads[i];
    // a training step's forward (the loss's gradient with the loss): the same gradient, bit for bit
    adapter_zero_grad(&ad);
    model_forward_train(&eff, &ad, acts, tok, tgt, B, T);
    model_backward(&eff, &ad, acts, tok, tgt, B, T);
    CHECK(!memcmp(analytic, ad.grads, ad.n * sizeof(double)), "%s: model_forward_train's gradient differs", label);
    const double h = 1e-5;
    for (size_t i = 0; i < ad.n; i++) {
        real p = ad.params[i];
        ad.params[i] = p + h;
        double lp = loss_of(base, &ad, acts, tok, tgt);
        ad.params[i] = p - h;
        double lm = loss_of(base, &ad, acts, tok, tgt);
        ad.params[i] = p;
        numeric[i] = (lp - lm) / (2 * h);
    }
    long at;
    // floor 1e-4: below it a gradient is too small for a central difference to resolve 1e-5 relative
    double worst = tl_max_relerr(analytic, numeric, (long)ad.n, 1e-4, &at);
    CHECK(worst < 1e-5, "%s: worst relative error %.3g at scalar %ld (analytic %.10g, numeric %.10g)",
          label, worst, at, analytic[at], numeric[at]);
    Segment seg[4 * SWEEP_MAX_LAYERS * LORA_N_TARGETS];
    int ns = segments(&ad, seg);
    size_t covered = 0;
    for (int k = 0; k < ns; k++) {
        double mx = 0;
        for (size_t j = 0; j < seg[k].len; j++) mx = fmax(mx, fabs(numeric[seg[k].off + j]));
        CHECK(mx > 1e-6, "%s: %s gets no gradient", label, seg[k].name);
        covered += seg[k].len;
    }
    CHECK(covered == ad.n, "%s: segments cover %zu of %zu scalars", label, covered, ad.n);
    printf("%s: %zu params, worst relative error %.2e\n", label, ad.n, worst);
    free(analytic);
    free(numeric);
    adapter_free(&ad);
}

static void check_config(const char *label, const ModelConfig *c) {
    Rng rng;
    rng_seed(&rng, 2024);
    real *block = xaligned(config_n_params(c) * sizeof(real));
    fill_random(block, c, &rng);
    Weights base;
    weights_carve(&base, c, block);
    int tok[B * T], tgt[B * T];
    for (int i = 0; i < B * T; i++) {
        tok[i] = (int)rng_below(&rng, c->vocab);
        tgt[i] = (int)rng_below(&rng, c->vocab);
    }
    tgt[3] = -1;   // an ignored position must contribute nothing
    Acts *acts = acts_create(c, B, T);
    char name[128];
    snprintf(name, sizeof name, "%s norm", label);
    check_format(name, &base, FMT_NORM, NULL, NULL, acts, tok, tgt, &rng);
    LoraSpec lora = { .rank = 2, .alpha = 4, .targets = LORA_ALL };
    snprintf(name, sizeof name, "%s lora r2 all targets", label);
    check_format(name, &base, FMT_LORA, &lora, NULL, acts, tok, tgt, &rng);
    snprintf(name, sizeof name, "%s full", label);
    check_format(name, &base, FMT_FULL, NULL, NULL, acts, tok, tgt, &rng);
    // steer: the default (after the last block), below another block (0), and both blocks at once
    const char *sets[] = { "last", "0", "0,1" };
    for (int i = 0; i < 3; i++) {
        SteerSpec steer;
        CHECK(steer_layers_parse(sets[i], &steer) == 0, "steer set %s", sets[i]);
        snprintf(name, sizeof name, "%s steer %s", label, sets[i]);
        check_format(name, &base, FMT_STEER, NULL, &steer, acts, tok, tgt, &rng);
    }
    // a block past the last is refused, not laid out
    SteerSpec past;
    Adapter bad;
    CHECK(steer_layers_parse("2", &past) == 0 && adapter_init_steer(&bad, &past, &base) == -1,
          "%s: steering block 2 of a 2-block base accepted", label);

    // none trains nothing: backward must leave an adapter without a block untouched and not crash
    Adapter none;
    CHECK(adapter_init(&none, FMT_NONE, NULL, &base, 1) == 0 && none.n == 0, "%s: none adapter", label);
    model_forward(&base, &none, acts, tok, tgt, B, T);
    model_backward(&base, &none, acts, tok, tgt, B, T);
    adapter_free(&none);
    acts_free(acts);
    free(block);
}

int main(void) {
    ModelConfig c;
    config_tiny(&c);
    check_config("tiny (untied, GQA 4/2)", &c);
    c.tied = 1;
    c.qkv_bias = 1;
    check_config("tiny tied + qkv bias", &c);
    return tl_finish("test_model_grad");
}
