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

// The last result sent, until rank 0 has taken it. A result over a few KB goes by rendezvous: a
// blocking send would hold the worker until rank 0's next look (a quarter of a job when the worker
// has a job queued) instead of starting the queued job at once.
typedef struct {
    unsigned char *buf;   // NULL: nothing in flight
    MPI_Request req;
} Outbox;

static void outbox_wait(Outbox *ob) {
    if (!ob->buf) return;
    MPI_Wait(&ob->req, MPI_STATUS_IGNORE);
    free(ob->buf);
    ob->buf = NULL;
}

static void outbox_poll(Outbox *ob) {
    int done = 0;
    if (ob->buf) MPI_Test(&ob->req, &done, MPI_STATUS_IGNORE);
    if (done) { free(ob->buf); ob->buf = NULL; }
}

static void send_result(const JobResult *r, Outbox *ob) {
    unsigned char *buf; size_t len;
    if (result_encode(r, &buf, &len)) { fprintf(stderr, "sweep: out of memory encoding a result\n"); exit(3); }
    outbox_wait(ob);
    if (len < WIRE_PIECE) {   // one message, as wire_recv reads it
        MPI_Isend(buf, (int)len, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD, &ob->req);
        ob->buf = buf;
        return;
    }
    wire_send(buf, len, 0, TAG_RESULT, MPI_COMM_WORLD, WIRE_PIECE);
    free(buf);
}

// A job as rank 0 hands it out: index, attempt, and the earlier record to complete it from.
typedef struct {
    int job, attempt;     // job -1: none
    int have_prev;
    JobResult prev;
} Handed;

static void handed_drop(Handed *h) {
    if (h->have_prev) job_result_free(&h->prev);
    memset(h, 0, sizeof *h);
    h->job = -1;
}

// Receives a TAG_JOB found by a probe (and the TAG_PREV sent right after it, here or on its way).
static void receive_job(Handed *h) {
    int msg[3];
    MPI_Recv(msg, 3, MPI_INT, 0, TAG_JOB, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    handed_drop(h);
    h->job = msg[0];
    h->attempt = msg[1];
    if (msg[2]) {
        size_t len;
        MPI_Status ps;
        MPI_Probe(0, TAG_PREV, MPI_COMM_WORLD, &ps);
        unsigned char *buf = wire_recv(&ps, MPI_COMM_WORLD, &len, WIRE_PIECE);
        char err[256];
        h->have_prev = result_decode(buf, len, &h->prev, err, sizeof err) == 0;   // unreadable: run it all again
        free(buf);
    }
}

// Answers a TAG_RECALL: the queued job dropped (1) or none waiting (0: it started, or none was sent).
static void answer_recall(Handed *queued) {
    MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_RECALL, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    int dropped = queued->job >= 0;
    handed_drop(queued);
    MPI_Send(&dropped, 1, MPI_INT, 0, TAG_RECALLED, MPI_COMM_WORLD);
}

// Runs job h in a child while watching for messages from rank 0 (an abort, a queued next job, a
// recall) and for the job's timeout.
static void run_one(JobContext *ctx, const RunOptions *o, const Handed *h, int rank, Handed *queued, Outbox *ob) {
    JobResult r;
    Child c;
    int j = h->job;
    if (child_start(&c, ctx, j, h->have_prev ? &h->prev : NULL)) {
        dry_result(ctx, j, &r);
        r.status = JOB_ERROR;
        snprintf(r.message, sizeof r.message, "cannot start the job's process");
    } else {
        // The heartbeat tells rank 0 this rank is alive while a long job runs (--worker-timeout).
        double beat = o->worker_timeout / 4, last_beat = now_seconds();
        for (;;) {
            // 20 looks a second for rank 0's messages; 1000 while the last result is on its way (a
            // transfer between nodes moves only while the sender is in MPI)
            outbox_poll(ob);
            if (child_poll(&c, ctx, ob->buf ? 1000000 : 50000000, &r)) break;
            if (beat > 0 && now_seconds() - last_beat >= beat) {
                MPI_Send(NULL, 0, MPI_BYTE, 0, TAG_HEARTBEAT, MPI_COMM_WORLD);
                last_beat = now_seconds();
            }
            int flag;
            MPI_Status st;
            MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);   // any tag: rank 0's order is kept
            if (flag && st.MPI_TAG == TAG_ABORT) {
                MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_ABORT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                child_kill(&c);
                handed_drop(queued);
                MPI_Send(NULL, 0, MPI_BYTE, 0, TAG_READY, MPI_COMM_WORLD);
                return;
            }
            if (flag && st.MPI_TAG == TAG_JOB) receive_job(queued);   // rank 0 sends STOP only to idle ranks
            if (flag && st.MPI_TAG == TAG_RECALL) answer_recall(queued);
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
    r.attempts = h->attempt;
    r.rank = rank;
    gethostname(r.host, sizeof r.host - 1);
    send_result(&r, ob);
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
    Handed cur, queued;
    memset(&cur, 0, sizeof cur);
    memset(&queued, 0, sizeof queued);
    cur.job = queued.job = -1;
    Outbox ob = { NULL, MPI_REQUEST_NULL };
    for (;;) {
        if (queued.job >= 0) {   // handed out while the last job ran: start it at once
            cur = queued;
            memset(&queued, 0, sizeof queued);
            queued.job = -1;
        } else {
            MPI_Status st;
            int flag;
            outbox_poll(&ob);
            MPI_Iprobe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
            if (!flag) { backoff_wait(&b); continue; }
            backoff_reset(&b);
            if (st.MPI_TAG == TAG_STOP) {   // sent once every result is in: nothing left in flight
                MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_STOP, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                outbox_wait(&ob);
                return 0;
            }
            if (st.MPI_TAG == TAG_ABORT) {   // arrived after the job had already ended: nothing to kill
                MPI_Recv(NULL, 0, MPI_BYTE, 0, TAG_ABORT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                continue;
            }
            if (st.MPI_TAG == TAG_RECALL) { answer_recall(&queued); continue; }
            receive_job(&cur);
        }
        if (o->dry_jobs) {
            JobResult r;
            dry_result(ctx, cur.job, &r);
            r.attempts = cur.attempt;
            r.rank = rank;
            send_result(&r, &ob);
        } else {
            run_one(ctx, o, &cur, rank, &queued, &ob);
        }
        handed_drop(&cur);
    }
}
