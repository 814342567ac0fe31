// Adapters: initialisation per format, sizes, file round trips, and every corrupted file rejected
// with a message naming the file and the field.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/adapter.h"
#include "engine/model.h"
#include "engine/rng.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

// Byte offsets of the documented file layout (adapter.c): magic, version, format, 9 x i32, f64, u32, u64.
enum { OFF_VERSION = 4, OFF_FORMAT = 8, OFF_DIM = 12, OFF_VOCAB = 32, OFF_RANK = 44, OFF_COUNT = 60,
       OFF_BLOCK = 68 };

static char dir[256];

static unsigned char *slurp(const char *path, size_t *len) {
    return (unsigned char *)read_whole_file(path, len);
}

static void spit(const char *path, const unsigned char *b, size_t len) {
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, len, f);
    fclose(f);
}

static void reseal(unsigned char *b, size_t len) {   // a valid checksum over edited contents
    uint64_t h = fnv1a64(b, len - 8, FNV1A64_INIT);
    memcpy(b + len - 8, &h, 8);
}

static double loss_with(const Weights *base, const Adapter *ad, const int *tok, const int *tgt) {
    Acts *acts = acts_create(&base->cfg, 1, 8);
    Weights eff;
    adapter_apply(ad, base, &eff);
    double loss = model_forward(&eff, ad, acts, tok, tgt, 1, 8);
    acts_free(acts);
    return loss;
}

static void roundtrip(const char *label, const Weights *base, AdapterFormat f, const LoraSpec *lora,
                      const SteerSpec *steer) {
    Adapter a, b;
    int irc = steer ? adapter_init_steer(&a, steer, base) : adapter_init(&a, f, lora, base, 3);
    CHECK(irc == 0, "%s: init", label);
    Rng rng;
    rng_seed(&rng, 17);
    for (size_t i = 0; i < a.n; i++) a.params[i] += (real)(0.1 * rng_normal(&rng));
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/%s.swad", dir, label);
    CHECK(adapter_save(&a, path, err, sizeof err) == 0, "%s: save: %s", label, err);
    size_t len = 0;
    free(slurp(path, &len));
    size_t ext = f == FMT_STEER ? 8 * STEER_WORDS : 0;   // a steer file's block set
    CHECK(len == 68 + ext + a.n * 4 + 8, "%s: file is %zu bytes for %zu scalars", label, len, a.n);
    int rc = adapter_load(&b, path, base, err, sizeof err);
    CHECK(rc == 0, "%s: load: %s", label, err);
    if (rc) { adapter_free(&a); return; }
    CHECK(b.format == a.format && b.n == a.n, "%s: format/count differ", label);
    CHECK(!memcmp(a.params, b.params, a.n * sizeof(real)), "%s: block differs after the round trip", label);
    if (f == FMT_LORA)
        CHECK(b.lora.rank == a.lora.rank && b.lora.alpha == a.lora.alpha && b.lora.targets == a.lora.targets &&
              b.lora_scale == a.lora_scale, "%s: lora spec differs", label);
    if (f == FMT_STEER)
        CHECK(!memcmp(&a.steer, &b.steer, sizeof a.steer), "%s: steer block set differs", label);
    int tok[8] = { 1, 5, 9, 2, 7, 3, 3, 0 }, tgt[8] = { 5, 9, 2, 7, 3, 3, 0, 4 };
    double la = loss_with(base, &a, tok, tgt), lb = loss_with(base, &b, tok, tgt);
    CHECK(la == lb, "%s: loss %.9g before save, %.9g after load", label, la, lb);
    // the perturbed adapter must actually change the model, or the comparison above proves nothing
    double l0 = loss_with(base, NULL, tok, tgt);
    CHECK(la != l0, "%s: adapter loss %.9g equals the base's", label, la);
    adapter_free(&a);
    adapter_free(&b);
}

// Writes a corrupted copy of `good`, loads it, and checks the message names the file and the field.
static void expect_reject(const char *label, const unsigned char *good, size_t len, const Weights *base,
                          void (*edit)(unsigned char *b, size_t *len), const char *field) {
    unsigned char *b = malloc(len + 16);
    memcpy(b, good, len);
    size_t n = len;
    edit(b, &n);
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/bad-%s.swad", dir, label);
    spit(path, b, n);
    Adapter a;
    int rc = adapter_load(&a, path, base, err, sizeof err);
    CHECK(rc == -1, "%s: corrupted file accepted", label);
    CHECK(strstr(err, path) != NULL, "%s: message does not name the file: %s", label, err);
    CHECK(strstr(err, field) != NULL, "%s: message does not name field '%s': %s", label, field, err);
    if (rc == 0) adapter_free(&a);
    free(b);
}

static void bad_magic(unsigned char *b, size_t *n) { (void)n; b[0] = 'X'; }
static void bad_version(unsigned char *b, size_t *n) { b[OFF_VERSION] = 7; reseal(b, *n); }
static void bad_format(unsigned char *b, size_t *n) { b[OFF_FORMAT] = 9; reseal(b, *n); }
static void bad_dim(unsigned char *b, size_t *n) { b[OFF_DIM] ^= 8; reseal(b, *n); }
static void bad_vocab(unsigned char *b, size_t *n) { b[OFF_VOCAB] ^= 1; reseal(b, *n); }
static void bad_rank(unsigned char *b, size_t *n) { memset(b + OFF_RANK, 0, 4); reseal(b, *n); }
static void bad_count(unsigned char *b, size_t *n) { b[OFF_COUNT] ^= 1; reseal(b, *n); }
static void truncated(unsigned char *b, size_t *n) { (void)b; *n -= 9; }
static void trailing(unsigned char *b, size_t *n) { b[(*n)++] = 0; }
static void flipped(unsigned char *b, size_t *n) { (void)n; b[OFF_BLOCK + 5] ^= 0x10; }
static void short_header(unsigned char *b, size_t *n) { (void)b; *n = 20; }
static void nan_value(unsigned char *b, size_t *n) {
    float nan = NAN;
    memcpy(b + OFF_BLOCK + 4, &nan, 4);
    reseal(b, *n);
}

// Steer files: the block set sits between the count and the block.
static void steer_past(unsigned char *b, size_t *n) { b[OFF_BLOCK] = 1u << 5; reseal(b, *n); }
static void steer_empty(unsigned char *b, size_t *n) { memset(b + OFF_BLOCK, 0, 8 * STEER_WORDS); reseal(b, *n); }

static Weights *make_base(const ModelConfig *c, real **block) {
    *block = xaligned(config_n_params(c) * sizeof(real));
    weights_init_random(*block, c, 5);
    Weights *w = malloc(sizeof *w);
    weights_carve(w, c, *block);
    return w;
}

// Distinct, non-unit RMSNorm gains (weights_init_random makes them all 1), so that an adapter that
// starts at a constant, or at the wrong tensor, cannot pass for one that copies the base's gains.
static void vary_gains(Weights *w) {
    int d = w->cfg.dim;
    for (int l = 0; l < w->cfg.n_layers; l++)
        for (int i = 0; i < d; i++) {
            ((real *)w->layer[l].attn_norm)[i] = (real)(0.5 + 0.001 * i + 0.1 * l);
            ((real *)w->layer[l].ffn_norm)[i] = (real)(1.5 - 0.001 * i + 0.1 * l);
        }
    for (int i = 0; i < d; i++) ((real *)w->final_norm)[i] = (real)(0.25 + 0.002 * i);
}

// Every gain of a norm adapter equals the base's at the same place.
static int copies_gains(const Adapter *a, const Weights *w) {
    int d = w->cfg.dim, same = 1;
    for (int l = 0; l < w->cfg.n_layers; l++)
        for (int i = 0; i < d; i++)
            same &= a->attn_norm[(size_t)l * d + i] == w->layer[l].attn_norm[i] &&
                    a->ffn_norm[(size_t)l * d + i] == w->layer[l].ffn_norm[i];
    for (int i = 0; i < d; i++) same &= a->final_norm[i] == w->final_norm[i];
    return same;
}

int main(void) {
    engine_set_threads(1);   // the team shares two cores
    snprintf(dir, sizeof dir, "/tmp/test_adapter.%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    CHECK(system(cmd) == 0, "mkdir %s", dir);

    // parsing
    AdapterFormat f;
    CHECK(format_parse("lora", &f) == 0 && f == FMT_LORA, "format_parse lora");
    CHECK(format_parse("ia3", &f) == -1, "format_parse accepts an unknown format");
    unsigned bits = 0;
    CHECK(lora_targets_parse("q,v,down", &bits) == 0 && bits == (LORA_Q | LORA_V | LORA_DOWN), "targets q,v,down -> %u", bits);
    CHECK(lora_targets_parse("q,x", &bits) == -1, "targets accept an unknown name");
    CHECK(lora_targets_parse("", &bits) == -1, "targets accept nothing");

    // sizes on the default base: 9 RMSNorms x 256 gains
    ModelConfig dc;
    config_default(&dc);
    real *dblock;
    Weights *dbase = make_base(&dc, &dblock);
    vary_gains(dbase);
    Adapter na;
    CHECK(adapter_init(&na, FMT_NORM, NULL, dbase, 0) == 0, "norm init on the default base");
    CHECK(adapter_bytes(&na, 4) == 2304 * 4, "norm fp32 bytes %zu", adapter_bytes(&na, 4));
    CHECK(adapter_bytes(&na, 2) == 2304 * 2, "norm fp16 bytes %zu", adapter_bytes(&na, 2));
    CHECK(copies_gains(&na, dbase), "norm init copies the base gains (distinct, not 1)");
    adapter_free(&na);
    free(dblock);
    free(dbase);

    ModelConfig c;
    config_tiny(&c);
    real *block;
    Weights *base = make_base(&c, &block);

    // full FT starts as an exact copy of the base block (same tensor order)
    Adapter fa;
    CHECK(adapter_init(&fa, FMT_FULL, NULL, base, 0) == 0, "full init");
    CHECK(fa.n == config_n_params(&c) && !memcmp(fa.params, block, fa.n * sizeof(real)),
          "full init is not a copy of the base");
    adapter_free(&fa);

    // LoRA: A ~ U(-1/sqrt(in), 1/sqrt(in)), B = 0, deterministic in the seed
    LoraSpec ls = { .rank = 4, .alpha = 8, .targets = LORA_Q | LORA_V | LORA_DOWN };
    Adapter la, lb, lc;
    CHECK(adapter_init(&la, FMT_LORA, &ls, base, 1) == 0, "lora init");
    adapter_init(&lb, FMT_LORA, &ls, base, 1);
    adapter_init(&lc, FMT_LORA, &ls, base, 2);
    CHECK(la.lora_scale == 2.0, "scale alpha / r = %g", la.lora_scale);
    CHECK(la.lora_w[0][1].A == NULL && la.lora_w[1][6].A != NULL, "targets by name");
    size_t expect = (size_t)c.n_layers * 4 * ((16 + 16) + (16 + 8) + (24 + 16));
    CHECK(la.n == expect, "lora scalars %zu, expected %zu", la.n, expect);
    double bound_q = 1 / sqrt(16.0), bound_down = 1 / sqrt(24.0), mx = 0;
    int inside = 1, b_zero = 1;
    for (int i = 0; i < 4 * 16; i++) {
        inside &= fabs(la.lora_w[0][0].A[i]) <= bound_q;
        mx = fmax(mx, fabs(la.lora_w[0][0].A[i]));
    }
    for (int i = 0; i < 4 * 24; i++) inside &= fabs(la.lora_w[1][6].A[i]) <= bound_down;
    for (int i = 0; i < 16 * 4; i++) b_zero &= la.lora_w[0][0].B[i] == 0;
    CHECK(inside && mx > 0.8 * bound_q, "A outside the kaiming bound, or far inside it (max %g of %g)", mx, bound_q);
    CHECK(b_zero, "B is not zero at init");
    CHECK(!memcmp(la.params, lb.params, la.n * sizeof(real)), "same seed, different A");
    CHECK(memcmp(la.params, lc.params, la.n * sizeof(real)), "different seed, same A");
    adapter_free(&la);
    adapter_free(&lb);
    adapter_free(&lc);

    // round trips
    roundtrip("norm", base, FMT_NORM, NULL, NULL);
    roundtrip("lora", base, FMT_LORA, &ls, NULL);
    roundtrip("full", base, FMT_FULL, NULL, NULL);
    SteerSpec st0, st01;
    CHECK(steer_layers_parse("0", &st0) == 0 && steer_layers_parse("0,1", &st01) == 0, "steer sets");
    roundtrip("steer-0", base, FMT_STEER, NULL, &st0);
    roundtrip("steer-01", base, FMT_STEER, NULL, &st01);

    // steer: the set, its default (the last block), zero start, and its size
    SteerSpec ss;
    char sbuf[64];
    CHECK(steer_layers_parse("last", &ss) == 0 && steer_layers_count(&ss) == 0, "steer 'last' is the empty set");
    CHECK(steer_layers_parse("3,127", &ss) == 0 && steer_layers_count(&ss) == 2 && steer_layers_lowest(&ss) == 3,
          "steer 3,127");
    steer_layers_format(&ss, sbuf, sizeof sbuf);
    CHECK(!strcmp(sbuf, "3,127"), "steer set written back as %s", sbuf);
    CHECK(steer_layers_parse("128", &ss) == -1 && steer_layers_parse("1,", &ss) == -1 &&
          steer_layers_parse("-1", &ss) == -1 && steer_layers_parse("", &ss) == -1 &&
          steer_layers_parse("a", &ss) == -1, "steer accepts a bad set");
    Adapter sa;
    CHECK(adapter_init(&sa, FMT_STEER, NULL, base, 0) == 0 && sa.n == (size_t)c.dim &&
          sa.steer_vec[c.n_layers - 1] == sa.params && !sa.steer_vec[0], "steer default is the last block");
    int zero = 1;
    for (size_t i = 0; i < sa.n; i++) zero &= sa.params[i] == 0;
    CHECK(zero, "steering vectors do not start at zero");
    CHECK(adapter_bytes(&sa, 2) == (size_t)c.dim * 2, "steer fp16 bytes %zu", adapter_bytes(&sa, 2));
    adapter_free(&sa);

    // corrupted files
    char good_path[512], err[512];
    snprintf(good_path, sizeof good_path, "%s/lora.swad", dir);
    size_t len = 0;
    unsigned char *good = slurp(good_path, &len);
    CHECK(good != NULL, "cannot reread %s", good_path);
    expect_reject("magic", good, len, base, bad_magic, "magic");
    expect_reject("version", good, len, base, bad_version, "version");
    expect_reject("format", good, len, base, bad_format, "format");
    expect_reject("dim", good, len, base, bad_dim, "dim");
    expect_reject("vocab", good, len, base, bad_vocab, "vocab");
    expect_reject("rank", good, len, base, bad_rank, "lora.rank");
    expect_reject("count", good, len, base, bad_count, "count");
    expect_reject("truncated", good, len, base, truncated, "block");
    expect_reject("trailing", good, len, base, trailing, "block");
    expect_reject("flipped", good, len, base, flipped, "checksum");
    expect_reject("short", good, len, base, short_header, "header");
    expect_reject("nan", good, len, base, nan_value, "block");
    free(good);
    snprintf(good_path, sizeof good_path, "%s/steer-0.swad", dir);
    good = slurp(good_path, &len);
    CHECK(good != NULL, "cannot reread %s", good_path);
    expect_reject("steer-past", good, len, base, steer_past, "steer.layers");
    expect_reject("steer-empty", good, len, base, steer_empty, "steer.layers");
    expect_reject("steer-truncated", good, len, base, truncated, "block");
    free(good);
    snprintf(good_path, sizeof good_path, "%s/lora.swad", dir);

    // a valid file for another base: the shape field that differs is named
    ModelConfig c2 = c;
    c2.n_layers = 3;
    real *block2;
    Weights *base2 = make_base(&c2, &block2);
    Adapter x;
    int rc = adapter_load(&x, good_path, base2, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "n_layers") && strstr(err, good_path), "other base: %s", err);
    if (rc == 0) adapter_free(&x);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing.swad", dir);
    rc = adapter_load(&x, missing, base, err, sizeof err);
    CHECK(rc == -1 && strstr(err, missing), "missing file: %s", err);
    free(block2);
    free(base2);

    free(block);
    free(base);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return tl_finish("test_adapter");
}
