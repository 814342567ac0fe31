// Does a cheaper compute precision change what a job measures? Trains each format for the same
// steps on the same batches at fp32 and at bf16 (fp base) or int8 and bf16 (ternary base), then
// evaluates held-out perplexity at the same precision, and prints one Markdown row per run: the
// worst relative gap between its loss and fp32's at any step, and its perplexity against fp32's.
// Exit status 1 when a gap or a perplexity is off by 1% or more. A benchmark, not a CI test
// (minutes per base); build and run from the repository root:
/*
    gcc -O2 -march=native -I. -DSWEEP_REAL=float -DSWEEP_HAVE_DNNL=1 bench/precision_curves.c \
        -o /tmp/precision_curves build/libengine.a -ldnnl -lopenblas -lcjson -lpcre2-8 -lm -lpthread
    /tmp/precision_curves --base fixtures/base/base.sweep --ternary fixtures/base/base-ternary.sweep \
        --user fixtures/data/users/austen [--steps 100] [--eval-tokens 16384] [--threads 1]
*/
// Hyperparameters are the seeds' (AdamW, lr 5e-5, betas 0.9/0.95, batch 8 x 256, LoRA rank 4 alpha 8),
// plus norm at lr 1e-3, which moves the gains much further in 100 steps.
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/mat.h"
#include "engine/modelfile.h"
#include "engine/tokenizer.h"
#include "engine/train.h"
#include "engine/util.h"

typedef struct {
    AdapterFormat format;
    double lr;
} Job;

static int *encode_file(Tokenizer *tok, const char *path, long max_tokens, long *n) {
    size_t len;
    char *text = read_whole_file(path, &len);
    if (!text) { fprintf(stderr, "precision_curves: %s: %s\n", path, strerror(errno)); exit(2); }
    int *ids;
    if (tokenizer_encode(tok, text, len, &ids, n)) { fprintf(stderr, "precision_curves: %s: cannot encode\n", path); exit(2); }
    free(text);
    if (max_tokens > 0 && *n > max_tokens) *n = max_tokens;
    return ids;
}

typedef struct {
    float *curve;
    double ppl, step_cpu;
} Run;

static Run run(const Weights *base, const Job *j, MatPrecision p, const int *train, long n_train, const int *eval,
               long n_eval, int steps) {
    Run r = { .curve = xcalloc((size_t)steps, sizeof(float)) };
    LoraSpec lora = { .rank = 4, .alpha = 8, .targets = LORA_ALL };
    Adapter ad;
    if (adapter_init(&ad, j->format, &lora, base, 0)) { fprintf(stderr, "precision_curves: adapter_init failed\n"); exit(3); }
    TrainConfig tc;
    train_config_default(&tc);
    tc.steps = steps;
    tc.lr = j->lr;
    TrainResult res;
    Weights wp = *base;
    wp.mc = mat_context_create(p);
    engine_threads_for(p);
    double c0 = cpu_seconds();
    if (train_adapter(&wp, &ad, train, n_train, &tc, 0, r.curve, &res, NULL, NULL)) {
        fprintf(stderr, "precision_curves: training failed: %s\n", strerror(errno));
        exit(3);
    }
    r.step_cpu = (cpu_seconds() - c0) / steps;
    r.ppl = eval_perplexity(&wp, &ad, eval, n_eval, 256, 8, NULL, NULL);
    mat_context_free(wp.mc);
    adapter_free(&ad);
    return r;
}

int main(int argc, char **argv) {
    const char *fp_path = NULL, *tern_path = NULL, *user = NULL;
    int steps = 100, threads = 1;
    long eval_tokens = 16384;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--base")) fp_path = argv[i + 1];
        else if (!strcmp(argv[i], "--ternary")) tern_path = argv[i + 1];
        else if (!strcmp(argv[i], "--user")) user = argv[i + 1];
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--eval-tokens")) eval_tokens = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else { fprintf(stderr, "precision_curves: unknown option %s\n", argv[i]); return 2; }
    }
    if (!fp_path || !user || steps < 1) {
        fprintf(stderr, "usage: precision_curves --base F [--ternary F] --user DIR [--steps N] [--eval-tokens N] [--threads N]\n");
        return 2;
    }
    engine_set_threads(threads);
    char err[512];
    ModelFile fp, tern;
    if (model_open(&fp, fp_path, 0, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 2; }
    if (tern_path && model_open(&tern, tern_path, 0, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 2; }
    char *tok_path = model_tokenizer_path(&fp);
    Tokenizer *tok = tok_path ? tokenizer_open(tok_path, err, sizeof err) : NULL;
    if (!tok) { fprintf(stderr, "precision_curves: %s: no tokenizer (%s)\n", fp_path, tok_path ? err : "none recorded"); return 2; }
    char path[1024];
    long n_train, n_eval;
    snprintf(path, sizeof path, "%s/train.txt", user);
    int *train = encode_file(tok, path, 0, &n_train);
    snprintf(path, sizeof path, "%s/eval-1.txt", user);
    int *eval = encode_file(tok, path, eval_tokens, &n_eval);
    printf("precision_curves: %s, user %s (%ld training tokens, %ld eval tokens), %d steps, batch 8 x 256, "
           "%d thread(s); backends: bf16 %s, int8 %s\n\n", fp_path, user, n_train, n_eval, steps, threads,
           mat_precision_backend(MAT_PREC_BF16), mat_precision_backend(MAT_PREC_INT8));
    printf("| base | format | lr | precision | loss step 1 -> %d | worst step gap vs fp32 | eval ppl | ppl vs fp32 | CPU s/step |\n", steps);
    printf("|---|---|---|---|---|---|---|---|---|\n");
    fflush(stdout);

    const Job fp_jobs[] = { { FMT_NORM, 1e-3 }, { FMT_NORM, 5e-5 }, { FMT_LORA, 5e-5 }, { FMT_FULL, 5e-5 } };
    const Job tern_jobs[] = { { FMT_NORM, 1e-3 }, { FMT_LORA, 5e-5 } };
    int bad = 0;
    for (int b = 0; b < (tern_path ? 2 : 1); b++) {
        const Weights *base = b ? &tern.w : &fp.w;
        const Job *jobs = b ? tern_jobs : fp_jobs;
        int nj = b ? 2 : 4;
        MatPrecision others[2] = { b ? MAT_PREC_INT8 : MAT_PREC_BF16, b ? MAT_PREC_BF16 : MAT_PREC_FP32_DNNL };
        for (int k = 0; k < nj; k++) {
            Run ref = run(base, &jobs[k], MAT_PREC_FP32, train, n_train, eval, n_eval, steps);
            printf("| %s | %s | %g | fp32 | %.4f -> %.4f | - | %.3f | - | %.3f |\n", b ? "ternary" : "fp",
                   format_name(jobs[k].format), jobs[k].lr, ref.curve[0], ref.curve[steps - 1], ref.ppl, ref.step_cpu);
            fflush(stdout);
            for (int o = 0; o < 2; o++) {
                Run r = run(base, &jobs[k], others[o], train, n_train, eval, n_eval, steps);
                double gap = 0;
                int at = 0;
                for (int s = 0; s < steps; s++) {
                    double g = fabs((double)r.curve[s] - ref.curve[s]) / ref.curve[s];
                    if (g > gap || g != g) gap = g, at = s + 1;
                }
                double ppl_rel = r.ppl / ref.ppl - 1;
                bad += !(gap < 0.01) || !(fabs(ppl_rel) < 0.01);
                printf("| %s | %s | %g | %s | %.4f -> %.4f | %.3f%% (step %d) | %.3f | %+.3f%% | %.3f |\n",
                       b ? "ternary" : "fp", format_name(jobs[k].format), jobs[k].lr, mat_precision_name(others[o]),
                       r.curve[0], r.curve[steps - 1], 100 * gap, at, r.ppl, 100 * ppl_rel, r.step_cpu);
                fflush(stdout);
                free(r.curve);
            }
            free(ref.curve);
        }
    }
    free(train);
    free(eval);
    tokenizer_free(tok);
    free(tok_path);
    if (tern_path) model_close(&tern);
    model_close(&fp);
    printf("\n%s\n", bad ? "SOME RUNS OFF BY 1% OR MORE" : "every run within 1% of fp32 at every step and in perplexity");
    return bad ? 1 : 0;
}
