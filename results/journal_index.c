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

// Takes ownership of r's arrays: it replaces an earlier record of the same job id or is added.
void jr_contents_put(JournalContents *c, JobResult *r) {
    if (2 * (c->n + 1) > c->index_cap) index_grow(c);
    int s = index_slot(c, r->id);
    if (c->index[s] >= 0) {
        job_result_free(&c->latest[c->index[s]]);
        c->latest[c->index[s]] = *r;
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
    for (int i = 0; i < c->n; i++) job_result_free(&c->latest[i]);
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
