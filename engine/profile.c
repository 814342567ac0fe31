#include "engine/profile.h"
#include "engine/util.h"

static const char *const kind_names[PROF_KINDS] = {
    "products", "lora", "attention", "attention products", "rmsnorm", "rope", "swiglu", "embedding", "loss",
    "copies", "bias/steer/noise", "optimizer",
};
static const char *const prod_names[PROD_KINDS] = { "x W^T", "dy W", "dy^T x" };

const char *prof_kind_name(ProfKind k) { return k >= 0 && k < PROF_KINDS ? kind_names[k] : "?"; }

double prof_start(const Profile *p) { return p ? now_seconds() : 0; }

void prof_add(Profile *p, ProfKind k, double t0) {
    if (!p) return;
    p->seconds[p->phase][k] += now_seconds() - t0;
    p->calls[p->phase][k]++;
}

void prof_add_seconds(Profile *p, ProfKind k, double seconds) {
    if (!p) return;
    p->seconds[p->phase][k] += seconds;
    p->calls[p->phase][k]++;
}

void prof_add_product(Profile *p, ProdKind k, int n, int out, int in, double t0) {
    if (!p) return;
    double dt = now_seconds() - t0;
    p->seconds[p->phase][PROF_PRODUCT] += dt;
    p->calls[p->phase][PROF_PRODUCT]++;
    for (int i = 0; i < p->n_shapes; i++) {
        ProfShape *s = &p->shape[i];
        if (s->kind == k && s->n == n && s->out == out && s->in == in) { s->seconds += dt; s->calls++; return; }
    }
    if (p->n_shapes == PROF_MAX_SHAPES) { p->shapes_dropped++; return; }
    p->shape[p->n_shapes++] = (ProfShape){ k, n, out, in, dt, 1 };
}

double prof_total(const Profile *p) {
    double t = 0;
    for (int ph = 0; ph < PROF_PHASES; ph++)
        for (int k = 0; k < PROF_KINDS; k++) t += p->seconds[ph][k];
    return t;
}

static double kind_seconds(const Profile *p, int k) {
    return p->seconds[PROF_FORWARD][k] + p->seconds[PROF_BACKWARD][k] + p->seconds[PROF_UPDATE][k];
}

static double attn_gflops(const Profile *p) {
    return p->attn_thread_seconds > 0 ? p->attn_flops / p->attn_thread_seconds / 1e9 : 0;
}

static double shape_gflops(const ProfShape *s) {
    return s->seconds > 0 ? 2.0 * s->n * s->out * s->in * s->calls / s->seconds / 1e9 : 0;
}

void prof_print(FILE *f, const Profile *p, int steps, double wall_per_step) {
    double ms = 1e3 / steps, wall_ms = wall_per_step * 1e3;
    fprintf(f, "  %-19s %9s %9s %9s %9s %7s\n", "work (ms/step)", "forward", "backward", "update", "total", "share");
    for (int k = 0; k < PROF_KINDS; k++) {
        double t = kind_seconds(p, k);
        if (t == 0) continue;
        fprintf(f, "  %-19s %9.2f %9.2f %9.2f %9.2f %6.1f%%\n", kind_names[k], p->seconds[PROF_FORWARD][k] * ms,
                p->seconds[PROF_BACKWARD][k] * ms, p->seconds[PROF_UPDATE][k] * ms, t * ms, 100 * t * ms / wall_ms);
    }
    double other = wall_ms - prof_total(p) * ms;
    fprintf(f, "  %-19s %39.2f %6.1f%%\n", "other (untimed)", other, 100 * other / wall_ms);
    fprintf(f, "  %-19s %39.2f\n", "step (wall)", wall_ms);
    fprintf(f, "  products by shape (x [n][in] times W [out][in]^T; dy W and dy^T x its gradients):\n");
    fprintf(f, "    %-7s %7s %7s %7s %9s %9s\n", "op", "n", "out", "in", "ms/step", "GFLOP/s");
    for (int i = 0; i < p->n_shapes; i++) {
        const ProfShape *s = &p->shape[i];
        fprintf(f, "    %-7s %7d %7d %7d %9.2f %9.1f\n", prod_names[s->kind], s->n, s->out, s->in,
                s->seconds * ms, shape_gflops(s));
    }
    if (p->shapes_dropped) fprintf(f, "  (%d products of further shapes counted in the totals only)\n", p->shapes_dropped);
    if (p->attn_flops > 0)
        fprintf(f, "  attention products: %.3f GFLOP/step (whole blocks of query rows), %.1f GFLOP/s per thread\n",
                p->attn_flops / steps / 1e9, attn_gflops(p));
}

void prof_json(FILE *f, const Profile *p, int steps, double wall_per_step) {
    static const char *const phase_names[PROF_PHASES] = { "forward", "backward", "update" };
    fprintf(f, "{\"steps\": %d, \"wall_seconds_per_step\": %.6g, \"seconds_per_step\": {", steps, wall_per_step);
    for (int k = 0; k < PROF_KINDS; k++) {
        fprintf(f, "%s\"%s\": {", k ? ", " : "", kind_names[k]);
        for (int ph = 0; ph < PROF_PHASES; ph++)
            fprintf(f, "%s\"%s\": %.6g", ph ? ", " : "", phase_names[ph], p->seconds[ph][k] / steps);
        fprintf(f, "}");
    }
    fprintf(f, "}, \"other_seconds_per_step\": %.6g, \"products\": [", wall_per_step - prof_total(p) / steps);
    for (int i = 0; i < p->n_shapes; i++) {
        const ProfShape *s = &p->shape[i];
        fprintf(f, "%s{\"op\": \"%s\", \"n\": %d, \"out\": %d, \"in\": %d, \"calls_per_step\": %.6g, "
                "\"seconds_per_step\": %.6g, \"gflops\": %.4g}", i ? ", " : "", prod_names[s->kind], s->n, s->out,
                s->in, (double)s->calls / steps, s->seconds / steps, shape_gflops(s));
    }
    fprintf(f, "], \"shapes_dropped\": %d, \"attention_product_flops_per_step\": %.6g, "
            "\"attention_product_gflops_per_thread\": %.4g}", p->shapes_dropped, p->attn_flops / steps, attn_gflops(p));
}
