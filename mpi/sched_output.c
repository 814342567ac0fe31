// Rank 0's files besides the journal's records: the journal's fsyncs, the results file (results/h5write.h)
// and OUTPUT.state (results/runstate.h).
#include "mpi/sched.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/util.h"
#include "results/h5write.h"
#include "results/runstate.h"

void sched_sync_journal(Sched *s) {
    char err[512];
    int was = cpuphase_to(&s->cpu, CPU_SYNC);
    if (journal_sync(&s->journal, err, sizeof err)) {
        fprintf(stderr, "sweep: %s\n", err);
        exit(3);   // records that may not be on disk must not count as done
    }
    s->last_sync = now_seconds();
    cpuphase_to(&s->cpu, was);
}

// The results file rebuilt whole from the journal (at the start, and whenever an update cannot be
// made in place); afterwards the file holds every journalled record and no job is left to update.
static void rebuild_results(Sched *s) {
    const Plan *p = s->plan;
    const JobResult **by_job = xcalloc(p->n_jobs, sizeof *by_job);
    journal_match_plan(&s->journal.c, p, by_job);
    int nb = p->axis[AX_BASE].n, ne = p->axis[AX_EVAL_TEXT].n;
    const char **hashes = xcalloc(2 * (size_t)nb + ne + 1, sizeof *hashes);
    for (int i = 0; i < nb; i++) { hashes[i] = s->base_hash[i]; hashes[nb + i] = s->tok_hash[i]; }
    for (int e = 0; e < ne; e++) hashes[2 * nb + e] = s->eval_hash[e];
    H5WriteInfo info = { .n_base_hashes = nb, .base_hashes = hashes, .created_by = "sweep run",
                         .n_tokenizer_hashes = nb, .tokenizer_hashes = hashes + nb,
                         .n_eval_hashes = ne, .eval_hashes = hashes + 2 * nb };
    char err[512];
    s->h5_current = h5_write_results(s->output, p, (const JobResult *const *)by_job, &info, err, sizeof err) == 0;
    if (!s->h5_current) fprintf(stderr, "sweep: %s\n", err);
    for (int j = 0; j < p->n_jobs; j++) s->h5_cells[j] = by_job[j] && by_job[j]->n_evals > 0;
    for (int i = 0; i < s->h5_n; i++) s->h5_dirty[s->h5_list[i]] = 0;
    s->h5_n = 0;
    free(hashes);
    free(by_job);
    s->rebuilds++;
}

// The jobs journalled since the file was written, in place (results/h5write.h); 0 done.
static int update_results(Sched *s) {
    if (!s->h5_current) return -1;
    const Plan *p = s->plan;
    const JobResult **recs = xmalloc(((size_t)s->h5_n + 1) * sizeof *recs);
    unsigned char *had = xmalloc((size_t)s->h5_n + 1);
    for (int i = 0; i < s->h5_n; i++) {
        int j = s->h5_list[i];
        recs[i] = journal_find(&s->journal.c, p->jobs[j].id);
        had[i] = s->h5_cells[j];
        if (job_test_fault(p->jobs[j].id, "h5kill")) s->h5w.kill_at = j + 1;   // tests/mpi/test_rank0_kill.py
    }
    char err[512];
    int rc = h5_update_results(s->output, p, s->h5_n, s->h5_list, recs, had, &s->h5w, err, sizeof err);
    if (rc < 0) fprintf(stderr, "sweep: %s; rebuilding it\n", err);
    for (int i = 0; i < s->h5_n && rc == 0; i++) {
        int j = s->h5_list[i];
        s->h5_dirty[j] = 0;
        s->h5_cells[j] = recs[i] && recs[i]->n_evals > 0;
    }
    if (rc == 0) s->h5_n = 0;
    free(recs);
    free(had);
    return rc;
}

void sched_mark_written(Sched *s, int j) {
    if (s->h5_dirty[j]) return;
    s->h5_dirty[j] = 1;
    s->h5_list[s->h5_n++] = j;
}

// phase: CPU_H5_START (a rebuild), CPU_H5_FLUSH or CPU_H5_END (updates in place), for the accounting
void sched_write_results(Sched *s, int phase) {
    if (s->o->dry_jobs) return;
    int was = cpuphase_to(&s->cpu, phase);
    double t0 = now_seconds(), c0 = cpu_seconds();
    sched_sync_journal(s);   // the file never holds a result the journal could still lose
    if (phase == CPU_H5_START || update_results(s) != 0) rebuild_results(s);
    s->last_flush = now_seconds();
    // the spacing of the writes to come follows what one costs: the start's rebuild, a one-off, does not count
    if (phase != CPU_H5_START) s->flush_cost = s->last_flush - t0;
    s->rebuild_cpu += cpu_seconds() - c0;
    cpuphase_to(&s->cpu, was);
}

// OUTPUT.state for `sweep status` (results/runstate.h): what the journal cannot say, i.e. what is running.
void sched_write_state(Sched *s, int end_status) {
    if (s->o->dry_jobs) return;
    int was = cpuphase_to(&s->cpu, CPU_STATE);
    RunState st;
    memset(&st, 0, sizeof st);
    st.pid = (long)getpid();
    snprintf(st.host, sizeof st.host, "%s", s->rank_host[0]);
    st.started = s->started_wall;
    st.updated = runstate_now();
    st.ranks = s->nranks;
    st.total = s->prog.total;
    st.done = s->prog.done;
    st.failed = s->prog.failed;
    double el = now_seconds() - s->prog.t0;
    st.eta = s->prog.flops_done > 0 && el > 0 ? s->prog.flops_left / (s->prog.flops_done / el) : -1;
    st.finished = end_status >= 0;
    st.exit_status = end_status;
    RunningJob *run = xcalloc(s->nranks, sizeof *run);
    for (int r = 0; r < s->nranks; r++) {
        if (s->running[r] < 0) continue;
        RunningJob *x = &run[st.n_running++];
        memcpy(x->id, s->plan->jobs[s->running[r]].id, 17);
        x->rank = r;
        snprintf(x->host, sizeof x->host, "%s", s->rank_host[r]);
        x->since = s->since[r];
    }
    st.running = run;
    char err[512];
    if (runstate_write(runstate_path(s->output), &st, err, sizeof err) && !s->o->quiet)
        fprintf(stderr, "sweep: %s\n", err);
    free(run);
    s->state_dirty = 0;
    s->last_state = now_seconds();
    cpuphase_to(&s->cpu, was);
}
