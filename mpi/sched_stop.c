// Ending early: a stop signal (grace period, then aborts) and workers gone silent (mpi/lost.h).
#include "mpi/sched.h"
#include <mpi.h>
#include <stdio.h>
#include "engine/util.h"
#include "mpi/signals.h"
#include "mpi/wire.h"

// A worker that is starting or running a job and has sent nothing (no result, no heartbeat) for
// --worker-timeout seconds: a dead or unreachable node. Returns its rank, or 0.
int sched_silent_worker(const Sched *s) {
    if (s->o->worker_timeout <= 0) return 0;
    double now = now_seconds();
    for (int r = 1; r < s->nranks; r++)
        if (!s->lost.dead[r] && (s->running[r] >= 0 || s->running[r] == -2) && now - s->heard[r] > s->o->worker_timeout)
            return r;
    return 0;
}

// A silent worker is lost: its job is journalled as a failed attempt (retried by the rerun), no rank
// gets a new job, and the ranks still answering finish theirs before the run ends (mpi/lost.h).
void sched_lose_rank(Sched *s, int r) {
    const char *host = s->rank_host[r];
    double silent = now_seconds() - s->heard[r];
    if (lost_mark(&s->lost, r, (const char (*)[64])s->rank_host))
        fprintf(stderr, "sweep: rank %d on host %s has not answered for %.0f s (no result, no heartbeat): its job "
                "is recorded as lost; no new jobs; running jobs elsewhere finish, then the run ends; rerun to "
                "resume\n", r, host[0] ? host : "?", silent);
    if (s->abort_sent[r]) { s->abort_sent[r] = 0; s->aborts_pending--; }
    if (s->running[r] >= 0) {
        JobResult lr;
        int j = s->running[r];
        lost_result(&lr, j, s->plan->jobs[j].id, r, host, silent);
        sched_take_result(s, &lr, r);
    }
    s->running[r] = -3;   // neither idle nor running: never counted again
    s->state_dirty = 1;
}

int sched_any_running(const Sched *s) {
    for (int r = 0; r < s->nranks; r++) if (s->running[r] >= 0) return 1;
    return 0;
}

void sched_begin_stop(Sched *s) {
    s->stopping = 1;
    s->stop_deadline = now_seconds() + s->o->grace;
    if (!s->o->quiet)
        fprintf(stderr, "\nsweep: signal %d: no new jobs; running ones get %g s to finish\n", (int)stop_requested,
                s->o->grace);
}

void sched_abort_running(Sched *s) {
    for (int rank = 1; rank < s->nranks; rank++)
        if (s->running[rank] >= 0) {
            MPI_Send(NULL, 0, MPI_BYTE, rank, TAG_ABORT, MPI_COMM_WORLD);
            s->abort_sent[rank] = 1;
            s->aborts_pending++;
        }
    if (s->local.job >= 0) {
        s->attempt[s->local.job]--;
        runner_abort(&s->local);
        s->running[0] = -1;
        s->prog.running--;
    }
}
