// Model files: round trips in every dtype, mapping without copies, and one failing case per
// validation branch, each message naming the file and the tensor or field.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/modelfile.h"
#include "engine/ternary.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

static char dir[256];

static void tiny(ModelConfig *c, int tied, int bias) {
    config_tiny(c);
    c->tied = tied;
    c->qkv_bias = bias;
}

// Random weights with non-trivial norms and biases too, carved into a MAT_REAL view.
static real *random_model(Weights *w, const ModelConfig *c, unsigned seed) {
    real *block = xmalloc(sizeof(real) * config_n_params(c));
    weights_init_random(block, c, seed);
    int n = weights_n_tensors(c);
    TensorInfo *t = xmalloc(sizeof *t * n);
    weights_tensors(c, t);
    unsigned long long s = seed * 2654435761ULL + 1;
    for (int i = 0; i < n; i++)
        if (t[i].kind == TK_NORM || t[i].kind == TK_BIAS)
            for (int j = 0; j < t[i].rows; j++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                block[t[i].offset + j] = (real)(0.5 + (double)(s >> 11) / (double)(1ULL << 53));
            }
    free(t);
    weights_carve(w, c, block);
    return block;
}

static char *path_of(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

// Every element of tensor t in `got` (as stored) against `want` (the source), by dtype.
static int compare_tensor(const Weights *got_w, const Weights *want_w, const TensorInfo *t, MatType dtype) {
    Weights g = *got_w, w = *want_w;
    int bad = 0;
    if (t->kind == TK_NORM || t->kind == TK_BIAS) {
        const real *a = *weights_vec(&g, t), *b = *weights_vec(&w, t);
        for (int i = 0; i < t->rows; i++) bad += a[i] != (real)(float)b[i];
        return bad;
    }
    Mat *ma = weights_mat(&g, t), *mb = weights_mat(&w, t);
    if (ma->type != dtype) return -1;
    real *ra = xmalloc(sizeof(real) * t->cols), *rb = xmalloc(sizeof(real) * t->cols);
    for (int r = 0; r < t->rows; r++) {
        mat_decode_row(ra, ma, r);
        mat_decode_row(rb, mb, r);
        double sum = 0;
        for (int c = 0; c < t->cols; c++) sum += fabs((double)(float)rb[c]);
        double scale = (float)(sum / t->cols);
        for (int c = 0; c < t->cols; c++) {
            float src = (float)rb[c], v = (float)ra[c];
            if (dtype == MAT_F32) bad += v != src;
            else if (dtype == MAT_BF16) {
                // a bf16 value (low 16 bits zero) no farther from src than the bf16 neighbours
                union { float f; uint32_t u; } u = { v }, lo = { v }, hi = { v };
                lo.u -= 0x10000; hi.u += 0x10000;
                bad += (u.u & 0xffff) || fabsf(v - src) > fabsf(lo.f - src) || fabsf(v - src) > fabsf(hi.f - src);
            } else {
                double q = scale > 0 ? nearbyint(src / scale) : 0;
                int trit = q > 1 ? 1 : q < -1 ? -1 : (int)q;
                bad += fabs(v - trit * scale) > 1e-6 * scale;
            }
        }
    }
    free(ra); free(rb);
    return bad;
}

static int inside(const ModelFile *mf, const void *p) {
    return (const uint8_t *)p >= mf->base && (const uint8_t *)p < mf->base + mf->size;
}

static void test_round_trip(int tied, int bias, MatType mdt, MatType edt) {
    ModelConfig c;
    tiny(&c, tied, bias);
    Weights w;
    real *block = random_model(&w, &c, 7 + tied + 2 * bias);
    ModelWriteOptions o;
    model_write_options_default(&o);
    o.matrix_dtype = mdt;
    o.embed_dtype = o.head_dtype = edt;
    o.tokenizer_json = "{\"file\": \"tokenizer.bpe\", \"vocab\": 37}";
    o.source = "test_modelfile";
    char err[512];
    const char *path = path_of("rt.sweep");
    int rc = model_write(path, &w, &o, err, sizeof err);
    CHECK(rc == 0, "write: %s", err);
    ModelFile mf;
    rc = model_open(&mf, path, 0, err, sizeof err);
    CHECK(rc == 0, "open: %s", err);
    if (rc) { free(block); return; }
    CHECK(mf.mapped && mf.w.cfg.dim == c.dim && mf.w.cfg.tied == tied && mf.w.cfg.qkv_bias == bias &&
          mf.w.cfg.rope_theta == c.rope_theta && mf.w.cfg.norm_eps == c.norm_eps, "config survives");
    int n = weights_n_tensors(&c);
    TensorInfo *t = xmalloc(sizeof *t * n);
    weights_tensors(&c, t);
    int bad_total = 0, outside = 0, aligned = 1;
    for (int i = 0; i < n; i++) {
        MatType dt = t[i].kind == TK_MATRIX ? mdt : edt;
        int bad = compare_tensor(&mf.w, &w, &t[i], dt);
        if (bad) fprintf(stderr, "  %s (%s): %d elements differ\n", t[i].name, model_dtype_name(dt), bad);
        bad_total += bad != 0;
        Mat *m = weights_mat(&mf.w, &t[i]);
        if (m) outside += !inside(&mf, m->data) || (m->scale && !inside(&mf, m->scale));
        const ModelTensor *mt = model_tensor(&mf, t[i].name);
        if (!mt || (mt->offset % 64)) aligned = 0;
    }
    CHECK(bad_total == 0, "tied %d bias %d %s/%s: %d tensors differ", tied, bias, model_dtype_name(mdt),
          model_dtype_name(edt), bad_total);
    CHECK(outside == 0, "%d matrices do not point into the mapping", outside);
    CHECK(aligned, "every tensor starts on 64 bytes");
    CHECK(!tied || mf.w.head.data == mf.w.embed.data, "tied head is the embedding");
    // the header checksum: FNV-1a of the metadata bytes, the same mapped or read from the file alone
    uint64_t meta_len;
    memcpy(&meta_len, mf.base + 16, 8);
    uint64_t want_sum = fnv1a64(mf.base + MODEL_HEADER_BYTES, meta_len, FNV1A64_INIT);
    CHECK(model_header_checksum(&mf) == want_sum, "header checksum %016llx, metadata hashes to %016llx",
          (unsigned long long)model_header_checksum(&mf), (unsigned long long)want_sum);
    CHECK(model_file_checksum(path) == want_sum, "the file's checksum without mapping it");
    CHECK(model_file_checksum(path_of("no-such.sweep")) == 0, "an unreadable file has checksum 0");
    char *tok = model_meta_json(&mf, "tokenizer");
    CHECK(tok && strstr(tok, "tokenizer.bpe"), "tokenizer metadata kept: %s", tok ? tok : "(null)");
    free(tok);
    char *q = model_meta_json(&mf, "quantization");
    CHECK(q && strstr(q, model_dtype_name(mdt)), "quantization notes name the matrix dtype: %s", q ? q : "(null)");
    free(q);

    // Writing the opened file again with the same options gives the same bytes (no requantisation).
    const char *again = path_of("rt2.sweep");
    CHECK(model_write(again, &mf.w, &o, err, sizeof err) == 0, "rewrite: %s", err);
    size_t la, lb;
    char *a = read_whole_file(path, &la), *b = read_whole_file(again, &lb);
    CHECK(a && b && la == lb && !memcmp(a, b, la), "rewrite of %s/%s is byte-identical", model_dtype_name(mdt),
          model_dtype_name(edt));
    // model_parse over the same bytes in memory
    ModelFile mem;
    CHECK(a && model_parse(&mem, a, la, "in-memory", 0, err, sizeof err) == 0 && !mem.mapped, "parse in memory: %s", err);
    if (a) model_close(&mem);
    free(a); free(b); free(t); free(block);
    model_close(&mf);
}

// ---- corruption: each case edits a good file and expects an error naming file and tensor/field

static uint8_t *good;
static size_t good_len;

static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static void wr64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

// The good file with its metadata replaced by edit(meta) (padded with spaces to the same length,
// the metadata checksum fixed) so that only the edited field is wrong.
static uint8_t *with_meta(void (*edit)(cJSON *), size_t *len) {
    uint8_t *f = xmalloc(good_len);
    memcpy(f, good, good_len);
    size_t meta_len = rd64(f + 16);
    cJSON *m = cJSON_ParseWithLength((const char *)f + 64, meta_len);
    edit(m);
    char *txt = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    size_t tl = strlen(txt);
    if (tl > meta_len) { free(txt); *len = 0; return f; }
    memset(f + 64, ' ', meta_len);
    memcpy(f + 64, txt, tl);
    free(txt);
    wr64(f + 40, fnv1a64(f + 64, meta_len, FNV1A64_INIT));
    *len = good_len;
    return f;
}

static cJSON *tensor_entry(cJSON *m, const char *name) {
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(m, "tensors"))
        if (!strcmp(cJSON_GetObjectItem(e, "name")->valuestring, name)) return e;
    return NULL;
}

#define Q "model.layers.1.self_attn.q_proj.weight"
static void e_dtype(cJSON *m) { cJSON_ReplaceItemInObject(tensor_entry(m, Q), "dtype", cJSON_CreateString("f64")); }
static void e_shape(cJSON *m) {
    cJSON *s = cJSON_GetObjectItem(tensor_entry(m, Q), "shape");
    cJSON_ReplaceItemInArray(s, 1, cJSON_CreateNumber(17));
}
static void e_bounds(cJSON *m) { cJSON_ReplaceItemInObject(tensor_entry(m, Q), "offset", cJSON_CreateNumber(1 << 20)); }
static void e_nbytes(cJSON *m) { cJSON_ReplaceItemInObject(tensor_entry(m, Q), "nbytes", cJSON_CreateNumber(3)); }
static void e_align(cJSON *m) {
    cJSON *e = tensor_entry(m, Q);
    cJSON_ReplaceItemInObject(e, "offset", cJSON_CreateNumber(cJSON_GetObjectItem(e, "offset")->valuedouble + 4));
}
static void e_sum_text(cJSON *m) { cJSON_ReplaceItemInObject(tensor_entry(m, Q), "fnv1a64", cJSON_CreateString("xyz")); }
static void e_missing(cJSON *m) {
    cJSON *arr = cJSON_GetObjectItem(m, "tensors");
    int i = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, arr) { if (!strcmp(cJSON_GetObjectItem(e, "name")->valuestring, Q)) break; i++; }
    cJSON_DeleteItemFromArray(arr, i);
}
static void e_unknown(cJSON *m) { cJSON_ReplaceItemInObject(tensor_entry(m, Q), "name", cJSON_CreateString("model.layers.1.mystery")); }
static void e_twice(cJSON *m) {
    cJSON_AddItemToArray(cJSON_GetObjectItem(m, "tensors"), cJSON_Duplicate(tensor_entry(m, Q), 1));
}
static void e_vec_ternary(cJSON *m) {
    cJSON_ReplaceItemInObject(tensor_entry(m, "model.norm.weight"), "dtype", cJSON_CreateString("ternary"));
}
static void e_no_dim(cJSON *m) { cJSON_DeleteItemFromObject(cJSON_GetObjectItem(m, "config"), "dim"); }
static void e_heads(cJSON *m) { cJSON_ReplaceItemInObject(cJSON_GetObjectItem(m, "config"), "n_heads", cJSON_CreateNumber(3)); }
static void e_vocab(cJSON *m) {   // shapes then disagree with the config
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(m, "config"), "vocab", cJSON_CreateNumber(38));
}
static void e_identity(cJSON *m) { (void)m; }
static void e_no_tensors(cJSON *m) { cJSON_DeleteItemFromObject(m, "tensors"); }

static void expect_error(const char *what, const uint8_t *f, size_t len, const char *needle, int flags) {
    const char *path = path_of("bad.sweep");
    FILE *fp = fopen(path, "wb");
    if (len) fwrite(f, 1, len, fp);
    fclose(fp);
    ModelFile mf;
    char err[512] = "";
    int rc = model_open(&mf, path, flags, err, sizeof err);
    CHECK(rc == -1, "%s: accepted", what);
    if (rc == 0) { model_close(&mf); return; }
    CHECK(strstr(err, path) != NULL, "%s: message does not name the file: %s", what, err);
    CHECK(!needle || strstr(err, needle), "%s: message does not mention '%s': %s", what, needle, err);
    CHECK(!strchr(err, '\n'), "%s: message is more than one line", what);
}

static void test_bad_input(void) {
    ModelConfig c;
    tiny(&c, 0, 1);
    Weights w;
    real *block = random_model(&w, &c, 99);
    ModelWriteOptions o;
    model_write_options_default(&o);
    o.matrix_dtype = MAT_TERNARY;
    o.embed_dtype = MAT_BF16;
    char err[512];
    const char *path = path_of("good.sweep");
    CHECK(model_write(path, &w, &o, err, sizeof err) == 0, "write: %s", err);
    free(block);
    good = (uint8_t *)read_whole_file(path, &good_len);
    ModelFile mf;
    CHECK(model_open(&mf, path, 0, err, sizeof err) == 0, "good file opens: %s", err);
    const ModelTensor *q = model_tensor(&mf, Q), *emb = model_tensor(&mf, "model.embed_tokens.weight");
    size_t q_off = q->offset, q_trits = q->offset + (size_t)q->rows * 4, q_bytes = q->nbytes, emb_off = emb->offset;
    model_close(&mf);

    uint8_t *f = xmalloc(good_len);
    size_t len;
    memcpy(f, good, good_len); f[0] = 'X';
    expect_error("bad magic", f, good_len, "magic", 0);
    memcpy(f, good, good_len); f[8] = 2;
    expect_error("version", f, good_len, "version 2", 0);
    expect_error("empty file", f, 0, "magic", 0);
    expect_error("header cut", good, 20, "truncated", 0);
    expect_error("truncated by one byte", good, good_len - 1, "truncated", 0);
    expect_error("truncated to half", good, good_len / 2, "truncated", 0);
    memcpy(f, good, good_len); wr64(f + 16, good_len);
    expect_error("metadata longer than the file", f, good_len, "out of bounds", 0);
    memcpy(f, good, good_len); f[64 + 10] ^= 1;
    expect_error("metadata bit flip", f, good_len, "metadata checksum", 0);
    memcpy(f, good, good_len); f[q_off + 2] ^= 0x40;
    expect_error("tensor data bit flip", f, good_len, Q, 0);
    memcpy(f, good, good_len); f[emb_off + 5] ^= 1;
    expect_error("embedding bit flip", f, good_len, "checksum mismatch", 0);

    // a packed byte above 242 with a checksum that matches it: caught by the trit check
    {
        uint8_t *g = xmalloc(good_len);
        memcpy(g, good, good_len);
        g[q_trits] = 250;
        // recompute that tensor's checksum in the metadata
        size_t meta_len = rd64(g + 16);
        cJSON *m = cJSON_ParseWithLength((const char *)g + 64, meta_len);
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv1a64(g + q_off, q_bytes, FNV1A64_INIT));
        cJSON_ReplaceItemInObject(tensor_entry(m, Q), "fnv1a64", cJSON_CreateString(hex));
        char *txt = cJSON_PrintUnformatted(m);
        cJSON_Delete(m);
        memset(g + 64, ' ', meta_len);
        memcpy(g + 64, txt, strlen(txt));
        free(txt);
        wr64(g + 40, fnv1a64(g + 64, meta_len, FNV1A64_INIT));
        expect_error("trit byte 250", g, good_len, "242", 0);
        // with checksums skipped the same file opens (the lazy path), and model_verify catches it
        const char *p2 = path_of("lazy.sweep");
        FILE *fp = fopen(p2, "wb");
        fwrite(g, 1, good_len, fp);
        fclose(fp);
        int rc = model_open(&mf, p2, MODEL_SKIP_CHECKSUMS, err, sizeof err);
        CHECK(rc == 0, "skip checksums opens: %s", err);
        if (rc == 0) {
            CHECK(model_verify(&mf, err, sizeof err) == -1 && strstr(err, Q), "verify names the tensor: %s", err);
            model_close(&mf);
        }
        free(g);
    }

    struct { const char *what; void (*edit)(cJSON *); const char *needle; } cases[] = {
        { "unknown dtype", e_dtype, Q },
        { "shape vs config", e_shape, Q },
        { "out of bounds", e_bounds, Q },
        { "nbytes", e_nbytes, Q },
        { "misaligned offset", e_align, Q },
        { "checksum text", e_sum_text, Q },
        { "missing tensor", e_missing, Q },
        { "unknown tensor", e_unknown, "model.layers.1.mystery" },
        { "tensor twice", e_twice, Q },
        { "ternary vector", e_vec_ternary, "model.norm.weight" },
        { "config.dim missing", e_no_dim, "config.dim" },
        { "heads do not divide dim", e_heads, "n_heads" },
        { "vocab vs embedding shape", e_vocab, "model.embed_tokens.weight" },
        { "no tensor table", e_no_tensors, "tensors" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *g = with_meta(cases[i].edit, &len);
        CHECK(len, "%s: edited metadata does not fit", cases[i].what);
        if (len) expect_error(cases[i].what, g, len, cases[i].needle, 0);
        free(g);
    }
    // metadata re-printed and padded by the same helper, unedited, still opens: the edits are what fail
    {
        ModelFile ok;
        uint8_t *g = with_meta(e_identity, &len);
        CHECK(len && model_parse(&ok, g, len, "identity", 0, err, sizeof err) == 0, "identity edit parses: %s", err);
        if (len) model_close(&ok);
        free(g);
    }
    CHECK(model_open(&mf, path_of("does-not-exist.sweep"), 0, err, sizeof err) == -1 && strstr(err, "does-not-exist"),
          "missing file: %s", err);
    free(f);
    free(good);
}

// The sizes a ternary file promises: 1.6 bits per matrix weight plus one float per row.
static void test_sizes(void) {
    ModelConfig c;
    config_default(&c);
    CHECK(model_dtype_bytes(MAT_TERNARY, 768, 256) == 768 * 4 + 768 * 52, "ternary 768x256 bytes");
    CHECK(model_dtype_bytes(MAT_BF16, 3, 5) == 30 && model_dtype_bytes(MAT_F32, 3, 5) == 60, "f32/bf16 bytes");
    // rows of 8192 trits take ceil(8192 / 5) = 1639 bytes: 1.6006 bits per weight
    CHECK(ternary_packed_bytes(2048, 8192) == (size_t)2048 * 1639, "ternary 2048x8192 packed bytes");
    double bits = 8.0 * model_dtype_bytes(MAT_TERNARY, 2048, 8192) / (2048.0 * 8192);
    CHECK(bits < 1.61, "5 trits per byte plus row scales: %g bits per weight", bits);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/test_modelfile.%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd)) { fprintf(stderr, "cannot create %s\n", dir); return 1; }
    MatType dts[3] = { MAT_F32, MAT_BF16, MAT_TERNARY };
    for (int tied = 0; tied < 2; tied++)
        for (int bias = 0; bias < 2; bias++)
            for (int m = 0; m < 3; m++) test_round_trip(tied, bias, dts[m], (m + tied) % 2 ? MAT_BF16 : MAT_F32);
    test_round_trip(0, 0, MAT_TERNARY, MAT_TERNARY);
    test_bad_input();
    test_sizes();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return tl_finish("test_modelfile");
}
