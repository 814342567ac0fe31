// Writes the result files that tests/report/test_cli.py runs `sweep report` on:
// make_report_files OUTDIR SWEEPS_DIR. The verdict each file must give is derived in test_cli.py.
#include <stdio.h>
#include "tests/report/report_cases.h"

// protocol-1b, interrupted: the ternary base's full jobs never ran, one lora job diverged.
static JobStatus p1b_status(const Plan *p, const Job *j, const void *ctx) {
    (void)ctx;
    int kind = fx_kind(p, j);
    if (kind == 3 && strcmp(p->axis[AX_BASE].labels[j->ax[AX_BASE]], "ternary") == 0) return JOB_PENDING;
    if (kind == 2 && fx_user(j) == 3 && j->ax[AX_SEED] == 1 && j->ax[AX_BASE] == 0) return JOB_DIVERGED;
    return JOB_OK;
}

static int one(const char *out, const char *sweeps, const char *spec, const char *file, FxPpl fn, FxStatus st,
               const void *ctx) {
    Plan p;
    char err[512], path[1200];
    // a bundled spec by name, or the spec's own text
    int rc0 = spec[0] == '{' ? fx_parse_spec(spec, file, &p, err, sizeof err) : fx_load_spec(sweeps, spec, &p, err, sizeof err);
    if (rc0 != 0) { fprintf(stderr, "%s\n", err); return 1; }
    Fixture fx = fx_default_bytes;
    fx.ppl = fn;
    fx.status = st;
    fx.ctx = ctx;
    snprintf(path, sizeof path, "%s/%s", out, file);
    int rc = fx_write(path, &p, &fx, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    plan_free(&p);
    return rc ? 1 : 0;
}

// Many users (the report at scale): N custom users, none + norm, every adapter on every user's one slice.
// Own adapter: 99 * (1 - m_t) with m_t = (t % 20 - 4) / 100; the next user's adapter (t + 1 mod N) 99;
// every other 100; the base 120. So user t's diagonal margin is m_t (tests/report/test_scale.py).
static double scale_ppl(const Plan *p, const Job *j, int e, const void *ctx) {
    (void)ctx;
    int t = fx_owner(p, e), a = fx_user(j), n = p->axis[AX_TRAIN_USER].n;
    if (fx_kind(p, j) == 0) return 120;
    if (a == t) return 99.0 * (1 - (t % 20 - 4) / 100.0);
    return a == (t + 1) % n ? 99 : 100;
}

static int scale_file(const char *out, int n, int others) {
    size_t cap = (size_t)n * 64 + 1024;
    char *spec = xmalloc(cap), file[64];
    size_t at = (size_t)snprintf(spec, cap, "{\"protocol\": \"custom\", \"output\": \"x.h5\", \"bases\": {\"tiny\": "
                                 "\"base.sweep\"}, \"tokenizer\": \"t.bpe\", \"data\": \"data\", \"users\": [");
    for (int u = 0; u < n; u++)
        at += (size_t)snprintf(spec + at, cap - at, "%s{\"name\": \"u%04d\", \"dir\": \"docs/u%04d\"}", u ? ", " : "", u, u);
    if (others)   // a sampled design: own slice plus `others` drawn users' slices per adapter
        snprintf(spec + at, cap - at, "], \"formats\": {\"none\": {}, \"norm\": {\"lr\": 0.001, \"steps\": 4}}, "
                 "\"seeds\": 1, \"eval\": {\"users\": \"own\", \"others\": %d, \"slices\": 1, \"general\": false}}", others);
    else
        snprintf(spec + at, cap - at, "], \"formats\": {\"none\": {}, \"norm\": {\"lr\": 0.001, \"steps\": 4}}, "
                 "\"seeds\": 1, \"eval\": {\"users\": \"all\", \"slices\": 1, \"general\": false}}");
    if (others) snprintf(file, sizeof file, "users-%d-others-%d.h5", n, others);
    else snprintf(file, sizeof file, "users-%d.h5", n);
    int rc = one(out, "", spec, file, scale_ppl, NULL, NULL);
    free(spec);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[3], "--users")) return scale_file(argv[1], atoi(argv[4]), 0);
    if (argc == 7 && !strcmp(argv[3], "--users") && !strcmp(argv[5], "--others"))
        return scale_file(argv[1], atoi(argv[4]), atoi(argv[6]));
    if (argc != 3) { fprintf(stderr, "usage: make_report_files OUTDIR SWEEPS_DIR [--users N [--others K]]\n"); return 2; }
    const char *o = argv[1], *s = argv[2];
    B37 b37 = {{15, 5, 19}, {10, 10, 10}, JOB_OK};
    B46 b46;
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 3; k++) b46.norm[i][k] = 1 + 3 * i + k;
    b46.pending_full_seed = -1;
    B49 b49 = {{DOM, DOM, DOM}, 2};
    B52 b52 = {{85, 80, 95}};
    B60 b60 = {{90, 99, 200}};
    B61 b61 = {{90, 80, 99}};
    P1B p1b = {6};
    int rc = 0;
    rc |= one(o, s, "bet37", "bet37.h5", b37_ppl, b37_status, &b37);
    rc |= one(o, s, "bet46", "bet46.h5", b46_ppl, b46_status, &b46);
    rc |= one(o, s, "bet49", "bet49-partial.h5", b49_ppl, b49_status, &b49);
    rc |= one(o, s, "bet52", "bet52.h5", b52_ppl, NULL, &b52);
    rc |= one(o, s, "bet60", "bet60.h5", b60_ppl, NULL, &b60);
    rc |= one(o, s, "bet61", "bet61.h5", b61_ppl, NULL, &b61);
    rc |= one(o, s, "protocol-1b", "protocol-1b-partial.h5", p1b_ppl, p1b_status, &p1b);
    rc |= one(o, s, "demo", "demo.h5", demo_ppl, NULL, NULL);
    rc |= one(o, s, prec52_spec, "precision-bet52.h5", prec_ppl, NULL, &prec52_values);
    rc |= one(o, s, prec52_fallback_spec, "precision-bet52-fallback.h5", prec_ppl, NULL, &prec52_values);
    rc |= one(o, s, prec37_spec, "precision-bet37.h5", prec_ppl, NULL, &prec37_values);
    return rc;
}
