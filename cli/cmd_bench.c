// sweep bench: training and evaluation speed of the engine on random weights, beside the OpenBLAS
// sgemm rate of this machine measured in the same run (so a noisy, shared machine is judged against
// itself). Times are medians over the timed steps.
#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "engine/adamw.h"
#include "engine/adapter.h"
#include "engine/mat.h"
#include "engine/matcache.h"
#include "engine/model.h"
#include "engine/modelfile.h"
#include "engine/profile.h"
#include "engine/ternary.h"
#include "engine/train.h"
#include "engine/util.h"
#include "engine/weights.h"
#include "mpi/job_exec.h"   // make_dirs

static void bench_usage(FILE *f) {
    fprintf(f,
        "usage: sweep bench [--format none|norm|lora|full|steer[,...]|all] [--config default|1b|tiny]\n"
        "                   [--threads N] [--batch B] [--seq T] [--steps S] [--warmup W]\n"
        "                   [--lora-rank R] [--seed N] [--precision P] [--ternary] [--json] [--profile] [--no-sgemm]\n"
        "                   [--model FILE [--cache-dir DIR] | --save-model FILE] [--recompute]\n"
        "\n"
        "Trains each format on random weights and random tokens: training tokens/s (forward + backward +\n"
        "AdamW), evaluation tokens/s (forward with loss), achieved GFLOP/s (model_forward_flops and\n"
        "model_backward_flops over the median step time), the sgemm GFLOP/s of this machine at the\n"
        "model's own matrix shapes (the best of them), and peak resident memory.\n"
        "  --format   formats, comma-separated, or all (default all: none, norm, lora, full; steer is\n"
        "             after the last block)\n"
        "  --config   model shape (default default); 1b is Llama 3.2 1B's shape, ~5 GB of fp32 weights\n"
        "  --threads  BLAS threads (default 1)\n"
        "  --batch --seq   windows per step and tokens per window (default 8 x 256; 1 x 256 for 1b)\n"
        "  --steps    timed steps per measurement (default 10; 3 for 1b), after --warmup (default 2; 1)\n"
        "  --lora-rank     LoRA rank on q,k,v,o,gate,up,down (default 8, alpha 2 x rank)\n"
        "  --precision     weight products in fp32 (OpenBLAS, default), fp32-dnnl, bf16 or int8 (engine/mat.h)\n"
        "  --ternary       the layers' projections quantised to ternary (the base int8 is for)\n"
        "  --model FILE    benchmark a model file, mapped read-only as a sweep maps a base (its config and\n"
        "                  storage types; --config and --ternary do not apply). The forms --precision\n"
        "                  reads (int8 trits, bf16 copies) come from a cache file made once and mapped\n"
        "                  read-only, shared by every process on the file, as a sweep's ranks share them\n"
        "  --cache-dir DIR where that cache file lives (default FILE.cache; engine/matcache.h)\n"
        "  --save-model FILE  write the random weights (ternary projections and bf16 embedding with\n"
        "                  --ternary, else f32) as a model file, print its summary, and exit\n"
        "  --profile  after each format, where the timed steps' time went: milliseconds per step by kind of\n"
        "             work (products, attention, norms, RoPE, SwiGLU, loss, copies, optimizer) and phase,\n"
        "             and every weight product by shape with its GFLOP/s (engine/profile.h); its clock reads\n"
        "             cost microseconds per step. Training steps, or the forward for none\n"
        "  --recompute  one layer's activations at a time, each layer recomputed in the backward, and\n"
        "             the loss over row chunks where they are bit-exact (sweep run --recompute): the\n"
        "             memory and step time of that trade\n"
        "  --no-sgemm skip the sgemm probe (its operands at the head's shape are vocab x dim floats,\n"
        "             1 GB at the 1b shape, which would be counted in the process's peak memory)\n"
        "  --json     one JSON object per format: format, train_tok_s, eval_tok_s, gflops,\n"
        "             sgemm_gflops, plus eval_gflops, step_seconds, eval_seconds, peak_rss_mib,\n"
        "             private_converted_bytes (weights a context converted for itself), ...\n");
}

static int parse_int(const char *opt, const char *s, int lo, int hi, int *out) {
    char e[400];
    return opt_int(opt, s, lo, hi, out, e, sizeof e) ? opt_bad("bench", e) : 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *x, int n) {
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;   // Linux reports KiB
}

// Best-of-repeats sgemm rate for C[M][N] = A[M][K] . B[N][K]^T, the layout of mat_forward.
static double sgemm_gflops(int M, int N, int K) {
    float *A = xaligned((size_t)M * K * sizeof(float));
    float *B = xaligned((size_t)N * K * sizeof(float));
    float *C = xaligned((size_t)M * N * sizeof(float));
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((i * 7 % 13) - 6) * 0.01f;
    for (size_t i = 0; i < (size_t)N * K; i++) B[i] = (float)((i * 5 % 11) - 5) * 0.01f;
    double flops = 2.0 * M * N * K, best = 0, spent = 0;
    for (int rep = 0; rep < 20 && (rep < 3 || spent < 0.5); rep++) {
        double t0 = now_seconds();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
        double dt = now_seconds() - t0;
        spent += dt;
        if (rep > 0 && flops / dt > best) best = flops / dt;   // rep 0 warms caches and threads
    }
    free(A); free(B); free(C);
    return best / 1e9;
}

typedef struct {
    AdapterFormat format;
    double step_s, eval_s, train_tok_s, eval_tok_s, gflops, eval_gflops, final_loss, setup_s;
    double train_flops, eval_flops;   // per step
    double step_cpu_s, eval_cpu_s;    // process CPU time per step: at 1 thread, what a quiet core would take
    size_t trainable;
    Profile *prof;                    // --profile: the timed steps (training, or evaluation for none)
    double prof_wall_s;               // their summed wall time
} BenchResult;

static int bench_format(BenchResult *r, AdapterFormat f, const Weights *base, const LoraSpec *lora,
                        const int *tokens, const int *targets, int B, int T, int steps, int warmup, int recompute) {
    const ModelConfig *c = &base->cfg;
    Profile *prof = r->prof;
    memset(r, 0, sizeof *r);
    r->format = f;
    r->prof = prof;
    double t0 = now_seconds();
    Adapter ad;
    Adapter *adp = NULL;
    Weights eff = *base;
    if (f != FMT_NONE) {
        if (adapter_init(&ad, f, lora, base, 1)) {
            fprintf(stderr, "sweep bench: %s adapter: %s\n", format_name(f), strerror(errno));
            return 3;
        }
        if (adamw_alloc(&ad)) { fprintf(stderr, "sweep bench: out of memory for AdamW moments\n"); return 3; }
        adapter_apply(&ad, base, &eff);
        adp = &ad;
        r->trainable = ad.n;
    }
    TrainConfig tc = { .recompute = recompute };   // as train_adapter lays out its step's activations
    Acts *acts = acts_create_chunked(c, B, T, recompute, train_loss_rows(&eff, f, &tc));
    if (!acts) { fprintf(stderr, "sweep bench: out of memory for activations (%d x %d)\n", B, T); return 3; }
    r->setup_s = now_seconds() - t0;

    double *dt = xcalloc((size_t)steps, sizeof *dt), *dc = xcalloc((size_t)steps, sizeof *dc);
    if (f != FMT_NONE) {
        for (int s = 1; s <= warmup + steps; s++) {
            Profile *p = s > warmup ? prof : NULL;
            acts_set_profile(acts, p);
            double s0 = now_seconds(), c0 = cpu_seconds();
            adapter_zero_grad(&ad);
            r->final_loss = model_forward_train(&eff, adp, acts, tokens, targets, B, T);
            model_backward(&eff, adp, acts, tokens, targets, B, T);
            if (p) p->phase = PROF_UPDATE;
            double u0 = prof_start(p);
            adamw_step(&ad, s, 1e-4, 0.9, 0.95, 1e-8, 0.0, 0.0);
            prof_add(p, PROF_OPTIMIZER, u0);
            if (s > warmup) dt[s - warmup - 1] = now_seconds() - s0, dc[s - warmup - 1] = cpu_seconds() - c0;
            if (p) r->prof_wall_s += dt[s - warmup - 1];
        }
        r->step_s = median(dt, steps);
        r->step_cpu_s = median(dc, steps);
        r->train_tok_s = (double)B * T / r->step_s;
        r->train_flops = model_forward_flops(c, B, T) + model_backward_flops(c, f, lora, B, T);
        r->gflops = r->train_flops / r->step_s / 1e9;
    }
    for (int s = 1; s <= warmup + steps; s++) {
        Profile *p = f == FMT_NONE && s > warmup ? prof : NULL;   // a training format profiled its training
        acts_set_profile(acts, p);
        double s0 = now_seconds(), c0 = cpu_seconds();
        double loss = model_forward(&eff, adp, acts, tokens, targets, B, T);
        if (s > warmup) dt[s - warmup - 1] = now_seconds() - s0, dc[s - warmup - 1] = cpu_seconds() - c0;
        if (p) r->prof_wall_s += dt[s - warmup - 1];
        if (f == FMT_NONE) r->final_loss = loss;
    }
    r->eval_s = median(dt, steps);
    r->eval_cpu_s = median(dc, steps);
    r->eval_tok_s = (double)B * T / r->eval_s;
    r->eval_flops = model_forward_flops(c, B, T);
    r->eval_gflops = r->eval_flops / r->eval_s / 1e9;
    if (f == FMT_NONE) r->gflops = r->eval_gflops;   // nothing to train: the forward is the whole job
    free(dt);
    free(dc);
    acts_free(acts);
    if (adp) adapter_free(adp);
    return isfinite(r->final_loss) ? 0 : 1;
}

int cmd_bench(int argc, char **argv) {
    const char *formats = "all", *config = "default", *model_path = NULL, *save_path = NULL, *cache_dir = NULL;
    int threads = 1, B = -1, T = -1, steps = -1, warmup = -1, rank = 8, json = 0, seed = 1, ternary = 0, profile = 0, recompute = 0, no_sgemm = 0;
    MatPrecision precision = MAT_PREC_FP32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { bench_usage(stdout); return 0; }
        if (!strcmp(a, "--json")) { json = 1; continue; }
        if (!strcmp(a, "--ternary")) { ternary = 1; continue; }
        if (!strcmp(a, "--profile")) { profile = 1; continue; }
        if (!strcmp(a, "--no-sgemm")) { no_sgemm = 1; continue; }
        if (!strcmp(a, "--recompute")) { recompute = 1; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "sweep bench: %s needs a value (or is unknown)\n", a); return 2; }
        const char *v = argv[++i];
        int bad = 0;
        if (!strcmp(a, "--format")) formats = v;
        else if (!strcmp(a, "--config")) config = v;
        else if (!strcmp(a, "--model")) model_path = v;
        else if (!strcmp(a, "--save-model")) save_path = v;
        else if (!strcmp(a, "--cache-dir")) cache_dir = v;
        else if (!strcmp(a, "--threads")) bad = parse_int(a, v, 1, 1024, &threads);
        else if (!strcmp(a, "--batch")) bad = parse_int(a, v, 1, 1 << 16, &B);
        else if (!strcmp(a, "--seq")) bad = parse_int(a, v, 1, 1 << 20, &T);
        else if (!strcmp(a, "--steps")) bad = parse_int(a, v, 1, 100000, &steps);
        else if (!strcmp(a, "--warmup")) bad = parse_int(a, v, 0, 100000, &warmup);
        else if (!strcmp(a, "--lora-rank")) bad = parse_int(a, v, 1, 4096, &rank);
        else if (!strcmp(a, "--seed")) bad = parse_int(a, v, 0, INT_MAX, &seed);
        else if (!strcmp(a, "--precision")) {
            if (mat_precision_parse(v, &precision)) {
                fprintf(stderr, "sweep bench: --precision: '%s' is not fp32, fp32-dnnl, bf16 or int8\n", v);
                return 2;
            }
        }
        else { fprintf(stderr, "sweep bench: unknown option '%s' (see sweep bench --help)\n", a); return 2; }
        if (bad) return 2;
    }

    if (cache_dir && !model_path) {
        fprintf(stderr, "sweep bench: --cache-dir: only with --model\n");
        return 2;
    }
    if (model_path && (save_path || ternary)) {
        fprintf(stderr, "sweep bench: --model: the file's storage types apply (no --ternary or --save-model with it)\n");
        return 2;
    }
    ModelConfig cfg;
    ModelFile mf = { 0 };
    MatCache ready = { 0 };   // the compute-ready forms of --model's file at --precision, shared per node
    if (model_path) {
        char err[600];
        if (model_open(&mf, model_path, 0, err, sizeof err)) { fprintf(stderr, "sweep bench: %s\n", err); return 2; }
        cfg = mf.w.cfg;
        config = model_path;
        char dir[1100];
        snprintf(dir, sizeof dir, "%s%s", cache_dir ? cache_dir : model_path, cache_dir ? "" : ".cache");
        if (make_dirs(dir)) { fprintf(stderr, "sweep bench: --cache-dir: %s: %s\n", dir, strerror(errno)); return 2; }
        if (matcache_open(&ready, &mf, precision, dir, err, sizeof err)) { fprintf(stderr, "sweep bench: %s\n", err); return 2; }
        for (int l = 0; l < cfg.n_layers; l++) ternary |= mf.w.layer[l].q.type == MAT_TERNARY;
    } else if (config_by_name(&cfg, config)) {
        fprintf(stderr, "sweep bench: --config: unknown config '%s' (default, 1b, tiny)\n", config);
        return 2;
    }
    int big = cfg.dim >= 1024;
    if (B < 0) B = big ? 1 : 8;
    if (T < 0) T = cfg.context;
    if (steps < 0) steps = big ? 3 : 10;
    if (warmup < 0) warmup = big ? 1 : 2;
    if (T > cfg.context) {
        fprintf(stderr, "sweep bench: --seq: %d exceeds the %s config's context of %d\n", T, config, cfg.context);
        return 2;
    }

    AdapterFormat list[8];
    int nf = 0;
    if (!strcmp(formats, "all")) {
        list[nf++] = FMT_NONE; list[nf++] = FMT_NORM; list[nf++] = FMT_LORA; list[nf++] = FMT_FULL;
    } else {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", formats);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (nf == 8 || format_parse(tok, &list[nf])) {
                fprintf(stderr, "sweep bench: --format: unknown format '%s' (none, norm, lora, full, steer, all)\n", tok);
                return 2;
            }
            nf++;
        }
        if (!nf) { fprintf(stderr, "sweep bench: --format: empty list\n"); return 2; }
    }

    engine_set_threads(threads);
    LoraSpec lora = { .rank = rank, .alpha = 2.0 * rank, .targets = LORA_ALL };

    double t0 = now_seconds();
    size_t np = config_n_params(&cfg);
    real *block = NULL;
    Weights base;
    if (model_path) base = mf.w;
    else {
        block = xaligned(np * sizeof(real));
        weights_init_random(block, &cfg, (unsigned long long)seed);
        weights_carve(&base, &cfg, block);
    }
    uint8_t *trits = NULL;
    float *trit_scales = NULL;
    if (ternary && !model_path) {   // what `sweep quantize --ternary` does to the layers' projections, in memory
        size_t nb = 0, ns = 0;
        for (int l = 0; l < cfg.n_layers; l++) {
            Mat *m[7] = { &base.layer[l].q, &base.layer[l].k, &base.layer[l].v, &base.layer[l].o,
                          &base.layer[l].gate, &base.layer[l].up, &base.layer[l].down };
            for (int j = 0; j < 7; j++) nb += ternary_packed_bytes(m[j]->rows, m[j]->cols), ns += (size_t)m[j]->rows;
        }
        trits = xmalloc(nb);
        trit_scales = xmalloc(ns * sizeof(float));
        nb = ns = 0;
        for (int l = 0; l < cfg.n_layers; l++) {
            Mat *m[7] = { &base.layer[l].q, &base.layer[l].k, &base.layer[l].v, &base.layer[l].o,
                          &base.layer[l].gate, &base.layer[l].up, &base.layer[l].down };
            for (int j = 0; j < 7; j++) {
                ternary_quantize_rows(trits + nb, trit_scales + ns, (const float *)m[j]->data, m[j]->rows, m[j]->cols);
                *m[j] = (Mat){ MAT_TERNARY, m[j]->rows, m[j]->cols, trits + nb, trit_scales + ns, NULL, NULL, 0 };
                nb += ternary_packed_bytes(m[j]->rows, m[j]->cols);
                ns += (size_t)m[j]->rows;
            }
        }
    }
    double init_s = now_seconds() - t0;
    if (save_path) {
        ModelWriteOptions wo;
        model_write_options_default(&wo);
        if (ternary) { wo.matrix_dtype = MAT_TERNARY; wo.embed_dtype = wo.head_dtype = MAT_BF16; }
        wo.source = "sweep bench --save-model: random weights (weights_init_random)";
        char err[600];
        if (model_write(save_path, &base, &wo, err, sizeof err)) { fprintf(stderr, "sweep bench: %s\n", err); return 2; }
        ModelFile out;
        if (model_open(&out, save_path, MODEL_SKIP_CHECKSUMS, err, sizeof err)) { fprintf(stderr, "sweep bench: %s\n", err); return 2; }
        printf("sweep bench: wrote %s (init %.1f s)\n", save_path, init_s);
        model_print_summary(&out, stdout);
        model_close(&out);
        free(block); free(trits); free(trit_scales);
        return 0;
    }

    int *stream = xmalloc((size_t)B * (T + 1) * sizeof(int));
    random_tokens(stream, (long)B * (T + 1), cfg.vocab, (uint64_t)seed + 1);
    int *tokens = xmalloc((size_t)B * T * sizeof(int)), *targets = xmalloc((size_t)B * T * sizeof(int));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            tokens[b * T + t] = stream[b * (T + 1) + t];
            targets[b * T + t] = stream[b * (T + 1) + t + 1];
        }
    free(stream);

    // the model's own products, activations [B*T][in] times weights [out][in]^T
    int M = B * T;
    int shapes[3][2] = { { cfg.ffn_dim, cfg.dim }, { cfg.dim, cfg.ffn_dim }, { cfg.vocab, cfg.dim } };
    double sg[3] = { NAN, NAN, NAN }, sg_best = NAN;
    for (int s = 0; s < 3 && !no_sgemm; s++) {
        if (s == 0) sg_best = 0;
        sg[s] = sgemm_gflops(M, shapes[s][0], shapes[s][1]);
        if (sg[s] > sg_best) sg_best = sg[s];
    }

    if (!json) {
        printf("sweep bench: config %s%s (%zu parameters, init %.1f s), batch %d x %d, %d threads, "
               "median of %d steps after %d warmup, precision %s (%s)\n", config, ternary ? " ternary" : "", np,
               init_s, B, T, threads, steps, warmup, mat_precision_name(precision), mat_precision_backend(precision));
        if (no_sgemm) printf("sgemm GFLOP/s: not measured (--no-sgemm)\n");
        else printf("sgemm GFLOP/s (M=%d): N=%d K=%d: %.1f   N=%d K=%d: %.1f   N=%d K=%d: %.1f\n", M,
               shapes[0][0], shapes[0][1], sg[0], shapes[1][0], shapes[1][1], sg[1],
               shapes[2][0], shapes[2][1], sg[2]);
        printf("%-6s %12s %12s %10s %10s %9s %9s %9s %10s\n", "format", "train tok/s", "eval tok/s",
               "step s", "GFLOP/s", "of sgemm", "eval GF/s", "loss", "peak MiB");
    }
    int status = 0;
    for (int i = 0; i < nf; i++) {
        BenchResult r;
        Profile prof = { 0 };
        r.prof = profile ? &prof : NULL;
        base.mc = mat_context_create(precision);   // each format a job of its own, as in a sweep
        engine_threads_for(precision);
        int rc = bench_format(&r, list[i], &base, &lora, tokens, targets, B, T, steps, warmup, recompute);
        size_t converted = mat_cache_bytes(base.mc);   // weights converted privately (none from --model)
        mat_context_free(base.mc);
        base.mc = NULL;
        if (rc == 3) return 3;
        if (rc) status = 1;
        double rss = peak_rss_mib();
        if (json) {
            printf("{\"format\": \"%s\", ", format_name(r.format));
            if (r.format == FMT_NONE)
                printf("\"train_tok_s\": null, \"step_seconds\": null, \"step_cpu_seconds\": null, "
                       "\"train_flops\": null, ");
            else printf("\"train_tok_s\": %.1f, \"step_seconds\": %.6g, \"step_cpu_seconds\": %.6g, "
                        "\"train_flops\": %.0f, ", r.train_tok_s, r.step_s, r.step_cpu_s, r.train_flops);
            printf("\"eval_cpu_seconds\": %.6g, \"private_converted_bytes\": %zu, ", r.eval_cpu_s, converted);
            if (no_sgemm) printf("\"sgemm_gflops\": null, \"sgemm_ffn_gflops\": null, \"sgemm_head_gflops\": null, ");
            else printf("\"sgemm_gflops\": %.2f, \"sgemm_ffn_gflops\": %.2f, \"sgemm_head_gflops\": %.2f, ",
                        sg_best, sg[0], sg[2]);
            printf("\"eval_tok_s\": %.1f, \"eval_seconds\": %.6g, \"eval_flops\": %.0f, \"gflops\": %.2f, "
                   "\"eval_gflops\": %.2f, "
                   "\"config\": \"%s\", \"batch\": %d, \"seq\": %d, \"threads\": %d, \"steps\": %d, "
                   "\"trainable\": %zu, \"loss\": %.6f, \"peak_rss_mib\": %.1f, \"engine\": \"sweep\", "
                   "\"precision\": \"%s\", \"backend\": \"%s\", \"ternary\": %s, \"recompute\": %s}\n",
                   r.eval_tok_s, r.eval_s, r.eval_flops, r.gflops, r.eval_gflops, config, B, T,
                   threads, steps, r.trainable, r.final_loss, rss, mat_precision_name(precision),
                   mat_precision_backend(precision), ternary ? "true" : "false", recompute ? "true" : "false");
            if (profile) {   // a second object per format, so the first keeps its shape for existing readers
                printf("{\"format\": \"%s\", \"profile\": ", format_name(r.format));
                prof_json(stdout, &prof, steps, r.prof_wall_s / steps);
                printf("}\n");
            }
        } else {
            if (r.format == FMT_NONE)
                printf("%-6s %12s %12.0f %10s %10.1f %8.0f%% %9.1f %9.4f %10.0f\n", "none", "-", r.eval_tok_s,
                       "-", r.gflops, 100 * r.gflops / sg_best, r.eval_gflops, r.final_loss, rss);
            else
                printf("%-6s %12.0f %12.0f %10.4f %10.1f %8.0f%% %9.1f %9.4f %10.0f\n", format_name(r.format),
                       r.train_tok_s, r.eval_tok_s, r.step_s, r.gflops, 100 * r.gflops / sg_best,
                       r.eval_gflops, r.final_loss, rss);
            if (profile) {
                printf("profile of %s (%s, mean of %d steps):\n", format_name(r.format),
                       r.format == FMT_NONE ? "forward with loss" : "training step", steps);
                prof_print(stdout, &prof, steps, r.prof_wall_s / steps);
            }
        }
        fflush(stdout);
    }
    free(tokens); free(targets); free(block); free(trits); free(trit_scales);
    if (model_path) model_close(&mf);
    matcache_close(&ready);
    return status;
}
