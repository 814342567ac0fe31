// 4-bit weights (engine/int4.h): the packing by hand, the round trip (every dequantised weight within
// half a step of the original, scales the group's absmax / 7, the same bytes every time), products
// against an independent scalar reference, model files holding int4 (written, mapped, rewritten
// bytewise), and one failing case per int4 validation branch, each one line naming file and field.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/int4.h"
#include "engine/modelfile.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

static unsigned long long lcg = 4242;
static float frand(void) {   // uniform in (-1, 1)
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(lcg >> 11) / (double)(1ULL << 53) * 2 - 1);
}

// Nibble c of row r, read by shifts here (not the library's decoder), as the signed value q.
static int unpack_q(const uint8_t *packed, int cols, int r, int c) {
    int b = packed[(size_t)r * ((cols + 1) / 2) + c / 2];
    return ((c & 1) ? b >> 4 : b & 15) - 8;
}

static void test_layout(void) {
    CHECK(int4_groups(64, 64) == 1 && int4_groups(65, 64) == 2 && int4_groups(100, 32) == 4, "groups per row");
    CHECK(int4_packed_bytes(3, 5) == 9 && int4_packed_bytes(2, 8) == 8, "packed bytes: rows start on a byte");
    CHECK(int4_bytes(4, 128, 64) == 4 * 2 * 4 + 4 * 64, "4x128 at group 64: %zu bytes", int4_bytes(4, 128, 64));
    CHECK(int4_group_check(64) == 0 && int4_group_check(2) == 0 && int4_group_check(33) && int4_group_check(0) &&
          int4_group_check(65538), "group check");
    // one group [7, -3.5, 0, 1.75, 0.2]: scale 7/7 = 1; q = (7, -4 (ties to even), 0, 2, 0), stored + 8:
    // bytes (8+7) | (8-4) << 4 = 0x4f, 8 | 10 << 4 = 0xa8, 8 | pad 8 << 4 = 0x88
    float w[5] = { 7, -3.5f, 0, 1.75f, 0.2f }, s;
    uint8_t p[3];
    int4_quantize_rows(p, &s, w, 1, 5, 64);
    CHECK(s == 1.0f, "scale %g, expected 1", s);
    CHECK(p[0] == 0x4f && p[1] == 0xa8 && p[2] == 0x88, "bytes %02x %02x %02x, expected 4f a8 88", p[0], p[1], p[2]);
    // an all-zero group: scale 0, every q 0
    float z[4] = { 0, 0, 0, 0 };
    uint8_t pz[2];
    float sz[2];   // group 2 over 4 inputs: two scales
    int4_quantize_rows(pz, sz, z, 1, 4, 2);
    CHECK(sz[0] == 0 && sz[1] == 0 && pz[0] == 0x88 && pz[1] == 0x88, "zero row: scales %g %g, bytes %02x %02x",
          sz[0], sz[1], pz[0], pz[1]);
}

// Round trip: within half a step per group, exactly q * scale as decoded, reproducible.
static void test_round_trip(int rows, int cols, int group) {
    int ng = int4_groups(cols, group);
    float *w = xmalloc(sizeof(float) * rows * cols), *scale = xmalloc(sizeof(float) * rows * ng);
    float *scale2 = xmalloc(sizeof(float) * rows * ng);
    for (int i = 0; i < rows * cols; i++) w[i] = frand() * (1 + (i % 7));   // groups of unlike ranges
    for (int c = 0; c < cols && rows > 1; c++) w[cols + c] = 0;              // row 1 all zero
    uint8_t *p = xmalloc(int4_packed_bytes(rows, cols)), *p2 = xmalloc(int4_packed_bytes(rows, cols));
    int4_quantize_rows(p, scale, w, rows, cols, group);
    int4_quantize_rows(p2, scale2, w, rows, cols, group);
    CHECK(!memcmp(p, p2, int4_packed_bytes(rows, cols)) && !memcmp(scale, scale2, sizeof(float) * rows * ng),
          "%dx%d g%d: quantising twice gives other bytes", rows, cols, group);
    Mat W = { MAT_INT4, rows, cols, p, scale, NULL, NULL, group };
    real *d = xmalloc(sizeof(real) * rows * cols);
    mat_decode_rows(d, &W, 0, rows);
    int bad_step = 0, bad_scale = 0, bad_decode = 0, bad_range = 0;
    double worst = 0;
    for (int r = 0; r < rows; r++)
        for (int g = 0; g < ng; g++) {
            int c0 = g * group, c1 = c0 + group < cols ? c0 + group : cols;
            float amax = 0;
            for (int c = c0; c < c1; c++) amax = fmaxf(amax, fabsf(w[(size_t)r * cols + c]));
            float s = scale[(size_t)r * ng + g];
            bad_scale += s != amax / 7;
            for (int c = c0; c < c1; c++) {
                int q = unpack_q(p, cols, r, c);
                bad_range += q < -7 || q > 7;
                float dq = (float)q * s;
                bad_decode += d[(size_t)r * cols + c] != (real)dq;
                double e = fabs((double)w[(size_t)r * cols + c] - (double)dq);
                double half = 0.5 * s * (1 + 1e-6) + 1e-30;   // float rounding of w / s and q * s
                bad_step += e > half;
                if (s > 0 && e / s > worst) worst = e / s;
            }
        }
    CHECK(!bad_scale, "%dx%d g%d: %d scales are not absmax / 7", rows, cols, group, bad_scale);
    CHECK(!bad_range, "%dx%d g%d: %d values outside [-7, 7]", rows, cols, group, bad_range);
    CHECK(!bad_decode, "%dx%d g%d: %d decoded values differ from q * scale", rows, cols, group, bad_decode);
    CHECK(!bad_step, "%dx%d g%d: %d weights further than half a step from the original (worst %g steps)", rows,
          cols, group, bad_step, worst);
    CHECK(rows * cols < 500 || worst > 0.45, "%dx%d g%d: worst error %g steps: rounding looks wrong (expect close to 0.5)", rows, cols,
          group, worst);
    free(w); free(scale); free(scale2); free(p); free(p2); free(d);
}

// Products against a scalar double reference on the decoded weights (fp32), and against the same with
// inputs and weights rounded to bf16 (bf16), forward and backward-input, through mat_forward.
static void test_products(int n, int rows, int cols, int group) {
    int ng = int4_groups(cols, group);
    float *w = xmalloc(sizeof(float) * rows * cols), *scale = xmalloc(sizeof(float) * rows * ng);
    uint8_t *p = xmalloc(int4_packed_bytes(rows, cols));
    for (int i = 0; i < rows * cols; i++) w[i] = frand();
    int4_quantize_rows(p, scale, w, rows, cols, group);
    Mat W = { MAT_INT4, rows, cols, p, scale, NULL, NULL, group };
    real *d = xmalloc(sizeof(real) * rows * cols), *x = xmalloc(sizeof(real) * n * cols), *dy = xmalloc(sizeof(real) * n * rows);
    mat_decode_rows(d, &W, 0, rows);
    for (int i = 0; i < n * cols; i++) x[i] = frand();
    for (int i = 0; i < n * rows; i++) dy[i] = frand();
    real *y = xmalloc(sizeof(real) * n * rows), *dx = xmalloc(sizeof(real) * n * cols);
    for (int bf = 0; bf < 2; bf++) {
        MatContext *mc = mat_context_create(bf ? MAT_PREC_BF16 : MAT_PREC_FP32);
#define R(v) (bf ? (double)bf16_to_f32(f32_to_bf16((float)(v))) : (double)(v))
        mat_forward(mc, y, x, &W, n, 0);
        for (int i = 0; i < n * cols; i++) dx[i] = 1;   // backward accumulates
        mat_backward_input(mc, dx, dy, &W, n);
        double ey = 0, ex = 0;
        for (int m = 0; m < n; m++) {
            for (int r = 0; r < rows; r++) {
                double s = 0, a = 0;
                for (int c = 0; c < cols; c++) s += R(x[m * cols + c]) * R(d[(size_t)r * cols + c]), a += fabs(R(d[(size_t)r * cols + c]));
                ey = fmax(ey, fabs(s - y[m * rows + r]) / (a + 1e-9));
            }
            for (int c = 0; c < cols; c++) {
                double s = 1, a = 1;
                for (int r = 0; r < rows; r++) s += R(dy[m * rows + r]) * R(d[(size_t)r * cols + c]), a += fabs(R(d[(size_t)r * cols + c]));
                ex = fmax(ex, fabs(s - dx[m * cols + c]) / a);
            }
        }
#undef R
        CHECK(ey < 1e-5, "%dx%dx%d g%d %s forward: error %g of sum |w|", n, rows, cols, group, bf ? "bf16" : "fp32", ey);
        CHECK(ex < 1e-5, "%dx%dx%d g%d %s backward: error %g of sum |w|", n, rows, cols, group, bf ? "bf16" : "fp32", ex);
        CHECK(mat_cache_bytes(mc) == 0, "%s: the context cached %zu bytes of a converted int4 matrix",
              bf ? "bf16" : "fp32", mat_cache_bytes(mc));
        mat_context_free(mc);
    }
    free(w); free(scale); free(p); free(d); free(x); free(dy); free(y); free(dx);
}

// ---- model files ----------------------------------------------------------------------------

static char dir[256];
static char *path_of(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", dir, name);
    return p;
}

static uint64_t rd64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = v << 8 | p[i]; return v; }
static void wr64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

#define Q "model.layers.1.self_attn.q_proj.weight"

// The file's bytes with the metadata edited (padded with spaces to the same length; checksum
// recomputed), and optionally Q's tensor checksum set to its bytes' (after a data edit); NULL if it grew.
static uint8_t *edited(const uint8_t *good, size_t len, void (*edit)(cJSON *, void *), void *arg, int fix_q) {
    uint8_t *f = xmalloc(len);
    memcpy(f, good, len);
    size_t meta_len = rd64(f + 16);
    cJSON *m = cJSON_ParseWithLength((const char *)f + 64, meta_len), *e;
    cJSON *q = NULL;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(m, "tensors"))
        if (!strcmp(cJSON_GetObjectItem(e, "name")->valuestring, Q)) q = e;
    if (edit) edit(q, arg);
    if (fix_q) {
        size_t off = rd64(f + 24) + (size_t)cJSON_GetObjectItem(q, "offset")->valuedouble;
        size_t nb = (size_t)cJSON_GetObjectItem(q, "nbytes")->valuedouble;
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv1a64(f + off, nb, FNV1A64_INIT));
        cJSON_ReplaceItemInObject(q, "fnv1a64", cJSON_CreateString(hex));
    }
    char *txt = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    size_t tl = strlen(txt);
    if (tl > meta_len) { free(txt); free(f); return NULL; }
    memset(f + 64, ' ', meta_len);
    memcpy(f + 64, txt, tl);
    free(txt);
    wr64(f + 40, fnv1a64(f + 64, meta_len, FNV1A64_INIT));
    return f;
}

static void expect_error(const char *what, const uint8_t *f, size_t len, const char *needle) {
    const char *path = path_of("bad.sweep");
    FILE *fp = fopen(path, "wb");
    if (len) fwrite(f, 1, len, fp);
    fclose(fp);
    ModelFile mf;
    char err[512] = "";
    int rc = model_open(&mf, path, 0, err, sizeof err);
    CHECK(rc == -1, "%s: accepted", what);
    if (rc == 0) { model_close(&mf); return; }
    CHECK(strstr(err, path) != NULL, "%s: message does not name the file: %s", what, err);
    CHECK(strstr(err, needle) != NULL, "%s: message does not mention '%s': %s", what, needle, err);
    CHECK(!strchr(err, '\n'), "%s: message is more than one line", what);
}

static void set_str(cJSON *q, void *v) { cJSON_ReplaceItemInObject(q, "dtype", cJSON_CreateString(v)); }
static void set_group(cJSON *q, void *v) { cJSON_ReplaceItemInObject(q, "group", cJSON_CreateNumber(*(int *)v)); }
static void drop_group(cJSON *q, void *v) { (void)v; cJSON_DeleteItemFromObject(q, "group"); }

static void test_file(void) {
    ModelConfig c;
    config_tiny(&c);
    real *block = xmalloc(sizeof(real) * config_n_params(&c));
    weights_init_random(block, &c, 7);
    Weights w;
    weights_carve(&w, &c, block);
    ModelWriteOptions o;
    model_write_options_default(&o);
    o.matrix_dtype = MAT_INT4;
    o.embed_dtype = o.head_dtype = MAT_BF16;
    o.int4_group = 4;   // q_proj is 16 x 16: four groups a row
    char err[512];
    const char *path = path_of("int4.sweep"), *again = path_of("again.sweep"), *g16 = path_of("g8.sweep");
    CHECK(model_write(path, &w, &o, err, sizeof err) == 0, "write int4: %s", err);
    ModelFile mf, mf2;
    CHECK(model_open(&mf, path, 0, err, sizeof err) == 0, "open int4: %s", err);
    const ModelTensor *q = model_tensor(&mf, Q);
    CHECK(q && q->dtype == MAT_INT4 && q->group == 4, "q_proj: dtype %d group %d", q ? (int)q->dtype : -1, q ? q->group : -1);
    // the mapped matrix decodes to the in-memory quantisation of the same weights
    const Mat *m = &mf.w.layer[1].q;
    float *wf = xmalloc(sizeof(float) * m->rows * m->cols), *s = xmalloc(int4_scale_bytes(m->rows, m->cols, 4));
    uint8_t *pk = xmalloc(int4_packed_bytes(m->rows, m->cols));
    for (int i = 0; i < m->rows * m->cols; i++) wf[i] = (float)((const real *)w.layer[1].q.data)[i];
    int4_quantize_rows(pk, s, wf, m->rows, m->cols, 4);
    CHECK(m->type == MAT_INT4 && m->group == 4 && !memcmp(m->data, pk, int4_packed_bytes(m->rows, m->cols)) &&
          !memcmp(m->scale, s, int4_scale_bytes(m->rows, m->cols, 4)), "mapped int4 matrix equals the quantisation");
    // rewriting an int4 source at the same group copies it bytewise; at another group it is requantised
    ModelWriteOptions o2 = o;
    CHECK(model_write(again, &mf.w, &o2, err, sizeof err) == 0, "rewrite: %s", err);
    CHECK(model_open(&mf2, again, 0, err, sizeof err) == 0, "open rewrite: %s", err);
    CHECK(model_tensor(&mf2, Q)->checksum == q->checksum, "same group: tensor bytes unchanged");
    model_close(&mf2);
    o2.int4_group = 8;
    CHECK(model_write(g16, &mf.w, &o2, err, sizeof err) == 0, "rewrite g8: %s", err);
    CHECK(model_open(&mf2, g16, 0, err, sizeof err) == 0, "open g8: %s", err);
    CHECK(model_tensor(&mf2, Q)->group == 8 && model_tensor(&mf2, Q)->nbytes == int4_bytes(q->rows, q->cols, 8),
          "other group: requantised at group 8");
    model_close(&mf2);
    size_t q_off = q->offset, q_nib = q->offset + int4_scale_bytes(q->rows, q->cols, 4);
    model_close(&mf);
    free(wf); free(s); free(pk); free(block);

    size_t len;
    uint8_t *good = (uint8_t *)read_whole_file(path, &len), *f;
    expect_error("truncated by one byte", good, len - 1, "truncated");
    // a nibble of 0 (-8), with a checksum that matches it
    good[q_nib + 3] &= 0xf0;
    f = edited(good, len, NULL, NULL, 1);
    expect_error("nibble 0", f, len, Q);
    expect_error("nibble 0", f, len, "packed byte 3");
    free(f);
    good[q_nib + 3] |= 0x08;
    // a NaN scale, checksum matching
    float nan = NAN, keep;
    memcpy(&keep, good + q_off + 4, 4);
    memcpy(good + q_off + 4, &nan, 4);
    f = edited(good, len, NULL, NULL, 1);
    expect_error("NaN scale", f, len, "scale 1 (row 0, group 1)");
    free(f);
    float neg = -1;
    memcpy(good + q_off + 4, &neg, 4);
    f = edited(good, len, NULL, NULL, 1);
    expect_error("negative scale", f, len, "must be finite, >= 0");
    free(f);
    memcpy(good + q_off + 4, &keep, 4);
    // metadata: group missing, odd, out of range, another group than the bytes hold; int4 vector
    f = edited(good, len, drop_group, NULL, 0);
    expect_error("group missing", f, len, "group missing");
    free(f);
    int g = 33;
    f = edited(good, len, set_group, &g, 0);
    expect_error("odd group", f, len, "group");
    free(f);
    g = 1 << 20;
    f = edited(good, len, set_group, &g, 0);
    expect_error("group too large", f, len, "group");
    free(f);
    g = 8;
    f = edited(good, len, set_group, &g, 0);
    expect_error("group unlike the bytes", f, len, "nbytes");
    free(f);
    f = edited(good, len, set_str, "int5", 0);
    expect_error("unknown dtype", f, len, "int4");
    free(f);
    // the file as written still opens: the edits are what fail
    f = edited(good, len, NULL, NULL, 1);
    const char *p2 = path_of("ok.sweep");
    FILE *fp = fopen(p2, "wb");
    fwrite(f, 1, len, fp);
    fclose(fp);
    CHECK(model_open(&mf, p2, 0, err, sizeof err) == 0, "unedited file opens: %s", err);
    model_close(&mf);
    free(f);
    free(good);
    // an int4 vector is refused when written... and when read
    model_write_options_default(&o);
    o.vector_dtype = MAT_INT4;
    CHECK(model_write(path_of("vec.sweep"), &w, &o, err, sizeof err) == -1 && strstr(err, "norms"), "int4 vectors refused: %s", err);
}

int main(void) {
    test_layout();
    test_round_trip(1, 5, 64);
    test_round_trip(7, 128, 64);
    test_round_trip(5, 100, 32);    // a partial last group
    test_round_trip(3, 257, 128);   // odd row: pad nibble
    test_products(3, 11, 17, 4);
    test_products(5, 600, 1000, 64);   // several tiles
    snprintf(dir, sizeof dir, "/tmp/test_int4.%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd)) { fprintf(stderr, "cannot create %s\n", dir); return 1; }
    test_file();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return tl_finish("test_int4");
}
