// The scheduler's state for a run (mpi/sched.h) from the plan and the journal: the queue of jobs
// still to run, longest first, combination jobs held until their inputs are in, the inputs' hashes.
#include "mpi/sched.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/util.h"
#include "mpi/wire.h"
#include "results/runstate.h"

// FNV-1a 64 of a file's bytes as 16 hex digits; "" when it cannot be read.
static void file_hash(const char *path, char out[17]) {
    size_t len;
    char *buf = path && path[0] ? read_whole_file(path, &len) : NULL;
    out[0] = 0;
    if (!buf) return;
    snprintf(out, 17, "%016llx", (unsigned long long)fnv1a64(buf, len, FNV1A64_INIT));
    free(buf);
}

// Fills s (s->plan, ctx, o, output and nranks set) and opens the journal; RUN_OK, or RUN_BAD_INPUT
// after a message, the workers released and everything freed.
int sched_setup(Sched *s) {
    const Plan *p = s->plan;
    JobContext *ctx = s->ctx;
    const RunOptions *o = s->o;
    const char *output = s->output;
    s->queue = xcalloc(p->n_jobs * (size_t)(p->max_attempts + 1) + 1, sizeof *s->queue);
    s->attempt = xcalloc(p->n_jobs, sizeof *s->attempt);
    s->more = xcalloc(p->n_jobs, 1);
    s->running = xcalloc(s->nranks, sizeof *s->running);
    s->abort_sent = xcalloc(s->nranks, sizeof *s->abort_sent);
    s->heard = xcalloc(s->nranks, sizeof *s->heard);
    s->held = xcalloc(p->n_jobs + 1, 1);
    s->held_seen = -1;
    s->h5_dirty = xcalloc(p->n_jobs + 1, 1);
    s->h5_cells = xcalloc(p->n_jobs + 1, 1);
    s->h5_list = xcalloc(p->n_jobs + 1, sizeof *s->h5_list);
    lost_init(&s->lost, s->nranks);
    s->running[0] = -1;   // rank 0's own slot is free; workers count once their first READY arrives
    for (int r = 1; r < s->nranks; r++) s->running[r] = -2;
    s->base_hash = xcalloc(p->axis[AX_BASE].n, sizeof *s->base_hash);
    s->since = xcalloc(s->nranks, sizeof *s->since);
    s->rank_host = xcalloc(s->nranks, sizeof *s->rank_host);
    gethostname(s->rank_host[0], sizeof s->rank_host[0] - 1);
    s->started_wall = runstate_now();
    for (int i = 0; i < p->axis[AX_BASE].n; i++) {
        uint64_t h = model_header_checksum(&ctx->bases[i]);   // covers every tensor's checksum
        snprintf(s->base_hash[i], 17, "%016llx", (unsigned long long)h);
    }
    s->tok_hash = xcalloc(p->axis[AX_BASE].n, sizeof *s->tok_hash);
    s->eval_hash = xcalloc(p->axis[AX_EVAL_TEXT].n + 1, sizeof *s->eval_hash);
    if (!o->dry_jobs) {
        for (int i = 0; i < p->axis[AX_BASE].n; i++) file_hash(p->bases[i].tokenizer, s->tok_hash[i]);
        for (int e = 0; e < p->axis[AX_EVAL_TEXT].n; e++) file_hash(p->evals[e].path, s->eval_hash[e]);
    }

    char err[512];
    int skipped = 0, failed_earlier = 0, more = 0;
    s->local.job = -1;
    // forked before the journal is read, while rank 0 is small; a failure is retried at the first job
    if (!o->dry_jobs) (void)runner_start(&s->local, ctx);
    if (!o->dry_jobs) {
        if (journal_open(&s->journal, output_journal_path(output), p, o->keep_adapter_max, err, sizeof err)) {
            fprintf(stderr, "sweep: %s\n", err);
            runner_stop(&s->local);
            // the workers are waiting for work: release them, or the final broadcast never completes
            for (int r = 1; r < s->nranks; r++) MPI_Send(NULL, 0, MPI_BYTE, r, TAG_STOP, MPI_COMM_WORLD);
            sched_free(s);
            return RUN_BAD_INPUT;
        }
    }
    if (o->memfit_said && !o->quiet) fprintf(stderr, "%s\n", o->memfit_said);
    int *order = xmalloc(p->n_jobs * sizeof *order);
    plan_longest_first(p, order);
    for (int k = 0; k < p->n_jobs; k++) {
        int j = order[k];
        const JobResult *prev = o->dry_jobs ? NULL : journal_find(&s->journal.c, p->jobs[j].id);
        int retry = prev && prev->status != JOB_OK && o->retry_failed;
        if (prev && !retry && journal_job_finished(prev, p, &p->jobs[j])) {
            skipped++;
            failed_earlier += prev->status != JOB_OK;
            continue;
        }
        if (prev) s->attempt[j] = prev->status == JOB_OK || retry ? 0 : prev->attempts;
        if (p->jobs[j].combo && !o->dry_jobs) { s->held[j] = 1; s->n_held++; continue; }   // until its inputs are in
        if (job_can_evaluate_more(p, j, prev)) { s->more[j] = 1; more++; }
        s->queue[s->qn++] = j;
    }
    free(order);
    progress_start(&s->prog, p, s->qn + s->n_held, skipped, more, s->nranks, o);
    s->prog.failed_earlier = failed_earlier;
    for (int k = 0; k < s->qn; k++) s->prog.flops_left += p->jobs[s->queue[k]].est_flops;
    for (int j = 0; j < p->n_jobs; j++) if (s->held[j]) s->prog.flops_left += p->jobs[j].est_flops;
    return RUN_OK;
}

void sched_free(Sched *s) {
    free(s->queue); free(s->attempt); free(s->more); free(s->running); free(s->abort_sent); free(s->base_hash);
    free(s->since); free(s->rank_host); free(s->tok_hash); free(s->eval_hash); free(s->heard); free(s->held);
    free(s->h5_dirty); free(s->h5_cells); free(s->h5_list);
    lost_free(&s->lost);
}
