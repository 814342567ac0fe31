// Results files with known answers for the `sweep report` tests: a bundled protocol spec (or spec
// text) is expanded by the real parser, every job gets the perplexities a test chooses, and the real
// writer (results/h5write.h) writes the file, so the layout is exactly what `sweep run` produces,
// `none` jobs included. Shared by tests/unit/test_report.c and tests/report/make_report_files.c.
#pragma once
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#include "results/h5write.h"
#include "sweeps/spec.h"

// ppl of job j on eval text e (an index on the plan's eval axis); NaN leaves the cell unrecorded.
typedef double (*FxPpl)(const Plan *p, const Job *j, int e, const void *ctx);
// JOB_OK, or a failure status; JOB_PENDING leaves the job without a record (a sweep still running).
typedef JobStatus (*FxStatus)(const Plan *p, const Job *j, const void *ctx);

typedef struct {
    FxPpl ppl;
    FxStatus status;          // NULL: every job ok
    const void *ctx;
    long long bytes[4];       // fp32 adapter bytes per kind (none, norm, lora, full)
    // A trained ok job's largest parameter change is steps x lr x (0.5 + 0.1 user), in tensor
    // "model.layers.<user>.input_layernorm.weight"; none 0 and "". Set: NaN and "" (not recorded, as
    // in files from before the column).
    int unrecorded_param_change;
} Fixture;

static inline int fx_kind(const Plan *p, const Job *j) { return (int)p->formats[j->ax[AX_FORMAT]].format; }
static inline int fx_user(const Job *j) { return j->ax[AX_TRAIN_USER]; }
static inline int fx_owner(const Plan *p, int e) { return p->evals[e].user; }
static inline int fx_is_random(const Plan *p, const Job *j) {
    return strcmp(p->axis[AX_CONDITION].labels[j->ax[AX_CONDITION]], "random") == 0;
}
static inline int fx_is_general(const Plan *p, int e) { return strcmp(p->axis[AX_EVAL_TEXT].labels[e], "general") == 0; }
// Position of e among its owner's texts (eval-1 is 0).
static inline int fx_slice(const Plan *p, int e) {
    int k = 0;
    for (int i = 0; i < e; i++) k += p->evals[i].user == p->evals[e].user;
    return k;
}

// The directory of the bundled specs: $SWEEP_SWEEPS_DIR, else next to the unit tests' data.
static inline void fx_sweeps_dir(char *out, size_t n) {
    const char *s = getenv("SWEEP_SWEEPS_DIR"), *t = getenv("SWEEP_TEST_DATA");
    if (s) snprintf(out, n, "%s", s);
    else if (t) snprintf(out, n, "%s/../../sweeps", t);
    else snprintf(out, n, "sweeps");
}

static inline int fx_load_spec(const char *dir, const char *name, Plan *p, char *err, size_t errlen) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    return spec_load(path, SPEC_FILES_IGNORED, p, err, errlen);
}

// A spec given as text (the bundled specs cover one precision only).
static inline int fx_parse_spec(const char *text, const char *name, Plan *p, char *err, size_t errlen) {
    return spec_parse(text, strlen(text), name, SPEC_FILES_IGNORED, p, err, errlen);
}

static inline int fx_write(const char *path, const Plan *p, const Fixture *fx, char *err, size_t errlen) {
    JobResult *res = xcalloc((size_t)p->n_jobs + 1, sizeof *res);
    const JobResult **by_job = xcalloc((size_t)p->n_jobs + 1, sizeof *by_job);
    for (int k = 0; k < p->n_jobs; k++) {
        const Job *j = &p->jobs[k];
        JobStatus st = fx->status ? fx->status(p, j, fx->ctx) : JOB_OK;
        if (st == JOB_PENDING) continue;
        JobResult *r = &res[k];
        r->job = k;
        memcpy(r->id, j->id, sizeof r->id);
        r->status = st;
        r->attempts = st == JOB_OK ? 1 : 2;
        r->seconds = 1;
        r->rank = 1;
        snprintf(r->host, sizeof r->host, "test");
        int kind = fx_kind(p, j), steps = p->formats[j->ax[AX_FORMAT]].train.steps;
        by_job[k] = r;
        if (st != JOB_OK) {
            snprintf(r->message, sizeof r->message, "%s in the fixture", job_status_name(st));
            r->final_loss = NAN;
            continue;
        }
        if (kind != 0 && steps > 0) {
            r->n_steps = steps;
            r->loss_curve = xmalloc((size_t)steps * sizeof(float));
            for (int s = 0; s < steps; s++)
                r->loss_curve[s] = (float)(6.0 - 3.0 * s / steps + 0.2 * fx_user(j) + 0.5 * fx_is_random(p, j));
            r->final_loss = r->loss_curve[steps - 1];
            r->tokens = (long)steps * 16;
            r->max_param_change = fx->unrecorded_param_change ? NAN
                                  : steps * p->formats[j->ax[AX_FORMAT]].train.lr * (0.5 + 0.1 * fx_user(j));
            if (!fx->unrecorded_param_change)
                snprintf(r->max_param_tensor, sizeof r->max_param_tensor, "model.layers.%d.input_layernorm.weight",
                         fx_user(j));
        } else {
            r->final_loss = NAN;
        }
        r->adapter_bytes_fp32 = (uint64_t)fx->bytes[kind];
        r->adapter_bytes_fp16 = (uint64_t)fx->bytes[kind] / 2;
        r->evals = xcalloc((size_t)j->n_eval + 1, sizeof(EvalCell));
        for (int i = 0; i < j->n_eval; i++) {
            double v = fx->ppl(p, j, j->eval[i], fx->ctx);
            if (isnan(v)) continue;
            EvalCell *c = &r->evals[r->n_evals++];
            snprintf(c->eval, sizeof c->eval, "%s", p->axis[AX_EVAL_TEXT].labels[j->eval[i]]);
            c->ppl = v;
            c->nll = log(v);
            c->n_tokens = 255;
        }
    }
    H5WriteInfo info = {.created_by = "report fixture"};
    int rc = h5_write_results(path, p, by_job, &info, err, errlen);
    for (int k = 0; k < p->n_jobs; k++) job_result_free(&res[k]);
    free(res);
    free(by_job);
    return rc;
}

static const Fixture fx_default_bytes = {NULL, NULL, NULL, {0, 9216, 65536, 4000000}, 0};
