// Handing out jobs: the next job per rank (mpi/memfit.h), held combination jobs released once their
// inputs are journalled (mpi/job_combo.h), the record a job is completed from, MPI_Send or rank 0's runner.
#include "mpi/sched.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#include "mpi/job_combo.h"
#include "mpi/wire.h"
#include "mpi/worker.h"
#include "results/runstate.h"

// The next job for rank: what mpi/memfit.h picks from the queue for the rank's node, moved to
// the queue's head; -1 when none is left, a node is lost, or none fits there now.
static int next_job(Sched *s, int rank) {
    if (s->stopping || s->lost.n_dead || s->qi >= s->qn) return -1;
    if (s->o->memfit) {
        int k = memfit_pick(s->o->memfit, rank, s->running, s->queue + s->qi, s->qn - s->qi);
        if (k < 0) return -1;
        int j = s->queue[s->qi + k];
        memmove(s->queue + s->qi + 1, s->queue + s->qi, (size_t)k * sizeof *s->queue);   // the others keep their order
        s->queue[s->qi] = j;
    }
    int j = s->queue[s->qi++];
    s->attempt[j]++;
    return j;
}

// The record a job can be completed from (new eval texts only), or NULL to run it in full. Looked
// up at hand-out time: the journal's array moves as records are appended.
static const JobResult *completable(const Sched *s, int j) {
    if (s->o->dry_jobs || !s->more[j]) return NULL;
    const JobResult *prev = journal_find(&s->journal.c, s->plan->jobs[j].id);
    return job_can_evaluate_more(s->plan, j, prev) ? prev : NULL;
}

// Held combination jobs whose inputs are all journalled join the queue, or are recorded failed when
// an input failed. Looked at once the queue is empty and a result came since the last look: the
// trained jobs go first anyway, and a look costs a journal lookup per input. 1 when one was queued.
int sched_release_held(Sched *s) {
    if (!s->n_held || s->stopping || s->lost.n_dead || s->qi < s->qn || s->results == s->held_seen) return 0;
    s->held_seen = s->results;
    int queued = 0;
    char msg[256], err[512];
    for (int j = 0; j < s->plan->n_jobs && s->n_held; j++) {
        if (!s->held[j]) continue;
        int st = combo_inputs_state(s->plan, j, &s->journal.c, msg, sizeof msg);
        if (st == COMBO_WAIT) continue;
        s->held[j] = 0;
        s->n_held--;
        if (st == COMBO_READY) { s->queue[s->qn++] = j; queued = 1; continue; }
        JobResult r;
        combo_failed_record(s->plan, j, msg, &r);
        if (journal_write(&s->journal, &r, 0, err, sizeof err)) { fprintf(stderr, "sweep: %s\n", err); exit(3); }
        sched_mark_written(s, j);
        s->prog.done++;
        s->prog.failed++;
        if (!s->o->quiet) fprintf(stderr, "sweep: job %s failed: %s\n", r.id, r.message);
    }
    return queued;
}

// The record job j is handed out with: for a combination, its combined adapter (in *tmp: free it).
static const JobResult *prev_of(Sched *s, int j, JobResult *tmp) {
    if (!s->plan->jobs[j].combo || s->o->dry_jobs) return completable(s, j);
    combo_input_record(s->plan, j, &s->journal.c, tmp);
    return tmp;
}

int sched_dispatch(Sched *s) {
    int sent = 0;
    sched_release_held(s);
    for (int rank = 1; rank < s->nranks; rank++) {
        if (s->running[rank] != -1 || !lost_usable(&s->lost, rank)) continue;
        int j = next_job(s, rank);
        if (j < 0 && (s->stopping || s->lost.n_dead || s->qi >= s->qn)) return sent;
        if (j < 0) continue;   // nothing fits beside that node's running jobs: another node may take one
        int was = cpuphase_to(&s->cpu, CPU_DISPATCH);
        JobResult tmp = { 0 };
        const JobResult *prev = prev_of(s, j, &tmp);
        int msg[3] = { j, s->attempt[j], prev != NULL };
        MPI_Send(msg, 3, MPI_INT, rank, TAG_JOB, MPI_COMM_WORLD);
        if (prev) {
            unsigned char *buf; size_t len;
            if (result_encode(prev, &buf, &len)) {
                fprintf(stderr, "sweep: out of memory encoding a result\n");
                exit(3);
            }
            wire_send(buf, len, rank, TAG_PREV, MPI_COMM_WORLD, WIRE_PIECE);
            free(buf);
        }
        job_result_free(&tmp);
        s->running[rank] = j;
        s->since[rank] = runstate_now();
        s->state_dirty = 1;
        s->heard[rank] = now_seconds();
        s->prog.running++;
        sent++;
        cpuphase_to(&s->cpu, was);
    }
    // Dry jobs measure the hand-out to workers: rank 0 keeps its own slot only when it is alone.
    if (s->running[0] == -1 && !(s->o->dry_jobs && s->nranks > 1)) {
        int j = next_job(s, 0);
        if (j < 0) return sent;
        int was = cpuphase_to(&s->cpu, CPU_DISPATCH);
        s->running[0] = j;
        s->since[0] = runstate_now();
        s->state_dirty = 1;
        s->prog.running++;
        if (s->o->dry_jobs) {
            JobResult r;
            dry_result(s->ctx, j, &r);
            sched_take_result(s, &r, 0);
        } else {
            JobResult tmp = { 0 };
            int failed = runner_run(&s->local, s->ctx, j, prev_of(s, j, &tmp));
            job_result_free(&tmp);
            if (!failed) return sent;
            JobResult r;
            dry_result(s->ctx, j, &r);
            r.status = JOB_ERROR;
            snprintf(r.message, sizeof r.message, "cannot start the job's process");
            sched_take_result(s, &r, 0);
        }
        cpuphase_to(&s->cpu, was);
    }
    return sent;
}
