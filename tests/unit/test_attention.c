// The attention's product path (engine/attention.h: QK^T, PV and the four backward products through
// the compute context, softmax as a row pass) against the reference loops (engine/ops.h
// attention_forward/backward), forward and all three backward outputs, at fp32-dnnl, bf16 and int8,
// over shapes with GQA, MQA, one block, several blocks and T not a multiple of ATTENTION_ROWS.
//
// Gate, per element, derived from the precision to first order. A product whose two inputs are each
// rounded with unit roundoff u errs by at most 2u sum_k |a_k b_k|; call 2u "r". bf16 keeps p = 8
// significant bits, u = 2^-p = 2^-8 (half the spacing 2^-7 of [1, 2)), so r = 2^-7, plus 2 T 2^-24
// for the fp32 sums of both paths (any order, sums of at most T terms); at fp32-dnnl r = 2 T 2^-24. With scale c = 1/sqrt(hd), per query row t and key s <= t:
//   scores   e_t = r_s c max_s sum_j |q_tj k_sj|            (the row's worst score error)
//   P        |dP_ts| <= 2 P_ts e_t                       (softmax moves by the error less its P-mean)
//   O        |dO_td| <= (2 e_t + r) sum_s P_ts |v_sd|
//   dP       |d dP_ts| <= r A_ts, A_ts = sum_j |dO_tj v_sj|
//   dS       |d dS_ts| <= c P_ts r (A_ts + max_s A_ts)   (dS = c P (dP - sum_s P dP))
//   dQ       |d dQ_td| <= sum_s (|d dS_ts| + r |dS_ts|) |k_sd|;  dK likewise with q, summed over t
//   dV       |d dV_sd| <= r sum_t P_ts |dO_td|
// (dK and dV summed over the heads sharing a KV head). The scores are fp32 at every precision
// (engine/attention.h), so e_t takes fp32's r = 2 T 2^-24 there. The backward is given the reference's P, so
// each output's bound holds alone. Allowed: 1.25 x the bound (second-order terms) plus 1e-6 x the
// tensor's largest value (a few float ulps of exp and of the scale's placement). The printed ratio
// is the worst |difference| / allowed.
#include "engine/attention.h"
#include "engine/ops.h"
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

// worst |a - b| / (1.25 bound + 1e-6 max |b|) over n elements
static double ratio(const float *a, const float *b, const double *bound, long n) {
    double mx = 0, worst = 0;
    for (long i = 0; i < n; i++) mx = fmax(mx, fabs(b[i]));
    for (long i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (1.25 * bound[i] + 1e-6 * mx);
        if (e > worst || e != e) worst = e;
    }
    return worst;
}

static void check_shape(MatPrecision prec, int B, int T, int H, int KV, int hd) {
    int grp = H / KV;
    long nq = (long)B * T * H * hd, nk = (long)B * T * KV * hd, na = (long)B * H * T * T;
    float *q = rnd(nq, 2), *k = rnd(nk, 2), *v = rnd(nk, 1), *dout = rnd(nq, 1);
    float *out_r = malloc(sizeof(float) * nq), *att_r = malloc(sizeof(float) * na);
    float *out_f = malloc(sizeof(float) * nq), *att_f = malloc(sizeof(float) * na);
    float *g_r[3], *g_f[3];   // dq, dk, dv; both start at 0.25 (the backward accumulates)
    long ng[3] = { nq, nk, nk };
    for (int i = 0; i < 3; i++) {
        g_r[i] = malloc(sizeof(float) * ng[i]);
        g_f[i] = malloc(sizeof(float) * ng[i]);
        for (long j = 0; j < ng[i]; j++) g_r[i][j] = g_f[i][j] = 0.25f;
    }
    float *scratch = malloc(sizeof(float) * T * T);
    MatContext *mc = mat_context_create(prec);
    attention_forward(out_r, att_r, q, k, v, B, T, H, KV, hd);
    attention_backward(g_r[0], g_r[1], g_r[2], dout, att_r, q, k, v, B, T, H, KV, hd, scratch);
    attention_forward_mc(mc, NULL, out_f, att_f, q, k, v, B, T, H, KV, hd);
    attention_backward_mc(mc, NULL, g_f[0], g_f[1], g_f[2], dout, att_r, q, k, v, B, T, H, KV, hd, scratch);

    double rs = 2.0 * T * ldexp(1, -24), r = (prec == MAT_PREC_FP32_DNNL ? 0 : ldexp(1, -7)) + rs, c = 1 / sqrt(hd);
    double *bo = calloc(nq, sizeof(double)), *bp = calloc(na, sizeof(double));
    double *bg[3] = { calloc(nq, sizeof(double)), calloc(nk, sizeof(double)), calloc(nk, sizeof(double)) };
    double *A = malloc(sizeof(double) * T), *dS = malloc(sizeof(double) * T), *bdS = malloc(sizeof(double) * T);
    long masked_nonzero = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int g = h / grp;
            for (int t = 0; t < T; t++) {
                long qo = (((long)b * T + t) * H + h) * hd;
                const float *P = att_r + (((long)b * H + h) * T + t) * T;
                double e = 0, amax = 0, D = 0;
                for (int s = 0; s <= t; s++) {
                    long ko = (((long)b * T + s) * KV + g) * hd;
                    double sa = 0, a = 0, dp = 0;
                    for (int j = 0; j < hd; j++) {
                        sa += fabs((double)q[qo + j] * k[ko + j]);
                        a += fabs((double)dout[qo + j] * v[ko + j]);
                        dp += (double)dout[qo + j] * v[ko + j];
                    }
                    e = fmax(e, rs * c * sa);
                    A[s] = a, amax = fmax(amax, a), dS[s] = dp, D += P[s] * dp;
                }
                for (int s = 0; s < T; s++) masked_nonzero += s > t && att_f[P - att_r + s] != 0;
                for (int s = 0; s <= t; s++) {
                    bp[P - att_r + s] = 2 * P[s] * e;
                    dS[s] = c * P[s] * (dS[s] - D);
                    bdS[s] = c * P[s] * r * (A[s] + amax) + r * fabs(dS[s]);
                }
                for (int s = 0; s <= t; s++) {
                    long ko = (((long)b * T + s) * KV + g) * hd;
                    for (int j = 0; j < hd; j++) {
                        bo[qo + j] += (2 * e + r) * P[s] * fabs(v[ko + j]);
                        bg[0][qo + j] += bdS[s] * fabs(k[ko + j]);
                        bg[1][ko + j] += bdS[s] * fabs(q[qo + j]);
                        bg[2][ko + j] += r * P[s] * fabs(dout[qo + j]);
                    }
                }
            }
        }
    double wo = ratio(out_f, out_r, bo, nq), wp = ratio(att_f, att_r, bp, na);
    double wq = ratio(g_f[0], g_r[0], bg[0], nq), wk = ratio(g_f[1], g_r[1], bg[1], nk), wv = ratio(g_f[2], g_r[2], bg[2], nk);
    const char *name = mat_precision_name(prec);
    printf("  %-9s B %d T %3d heads %d/%d hd %2d: worst/allowed  P %.3f  O %.3f  dQ %.3f  dK %.3f  dV %.3f\n",
           name, B, T, H, KV, hd, wp, wo, wq, wk, wv);
    CHECK(wp <= 1 && wo <= 1, "%s %dx%d h%d/%d hd%d forward: P %.3f O %.3f of the allowed", name, B, T, H, KV, hd, wp, wo);
    CHECK(wq <= 1 && wk <= 1 && wv <= 1, "%s %dx%d h%d/%d hd%d backward: dQ %.3f dK %.3f dV %.3f of the allowed",
          name, B, T, H, KV, hd, wq, wk, wv);
    CHECK(masked_nonzero == 0, "%s: %ld masked probabilities are not 0", name, masked_nonzero);
    mat_context_free(mc);
    free(q); free(k); free(v); free(dout); free(out_r); free(att_r); free(out_f); free(att_f);
    for (int i = 0; i < 3; i++) { free(g_r[i]); free(g_f[i]); free(bg[i]); }
    free(scratch); free(bo); free(bp); free(A); free(dS); free(bdS);
}

// At fp32 the context's attention is the reference, bit for bit (the results of existing sweeps).
static void test_fp32_is_reference(void) {
    int B = 2, T = 150, H = 4, KV = 2, hd = 16;
    long nq = (long)B * T * H * hd, nk = (long)B * T * KV * hd, na = (long)B * H * T * T;
    float *q = rnd(nq, 2), *k = rnd(nk, 2), *v = rnd(nk, 1), *dout = rnd(nq, 1);
    float *o[2], *a[2], *dq[2], *dk[2], *dv[2];
    float *scratch = malloc(sizeof(float) * T * T);
    MatContext *mc = mat_context_create(MAT_PREC_FP32);
    for (int i = 0; i < 2; i++) {
        o[i] = malloc(sizeof(float) * nq), a[i] = malloc(sizeof(float) * na);
        dq[i] = calloc(nq, sizeof(float)), dk[i] = calloc(nk, sizeof(float)), dv[i] = calloc(nk, sizeof(float));
    }
    attention_forward(o[0], a[0], q, k, v, B, T, H, KV, hd);
    attention_backward(dq[0], dk[0], dv[0], dout, a[0], q, k, v, B, T, H, KV, hd, scratch);
    attention_forward_mc(mc, NULL, o[1], a[1], q, k, v, B, T, H, KV, hd);
    attention_backward_mc(mc, NULL, dq[1], dk[1], dv[1], dout, a[1], q, k, v, B, T, H, KV, hd, scratch);
    CHECK(!attention_uses_products(mc) && !attention_uses_products(NULL), "fp32 takes the reference path");
    CHECK(!memcmp(o[0], o[1], sizeof(float) * nq) && !memcmp(a[0], a[1], sizeof(float) * na) &&
          !memcmp(dq[0], dq[1], sizeof(float) * nq) && !memcmp(dk[0], dk[1], sizeof(float) * nk) &&
          !memcmp(dv[0], dv[1], sizeof(float) * nk), "fp32: the context's attention is the reference bit for bit");
    mat_context_free(mc);
    for (int i = 0; i < 2; i++) { free(o[i]); free(a[i]); free(dq[i]); free(dk[i]); free(dv[i]); }
    free(q); free(k); free(v); free(dout); free(scratch);
}

// The product path splits (batch, KV head) items over threads, each in its own context: the numbers
// must not change with the thread count, nor must the gradients stop accumulating.
static void test_thread_count(MatPrecision prec) {
    int B = 3, T = 150, H = 6, KV = 2, hd = 32;
    long nq = (long)B * T * H * hd, nk = (long)B * T * KV * hd, na = (long)B * H * T * T;
    float *q = rnd(nq, 2), *k = rnd(nk, 2), *v = rnd(nk, 1), *dout = rnd(nq, 1);
    float *res[2][5];
    long sizes[5] = { nq, na, nq, nk, nk };
    int threads[2] = { 1, 3 };
    MatContext *mc = mat_context_create(prec);
    for (int r = 0; r < 2; r++) {
        engine_set_threads(threads[r]);
        for (int j = 0; j < 5; j++) res[r][j] = malloc(sizeof(float) * sizes[j]);
        for (int j = 2; j < 5; j++)
            for (long i = 0; i < sizes[j]; i++) res[r][j][i] = 0.125f;
        attention_forward_mc(mc, NULL, res[r][0], res[r][1], q, k, v, B, T, H, KV, hd);
        attention_backward_mc(mc, NULL, res[r][2], res[r][3], res[r][4], dout, res[r][1], q, k, v, B, T, H, KV, hd, NULL);
    }
    engine_set_threads(1);
    const char *names[5] = { "out", "att", "dq", "dk", "dv" };
    for (int j = 0; j < 5; j++) {
        CHECK(!memcmp(res[0][j], res[1][j], sizeof(float) * sizes[j]), "%s: %s identical at 1 and 3 threads",
              mat_precision_name(prec), names[j]);
        free(res[0][j]); free(res[1][j]);
    }
    mat_context_free(mc);
    free(q); free(k); free(v); free(dout);
}

// attention_backward_set_mc overwrites dq, dk, dv (here NaN) with exactly what attention_backward_mc
// adds to zeroed ones, on the product path (split over 1 and 3 threads) and the reference's (fp32).
static void test_set(MatPrecision prec) {
    int B = 2, T = 150, H = 6, KV = 2, hd = 32;
    long nq = (long)B * T * H * hd, nk = (long)B * T * KV * hd, na = (long)B * H * T * T;
    float *q = rnd(nq, 2), *k = rnd(nk, 2), *v = rnd(nk, 1), *dout = rnd(nq, 1);
    float *o = malloc(sizeof(float) * nq), *att = malloc(sizeof(float) * na), *scratch = malloc(sizeof(float) * T * T);
    long sizes[3] = { nq, nk, nk };
    float *acc[3], *set[3];
    for (int j = 0; j < 3; j++) {
        acc[j] = malloc(sizeof(float) * sizes[j]);
        set[j] = malloc(sizeof(float) * sizes[j]);
    }
    int threads[2] = { 1, 3 };
    MatContext *mc = mat_context_create(prec);
    attention_forward_mc(mc, NULL, o, att, q, k, v, B, T, H, KV, hd);
    for (int r = 0; r < 2; r++) {
        engine_set_threads(threads[r]);
        for (int j = 0; j < 3; j++) {
            memset(acc[j], 0, sizeof(float) * sizes[j]);
            for (long i = 0; i < sizes[j]; i++) set[j][i] = NAN;
        }
        attention_backward_mc(mc, NULL, acc[0], acc[1], acc[2], dout, att, q, k, v, B, T, H, KV, hd, scratch);
        attention_backward_set_mc(mc, NULL, set[0], set[1], set[2], dout, att, q, k, v, B, T, H, KV, hd, scratch);
        CHECK(!memcmp(acc[0], set[0], sizeof(float) * nq) && !memcmp(acc[1], set[1], sizeof(float) * nk) &&
              !memcmp(acc[2], set[2], sizeof(float) * nk),
              "%s, %d threads: attention_backward_set_mc is attention_backward_mc on zeroed gradients, bit for bit",
              mat_precision_name(prec), threads[r]);
    }
    engine_set_threads(1);
    mat_context_free(mc);
    for (int j = 0; j < 3; j++) { free(acc[j]); free(set[j]); }
    free(q); free(k); free(v); free(dout); free(o); free(att); free(scratch);
}

int main(void) {
    rng_seed(&rng, 17);
    test_fp32_is_reference();
    printf("products by %s\n", mat_precision_backend(MAT_PREC_BF16));
    static const int shapes[][5] = {   // B, T, heads, KV heads, head dim
        { 2, 300, 4, 2, 16 },   // GQA, three blocks, the last partial
        { 1, 128, 2, 2, 64 },   // exactly one block
        { 3, 37, 6, 3, 8 },     // shorter than a block
        { 1, 257, 8, 1, 32 },   // MQA, one row past two blocks
        { 2, 200, 4, 4, 64 },   // the default config's head dim
    };
    MatPrecision precs[3] = { MAT_PREC_FP32_DNNL, MAT_PREC_BF16, MAT_PREC_INT8 };
    for (int p = 0; p < 3; p++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            check_shape(precs[p], shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], shapes[s][4]);
    test_thread_count(MAT_PREC_BF16);
    test_thread_count(MAT_PREC_FP32_DNNL);
    test_set(MAT_PREC_BF16);
    test_set(MAT_PREC_FP32_DNNL);
    test_set(MAT_PREC_FP32);
    return tl_finish("test_attention");
}
