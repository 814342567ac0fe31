// Llama 3 RoPE scaling (rope_type "llama3") in double precision: rope_tables_scaled against the
// formula written here in another form (one clamped blend weight instead of three bands), its bands
// and their edges, the unscaled path bit for bit, config_check, the model file round trip, and the
// forward actually using it.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/model.h"
#include "engine/modelfile.h"
#include "engine/ops.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

// The scaled inverse frequency, written independently of engine/ops.c: a blend weight
// s = clamp((original_max / wavelength - low) / (high - low), 0, 1) between inv/factor (s = 0,
// long wavelengths) and inv (s = 1, short ones). Equal to HF's three-band torch.where form.
static double ref_inv_freq(int j, int hd, double theta, const RopeScaling *r) {
    double inv = 1.0 / pow(theta, (2.0 * j) / hd);
    double wavelen = 2 * M_PI / inv;
    double s = (r->original_max_pos / wavelen - r->low_freq_factor) / (r->high_freq_factor - r->low_freq_factor);
    s = s < 0 ? 0 : s > 1 ? 1 : s;
    return inv * ((1 - s) / r->factor + s);
}

enum { BAND_HIGH, BAND_MEDIUM, BAND_LOW };

static int band_of(int j, int hd, double theta, const RopeScaling *r) {
    double wavelen = 2 * M_PI * pow(theta, (2.0 * j) / hd);
    if (wavelen < r->original_max_pos / r->high_freq_factor) return BAND_HIGH;
    if (wavelen > r->original_max_pos / r->low_freq_factor) return BAND_LOW;
    return BAND_MEDIUM;
}

// Tables of rope_tables_scaled against the reference at every position; counts of each band.
static void check_against_formula(const char *what, int T, int hd, double theta, const RopeScaling *r, int need_all_bands) {
    int half = hd / 2;
    double *c = xmalloc(sizeof(double) * T * half), *s = xmalloc(sizeof(double) * T * half);
    double *c0 = xmalloc(sizeof(double) * T * half), *s0 = xmalloc(sizeof(double) * T * half);
    rope_tables_scaled(c, s, T, hd, theta, r);
    rope_tables(c0, s0, T, hd, theta);
    double worst = 0;
    int bands[3] = { 0 }, high_exact = 1, low_ok = 1, medium_between = 1;
    for (int j = 0; j < half; j++) {
        double inv_ref = ref_inv_freq(j, hd, theta, r), inv = 1.0 / pow(theta, (2.0 * j) / hd);
        for (int t = 0; t < T; t++) {
            worst = fmax(worst, fabs(c[t * half + j] - cos(t * inv_ref)));
            worst = fmax(worst, fabs(s[t * half + j] - sin(t * inv_ref)));
        }
        // the frequency itself, read back from position 1 (every angle there is below pi)
        double got = atan2(s[half + j], c[half + j]);
        int b = band_of(j, hd, theta, r);
        bands[b]++;
        if (b == BAND_HIGH)
            for (int t = 0; t < T; t++)
                high_exact &= c[t * half + j] == c0[t * half + j] && s[t * half + j] == s0[t * half + j];
        if (b == BAND_LOW) low_ok &= fabs(got - inv / r->factor) <= 1e-13 * inv;
        if (b == BAND_MEDIUM) medium_between &= got > inv / r->factor * (1 + 1e-12) && got < inv * (1 - 1e-12);
    }
    CHECK(worst < 1e-12, "%s: tables vs the clamped-blend formula over %d positions (max diff %.3e)", what, T, worst);
    CHECK(high_exact, "%s: high-frequency band (%d pairs) equals unscaled RoPE bit for bit", what, bands[BAND_HIGH]);
    CHECK(low_ok, "%s: low-frequency band (%d pairs) is inv_freq / factor", what, bands[BAND_LOW]);
    CHECK(medium_between, "%s: medium band (%d pairs) lies strictly between inv/factor and inv", what, bands[BAND_MEDIUM]);
    if (need_all_bands)
        CHECK(bands[0] > 0 && bands[1] > 0 && bands[2] > 0, "%s: every band is exercised (%d high, %d medium, %d low)",
              what, bands[0], bands[1], bands[2]);
    // the scaled frequencies stay ordered: scaling grows with the wavelength
    int monotone = 1;
    for (int j = 1; j < half; j++) monotone &= atan2(s[half + j], c[half + j]) < atan2(s[half + j - 1], c[half + j - 1]);
    CHECK(monotone, "%s: scaled frequencies decrease with the pair index", what);
    free(c); free(s); free(c0); free(s0);
}

static void test_tables(void) {
    ModelConfig b;
    CHECK(config_by_name(&b, "1b") == 0, "config 1b exists");
    const RopeScaling *r = &b.rope_scaling;
    CHECK(r->type == ROPE_SCALING_LLAMA3 && r->factor == 32 && r->low_freq_factor == 1 && r->high_freq_factor == 4 &&
          r->original_max_pos == 8192 && b.rope_theta == 500000, "config 1b carries Llama 3.2 1B's rope_scaling");
    CHECK(config_check(&b) == NULL, "config 1b passes config_check");
    check_against_formula("Llama 3.2 1B (hd 64)", 300, config_head_dim(&b), b.rope_theta, r, 1);
    // the import test's shape: a small original context so that a short sequence feels it
    RopeScaling small = { ROPE_SCALING_LLAMA3, 8.0, 1.0, 4.0, 32 };
    check_against_formula("original context 32 (hd 32)", 20, 32, 10000.0, &small, 1);
    // fractional factors, Llama 3.1 8B's factor
    RopeScaling odd = { ROPE_SCALING_LLAMA3, 8.0, 0.5, 3.25, 100 };
    check_against_formula("factors 8 / 0.5 / 3.25 (hd 48)", 50, 48, 10000.0, &odd, 1);

    // none (and NULL) is rope_tables bit for bit
    int T = 17, hd = 64, half = hd / 2;
    double *c = xmalloc(sizeof(double) * T * half), *s = xmalloc(sizeof(double) * T * half);
    double *c0 = xmalloc(sizeof(double) * T * half), *s0 = xmalloc(sizeof(double) * T * half);
    RopeScaling none = { 0 };
    rope_tables(c0, s0, T, hd, 500000.0);
    rope_tables_scaled(c, s, T, hd, 500000.0, &none);
    int same = !memcmp(c, c0, sizeof(double) * T * half) && !memcmp(s, s0, sizeof(double) * T * half);
    rope_tables_scaled(c, s, T, hd, 500000.0, NULL);
    same &= !memcmp(c, c0, sizeof(double) * T * half) && !memcmp(s, s0, sizeof(double) * T * half);
    CHECK(same, "no scaling gives rope_tables' tables bit for bit");
    // and the scaling does change them (so the comparison above can fail)
    rope_tables_scaled(c, s, T, hd, 500000.0, r);
    CHECK(memcmp(c, c0, sizeof(double) * T * half) != 0, "llama3 scaling changes the tables");
    // factor 1 is no scaling, up to rounding in the blend
    RopeScaling one = *r;
    one.factor = 1;
    rope_tables_scaled(c, s, T, hd, 500000.0, &one);
    double worst = 0;
    for (int i = 0; i < T * half; i++) worst = fmax(worst, fmax(fabs(c[i] - c0[i]), fabs(s[i] - s0[i])));
    CHECK(worst < 1e-14, "factor 1 equals unscaled RoPE (max diff %.3e)", worst);
    free(c); free(s); free(c0); free(s0);
}

static void test_config_check(void) {
    static const char *const what[][2] = {
        { "factor below 1", "rope_scaling.factor" },
        { "low_freq_factor 0", "rope_scaling.low_freq_factor" },
        { "high equal to low", "rope_scaling.high_freq_factor" },
        { "original context 0", "rope_scaling.original_max_position_embeddings" },
        { "unknown type", "rope_scaling.rope_type" },
        { "factor NaN", "rope_scaling.factor" },
    };
    for (int i = 0; i < (int)(sizeof what / sizeof what[0]); i++) {
        ModelConfig c;
        config_1b(&c);
        RopeScaling *r = &c.rope_scaling;
        switch (i) {
        case 0: r->factor = 0.5; break;
        case 1: r->low_freq_factor = 0; break;
        case 2: r->high_freq_factor = r->low_freq_factor; break;
        case 3: r->original_max_pos = 0; break;
        case 4: r->type = (RopeScalingType)7; break;
        case 5: r->factor = NAN; break;
        }
        const char *bad = config_check(&c);
        CHECK(bad && strstr(bad, what[i][1]), "config_check refuses %s naming %s (got %s)", what[i][0], what[i][1],
              bad ? bad : "NULL");
    }
    ModelConfig c;
    config_tiny(&c);
    c.rope_scaling.factor = -3;   // ignored without a type: zero-initialised configs stay valid
    CHECK(config_check(&c) == NULL, "scaling fields are ignored when the type is none");
}

// Writes a tiny model with cfg, reads it back; returns the file's config and its config JSON.
static int round_trip(const ModelConfig *cfg, const char *path, ModelConfig *got, char **meta_text) {
    real *block = xmalloc(sizeof(real) * config_n_params(cfg));
    weights_init_random(block, cfg, 11);
    Weights w;
    weights_carve(&w, cfg, block);
    ModelWriteOptions o;
    model_write_options_default(&o);
    char err[600];
    int rc = model_write(path, &w, &o, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    ModelFile mf;
    if (!rc && (rc = model_open(&mf, path, 0, err, sizeof err))) fprintf(stderr, "%s\n", err);
    if (!rc) {
        *got = mf.w.cfg;
        *meta_text = model_meta_json(&mf, "config");
        model_close(&mf);
    }
    free(block);
    return rc;
}

static void test_model_file(void) {
    char dir[] = "/tmp/test_rope_scaling.XXXXXX", path[300];
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    snprintf(path, sizeof path, "%s/m.sweep", dir);
    ModelConfig c, got;
    config_tiny(&c);
    c.rope_scaling = (RopeScaling){ ROPE_SCALING_LLAMA3, 32.0, 1.0, 4.0, 8192 };
    c.rope_scaling.factor = 7.123456789012345;   // a double that needs all its digits
    char *meta = NULL;
    CHECK(round_trip(&c, path, &got, &meta) == 0, "model with llama3 scaling writes and opens");
    if (meta) {
        const RopeScaling *a = &got.rope_scaling, *b = &c.rope_scaling;
        CHECK(a->type == b->type && a->factor == b->factor && a->low_freq_factor == b->low_freq_factor &&
              a->high_freq_factor == b->high_freq_factor && a->original_max_pos == b->original_max_pos,
              "rope_scaling survives the model file exactly");
        CHECK(strstr(meta, "\"rope_scaling\":{\"rope_type\":\"llama3\"") != NULL, "metadata records rope_scaling (%s)", meta);
        free(meta);
        meta = NULL;
    }
    config_tiny(&c);
    CHECK(round_trip(&c, path, &got, &meta) == 0, "model without scaling writes and opens");
    if (meta) {
        CHECK(got.rope_scaling.type == ROPE_SCALING_NONE, "no scaling reads back as none");
        CHECK(strstr(meta, "rope_scaling") == NULL, "no scaling writes no rope_scaling field (older files unchanged)");
        free(meta);
    }
    unlink(path);
    rmdir(dir);
}

// The forward uses the config's scaling: logits move with it, and factor 1 gives the unscaled ones.
static void test_forward(void) {
    ModelConfig c;
    config_tiny(&c);
    c.dim = 32; c.n_heads = 2; c.n_kv_heads = 1;   // head dim 16: wavelengths 6.3 ... 2e4
    int T = 12;
    real *block = xmalloc(sizeof(real) * config_n_params(&c));
    weights_init_random(block, &c, 5);
    Weights w;
    weights_carve(&w, &c, block);
    int tokens[12];
    for (int t = 0; t < T; t++) tokens[t] = (t * 7 + 3) % c.vocab;
    double *logits[3];
    RopeScaling sc[3] = { { 0 }, { ROPE_SCALING_LLAMA3, 8.0, 1.0, 4.0, 16 }, { ROPE_SCALING_LLAMA3, 1.0, 1.0, 4.0, 16 } };
    for (int k = 0; k < 3; k++) {
        ModelConfig ck = c;
        ck.rope_scaling = sc[k];
        Acts *a = acts_create(&ck, 1, T);
        model_forward(&w, NULL, a, tokens, NULL, 1, T);
        logits[k] = xmalloc(sizeof(double) * T * c.vocab);
        memcpy(logits[k], acts_logits(a), sizeof(double) * T * c.vocab);
        acts_free(a);
    }
    double d_scaled = 0, d_one = 0, first_row = 0;
    for (int i = 0; i < T * c.vocab; i++) {
        d_scaled = fmax(d_scaled, fabs(logits[1][i] - logits[0][i]));
        d_one = fmax(d_one, fabs(logits[2][i] - logits[0][i]));
        if (i < c.vocab) first_row = fmax(first_row, fabs(logits[1][i] - logits[0][i]));
    }
    // small random weights keep attention near uniform, so the move is small but far above rounding
    CHECK(d_scaled > 1e-6, "the forward applies the scaling (logits move by %.3e)", d_scaled);
    CHECK(first_row == 0, "position 0 is unrotated either way (diff %.3e)", first_row);
    CHECK(d_one < 1e-12, "factor 1 gives the unscaled logits (diff %.3e)", d_one);
    for (int k = 0; k < 3; k++) free(logits[k]);
    free(block);
}

int main(void) {
    test_tables();
    test_config_check();
    test_model_file();
    test_forward();
    return tl_finish("test_rope_scaling");
}
