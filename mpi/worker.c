#include "mpi/worker.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/util.h"
#include "mpi/backoff.h"
#include "mpi/child.h"
#include "mpi/wire.h"
#include "results/journal.h"

void dry_result(const JobContext *ctx, int j, JobResult *r) {
    memset(r, 0, sizeof *r);
    r->job = j;
    memcpy(r->id, ctx->plan->jobs[j].id, sizeof r->id);
    r->status = JOB_OK;
}

static void send_result(const JobResult *r) {
    unsigned char *buf; size_t len;
    if (result_encode(r, &buf, &len)) { fprintf(stderr, "sweep: out of memory encoding a result\n"); exit(3); }
    wire_send(buf, len, 0, TAG_RESULT, MPI_COMM_WORLD, WIRE_PIECE);
    free(buf);
}

// Runs job j in a child while watching for an abort from rank 0 and for the job's timeout.
static void run_one(JobContext *ctx, const RunOptions *o, int j, int attempt, int rank, const JobResult *prev) {
    JobResult r;
    Child c;
    if (child_start(&c, ctx, j, prev)) {
        dry_result(ctx, j, &r);
        r.status = JOB_ERROR;
        snprintf(r.message, sizeof r.message, "cannot start the job's process");
    } else {
        // The heartbeat tells rank 0 this rank is alive while a long job runs (--worker-timeout).
        double beat = o->worker_timeout / 4, last_beat = now_seconds();
        for (;;) {
            if (child_poll(&c, ctx, 50000000, &r)) break;   // 20 looks a second for an abort
            if (beat > 0 && now_seconds() - last_beat >= beat) {
                MPI_Send(NULL, 0, MPI_BYTE, 0, TAG_HEARTBEAT, MPI_COMM_WORLD);
                last_beat = now_seconds();
            }
            int flag;
            MPI_Iprobe(0, TAG_ABORT, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
            if (flag) {
                MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_ABORT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                child_kill(&c);
                MPI_Send(NULL, 0, MPI_BYTE, 0, TAG_READY, MPI_COMM_WORLD);
                return;
            }
            if (o->job_timeout > 0 && now_seconds() - c.started > o->job_timeout) {
                child_kill(&c);
                dry_result(ctx, j, &r);
                r.status = JOB_TIMEOUT;
                snprintf(r.message, sizeof r.message, "killed after the job timeout of %.0f s", o->job_timeout);
                r.seconds = o->job_timeout;
                break;
            }
        }
    }
    r.attempts = attempt;
    r.rank = rank;
    gethostname(r.host, sizeof r.host - 1);
    send_result(&r);
    job_result_free(&r);
}

int worker_loop(JobContext *ctx, const RunOptions *o) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    MPI_Send(host, (int)strlen(host), MPI_BYTE, 0, TAG_READY, MPI_COMM_WORLD);   // rank 0 names it if it goes silent
    Backoff b;
    backoff_init(&b);
    for (;;) {
        MPI_Status st;
        int flag;
        MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
        if (!flag) { backoff_wait(&b); continue; }
        backoff_reset(&b);
        if (st.MPI_TAG == TAG_STOP) {
            MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_STOP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            return 0;
        }
        if (st.MPI_TAG == TAG_ABORT) {   // arrived after the job had already ended: nothing to kill
            MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_ABORT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            continue;
        }
        int msg[3];
        MPI_Recv(msg, 3, MPI_INT, 0, TAG_JOB, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        JobResult prev;
        int have_prev = 0;
        if (msg[2]) {   // sent right after the job: already here or on its way
            size_t len;
            MPI_Probe(0, TAG_PREV, MPI_COMM_WORLD, &st);
            unsigned char *buf = wire_recv(&st, MPI_COMM_WORLD, &len, WIRE_PIECE);
            char err[256];
            have_prev = result_decode(buf, len, &prev, err, sizeof err) == 0;
            free(buf);
        }
        if (o->dry_jobs) {
            JobResult r;
            dry_result(ctx, msg[0], &r);
            r.attempts = msg[1];
            r.rank = rank;
            send_result(&r);
        } else {
            run_one(ctx, o, msg[0], msg[1], rank, have_prev ? &prev : NULL);   // unreadable: run it all again
        }
        if (have_prev) job_result_free(&prev);
    }
}
