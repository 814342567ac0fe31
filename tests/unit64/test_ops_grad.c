// Finite-difference proof of every op's backward, in double precision (engine64): the loss is
// L = sum(w_out * out) with random w_out, so dL/d(out) = w_out is what each backward receives.
// Gradient buffers start with random values: a backward that overwrites instead of adding fails.
#include "engine/ops.h"
#include "engine/rng.h"
#include "../unit/testlib.h"
#include <stdlib.h>
#include <string.h>

#define TOL 1e-6
#define FD_STEP 1e-5
#define FD_FLOOR 1e-3   // gradients below this compare absolutely (FD noise is ~1e-10)
// Forward checks against naive sums compare relative to max(|value|, 1e-2): a sum that cancels
// to 1e-9 carries the rounding of its O(1) terms, and that is not an error of the op.

static Rng rng;

static double *rnd(long n, double scale) {
    double *a = malloc((size_t)n * sizeof(double));
    for (long i = 0; i < n; i++) a[i] = scale * (2 * rng_uniform(&rng) - 1);
    return a;
}
static double *copy(const double *a, long n) {
    double *b = malloc((size_t)n * sizeof(double));
    memcpy(b, a, (size_t)n * sizeof(double));
    return b;
}
static double wsum(const double *w, const double *out, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += w[i] * out[i];
    return s;
}

// Central differences of loss() over x[i] (every i, or `samples` random ones), against grad[i].
// Returns the worst relative error.
static double fd_check(double (*loss)(void), double *x, const double *grad, long n, long samples) {
    double worst = 0;
    long count = samples > 0 && samples < n ? samples : n;
    for (long s = 0; s < count; s++) {
        long i = count == n ? s : (long)rng_below(&rng, (uint64_t)n);
        double keep = x[i];
        x[i] = keep + FD_STEP;
        double lp = loss();
        x[i] = keep - FD_STEP;
        double lm = loss();
        x[i] = keep;
        double e = tl_relerr((lp - lm) / (2 * FD_STEP), grad[i], FD_FLOOR);
        if (e > worst || e != e) worst = e;
    }
    return worst;
}

// analytic = (buffer after backward) - (random value it held before)
static double *added(const double *after, const double *before, long n) {
    double *d = malloc((size_t)n * sizeof(double));
    for (long i = 0; i < n; i++) d[i] = after[i] - before[i];
    return d;
}

static void report(const char *op, const char *wrt, double worst) {
    printf("  %-22s d/d%-6s worst relerr %.2e\n", op, wrt, worst);
    CHECK(worst < TOL, "%s: d/d%s relative error %.3e >= %.0e", op, wrt, worst, TOL);
}

// ---------------------------------------------------------------------------------------------
// shared state of the op under test

static int B = 2, T = 5, H = 4, KV = 2, HD = 8;
static double *g_x, *g_y, *g_z, *g_w, *g_out, *g_aux;
static int *g_tok;
static long g_n;
static int g_rows, g_cols;
static Mat g_mat;

static double loss_embedding(void) {
    Mat emb = mat_real(g_x, g_rows, g_cols);
    embedding_forward(g_out, g_tok, (int)g_n, &emb);
    return wsum(g_w, g_out, g_n * g_cols);
}

static void test_embedding(void) {
    int V = 7, D = 6, n = 9;
    int tokens[9] = { 3, 0, 6, 3, 3, 1, 5, 6, 2 };   // repeats: their gradients must add up
    g_x = rnd((long)V * D, 1);
    g_w = rnd((long)n * D, 1);
    g_out = malloc(sizeof(double) * n * D);
    Mat emb = mat_real(g_x, V, D);
    embedding_forward(g_out, tokens, n, &emb);
    int exact = 1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < D; j++) exact &= g_out[i * D + j] == g_x[tokens[i] * D + j];
    CHECK(exact, "embedding_forward copies the token's row");

    double *before = rnd((long)V * D, 1), *demb = copy(before, (long)V * D);
    embedding_backward(demb, g_w, tokens, n, D);
    double *grad = added(demb, before, (long)V * D);
    g_tok = tokens; g_n = n; g_cols = D; g_rows = V;
    report("embedding", "emb", fd_check(loss_embedding, g_x, grad, (long)V * D, 0));

    // a bf16 table: each row decodes exactly
    uint16_t *b16 = malloc(sizeof(uint16_t) * V * D);
    for (int i = 0; i < V * D; i++) b16[i] = f32_to_bf16((float)g_x[i]);
    Mat embb = { MAT_BF16, V, D, b16, NULL, NULL, NULL, 0 };
    embedding_forward(g_out, tokens, n, &embb);
    exact = 1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < D; j++) exact &= g_out[i * D + j] == (double)bf16_to_f32(b16[tokens[i] * D + j]);
    CHECK(exact, "embedding_forward decodes bf16 rows");
    free(b16); free(before); free(demb); free(grad); free(g_x); free(g_w); free(g_out);
}

// ---------------------------------------------------------------------------------------------

static const double EPS = 1e-5;
static double loss_rmsnorm(void) {
    rmsnorm_forward(g_out, g_aux, g_x, g_y, (int)g_n, g_cols, EPS);
    return wsum(g_w, g_out, g_n * g_cols);
}

static void test_rmsnorm(void) {
    int n = B * T, D = 12;
    g_n = n; g_cols = D;
    g_x = rnd((long)n * D, 2); g_y = rnd(D, 1.5); g_w = rnd((long)n * D, 1);
    g_out = malloc(sizeof(double) * n * D); g_aux = malloc(sizeof(double) * n);
    loss_rmsnorm();
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double ms = 0;
        for (int j = 0; j < D; j++) ms += g_x[i * D + j] * g_x[i * D + j] / D;
        for (int j = 0; j < D; j++)
            worst = fmax(worst, tl_relerr(g_out[i * D + j], g_x[i * D + j] / sqrt(ms + EPS) * g_y[j], 1e-12));
    }
    CHECK(worst < 1e-14, "rmsnorm forward vs x / sqrt(mean x^2 + eps) * g: %.3e", worst);

    double *bx = rnd((long)n * D, 1), *bg = rnd(D, 1);
    double *dx = copy(bx, (long)n * D), *dg = copy(bg, D);
    rmsnorm_backward(dx, dg, g_w, g_x, g_y, g_aux, n, D);
    double *gx = added(dx, bx, (long)n * D), *gg = added(dg, bg, D);
    report("rmsnorm", "x", fd_check(loss_rmsnorm, g_x, gx, (long)n * D, 0));
    report("rmsnorm", "gain", fd_check(loss_rmsnorm, g_y, gg, D, 0));

    // frozen gains: dgain NULL, dx unchanged
    double *dx2 = copy(bx, (long)n * D);
    rmsnorm_backward(dx2, NULL, g_w, g_x, g_y, g_aux, n, D);
    CHECK(!memcmp(dx, dx2, sizeof(double) * n * D), "rmsnorm backward with dgain NULL gives the same dx");
    free(dx2); free(bx); free(bg); free(dx); free(dg); free(gx); free(gg);
    free(g_x); free(g_y); free(g_w); free(g_out); free(g_aux);
}

// ---------------------------------------------------------------------------------------------

static double *g_cos, *g_sin;
static double loss_rope(void) {
    memcpy(g_out, g_x, sizeof(double) * g_n);
    rope_forward(g_out, g_cos, g_sin, B, T, H, HD);
    return wsum(g_w, g_out, g_n);
}

static void test_rope(void) {
    long n = (long)B * T * H * HD;
    int half = HD / 2;
    g_n = n;
    g_cos = malloc(sizeof(double) * T * half); g_sin = malloc(sizeof(double) * T * half);
    rope_tables(g_cos, g_sin, T, HD, 10000.0);
    g_x = rnd(n, 1); g_w = rnd(n, 1); g_out = malloc(sizeof(double) * n);
    loss_rope();

    // position 0 is the identity; every position preserves each head's norm
    double worst_id = 0, worst_norm = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++) {
                const double *a = g_x + (((long)b * T + t) * H + h) * HD, *r = g_out + (((long)b * T + t) * H + h) * HD;
                double na = 0, nr = 0;
                for (int j = 0; j < HD; j++) {
                    na += a[j] * a[j]; nr += r[j] * r[j];
                    if (t == 0) worst_id = fmax(worst_id, fabs(a[j] - r[j]));
                }
                worst_norm = fmax(worst_norm, tl_relerr(sqrt(na), sqrt(nr), 1e-12));
            }
    CHECK(worst_id == 0, "RoPE at position 0 is the identity (max diff %.3e)", worst_id);
    CHECK(worst_norm < 1e-14, "RoPE preserves norms (worst %.3e)", worst_norm);

    // the score of a rotated query and key depends only on their distance: q(t+s).k(s) = q(t).k(0)
    {
        int Tl = 9;
        double *c = malloc(sizeof(double) * Tl * half), *s = malloc(sizeof(double) * Tl * half);
        rope_tables(c, s, Tl, HD, 500000.0);
        double *qv = rnd(HD, 1), *kv = rnd(HD, 1);
        double *qa = malloc(sizeof(double) * Tl * HD), *ka = malloc(sizeof(double) * Tl * HD);
        for (int t = 0; t < Tl; t++) { memcpy(qa + t * HD, qv, sizeof(double) * HD); memcpy(ka + t * HD, kv, sizeof(double) * HD); }
        rope_forward(qa, c, s, 1, Tl, 1, HD);
        rope_forward(ka, c, s, 1, Tl, 1, HD);
        double worst = 0;
        for (int dist = 0; dist < 4; dist++) {
            double ref = 0;
            for (int j = 0; j < HD; j++) ref += qa[dist * HD + j] * ka[j];
            for (int p = 1; p + dist < Tl; p++) {
                double d = 0;
                for (int j = 0; j < HD; j++) d += qa[(p + dist) * HD + j] * ka[p * HD + j];
                worst = fmax(worst, tl_relerr(d, ref, 1e-9));
            }
        }
        CHECK(worst < 1e-12, "RoPE scores depend only on relative position (worst %.3e)", worst);
        free(c); free(s); free(qv); free(kv); free(qa); free(ka);
    }

    double *d = copy(g_w, n);
    rope_backward(d, g_cos, g_sin, B, T, H, HD);   // in place: d becomes R^T w
    report("rope", "x", fd_check(loss_rope, g_x, d, n, 0));
    free(d); free(g_cos); free(g_sin); free(g_x); free(g_w); free(g_out);
}

// ---------------------------------------------------------------------------------------------

static double *g_att;
static double loss_attention(void) {
    attention_forward(g_out, g_att, g_x, g_y, g_z, B, T, H, KV, HD);
    return wsum(g_w, g_out, (long)B * T * H * HD);
}

// softmax(q k^T / sqrt(hd)) v with the causal mask, written out directly
static void naive_attention(double *out, const double *q, const double *k, const double *v) {
    double *p = malloc(sizeof(double) * T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int g = h / (H / KV);
            for (int t = 0; t < T; t++) {
                const double *qt = q + (((long)b * T + t) * H + h) * HD;
                double sum = 0;
                for (int s = 0; s <= t; s++) {
                    const double *ks = k + (((long)b * T + s) * KV + g) * HD;
                    double d = 0;
                    for (int j = 0; j < HD; j++) d += qt[j] * ks[j];
                    p[s] = exp(d / sqrt(HD));
                    sum += p[s];
                }
                double *o = out + (((long)b * T + t) * H + h) * HD;
                for (int j = 0; j < HD; j++) {
                    double acc = 0;
                    for (int s = 0; s <= t; s++) acc += p[s] / sum * v[(((long)b * T + s) * KV + g) * HD + j];
                    o[j] = acc;
                }
            }
        }
    free(p);
}

// samples = 0: every coordinate; else that many random ones per tensor
static void check_attention(const char *label, long samples) {
    long nq = (long)B * T * H * HD, nk = (long)B * T * KV * HD, na = (long)B * H * T * T;
    g_x = rnd(nq, 1.5); g_y = rnd(nk, 1.5); g_z = rnd(nk, 1); g_w = rnd(nq, 1);
    g_out = malloc(sizeof(double) * nq);
    g_att = malloc(sizeof(double) * na);
    for (long i = 0; i < na; i++) g_att[i] = 1e300;   // forward must write every entry
    loss_attention();

    double *ref = malloc(sizeof(double) * nq);
    naive_attention(ref, g_x, g_y, g_z);
    long at;
    double worst = tl_max_relerr(g_out, ref, nq, 1e-2, &at);
    CHECK(worst < 1e-12, "%s: attention forward vs naive: %.3e at %ld", label, worst, at);
    double worst_sum = 0, worst_mask = 0;
    for (long r = 0; r < (long)B * H * T; r++) {
        int t = (int)(r % T);
        double s = 0;
        for (int c = 0; c < T; c++) {
            s += g_att[r * T + c];
            if (c > t) worst_mask = fmax(worst_mask, fabs(g_att[r * T + c]));
        }
        worst_sum = fmax(worst_sum, fabs(s - 1));
    }
    CHECK(worst_sum < 1e-14, "%s: attention rows sum to 1 (worst %.3e)", label, worst_sum);
    CHECK(worst_mask == 0, "%s: causal mask: probabilities past the diagonal are 0 (max %.3e)", label, worst_mask);

    // causal: a change to the last position's key and value leaves every earlier output alone
    {
        double *out2 = malloc(sizeof(double) * nq), *k2 = copy(g_y, nk), *v2 = copy(g_z, nk);
        double *att2 = malloc(sizeof(double) * na);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < KV * HD; j++) {
                k2[((long)b * T + T - 1) * KV * HD + j] += 3;
                v2[((long)b * T + T - 1) * KV * HD + j] -= 2;
            }
        attention_forward(out2, att2, g_x, k2, v2, B, T, H, KV, HD);
        int same = 1, last_changed = 0;
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int j = 0; j < H * HD; j++) {
                    long i = ((long)b * T + t) * H * HD + j;
                    if (t < T - 1) same &= out2[i] == g_out[i];
                    else last_changed |= out2[i] != g_out[i];
                }
        CHECK(same && last_changed, "%s: causal: only the last position sees the last key/value", label);
        free(out2); free(k2); free(v2); free(att2);
    }

    double *bq = rnd(nq, 1), *bk = rnd(nk, 1), *bv = rnd(nk, 1);
    double *dq = copy(bq, nq), *dk = copy(bk, nk), *dv = copy(bv, nk);
    double *scratch = malloc(sizeof(double) * T * T);
    attention_backward(dq, dk, dv, g_w, g_att, g_x, g_y, g_z, B, T, H, KV, HD, scratch);
    double *gq = added(dq, bq, nq), *gk = added(dk, bk, nk), *gv = added(dv, bv, nk);
    char name[64];
    snprintf(name, sizeof name, "attention %s", label);
    report(name, "q", fd_check(loss_attention, g_x, gq, nq, samples));
    report(name, "k", fd_check(loss_attention, g_y, gk, nk, samples));
    report(name, "v", fd_check(loss_attention, g_z, gv, nk, samples));
    free(bq); free(bk); free(bv); free(dq); free(dk); free(dv); free(scratch); free(gq); free(gk); free(gv);
    free(ref); free(g_x); free(g_y); free(g_z); free(g_w); free(g_out); free(g_att);
}

static void test_attention(void) {
    check_attention("B2 T5 H4 KV2", 0);
    // more than two blocks of query rows, a ragged last block, four query heads per KV head
    int keepB = B, keepT = T, keepH = H, keepKV = KV, keepHD = HD;
    B = 1; T = 150; H = 4; KV = 1; HD = 16;
    check_attention("B1 T150 H4 KV1", 60);
    B = keepB; T = keepT; H = keepH; KV = keepKV; HD = keepHD;
}

// ---------------------------------------------------------------------------------------------

static double loss_swiglu(void) {
    swiglu_forward(g_out, g_x, g_y, g_n);
    return wsum(g_w, g_out, g_n);
}

static void test_swiglu(void) {
    long n = 37;
    g_n = n;
    g_x = rnd(n, 6); g_y = rnd(n, 2); g_w = rnd(n, 1); g_out = malloc(sizeof(double) * n);
    g_x[0] = -80; g_x[1] = 80;   // saturated sigmoid, both ends
    loss_swiglu();
    double worst = 0;
    for (long i = 0; i < n; i++) worst = fmax(worst, tl_relerr(g_out[i], g_x[i] / (1 + exp(-g_x[i])) * g_y[i], 1e-300));
    CHECK(worst < 1e-14, "swiglu forward vs g / (1 + e^-g) * u: %.3e", worst);
    double *bg = rnd(n, 1), *bu = rnd(n, 1), *dg = copy(bg, n), *du = copy(bu, n);
    swiglu_backward(dg, du, g_w, g_x, g_y, n);
    double *gg = added(dg, bg, n), *gu = added(du, bu, n);
    report("swiglu", "gate", fd_check(loss_swiglu, g_x, gg, n, 0));
    report("swiglu", "up", fd_check(loss_swiglu, g_y, gu, n, 0));
    free(bg); free(bu); free(dg); free(du); free(gg); free(gu); free(g_x); free(g_y); free(g_w); free(g_out);
}

// ---------------------------------------------------------------------------------------------

static double loss_bias(void) {
    memcpy(g_out, g_aux, sizeof(double) * g_n * g_rows);
    bias_forward(g_out, g_x, (int)g_n, g_rows);
    return wsum(g_w, g_out, g_n * g_rows);
}

static void test_bias_residual(void) {
    int n = 10, rows = 7;
    g_n = n; g_rows = rows;
    g_x = rnd(rows, 1); g_aux = rnd((long)n * rows, 1); g_w = rnd((long)n * rows, 1);
    g_out = malloc(sizeof(double) * n * rows);
    loss_bias();
    int exact = 1;
    for (int i = 0; i < n; i++)
        for (int r = 0; r < rows; r++) exact &= g_out[i * rows + r] == g_aux[i * rows + r] + g_x[r];
    CHECK(exact, "bias_forward adds b to every row");
    double *bb = rnd(rows, 1), *db = copy(bb, rows);
    bias_backward(db, g_w, n, rows);
    double *gb = added(db, bb, rows);
    report("bias", "b", fd_check(loss_bias, g_x, gb, rows, 0));
    free(bb); free(db); free(gb); free(g_x); free(g_aux); free(g_w); free(g_out);
}

// ---------------------------------------------------------------------------------------------

static const double DLOSS = 0.7;
static double loss_ce(void) {
    return DLOSS * cross_entropy_forward(g_x, g_tok, (int)g_n, g_cols, NULL);
}

static void test_cross_entropy(void) {
    int n = B * T, V = 11;
    int targets[10] = { 3, -1, 0, 10, 7, -1, 7, 2, 5, -1 };
    g_n = n; g_cols = V; g_tok = targets;
    g_x = rnd((long)n * V, 4);
    double *nll = malloc(sizeof(double) * n);
    double loss = cross_entropy_forward(g_x, targets, n, V, nll);

    // -log softmax written out directly (logits are small, so no shift is needed)
    double total = 0, worst = 0;
    int count = 0, ignored_zero = 1;
    for (int i = 0; i < n; i++) {
        if (targets[i] < 0) { ignored_zero &= nll[i] == 0; continue; }
        double z = 0;
        for (int j = 0; j < V; j++) z += exp(g_x[i * V + j]);
        double l = -log(exp(g_x[i * V + targets[i]]) / z);
        worst = fmax(worst, tl_relerr(nll[i], l, 1e-12));
        total += l; count++;
    }
    CHECK(worst < 1e-13, "cross-entropy row losses vs -log softmax: %.3e", worst);
    CHECK(tl_relerr(loss, total / count, 1e-12) < 1e-13, "cross-entropy mean over the 7 counted rows: %.17g vs %.17g",
          loss, total / count);
    CHECK(ignored_zero, "ignored rows get nll 0");

    // large logits: the shift keeps it finite and exact
    double *big = copy(g_x, (long)n * V);
    for (long i = 0; i < (long)n * V; i++) big[i] += 1000;
    double lbig = cross_entropy_forward(big, targets, n, V, NULL);
    CHECK(tl_relerr(lbig, loss, 1e-12) < 1e-11, "cross-entropy is shift-invariant at logits ~1000: %.17g vs %.17g", lbig, loss);

    // backward overwrites: start from garbage
    double *d = rnd((long)n * V, 100);
    cross_entropy_backward(d, g_x, targets, n, V, DLOSS);
    int zero_rows = 1;
    for (int i = 0; i < n; i++)
        if (targets[i] < 0)
            for (int j = 0; j < V; j++) zero_rows &= d[i * V + j] == 0;
    CHECK(zero_rows, "cross-entropy backward: ignored rows get zero gradient");
    report("cross_entropy", "logits", fd_check(loss_ce, g_x, d, (long)n * V, 0));

    // in place: dlogits aliasing logits gives the same numbers
    cross_entropy_backward(big, big, targets, n, V, DLOSS);
    double wa = tl_max_relerr(big, d, (long)n * V, 1e-12, NULL);
    CHECK(wa < 1e-12, "cross-entropy backward in place (logits + 1000) equals out of place: %.3e", wa);

    // forward and backward in one pass: the same loss, row losses and gradient, also in place (d2 starts
    // from garbage; the shared rng left alone, as the later tests draw from it)
    double *d2 = malloc(sizeof(double) * n * V), *nll2 = malloc(sizeof(double) * n), sum = 0;
    for (long i = 0; i < (long)n * V; i++) d2[i] = 5 + i % 3;
    long counted = 0;
    cross_entropy_forward_backward(d2, NULL, g_x, targets, n, V, (real)(DLOSS / 7), nll2, &sum, &counted);
    int same = !memcmp(d2, d, sizeof(double) * n * V);
    CHECK(counted == 7 && sum / counted == loss && !memcmp(nll2, nll, sizeof(double) * n) && same,
          "cross_entropy_forward_backward: count %ld, loss %.17g (%.17g), gradient the same bits %d", counted,
          sum / counted, loss, same);
    report("cross_entropy_forward_backward", "logits", fd_check(loss_ce, g_x, d2, (long)n * V, 0));
    double *in_place = copy(g_x, (long)n * V);
    sum = 0, counted = 0;
    cross_entropy_forward_backward(in_place, NULL, in_place, targets, n, V, (real)(DLOSS / 7), NULL, &sum, &counted);
    CHECK(sum / counted == loss && !memcmp(in_place, d, sizeof(double) * n * V),
          "cross_entropy_forward_backward in place: loss %.17g (%.17g)", sum / counted, loss);
    free(d2); free(nll2); free(in_place);

    // no counted target: loss 0 and zero gradient, no NaN
    int none[10] = { -1, -1, -1, -1, -1, -1, -1, -1, -1, -1 };
    double l0 = cross_entropy_forward(g_x, none, n, V, NULL);
    cross_entropy_backward(d, g_x, none, n, V, DLOSS);
    int all_zero = 1;
    for (long i = 0; i < (long)n * V; i++) all_zero &= d[i] == 0;
    CHECK(l0 == 0 && all_zero, "cross-entropy with every target ignored: loss 0, gradient 0");
    free(big); free(d); free(nll); free(g_x);
}

// ---------------------------------------------------------------------------------------------
// The matrix-product layer in the double build: MAT_REAL straight to dgemm, MAT_F32 and MAT_BF16
// through decoded tiles (70000 rows of 8 make two tiles).

static double loss_mat(void) {
    Mat W = g_mat;
    if (W.type == MAT_REAL) W.data = g_y;
    mat_forward(NULL, g_out, g_x, &W, (int)g_n, 0);
    return wsum(g_w, g_out, g_n * W.rows);
}

static void check_mat(MatType type, int n, int rows, int cols) {
    static const char *names[] = { "real", "f32", "bf16", "ternary" };
    long nw = (long)rows * cols;
    g_n = n;
    g_x = rnd((long)n * cols, 1); g_y = rnd(nw, 1); g_w = rnd((long)n * rows, 1);
    g_out = malloc(sizeof(double) * n * rows);
    double *dec = malloc(sizeof(double) * nw);   // the weights as the product sees them
    void *store = NULL;
    if (type == MAT_REAL) {
        memcpy(dec, g_y, sizeof(double) * nw);
        g_mat = mat_real(g_y, rows, cols);
    } else if (type == MAT_F32) {
        float *f = malloc(sizeof(float) * nw);
        for (long i = 0; i < nw; i++) dec[i] = f[i] = (float)g_y[i];
        store = f;
        g_mat = (Mat){ MAT_F32, rows, cols, f, NULL, NULL, NULL, 0 };
    } else {
        uint16_t *h = malloc(sizeof(uint16_t) * nw);
        for (long i = 0; i < nw; i++) { h[i] = f32_to_bf16((float)g_y[i]); dec[i] = bf16_to_f32(h[i]); }
        store = h;
        g_mat = (Mat){ MAT_BF16, rows, cols, h, NULL, NULL, NULL, 0 };
    }
    char name[48];
    snprintf(name, sizeof name, "mat %s %dx%d", names[type], rows, cols);

    loss_mat();
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int c = 0; c < cols; c++) s += g_x[(long)i * cols + c] * dec[(long)r * cols + c];
            worst = fmax(worst, tl_relerr(g_out[(long)i * rows + r], s, 1e-2));
        }
    CHECK(worst < 1e-12, "%s: forward vs naive loops: %.3e", name, worst);

    // accumulate flag: y += x W^T
    double *y0 = rnd((long)n * rows, 1), *y = copy(y0, (long)n * rows);
    mat_forward(NULL, y, g_x, &g_mat, n, 1);
    double worst_acc = 0;
    for (long i = 0; i < (long)n * rows; i++) worst_acc = fmax(worst_acc, tl_relerr(y[i] - y0[i], g_out[i], 1e-9));
    CHECK(worst_acc < 1e-9, "%s: accumulate adds to y: %.3e", name, worst_acc);

    double *decoded = malloc(sizeof(double) * cols * 3);
    mat_decode_rows(decoded, &g_mat, rows - 3, rows);
    mat_decode_row(decoded, &g_mat, rows - 3);
    CHECK(!memcmp(decoded, dec + (long)(rows - 3) * cols, sizeof(double) * cols * 3), "%s: decode rows", name);
    size_t elem = type == MAT_REAL ? sizeof(double) : type == MAT_F32 ? 4 : 2;
    CHECK(mat_storage_bytes(&g_mat) == (size_t)nw * elem, "%s: storage bytes", name);

    double *bx = rnd((long)n * cols, 1), *dx = copy(bx, (long)n * cols);
    mat_backward_input(NULL, dx, g_w, &g_mat, n);
    double *gx = added(dx, bx, (long)n * cols);
    report(name, "x", fd_check(loss_mat, g_x, gx, (long)n * cols, 0));
    if (type == MAT_REAL) {
        double *bw = rnd(nw, 1), *dw = copy(bw, nw);
        mat_backward_weight(NULL, dw, g_w, g_x, n, rows, cols);
        double *gw = added(dw, bw, nw);
        report(name, "W", fd_check(loss_mat, g_y, gw, nw, 0));
        free(bw); free(dw); free(gw);
    }
    free(decoded); free(y0); free(y); free(bx); free(dx); free(gx); free(dec); free(store);
    free(g_x); free(g_y); free(g_w); free(g_out);
}

static void test_mat(void) {
    check_mat(MAT_REAL, B * T, 7, 9);
    check_mat(MAT_F32, 3, 70000, 8);
    check_mat(MAT_BF16, 3, 70000, 8);
}

int main(void) {
    rng_seed(&rng, 20240611);
    test_embedding();
    test_rmsnorm();
    test_rope();
    test_attention();
    test_swiglu();
    test_bias_residual();
    test_cross_entropy();
    test_mat();
    return tl_finish("test_ops_grad");
}
