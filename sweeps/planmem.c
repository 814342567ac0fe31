#include "sweeps/planmem.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "engine/job.h"
#include "engine/matcache.h"
#include "engine/modelfile.h"
#include "engine/util.h"
#include "sweeps/combos.h"

static long file_bytes(const char *path) {
    struct stat st;
    return path && path[0] && !stat(path, &st) ? (long)st.st_size : 0;
}

// A base the spec describes but that cannot be opened: fp32 storage of the spec's shape, and the bf16
// forms every other precision reads of it (engine/matcache.h).
static void base_from_config(const ModelConfig *c, size_t *bytes, size_t *ready) {
    *bytes = config_n_params(c) * sizeof(float);
    for (int q = 0; q <= MAT_PREC_INT8; q++)
        ready[q] = q == MAT_PREC_BF16 || q == MAT_PREC_INT8 ? memest_matrix_params(c) * 2 : 0;
}

void plan_mem_init(PlanMem *m, const Plan *p, const MemExec *x) {
    memset(m, 0, sizeof *m);
    if (x) m->exec = *x;
    int nb = p->axis[AX_BASE].n, nu = p->axis[AX_TRAIN_USER].n, ne = p->axis[AX_EVAL_TEXT].n, np = MAT_PREC_INT8 + 1;
    m->base_bytes = xcalloc(nb + 1, sizeof *m->base_bytes);
    m->ready_bytes = xcalloc((size_t)nb * np + 1, sizeof *m->ready_bytes);
    m->train_bytes = xcalloc(nu + 1, sizeof *m->train_bytes);
    m->eval_bytes = xcalloc(ne + 1, sizeof *m->eval_bytes);
    m->job = xcalloc(p->n_jobs + 1, sizeof *m->job);
    m->sized_from_files = 1;
    for (int b = 0; b < nb; b++) {
        ModelFile mf;
        char err[256];
        size_t *ready = m->ready_bytes + (size_t)b * np;
        if (model_open(&mf, p->bases[b].path, MODEL_SKIP_CHECKSUMS, err, sizeof err)) {
            base_from_config(&p->bases[b].cfg, &m->base_bytes[b], ready);
            m->sized_from_files = 0;
            continue;
        }
        m->base_bytes[b] = mf.size;
        for (int q = 0; q < np; q++) ready[q] = matcache_forms_bytes(&mf.w, (MatPrecision)q);
        model_close(&mf);
    }
    for (int u = 0; u < nu; u++) m->train_bytes[u] = file_bytes(p->users[u].train_path);
    for (int e = 0; e < ne; e++) m->eval_bytes[e] = file_bytes(p->evals[e].path);
    // shared per node: each base file, and the forms of each precision some format of the plan uses
    for (int b = 0; b < nb; b++) {
        m->shared += m->base_bytes[b];
        for (int q = 0; q < np; q++) {
            int used = 0;
            for (int f = 0; f < p->axis[AX_FORMAT].n && !used; f++) used = p->formats[f].precision == (MatPrecision)q;
            if (used) m->shared += m->ready_bytes[(size_t)b * np + q];
        }
    }
    m->largest_job = -1;
    for (int j = 0; j < p->n_jobs; j++) {
        MemEstimate e;
        plan_mem_job(m, p, j, &e);
        m->job[j] = e.job;
        if (m->largest_job < 0 || e.job > m->largest) { m->largest = e.job; m->largest_job = j; }
    }
}

void plan_mem_free(PlanMem *m) {
    free(m->job); free(m->base_bytes); free(m->ready_bytes); free(m->train_bytes); free(m->eval_bytes);
    memset(m, 0, sizeof *m);
}

void plan_mem_job(const PlanMem *m, const Plan *p, int j, MemEstimate *e) {
    const Job *job = &p->jobs[j];
    const FormatVariant *fv = &p->formats[job->ax[AX_FORMAT]];
    const BaseEntry *base = &p->bases[job->ax[AX_BASE]];
    MemJob mj;
    memset(&mj, 0, sizeof mj);
    mj.cfg = base->cfg;
    mj.format = fv->format;
    mj.lora = fv->lora;
    mj.steer_blocks = steer_layers_count(&fv->steer);
    mj.precision = fv->precision;
    mj.steps = fv->train.steps;
    mj.batch = fv->train.batch;
    mj.seq = fv->train.seq;
    mj.recompute = m->exec.recompute;
    // tokens never outnumber the text's bytes: its size bounds them
    if (fv->format != FMT_NONE) {
        if (p->conditions[job->ax[AX_CONDITION]] == COND_RANDOM) {
            mj.train_tokens = (long)fv->train.steps * fv->train.batch * (fv->train.seq + 1);
        } else {
            mj.train_text_bytes = m->train_bytes[job->ax[AX_TRAIN_USER]];
            mj.train_tokens = mj.train_text_bytes;
        }
    }
    long longest = 0;
    for (int k = 0; k < job->n_eval; k++)
        if (m->eval_bytes[job->eval[k]] > longest) longest = m->eval_bytes[job->eval[k]];
    mj.eval_text_bytes = longest;
    mj.eval_tokens = longest;
    // eval_perplexity: up to JOB_EVAL_BATCH windows of the context at once, fewer for a short text
    long scored = p->eval_tokens > 0 && longest > p->eval_tokens ? p->eval_tokens : longest;
    long windows = longest > 0 ? (scored > 2 ? (scored - 2) / base->cfg.context + 1 : 1) : JOB_EVAL_BATCH;
    mj.eval_batch = windows < JOB_EVAL_BATCH ? (int)windows : JOB_EVAL_BATCH;
    int b = job->ax[AX_BASE];
    mj.base_bytes = m->base_bytes[b];
    mj.ready_bytes = m->ready_bytes[(size_t)b * (MAT_PREC_INT8 + 1) + fv->precision];
    memest_job(&mj, e);
    const Combo *cb = job_combo(p, job);
    if (cb) {
        // a combination trains nothing (mpi/job_combo.h): an average evaluates the one mean adapter rank 0
        // sends; an ensemble its K members' blocks (each an adapter, and the record they came in), both
        // beside one evaluation's activations (mpi/job_exec.c job_evaluate_more)
        size_t K = cb->kind == COMBO_ENSEMBLE ? (size_t)job->n_inputs : 1;
        e->acts_train = e->tokens_train = e->optimizer = 0;
        e->adapter *= K;
        e->weight_copies *= K;
        e->result *= K;
        e->job = e->adapter + e->weight_copies + e->scratch + e->acts_eval + e->tokens_eval + e->result;
    }
}

size_t plan_mem_node_fixed(const PlanMem *m, int ranks) {
    return m->shared + (size_t)ranks * MEMEST_RANK_BYTES;
}

int plan_mem_check(const PlanMem *m, const Plan *p, size_t mem, int ranks, char *err, size_t errlen) {
    size_t fixed = plan_mem_node_fixed(m, ranks);
    if (m->largest_job < 0 || fixed + m->largest <= mem) return 0;
    const Job *job = &p->jobs[m->largest_job];
    char need[16], have[16], fx[16];
    memest_human(m->largest, need, sizeof need);
    memest_human(mem, have, sizeof have);
    memest_human(fixed, fx, sizeof fx);
    snprintf(err, errlen, "job %s (%s, %s) needs %s, which with the node's fixed %s (bases shared once, %d rank%s) "
             "exceeds --mem-per-node %s: it fits no node", job->id, p->axis[AX_FORMAT].labels[job->ax[AX_FORMAT]],
             p->axis[AX_BASE].labels[job->ax[AX_BASE]], need, fx, ranks, ranks == 1 ? "" : "s", have);
    return -1;
}
