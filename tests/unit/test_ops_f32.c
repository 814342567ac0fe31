// The float build's own code paths (the AVX-512 exp, softmax, cross-entropy and SiLU kernels)
// against the same formulas written out naively in double. The gradients themselves are proven by
// finite differences in tests/unit64/test_ops_grad.c; this checks that the float kernels agree.
// Tolerances are a few float ulps, tight enough that an exp polynomial off by 1e-6 fails.
#include "engine/ops.h"
#include "engine/adamw.h"
#include "engine/rng.h"
#include "testlib.h"
#include <stdlib.h>
#include <string.h>

static Rng rng;

static float *rnd(long n, double scale) {
    float *a = malloc((size_t)n * sizeof(float));
    for (long i = 0; i < n; i++) a[i] = (float)(scale * (2 * rng_uniform(&rng) - 1));
    return a;
}

static void test_cross_entropy(void) {
    int n = 6, V = 8192 + 5;   // a masked tail after the full vectors
    float *logits = rnd((long)n * V, 20);
    int targets[6] = { 0, 8196, -1, 4000, 17, 8191 };
    logits[3 * V + 9] = -INFINITY;   // a banned token
    float nll[6];
    double loss = cross_entropy_forward(logits, targets, n, V, nll);

    double *ref = malloc(sizeof(double) * n * V);   // softmax rows in double
    double total = 0, worst = 0;
    for (int i = 0; i < n; i++) {
        const float *l = logits + (long)i * V;
        double mx = -INFINITY, z = 0;
        for (int j = 0; j < V; j++) mx = fmax(mx, l[j]);
        for (int j = 0; j < V; j++) z += exp((double)l[j] - mx);
        for (int j = 0; j < V; j++) ref[(long)i * V + j] = exp((double)l[j] - mx) / z;
        if (targets[i] < 0) continue;
        double r = mx + log(z) - l[targets[i]];
        worst = fmax(worst, tl_relerr(nll[i], r, 1));
        total += r;
    }
    CHECK(worst < 2e-6, "cross-entropy row losses vs double: %.3e", worst);
    CHECK(tl_relerr(loss, total / 5, 1) < 2e-6, "cross-entropy mean over 5 rows: %.8g vs %.8g", loss, total / 5);

    // backward, in place over a copy of the logits
    float *d = malloc(sizeof(float) * n * V);
    memcpy(d, logits, sizeof(float) * n * V);
    float dloss = 2.5f;
    cross_entropy_backward(d, d, targets, n, V, dloss);
    double wb = 0;
    int zero_ignored = 1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < V; j++) {
            double g = targets[i] < 0 ? 0 : (ref[(long)i * V + j] - (j == targets[i])) * dloss / 5;
            if (targets[i] < 0) zero_ignored &= d[(long)i * V + j] == 0;
            else wb = fmax(wb, fabs(d[(long)i * V + j] - g) / (fabs(g) + 1e-7));
        }
    CHECK(wb < 6e-7, "cross-entropy backward (in place) vs double softmax - onehot: %.3e", wb);
    CHECK(zero_ignored, "cross-entropy backward zeroes ignored rows");

    // forward and backward in one pass: the same bits as the two, in fp32 and rounded to bf16 (as
    // mat_round_bf16 rounds the fp32 gradient), with the target's lane in a full vector and the tail
    float *d1 = malloc(sizeof(float) * n * V), nll1[6];
    uint16_t *h1 = malloc(sizeof(uint16_t) * n * V), *h0 = malloc(sizeof(uint16_t) * n * V);
    for (long i = 0; i < (long)n * V; i++) h1[i] = 0x3f80, d1[i] = 7;
    mat_act_round_bf16(h0, d, (size_t)n * V);
    float g = dloss / 5;
    double tot[2] = { 0, 0 };
    long cnt[2] = { 0, 0 };
    cross_entropy_forward_backward(d1, NULL, logits, targets, n, V, g, nll1, &tot[0], &cnt[0]);
    CHECK(!memcmp(d1, d, sizeof(float) * n * V) && !memcmp(nll1, nll, sizeof nll) && tot[0] / cnt[0] == loss,
          "cross_entropy_forward_backward: the same loss and gradient bits as forward and backward");
    cross_entropy_forward_backward(NULL, h1, logits, targets, n, V, g, NULL, &tot[1], &cnt[1]);
    long at = 0;
    while (at < (long)n * V && h1[at] == h0[at]) at++;
    CHECK(at == (long)n * V && tot[1] == tot[0] && cnt[1] == 5,
          "cross_entropy_forward_backward to bf16: element %ld differs from the rounded gradient", at);
    free(d1); free(h1); free(h0);

    // a NaN logit must surface in the loss (divergence detection depends on it)
    logits[4 * V + 100] = NAN;
    CHECK(isnan(cross_entropy_forward(logits, targets, n, V, NULL)), "a NaN logit gives a NaN loss");
    free(d); free(ref); free(logits);
}

static void test_swiglu(void) {
    long n = 16 * 40 + 7;
    float *g = rnd(n, 30), *u = rnd(n, 3), *dout = rnd(n, 1), *out = malloc(sizeof(float) * n);
    g[0] = -100; g[1] = 100; g[2] = 0; g[3] = -1e30f; g[4] = 88.5f; g[5] = -88.5f;
    swiglu_forward(out, g, u, n);
    float *dg = malloc(sizeof(float) * n), *du = malloc(sizeof(float) * n);
    for (long i = 0; i < n; i++) { dg[i] = 1; du[i] = -1; }
    swiglu_backward(dg, du, dout, g, u, n);
    double wf = 0, wg = 0, wu = 0;
    for (long i = 0; i < n; i++) {
        double gd = g[i], s = 1 / (1 + exp(-gd));
        double f = gd * s * u[i];
        double rg = 1 + dout[i] * u[i] * s * (1 + gd * (1 - s)), ru = -1 + dout[i] * gd * s;
        wf = fmax(wf, tl_relerr(out[i], f, 1e-6));
        wg = fmax(wg, tl_relerr(dg[i], rg, 1));   // floor 1: the gradient was added onto 1
        wu = fmax(wu, tl_relerr(du[i], ru, 1));
    }
    CHECK(wf < 5e-7, "swiglu forward vs double: %.3e", wf);
    CHECK(wg < 2e-6 && wu < 2e-6, "swiglu backward (accumulating) vs double: gate %.3e up %.3e", wg, wu);
    free(g); free(u); free(dout); free(out); free(dg); free(du);
}

static void test_rmsnorm(void) {
    int n = 5, D = 256 + 9;
    float *x = rnd((long)n * D, 3), *gain = rnd(D, 2), *out = malloc(sizeof(float) * n * D), rstd[5];
    rmsnorm_forward(out, rstd, x, gain, n, D, 1e-5);
    double w = 0;
    for (int i = 0; i < n; i++) {
        double ms = 0;
        for (int j = 0; j < D; j++) ms += (double)x[i * D + j] * x[i * D + j] / D;
        for (int j = 0; j < D; j++)
            w = fmax(w, tl_relerr(out[i * D + j], x[i * D + j] / sqrt(ms + 1e-5) * gain[j], 1e-3));
    }
    CHECK(w < 2e-6, "rmsnorm forward vs double: %.3e", w);
    free(x); free(gain); free(out);
}

// Attention over three and a bit blocks of query rows, against double formulas written out.
static void test_attention(void) {
    int B = 2, T = 200, H = 4, KV = 2, hd = 64, grp = H / KV;
    long nq = (long)B * T * H * hd, nk = (long)B * T * KV * hd;
    float *q = rnd(nq, 1), *k = rnd(nk, 1), *v = rnd(nk, 1), *dout = rnd(nq, 1);
    float *out = malloc(sizeof(float) * nq), *att = malloc(sizeof(float) * B * H * T * T);
    float *dq = calloc(nq, sizeof(float)), *dk = calloc(nk, sizeof(float)), *dv = calloc(nk, sizeof(float));
    float *scratch = malloc(sizeof(float) * T * T);
    attention_forward(out, att, q, k, v, B, T, H, KV, hd);
    attention_backward(dq, dk, dv, dout, att, q, k, v, B, T, H, KV, hd, scratch);

    double *rdq = calloc(nq, sizeof(double)), *rdk = calloc(nk, sizeof(double)), *rdv = calloc(nk, sizeof(double));
    double *p = malloc(sizeof(double) * T), *dp = malloc(sizeof(double) * T);
    double wo = 0, wp = 0, wmask = 0, sc = 1 / sqrt(hd);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int g = h / grp;
            for (int t = 0; t < T; t++) {
                const float *qt = q + (((long)b * T + t) * H + h) * hd, *dot = dout + (((long)b * T + t) * H + h) * hd;
                double z = 0, mx = -INFINITY, pd = 0;
                for (int s = 0; s <= t; s++) {
                    const float *ks = k + (((long)b * T + s) * KV + g) * hd;
                    double d = 0;
                    for (int j = 0; j < hd; j++) d += (double)qt[j] * ks[j];
                    p[s] = d * sc;
                    mx = fmax(mx, p[s]);
                }
                for (int s = 0; s <= t; s++) z += (p[s] = exp(p[s] - mx));
                const float *arow = att + (((long)b * H + h) * T + t) * T;
                for (int s = 0; s < T; s++) {
                    if (s <= t) { p[s] /= z; wp = fmax(wp, fabs(arow[s] - p[s])); }
                    else wmask = fmax(wmask, fabs(arow[s]));
                }
                for (int j = 0; j < hd; j++) {
                    double o = 0;
                    for (int s = 0; s <= t; s++) o += p[s] * v[(((long)b * T + s) * KV + g) * hd + j];
                    wo = fmax(wo, fabs(out[(((long)b * T + t) * H + h) * hd + j] - o));
                }
                // dP = dout . v, dS = P (dP - sum P dP), dq = dS k sc, dk += dS q sc, dv += P dout
                for (int s = 0; s <= t; s++) {
                    const float *vs = v + (((long)b * T + s) * KV + g) * hd;
                    double d = 0;
                    for (int j = 0; j < hd; j++) d += (double)dot[j] * vs[j];
                    dp[s] = d;
                    pd += p[s] * d;
                }
                for (int s = 0; s <= t; s++) {
                    double ds = p[s] * (dp[s] - pd) * sc;
                    long ko = (((long)b * T + s) * KV + g) * hd, qo = (((long)b * T + t) * H + h) * hd;
                    for (int j = 0; j < hd; j++) {
                        rdq[qo + j] += ds * k[ko + j];
                        rdk[ko + j] += ds * q[qo + j];
                        rdv[ko + j] += p[s] * dout[qo + j];
                    }
                }
            }
        }
    CHECK(wp < 1.5e-7, "attention probabilities vs double: max abs diff %.3e", wp);
    CHECK(wmask == 0, "attention: masked probabilities are exactly 0");
    CHECK(wo < 2e-6, "attention output vs double: max abs diff %.3e", wo);
    double wq = 0, wk = 0, wv = 0;
    for (long i = 0; i < nq; i++) wq = fmax(wq, fabs(dq[i] - rdq[i]));
    for (long i = 0; i < nk; i++) { wk = fmax(wk, fabs(dk[i] - rdk[i])); wv = fmax(wv, fabs(dv[i] - rdv[i])); }
    CHECK(wq < 5e-6 && wk < 5e-6 && wv < 5e-6, "attention backward vs double: dq %.3e dk %.3e dv %.3e", wq, wk, wv);
    free(q); free(k); free(v); free(dout); free(out); free(att); free(dq); free(dk); free(dv); free(scratch);
    free(rdq); free(rdk); free(rdv); free(p); free(dp);
}

// Attention and cross-entropy split their work over threads: the numbers must not change with the
// thread count (a job's result depends on its seed alone), nor must gradients stop accumulating.
static void test_thread_count(void) {
    int B = 3, T = 70, H = 6, KV = 2, hd = 32, V = 1000, n = B * T;
    long nq = (long)B * T * H * hd, nk = (long)B * T * KV * hd, na = (long)B * H * T * T;
    float *q = rnd(nq, 1), *k = rnd(nk, 1), *v = rnd(nk, 1), *dout = rnd(nq, 1), *logits = rnd((long)n * V, 5);
    int *targets = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) targets[i] = i % 7 == 3 ? -1 : (int)rng_below(&rng, V);
    float *res[2][6];
    double loss[2];
    int threads[2] = { 1, 3 };
    for (int r = 0; r < 2; r++) {
        engine_set_threads(threads[r]);
        float *out = malloc(sizeof(float) * nq), *att = malloc(sizeof(float) * na), *sc = malloc(sizeof(float) * T * T);
        float *dq = malloc(sizeof(float) * nq), *dk = malloc(sizeof(float) * nk), *dv = malloc(sizeof(float) * nk);
        float *dl = malloc(sizeof(float) * n * V);
        for (long i = 0; i < nq; i++) dq[i] = 0.125f;
        for (long i = 0; i < nk; i++) dk[i] = dv[i] = -0.5f;
        attention_forward(out, att, q, k, v, B, T, H, KV, hd);
        attention_backward(dq, dk, dv, dout, att, q, k, v, B, T, H, KV, hd, sc);
        loss[r] = cross_entropy_forward(logits, targets, n, V, NULL);
        cross_entropy_backward(dl, logits, targets, n, V, 1);
        res[r][0] = out; res[r][1] = att; res[r][2] = dq; res[r][3] = dk; res[r][4] = dv; res[r][5] = dl;
        free(sc);
    }
    long sizes[6] = { nq, na, nq, nk, nk, (long)n * V };
    const char *names[6] = { "out", "att", "dq", "dk", "dv", "dlogits" };
    for (int j = 0; j < 6; j++) {
        CHECK(!memcmp(res[0][j], res[1][j], sizeof(float) * sizes[j]),
              "%s is identical at 1 and 3 threads", names[j]);
        free(res[0][j]); free(res[1][j]);
    }
    CHECK(loss[0] == loss[1], "cross-entropy loss identical at 1 and 3 threads: %.17g vs %.17g", loss[0], loss[1]);
    engine_set_threads(1);
    free(q); free(k); free(v); free(dout); free(logits); free(targets);
}

// RMSNorm, RoPE and SwiGLU split rows and elements over threads too (the gains' gradient, a sum over
// rows, by columns, each summed in row order): the same numbers at any thread count, tails and all.
static void test_thread_count_rows(void) {
    int B = 3, T = 77, H = 4, hd = 48, n = B * T, dim = H * hd;
    long ne = (long)n * 3 * 1000 + 5;   // several items of elements and a tail of 5
    float *x = rnd((long)n * dim, 2), *gain = rnd(dim, 1), *dout = rnd((long)n * dim, 1);
    float *g = rnd(ne, 4), *u = rnd(ne, 1), *de = rnd(ne, 1), *ct = rnd((long)T * hd / 2, 1), *st = rnd((long)T * hd / 2, 1);
    float *res[2][7];
    long sizes[7] = { (long)n * dim, n, (long)n * dim, dim, ne, ne, ne };
    int threads[2] = { 1, 3 };
    for (int r = 0; r < 2; r++) {
        engine_set_threads(threads[r]);
        for (int j = 0; j < 7; j++) res[r][j] = calloc(sizes[j], sizeof(float));
        rmsnorm_forward(res[r][0], res[r][1], x, gain, n, dim, 1e-5);
        rope_forward(res[r][0], ct, st, B, T, H, hd);
        rope_backward(res[r][0], ct, st, B, T, H, hd);
        for (long i = 0; i < (long)n * dim; i++) res[r][2][i] = 0.5f;
        rmsnorm_backward(res[r][2], res[r][3], dout, x, gain, res[r][1], n, dim);
        swiglu_forward(res[r][4], g, u, ne);
        swiglu_backward(res[r][5], res[r][6], de, g, u, ne);
    }
    engine_set_threads(1);
    const char *names[7] = { "rmsnorm+rope out", "rstd", "rmsnorm dx", "rmsnorm dgain", "swiglu out", "swiglu dgate", "swiglu dup" };
    for (int j = 0; j < 7; j++) {
        CHECK(!memcmp(res[0][j], res[1][j], sizeof(float) * sizes[j]), "%s identical at 1 and 3 threads", names[j]);
        free(res[0][j]); free(res[1][j]);
    }
    free(x); free(gain); free(dout); free(g); free(u); free(de); free(ct); free(st);
}

// The embedding's rows are looked up in items of rows over threads: each token's row, whatever the
// thread count (a tail of rows past the last whole item included).
static void test_thread_count_embed(void) {
    int V = 50, dim = 40, n = 3 * 32 + 7;
    float *e = rnd((long)V * dim, 1), *out[2] = { malloc(sizeof(float) * n * dim), malloc(sizeof(float) * n * dim) };
    int *tok = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) tok[i] = (i * 7 + 3) % V;
    Mat emb = { .type = MAT_F32, .rows = V, .cols = dim, .data = e };
    int threads[2] = { 1, 3 };
    for (int r = 0; r < 2; r++) {
        engine_set_threads(threads[r]);
        for (long i = 0; i < (long)n * dim; i++) out[r][i] = NAN;
        embedding_forward(out[r], tok, n, &emb);
        long bad = 0;
        for (int i = 0; i < n; i++) bad += memcmp(out[r] + (size_t)i * dim, e + (size_t)tok[i] * dim, sizeof(float) * dim) != 0;
        CHECK(bad == 0, "embedding_forward at %d threads: %ld rows wrong", threads[r], bad);
    }
    engine_set_threads(1);
    free(e); free(out[0]); free(out[1]); free(tok);
}

// swiglu_backward_set overwrites what it is given (here NaN) with exactly what swiglu_backward adds to
// zeroed gradients, signed zeros included (dout +-0), at 1 and 3 threads, tails and all.
static void test_swiglu_set(void) {
    long ne = 5 * 16384 + 13;
    float *g = rnd(ne, 4), *u = rnd(ne, 1), *de = rnd(ne, 1);
    for (long i = 0; i < ne; i += 7) de[i] = i % 2 ? -0.0f : 0.0f;
    float *acc[2] = { calloc(ne, sizeof(float)), calloc(ne, sizeof(float)) };
    float *set[2] = { malloc(ne * sizeof(float)), malloc(ne * sizeof(float)) };
    int threads[2] = { 1, 3 };
    for (int r = 0; r < 2; r++) {
        engine_set_threads(threads[r]);
        memset(acc[0], 0, ne * sizeof(float));
        memset(acc[1], 0, ne * sizeof(float));
        for (long i = 0; i < ne; i++) set[0][i] = set[1][i] = NAN;
        swiglu_backward(acc[0], acc[1], de, g, u, ne);
        swiglu_backward_set(set[0], set[1], de, g, u, ne);
        CHECK(!memcmp(acc[0], set[0], ne * sizeof(float)) && !memcmp(acc[1], set[1], ne * sizeof(float)),
              "swiglu_backward_set at %d threads is swiglu_backward on zeroed gradients, bit for bit", threads[r]);
    }
    engine_set_threads(1);
    free(g); free(u); free(de); free(acc[0]); free(acc[1]); free(set[0]); free(set[1]);
}

// AdamW's update and the copies split elements over threads (the gradient's norm stays one sum): the
// same parameters, moments and bytes at 1 and 3 threads, over several items and a tail.
static void test_thread_count_elems(void) {
    long ne = 64 * 16384 + 77;   // enough items that every worker gets some
    float *g = rnd(ne, 1), *p0 = rnd(ne, 1), *res[2][4];
    double norm[2];
    int threads[2] = { 1, 3 };
    for (int r = 0; r < 2; r++) {
        engine_set_threads(threads[r]);
        Adapter ad = { .n = (size_t)ne };
        ad.params = malloc(sizeof(float) * ne);
        ad.grads = g;
        memcpy(ad.params, p0, sizeof(float) * ne);
        adamw_alloc(&ad);
        for (int t = 1; t <= 3; t++) norm[r] = adamw_step(&ad, t, 1e-2, 0.9, 0.95, 1e-8, 0.1, 0.5);
        res[r][0] = ad.params;
        res[r][1] = ad.m;
        res[r][2] = ad.v;
        res[r][3] = malloc(sizeof(float) * ne);
        copy_reals(res[r][3], g, ne);
        zero_reals(res[r][3] + 5, ne - 10);
    }
    engine_set_threads(1);
    CHECK(norm[0] == norm[1], "adamw gradient norm identical at 1 and 3 threads");
    for (int r = 0; r < 2; r++) {
        long bad = 0;
        for (long i = 0; i < ne; i++) bad += res[r][3][i] != (i < 5 || i >= ne - 5 ? g[i] : 0.0f);
        CHECK(bad == 0, "copy_reals then zero_reals at %d threads: %ld values wrong", threads[r], bad);
    }
    const char *names[4] = { "adamw params", "adamw m", "adamw v", "copy_reals/zero_reals" };
    for (int j = 0; j < 4; j++) {
        CHECK(!memcmp(res[0][j], res[1][j], sizeof(float) * ne), "%s identical at 1 and 3 threads", names[j]);
        free(res[0][j]); free(res[1][j]);
    }
    free(g); free(p0);
}

int main(void) {
    rng_seed(&rng, 11);
    engine_set_threads(1);
    test_cross_entropy();
    test_swiglu();
    test_swiglu_set();
    test_thread_count_embed();
    test_rmsnorm();
    test_attention();
    test_thread_count();
    test_thread_count_rows();
    test_thread_count_elems();
    return tl_finish("test_ops_f32");
}
