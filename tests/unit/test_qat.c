// Quantisation-aware training's shadow (engine/qat.h) against the ternary model file written from the
// same latent weights: identical logits in every precision (the file's forward is the QAT forward), and
// a re-quantised shadow never multiplied from a stale converted copy.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/model.h"
#include "engine/modelfile.h"
#include "engine/qat.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

enum { B = 2, T = 8 };

static void logits_of(float *out, const Weights *w, const int *tokens, MatContext *mc) {
    Weights x = *w;
    x.mc = mc;
    Acts *a = acts_create(&w->cfg, B, T);
    model_forward(&x, NULL, a, tokens, NULL, B, T);
    memcpy(out, acts_logits(a), sizeof(float) * B * T * w->cfg.vocab);
    acts_free(a);
}

// A tiny shape, tied or not, with weights large enough that trits and bf16 rounding matter; wide
// (dim 512) when the converted-weight cache's sampled check must be able to miss a one-trit change.
static real *make_latent(Weights *lat, int tied, unsigned long long seed, int wide) {
    ModelConfig c;
    config_tiny(&c);
    c.tied = tied;
    if (wide) c.dim = 512, c.n_layers = 1, c.ffn_dim = 32;
    size_t np = config_n_params(&c);
    real *block = xaligned(np * sizeof(real));
    weights_init_random(block, &c, seed);
    for (size_t i = 0; i < np; i++) block[i] *= 25 * sqrtf(16.0f / c.dim);   // O(1) activations
    weights_carve(lat, &c, block);
    return block;
}

static void test_file_equals_shadow(int tied) {
    Weights lat;
    real *block = make_latent(&lat, tied, 7 + tied, 0);
    const ModelConfig *c = &lat.cfg;
    QatShadow sh;
    qat_init(&sh, &lat);
    char path[] = "/tmp/test_qat_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ModelWriteOptions wo;
    model_write_options_default(&wo);
    wo.matrix_dtype = MAT_TERNARY;   // as sweep pretrain writes base-ternary.sweep
    wo.embed_dtype = wo.head_dtype = MAT_BF16;
    char err[300];
    CHECK(model_write(path, &lat, &wo, err, sizeof err) == 0, "model_write: %s", err);
    ModelFile mf;
    CHECK(model_open(&mf, path, 0, err, sizeof err) == 0, "model_open: %s", err);
    int tokens[B * T];
    for (int i = 0; i < B * T; i++) tokens[i] = (i * 37 + 11) % c->vocab;
    size_t nl = (size_t)B * T * c->vocab;
    float *a = xmalloc(nl * sizeof(float)), *b = xmalloc(nl * sizeof(float)), *p = xmalloc(nl * sizeof(float));
    for (int prec = MAT_PREC_FP32; prec <= MAT_PREC_INT8; prec++) {
        MatContext *m1 = mat_context_create(prec), *m2 = mat_context_create(prec);
        logits_of(a, &sh.w, tokens, m1);
        logits_of(b, &mf.w, tokens, m2);
        CHECK(!memcmp(a, b, nl * sizeof(float)), "tied %d, %s: the QAT forward's logits differ from the ternary file's",
              tied, mat_precision_name(prec));
        mat_context_free(m1);
        mat_context_free(m2);
    }
    // and the shadow is quantised: its logits are not the latent weights' (a test that cannot pass by accident)
    logits_of(p, &lat, tokens, NULL);
    logits_of(a, &sh.w, tokens, NULL);
    double worst = 0;
    for (size_t i = 0; i < nl; i++) worst = fmax(worst, fabs((double)a[i] - p[i]));
    CHECK(worst > 1e-2, "tied %d: shadow logits within %g of the unquantised latent's", tied, worst);
    model_close(&mf);
    unlink(path);
    qat_free(&sh);
    free(a); free(b); free(p); free(block);
}

// After the latent weights change, qat_quantize must make the next product use the new trits even in a
// context that converted the old ones (bf16 copies, int8 trits keyed by address).
static void test_requantize_not_stale(void) {
    Weights lat;
    real *block = make_latent(&lat, 0, 11, 1);
    const ModelConfig *c = &lat.cfg;
    int tokens[B * T];
    for (int i = 0; i < B * T; i++) tokens[i] = (i * 13 + 5) % c->vocab;
    size_t nl = (size_t)B * T * c->vocab;
    float *a = xmalloc(nl * sizeof(float)), *b = xmalloc(nl * sizeof(float));
    for (int prec = MAT_PREC_BF16; prec <= MAT_PREC_INT8; prec++) {
        MatContext *mc = mat_context_create(prec);
        Weights l = lat;
        l.mc = mc;
        QatShadow sh;
        qat_init(&sh, &l);
        logits_of(a, &sh.w, tokens, mc);   // converts the first shadow into mc's cache
        // move one weight of layer 0's q projection across a trit boundary: a one-trit change
        real *q = (real *)lat.layer[0].q.data;
        int at = 3 * c->dim + 5;
        q[at] = q[at] > 0 ? -3 * fabs(q[at]) - 1 : 3 * fabs(q[at]) + 1;
        qat_quantize(&sh, &l);
        logits_of(a, &sh.w, tokens, mc);
        MatContext *fresh = mat_context_create(prec);
        logits_of(b, &sh.w, tokens, fresh);
        CHECK(!memcmp(a, b, nl * sizeof(float)), "%s: after qat_quantize the context multiplied a stale copy",
              mat_precision_name(prec));
        mat_context_free(fresh);
        mat_context_free(mc);
        qat_free(&sh);
    }
    free(a); free(b); free(block);
}

int main(void) {
    test_file_equals_shadow(0);
    test_file_equals_shadow(1);
    test_requantize_not_stale();
    return tl_finish("test_qat");
}
