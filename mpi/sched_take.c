// Results coming in: from workers over MPI and from rank 0's runner; each is journalled, then counted
// or queued for a retry.
#include "mpi/sched.h"
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "engine/util.h"
#include "mpi/wire.h"
#include "mpi/worker.h"

// A result came back (from a worker or the local child): journal it, then count it or retry it.
static void journal_result(Sched *s, JobResult *r, int rank, const unsigned char *payload, size_t len) {
    int j = r->job;
    if (s->abort_sent[rank]) {   // finished before the abort reached it: the result still counts
        s->abort_sent[rank] = 0;
        s->aborts_pending--;
    }
    if (j < 0 || j >= s->plan->n_jobs || s->running[rank] != j) {
        fprintf(stderr, "sweep: rank %d returned a result for job %d it was not running; ignored\n", rank, j);
        return;
    }
    s->running[rank] = -1;
    s->prog.running--;
    s->state_dirty = 1;
    if (rank > 0 && r->host[0]) snprintf(s->rank_host[rank], sizeof s->rank_host[rank], "%s", r->host);
    s->job_spread = s->typical_job > 0 ? 0.8 * s->job_spread + 0.2 * fabs(r->seconds - s->typical_job) : 0;
    s->typical_job = s->typical_job > 0 ? 0.8 * s->typical_job + 0.2 * r->seconds : r->seconds;
    r->attempts = s->attempt[j];
    if (rank == 0) { r->rank = 0; gethostname(r->host, sizeof r->host - 1); }
    progress_job_done(&s->prog, r, rank, s->plan->jobs[j].est_flops);
    if (s->o->dry_jobs) { s->prog.done++; return; }
    char err[512];
    s->results++;
    if (journal_write_received(&s->journal, r, payload, len, 0, err, sizeof err)) {
        fprintf(stderr, "sweep: %s\n", err);
        exit(3);   // a result that cannot be journalled must not count as done
    }
    sched_mark_written(s, j);   // r's arrays are the journal's now
    if (r->status == JOB_OK || journal_job_finished(journal_find(&s->journal.c, r->id), s->plan, &s->plan->jobs[j])) {
        s->prog.done++;
        if (r->status != JOB_OK) {
            s->prog.failed++;
            if (!s->o->quiet)
                fprintf(stderr, "sweep: job %s failed (%s, attempt %d): %s\n", r->id, job_status_name(r->status),
                        r->attempts, r->message);
        }
    } else {
        s->queue[s->qn++] = j;   // retried after everything else: a flaky node gets time to recover
        if (!s->o->quiet)
            fprintf(stderr, "sweep: job %s %s (attempt %d), will retry: %s\n", r->id, job_status_name(r->status),
                    r->attempts, r->message);
    }
}

void sched_take_received(Sched *s, JobResult *r, int rank, const unsigned char *payload, size_t len) {
    int was = cpuphase_to(&s->cpu, CPU_JOURNAL);
    journal_result(s, r, rank, payload, len);
    cpuphase_to(&s->cpu, was);
}

void sched_take_result(Sched *s, JobResult *r, int rank) { sched_take_received(s, r, rank, NULL, 0); }

// One message from a worker, if any is waiting; returns 1 if one was handled.
int sched_poll_workers(Sched *s) {
    int flag;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if (!flag) return 0;
    int rank = st.MPI_SOURCE;
    size_t len;
    unsigned char *buf = wire_recv(&st, MPI_COMM_WORLD, &len, WIRE_PIECE);   // a result may come in pieces
    if (s->lost.dead[rank]) { free(buf); return 1; }   // late news from a lost rank: its job is already recorded
    s->heard[rank] = now_seconds();
    if (st.MPI_TAG == TAG_READY) {
        if (len > 0 && !s->rank_host[rank][0]) snprintf(s->rank_host[rank], sizeof s->rank_host[rank], "%.*s", (int)len, (char *)buf);
        if (s->abort_sent[rank] && s->running[rank] >= 0) {   // aborted: the next run starts it again
            s->abort_sent[rank] = 0;
            s->aborts_pending--;
            s->attempt[s->running[rank]]--;
        }
        if (s->running[rank] >= 0) s->prog.running--;
        s->running[rank] = -1;
    } else if (st.MPI_TAG == TAG_RESULT) {
        JobResult r;
        char err[256];
        int was = cpuphase_to(&s->cpu, CPU_DECODE);
        if (result_decode(buf, len, &r, err, sizeof err)) {
            fprintf(stderr, "sweep: unreadable result from rank %d: %s\n", rank, err);
            exit(3);
        }
        cpuphase_to(&s->cpu, was);
        sched_take_received(s, &r, rank, buf, len);
        job_result_free(&r);
    }
    free(buf);
    return 1;
}

int sched_poll_local(Sched *s, int look) {
    if (s->local.job < 0) return 0;
    JobResult r;
    if (s->o->job_timeout > 0 && now_seconds() - s->local.started > s->o->job_timeout) {
        int j = s->local.job;
        runner_abort(&s->local);
        dry_result(s->ctx, j, &r);
        r.status = JOB_TIMEOUT;
        r.seconds = s->o->job_timeout;
        snprintf(r.message, sizeof r.message, "killed after the job timeout of %.0f s", s->o->job_timeout);
        sched_take_result(s, &r, 0);
        return 1;
    }
    unsigned char *payload;
    size_t len;
    if (!look || !runner_poll(&s->local, s->ctx, 0, &r, &payload, &len)) return 0;
    sched_take_received(s, &r, 0, payload, len);
    job_result_free(&r);
    free(payload);
    return 1;
}
