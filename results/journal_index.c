// The latest record per job id (an open-addressing index over JournalContents.latest) and what the
// scheduler asks of it: the record of each plan job, whether a job needs no more runs.
#include "results/journal_rec.h"
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#include "sweeps/variants.h"

// ---- index of the latest record per job id

static uint64_t id_hash(const char *id) { return fnv1a64(id, strlen(id), FNV1A64_INIT); }

static int index_slot(const JournalContents *c, const char *id) {
    size_t mask = (size_t)c->index_cap - 1, s = (size_t)id_hash(id) & mask;
    while (c->index[s] >= 0 && strcmp(c->latest[c->index[s]].id, id) != 0) s = (s + 1) & mask;
    return (int)s;
}

static void index_grow(JournalContents *c) {
    int cap = c->index_cap ? c->index_cap * 2 : 64;
    free(c->index);
    c->index = xmalloc((size_t)cap * sizeof(int));
    c->index_cap = cap;
    for (int i = 0; i < cap; i++) c->index[i] = -1;
    for (int i = 0; i < c->n; i++) c->index[index_slot(c, c->latest[i].id)] = i;
}

const JobResult *journal_find(const JournalContents *c, const char *id) {
    if (!c->index_cap) return NULL;
    int s = index_slot(c, id);
    return c->index[s] >= 0 ? &c->latest[c->index[s]] : NULL;
}

// ---- the cells of the kept records

// Kept records' cells are copied into large blocks asked for on 2 MiB pages: at a thousand users a
// record holds 1,000 cells (120 KB), and fresh 4 KiB pages faulted one by one took rank 0 more CPU
// than decoding them (issue 15). The decoded array is freed, so the next decode reuses its pages.
// Cells of superseded records stay in their block until the contents are freed (retries are few).
struct CellBlock {
    struct CellBlock *next;
    size_t used, cap;   // cells
    EvalCell cells[];
};

#define CELL_BLOCK_BYTES ((size_t)8 << 20)

static EvalCell *cells_keep(JournalContents *c, const EvalCell *e, int n) {
    struct CellBlock *b = c->cells;
    if (!b || b->cap - b->used < (size_t)n) {
        size_t need = sizeof *b + (size_t)n * sizeof(EvalCell);
        size_t bytes = need > CELL_BLOCK_BYTES ? need : CELL_BLOCK_BYTES;
        b = xhuge(bytes);
        b->next = c->cells;
        b->used = 0;
        b->cap = (bytes - sizeof *b) / sizeof(EvalCell);
        c->cells = b;
    }
    EvalCell *k = b->cells + b->used;
    memcpy(k, e, (size_t)n * sizeof(EvalCell));
    b->used += (size_t)n;
    return k;
}

// Takes ownership of r's arrays (its cells are moved into the contents' blocks): it replaces an
// earlier record of the same job id or is added.
void jr_contents_put(JournalContents *c, JobResult *r) {
    if (r->n_evals > 0) {
        EvalCell *k = cells_keep(c, r->evals, r->n_evals);
        free(r->evals);
        r->evals = k;
    }
    if (2 * (c->n + 1) > c->index_cap) index_grow(c);
    int s = index_slot(c, r->id);
    if (c->index[s] >= 0) {
        JobResult *old = &c->latest[c->index[s]];
        old->evals = NULL;   // in a block
        job_result_free(old);
        *old = *r;
    } else {
        // latest grows with the index; index_cap / 2 bounds n
        if ((c->n & (c->n - 1)) == 0) {
            JobResult *nl = xmalloc((size_t)(c->n ? 2 * c->n : 1) * sizeof(JobResult));
            if (c->n) memcpy(nl, c->latest, (size_t)c->n * sizeof(JobResult));
            free(c->latest);
            c->latest = nl;
        }
        c->latest[c->n] = *r;
        c->index[s] = c->n++;
    }
    c->n_records++;
}

void journal_contents_free(JournalContents *c) {
    for (int i = 0; i < c->n; i++) {
        c->latest[i].evals = NULL;   // in a block
        job_result_free(&c->latest[i]);
    }
    for (struct CellBlock *b = c->cells, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(c->latest);
    free(c->index);
    memset(c, 0, sizeof *c);
}

void journal_match_plan(const JournalContents *c, const Plan *plan, const JobResult **by_job) {
    for (int i = 0; i < plan->n_jobs; i++) by_job[i] = journal_find(c, plan->jobs[i].id);
}

int journal_job_finished(const JobResult *r, const Plan *plan, const Job *job) {
    if (!r) return 0;
    if (r->status != JOB_OK) return r->attempts >= (plan->max_attempts > 0 ? plan->max_attempts : 1);
    for (int e = 0; e < job->n_eval; e++) {
        const char *label = plan->axis[AX_EVAL_TEXT].labels[job->eval[e]];
        // records list their cells in the job's order: look there first, so 1,000 cells cost 1,000 compares, not 500,000
        int found = e < r->n_evals && strcmp(r->evals[e].eval, label) == 0;
        for (int k = 0; k < r->n_evals && !found; k++) found = strcmp(r->evals[k].eval, label) == 0;
        if (!found) return 0;
    }
    // eval.variants: each variant's cell on each text, and its bytes (sweeps/variants.h)
    for (int v = 1; v < variant_count(plan); v++)
        for (int e = -1; e < job->n_eval; e++) {
            char label[sizeof r->evals[0].eval];
            variant_cell_label(label, sizeof label, plan, v, e < 0 ? "" : plan->axis[AX_EVAL_TEXT].labels[job->eval[e]]);
            int at = job->n_eval + (v - 1) * (job->n_eval + 1) + e + 1;   // where job_exec puts it
            int found = at < r->n_evals && strcmp(r->evals[at].eval, label) == 0;
            for (int k = 0; k < r->n_evals && !found; k++) found = strcmp(r->evals[k].eval, label) == 0;
            if (!found) return 0;
        }
    return 1;
}
