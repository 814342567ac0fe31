// A hand-built Plan and the results its jobs "produce", for the journal and results-file tests.
// The rule below is restated, not shared, in test_readers.py, which checks the file against it.
//
// axes   base {fp, ternary} · condition {real, random} · format {none, norm, lora} ·
//        train_user {austen, programmer[, poet]} · seed {0, 7} ·
//        eval_text {austen/eval-1, austen/eval-2, programmer/eval-1[, poet/eval-1], general}
// jobs   in order base, condition, format, user, seed:
//        none: condition real, user austen, seed 0 only, evaluated on every eval text;
//        norm: both conditions; lora: real only; both on the train user's own texts and general.
// values for a job (b, c, f, u, s) on text t, where t numbers eval texts in the order
//        austen/eval-1 0, austen/eval-2 1, programmer/eval-1 2, general 3, poet/eval-1 4:
//        ppl = 1 + b + 10c + 100f + 1000u + 0.5s + 0.01t,  nll = log(ppl),  n_tokens = 100 + 10t
//        code = b + 10c + 100f + 1000u + 2s; loss[k] = 3 + 0.001 code - 0.25 k, 5 steps
//        adapter: norm 12 scalars, shape {3, 4}; lora 40 scalars, shape {40}; value i/2 + code
// faults (ternary, real, lora, programmer, 7) diverged after 3 steps, no cells;
//        (fp, random, norm, austen, 0) error, no curve, no cells, 2 attempts, a message that is not
//        UTF-8 ("injected error in café " and byte 0xff: the file holds '?' for the 0xff);
//        (ternary, random, norm, programmer, 7) is left pending by the tests that write files.
// backend "onednn, cpuN" for lora (bf16), "openblas, cpuN" otherwise, N from the timing noise as host's.
// peak_rss_bytes (j + 1) MiB for plan job j, started 1.7e9 + j + noise (Unix seconds): how the run went.
// max_param_change 0.001 (1 + code) in "model.norm.weight" for norm, "model.layers.1.self_attn.q_proj.lora_B.weight"
//        for lora (the diverged job NaN in "model.layers.0.mlp.down_proj.lora_A.weight"); none 0 and "";
//        the error job 0 and "" (nothing moved before it failed).
#pragma once
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#include "results/result.h"
#include "sweeps/plan.h"

#define FX_STEPS 5

static const char *const fx_base[] = {"fp", "ternary"};
static const char *const fx_cond[] = {"real", "random"};
static const char *const fx_format[] = {"none", "norm", "lora"};
static const char *const fx_user[] = {"austen", "programmer", "poet"};
static const uint64_t fx_seed[] = {0, 7};
static const char *const fx_text_order[] = {"austen/eval-1", "austen/eval-2", "programmer/eval-1", "general",
                                            "poet/eval-1"};

static inline int fx_text_number(const char *label) {
    for (int i = 0; i < 5; i++)
        if (strcmp(label, fx_text_order[i]) == 0) return i;
    return -1;
}

static inline char **fx_labels(const char *const *src, int n) {
    char **l = xcalloc((size_t)n, sizeof(char *));
    for (int i = 0; i < n; i++) l[i] = strdup(src[i]);
    return l;
}

// with_poet adds a user and its eval text (placed before general, so axis positions shift).
static inline void fixture_plan(Plan *p, int with_poet) {
    memset(p, 0, sizeof *p);
    int nu = with_poet ? 3 : 2;
    snprintf(p->protocol, sizeof p->protocol, "custom");
    snprintf(p->output, sizeof p->output, "fixture.h5");
    char spec[256];
    snprintf(spec, sizeof spec, "{\"fixture\": true, \"users\": %d}", nu);
    p->spec_text = strdup(spec);
    snprintf(p->spec_hash, sizeof p->spec_hash, "%016llx",
             (unsigned long long)fnv1a64(spec, strlen(spec), FNV1A64_INIT));
    p->max_attempts = 2;
    p->axis[AX_BASE] = (Axis){2, fx_labels(fx_base, 2)};
    p->axis[AX_CONDITION] = (Axis){2, fx_labels(fx_cond, 2)};
    p->axis[AX_FORMAT] = (Axis){3, fx_labels(fx_format, 3)};
    p->axis[AX_TRAIN_USER] = (Axis){nu, fx_labels(fx_user, nu)};
    p->axis[AX_SEED] = (Axis){2, fx_labels((const char *const[]){"0", "7"}, 2)};
    static const char *const evals3[] = {"austen/eval-1", "austen/eval-2", "programmer/eval-1", "general"};
    static const char *const evals4[] = {"austen/eval-1", "austen/eval-2", "programmer/eval-1", "poet/eval-1", "general"};
    int ne = with_poet ? 5 : 4;
    p->axis[AX_EVAL_TEXT] = (Axis){ne, fx_labels(with_poet ? evals4 : evals3, ne)};
    p->seeds = xmalloc(2 * sizeof(uint64_t));
    memcpy(p->seeds, fx_seed, sizeof fx_seed);
    p->formats = xcalloc(3, sizeof(FormatVariant));
    for (int f = 0; f < 3; f++) {
        snprintf(p->formats[f].label, sizeof p->formats[f].label, "%s", fx_format[f]);
        p->formats[f].train.steps = f ? FX_STEPS : 0;
    }
    p->formats[2].precision = MAT_PREC_BF16;   // lora computed in bf16: the per-job precision column
    p->jobs = xcalloc(64, sizeof(Job));
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 2; c++)
            for (int f = 0; f < 3; f++)
                for (int u = 0; u < nu; u++)
                    for (int s = 0; s < 2; s++) {
                        if (f == 0 && (c != 0 || u != 0 || s != 0)) continue;
                        if (f == 2 && c != 0) continue;
                        Job *J = &p->jobs[p->n_jobs++];
                        int ax[5] = {b, c, f, u, s};
                        memcpy(J->ax, ax, sizeof ax);
                        J->seed = fx_seed[s];
                        char key[128];
                        snprintf(key, sizeof key, "%s|%s|%s|%s|%llu", fx_base[b], fx_cond[c], fx_format[f], fx_user[u],
                                 (unsigned long long)fx_seed[s]);
                        snprintf(J->id, sizeof J->id, "%016llx",
                                 (unsigned long long)fnv1a64(key, strlen(key), FNV1A64_INIT));
                        J->eval = xcalloc((size_t)ne, sizeof(int));
                        for (int e = 0; e < ne; e++) {
                            const char *l = p->axis[AX_EVAL_TEXT].labels[e];
                            size_t ul = strlen(fx_user[u]);
                            int own = strncmp(l, fx_user[u], ul) == 0 && l[ul] == '/';
                            if (f == 0 || own || strcmp(l, "general") == 0) J->eval[J->n_eval++] = e;
                        }
                    }
}

static inline void fixture_plan_free(Plan *p) {
    for (int a = 0; a < AX_COUNT; a++) {
        for (int i = 0; i < p->axis[a].n; i++) free(p->axis[a].labels[i]);
        free(p->axis[a].labels);
    }
    for (int j = 0; j < p->n_jobs; j++) free(p->jobs[j].eval);
    free(p->jobs);
    free(p->seeds);
    free(p->formats);
    free(p->spec_text);
    memset(p, 0, sizeof *p);
}

static inline int fx_job_is(const Plan *p, int j, int b, int c, int f, int u, int s) {
    const int *a = p->jobs[j].ax;
    return a[0] == b && a[1] == c && a[2] == f && a[3] == u && a[4] == s;
}

static inline int fixture_pending(const Plan *p, int j) { return fx_job_is(p, j, 1, 1, 1, 1, 1); }

// Fills r with job j's result by the rule above; wall-clock fields get the given noise.
static inline void fixture_result(const Plan *p, int j, JobResult *r, double noise) {
    memset(r, 0, sizeof *r);
    const Job *J = &p->jobs[j];
    int b = J->ax[0], c = J->ax[1], f = J->ax[2], u = J->ax[3], s = J->ax[4];
    double code = b + 10 * c + 100 * f + 1000 * u + 2 * s;
    r->job = j;
    memcpy(r->id, J->id, sizeof r->id);
    r->status = JOB_OK;
    r->attempts = 1;
    r->seconds = 1.5 + noise;
    r->rank = 1 + (int)(noise * 3) % 4;
    snprintf(r->host, sizeof r->host, "node%d", (int)(noise * 7) % 3);
    // like host, it describes the run: noise changes the CPU, never the library the precision picks
    snprintf(r->backend, sizeof r->backend, "%s, cpu%d", f == 2 ? "onednn" : "openblas", (int)(noise * 7) % 3);
    r->peak_rss_bytes = (uint64_t)(j + 1) << 20;
    r->started = 1.7e9 + j + noise;
    r->tokens = f ? FX_STEPS * 16 : 0;
    int diverged = fx_job_is(p, j, 1, 0, 2, 1, 1), error = fx_job_is(p, j, 0, 1, 1, 0, 0);
    if (f && !error) {
        r->max_param_change = diverged ? NAN : 0.001 * (1 + code);
        snprintf(r->max_param_tensor, sizeof r->max_param_tensor, "%s",
                 diverged ? "model.layers.0.mlp.down_proj.lora_A.weight"
                 : f == 1 ? "model.norm.weight" : "model.layers.1.self_attn.q_proj.lora_B.weight");
    }
    if (f && !error) {
        r->n_steps = diverged ? 3 : FX_STEPS;
        r->loss_curve = xmalloc((size_t)r->n_steps * sizeof(float));
        for (int k = 0; k < r->n_steps; k++) r->loss_curve[k] = (float)(3 + 0.001 * code - 0.25 * k);
        r->final_loss = r->loss_curve[r->n_steps - 1];
    } else {
        r->final_loss = NAN;
    }
    if (diverged) {
        r->status = JOB_DIVERGED;
        snprintf(r->message, sizeof r->message, "loss became inf at step 4");
        r->final_loss = NAN;
        return;
    }
    if (error) {
        r->status = JOB_ERROR;
        r->attempts = 2;
        snprintf(r->message, sizeof r->message, "injected error in caf\xc3\xa9 \xff");   // not UTF-8
        return;
    }
    r->n_evals = J->n_eval;
    r->evals = xcalloc((size_t)J->n_eval, sizeof(EvalCell));
    for (int e = 0; e < J->n_eval; e++) {
        EvalCell *cell = &r->evals[e];
        snprintf(cell->eval, sizeof cell->eval, "%s", p->axis[AX_EVAL_TEXT].labels[J->eval[e]]);
        int t = fx_text_number(cell->eval);
        cell->ppl = 1 + b + 10 * c + 100 * f + 1000 * u + 0.5 * s + 0.01 * t;
        cell->nll = log(cell->ppl);
        cell->n_tokens = 100 + 10 * t;
    }
    if (f) {
        r->adapter_n = f == 1 ? 12 : 40;
        r->adapter = xmalloc(r->adapter_n * sizeof(float));
        for (size_t i = 0; i < r->adapter_n; i++) r->adapter[i] = (float)(i / 2.0 + code);
        r->adapter_ndim = f == 1 ? 2 : 1;
        r->adapter_shape[0] = f == 1 ? 3 : 40;
        r->adapter_shape[1] = f == 1 ? 4 : 0;
        r->adapter_bytes_fp32 = r->adapter_n * 4;
        r->adapter_bytes_fp16 = r->adapter_n * 2;
    }
}
