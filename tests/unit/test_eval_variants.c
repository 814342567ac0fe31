// Evaluation-time variants of a trained adapter: int8 / int4 round trips (engine/adapter_quant.c)
// per tensor and per channel, with the error bound of absmax rounding and the wire bytes; and
// evaluation noise (acts_set_noise): sigma 0 equals no noise bit for bit, the seed decides the draws.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/adapter_quant.h"
#include "engine/job.h"
#include "engine/rng.h"
#include "engine/train.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

static Weights *make_base(const ModelConfig *c, real **block) {
    *block = xaligned(config_n_params(c) * sizeof(real));
    weights_init_random(*block, c, 5);
    Weights *w = malloc(sizeof *w);
    weights_carve(w, c, *block);
    return w;
}

static void perturb(Adapter *a, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    for (size_t i = 0; i < a->n; i++) a->params[i] += (real)(0.1 * rng_normal(&rng));
}

// Each tensor exactly once, in block order, covering the block.
static void check_tensors(const char *label, const Adapter *a) {
    int nt = adapter_tensors(a, NULL);
    AdapterTensor *t = malloc((size_t)(nt ? nt : 1) * sizeof *t);
    adapter_tensors(a, t);
    size_t next = 0;
    int ok = 1;
    for (int i = 0; i < nt; i++) {
        ok &= t[i].offset == next && t[i].rows > 0 && t[i].cols > 0;
        next = t[i].offset + (size_t)t[i].rows * t[i].cols;
    }
    CHECK(ok && next == a->n, "%s: %d tensors do not tile the block of %zu (reach %zu)", label, nt, a->n, next);
    free(t);
}

// Round trip at `bits`: every element within half a step of its group's grid; a second round trip
// changes nothing; the result differs from the original (the test can fail).
static void check_roundtrip(const char *label, const Weights *base, Adapter *a, int bits, QuantScope scope) {
    real *orig = malloc(a->n * sizeof(real));
    memcpy(orig, a->params, a->n * sizeof(real));
    CHECK(adapter_quantize_roundtrip(a, bits, scope) == 0, "%s: round trip", label);
    int nt = adapter_tensors(a, NULL);
    AdapterTensor *t = malloc((size_t)nt * sizeof *t);
    adapter_tensors(a, t);
    int qmax = (1 << (bits - 1)) - 1;
    double worst = 0;   // error over the bound scale / 2
    for (int i = 0; i < nt; i++) {
        int groups = scope == QUANT_PER_CHANNEL ? t[i].rows : 1;
        size_t len = (size_t)t[i].rows * t[i].cols / groups;
        for (int g = 0; g < groups; g++) {
            size_t o = t[i].offset + g * len;
            double amax = 0;
            for (size_t j = 0; j < len; j++) amax = fmax(amax, fabs(orig[o + j]));
            double step = amax / qmax;
            for (size_t j = 0; j < len; j++) {
                double e = fabs(a->params[o + j] - orig[o + j]);
                if (step > 0) worst = fmax(worst, e / (step / 2));
            }
        }
    }
    // float32 scale and real arithmetic add a relative 1e-6 or so to the half step
    CHECK(worst <= 1 + 1e-5, "%s: worst error %.6g half steps", label, worst);
    CHECK(memcmp(orig, a->params, a->n * sizeof(real)) != 0, "%s: the round trip changed nothing", label);
    real *once = malloc(a->n * sizeof(real));
    memcpy(once, a->params, a->n * sizeof(real));
    adapter_quantize_roundtrip(a, bits, scope);
    double drift = 0;
    for (size_t i = 0; i < a->n; i++) drift = fmax(drift, fabs(once[i] - a->params[i]) / fmax(fabs(once[i]), 1e-30));
    CHECK(drift < 1e-6, "%s: a second round trip moves values by %.3g (relative)", label, drift);
    printf("%s: worst error %.3f half steps, %zu bytes\n", label, worst, adapter_quant_bytes(a, bits, scope));
    (void)base;
    memcpy(a->params, orig, a->n * sizeof(real));
    free(orig);
    free(once);
    free(t);
}

int main(void) {
    engine_set_threads(1);
    // bytes on the default base: the norm adapter's 9 vectors of 256
    ModelConfig dc;
    config_default(&dc);
    real *dblock;
    Weights *dbase = make_base(&dc, &dblock);
    Adapter na;
    CHECK(adapter_init(&na, FMT_NORM, NULL, dbase, 0) == 0, "norm on the default base");
    CHECK(adapter_quant_bytes(&na, 8, QUANT_PER_TENSOR) == 2304 + 9 * 4, "int8 bytes %zu",
          adapter_quant_bytes(&na, 8, QUANT_PER_TENSOR));
    CHECK(adapter_quant_bytes(&na, 4, QUANT_PER_CHANNEL) == 1152 + 9 * 4, "int4 per channel bytes %zu (vectors: one channel)",
          adapter_quant_bytes(&na, 4, QUANT_PER_CHANNEL));
    adapter_free(&na);
    free(dblock);
    free(dbase);

    ModelConfig c;
    config_tiny(&c);
    real *block;
    Weights *base = make_base(&c, &block);
    LoraSpec ls = { .rank = 2, .alpha = 4, .targets = LORA_Q | LORA_V | LORA_DOWN };
    const AdapterFormat fmts[4] = { FMT_NORM, FMT_LORA, FMT_FULL, FMT_STEER };
    for (int f = 0; f < 4; f++) {
        Adapter a;
        CHECK(adapter_init(&a, fmts[f], &ls, base, 1) == 0, "%s init", format_name(fmts[f]));
        perturb(&a, 7 + f);
        check_tensors(format_name(fmts[f]), &a);
        char label[64];
        for (int bits = 8; bits >= 4; bits -= 4)
            for (int s = 0; s < 2; s++) {
                snprintf(label, sizeof label, "%s int%d per %s", format_name(fmts[f]), bits, quant_scope_name((QuantScope)s));
                check_roundtrip(label, base, &a, bits, (QuantScope)s);
            }
        adapter_free(&a);
    }
    // LoRA per channel: a scale per row of A (rank rows) and of B (output rows)
    Adapter la;
    adapter_init(&la, FMT_LORA, &ls, base, 1);
    size_t want = 0;
    for (int l = 0; l < c.n_layers; l++) {
        // q: A [2][16], B [16][2]; v: A [2][16], B [8][2]; down: A [2][24], B [16][2]
        want += (32 + 32 + 32 + 16 + 48 + 32) + 4 * (2 + 16 + 2 + 8 + 2 + 16);
    }
    CHECK(adapter_quant_bytes(&la, 8, QUANT_PER_CHANNEL) == want, "lora int8 per channel bytes %zu, want %zu",
          adapter_quant_bytes(&la, 8, QUANT_PER_CHANNEL), want);
    adapter_free(&la);

    // noise: sigma 0 is the identity bit for bit; sigma > 0 changes the perplexity; the seed decides
    int n = 200;
    int *tok = malloc(n * sizeof(int));
    random_tokens(tok, n, c.vocab, 3);
    Adapter sa;
    adapter_init(&sa, FMT_STEER, NULL, base, 0);
    perturb(&sa, 9);
    JobSpec js = { .format = FMT_STEER, .seed = 5 };
    double s_plain, s_zero, s_noisy, s_again, s_other;
    double p_plain = job_eval_perplexity(base, &sa, &js, tok, n, &s_plain, NULL);
    double p_zero = job_eval_perplexity_noise(base, &sa, &js, 0.0, tok, n, &s_zero, NULL);
    double p_noisy = job_eval_perplexity_noise(base, &sa, &js, 0.1, tok, n, &s_noisy, NULL);
    job_eval_perplexity_noise(base, &sa, &js, 0.1, tok, n, &s_again, NULL);
    js.seed = 6;
    job_eval_perplexity_noise(base, &sa, &js, 0.1, tok, n, &s_other, NULL);
    CHECK(!memcmp(&s_plain, &s_zero, sizeof s_plain) && !memcmp(&p_plain, &p_zero, sizeof p_plain),
          "noise 0: nll sum %.17g, without noise %.17g", s_zero, s_plain);
    CHECK(s_noisy != s_plain, "noise 0.1 leaves the nll sum at %.17g", s_noisy);
    CHECK(!memcmp(&s_noisy, &s_again, sizeof s_noisy), "noise 0.1 twice: %.17g then %.17g", s_noisy, s_again);
    CHECK(s_other != s_noisy, "another seed draws the same noise");
    printf("steer on tiny: ppl %.6f, noise 0 %.6f, noise 0.1 %.6f\n", p_plain, p_zero, p_noisy);
    adapter_free(&sa);
    free(tok);
    free(block);
    free(base);
    return tl_finish("test_eval_variants");
}
