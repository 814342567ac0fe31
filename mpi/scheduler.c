#include "mpi/scheduler.h"
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/util.h"
#include "mpi/backoff.h"
#include "mpi/child.h"
#include "mpi/job_combo.h"
#include "mpi/cpuphase.h"
#include "mpi/lost.h"
#include "mpi/progress.h"
#include "mpi/runner.h"
#include "mpi/signals.h"
#include "mpi/wire.h"
#include "mpi/worker.h"
#include "results/h5write.h"
#include "results/journal.h"
#include "results/runstate.h"

typedef struct {
    const Plan *plan;
    JobContext *ctx;
    const RunOptions *o;
    const char *output;
    Journal journal;
    int nranks;
    int *queue, qn, qi;          // jobs still to hand out, in order
    int *attempt;                // attempts made so far, per job
    unsigned char *more;         // per job: done before, only new eval texts are missing
    int *running;                // [nranks]: job on that rank, -1 idle, -2 not yet ready
    Runner local;                // rank 0's own job, through a process forked once (mpi/runner.h)
    Progress prog;
    double last_flush;
    double flush_cost;           // seconds the last rebuild of the results file took
    int stopping;
    double stop_deadline;
    int aborts_pending;
    int *abort_sent;             // [nranks]: an abort is on its way to that rank
    char (*base_hash)[17];
    char (*tok_hash)[17];        // [bases]: the tokenizer file's bytes, "" when the base carries it
    char (*eval_hash)[17];       // [eval texts]: the text's bytes, for sweep merge's check
    double typical_job;          // seconds, a moving average of finished jobs (0: none yet)
    double *since;               // [nranks]: wall-clock start of the rank's job (for sweep status)
    char (*rank_host)[64];       // [nranks]: host of each rank, from its first READY, else its results ("" unknown)
    int state_dirty;             // the running set changed since OUTPUT.state was written
    double last_state, started_wall;
    double *heard;               // [nranks]: when rank 0 last heard from that rank (or handed it a job)
    Lost lost;                   // workers lost mid-run and the ranks of their hosts (mpi/lost.h)
    double last_sync;            // when the journal was last fsynced
    long results, rebuilds;      // for the closing accounting line: results taken, results file rebuilds
    long wakeups;                // turns of the main loop
    double rebuild_cpu;          // CPU seconds those rebuilds took
    unsigned char *held;         // per job: a combination waiting for its inputs (mpi/job_combo.h)
    int n_held;
    long held_seen;              // s->results at the last look at the held jobs (-1: never looked)
    CpuPhases cpu;               // where rank 0's CPU went (mpi/cpuphase.h), printed at the end
} Sched;

// OUTPUT.state for `sweep status` (results/runstate.h): what the journal cannot say, i.e. what is running.
static void write_state(Sched *s, int finished) {
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
    st.finished = finished;
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

// How long rank 0 may sleep between looks once idle: 0.5% of a typical job, within 1..20 ms. A
// result then waits at most that long, and jobs of a minute cost 50 wakeups a second, not 1000.
static long wait_cap_ns(const Sched *s) {
    if (s->typical_job <= 0) return BACKOFF_CAP_DEFAULT;
    double ns = s->typical_job * 0.005 * 1e9;
    return ns < 1e6 ? 1000000L : ns > 2e7 ? 20000000L : (long)ns;
}

// While every worker runs a job, the next message is most likely a result near the end of a typical
// job (heartbeats are seconds apart): rank 0 sleeps through the first 70% of the earliest one, in waits
// of at most 10 caps, instead of polling at the cap all along (a wakeup costs 5-60 us: at a 1 ms cap
// that alone was 1-4% of a core on tiny jobs). A job much shorter than typical waits at most 10 caps.
static long expected_wait_ns(const Sched *s, long cap) {
    if (s->typical_job <= 0 || s->stopping || s->nranks < 2) return 0;
    double first = INFINITY;
    for (int r = 1; r < s->nranks; r++) {
        if (s->running[r] < 0) return 0;   // idle or starting: a READY may come at any time
        first = fmin(first, s->since[r] + 0.7 * s->typical_job);
    }
    double ns = (first - runstate_now()) * 1e9;
    return ns <= 0 ? 0 : ns > 10.0 * cap ? 10 * cap : (long)ns;
}

static void rank0_backoff(Backoff *b, long cap) {
    backoff_reset(b);
    b->cap_ns = cap;
    b->ns = cap > 1000000 ? cap : 1000000;
    b->idle_at_1ms = 20;
}

// A rebuild rewrites the whole file (O(cells), 49 MB at 1,000 users x 1,000 texts): between the final
// ones, rebuilds are spaced so they take at most 1/FLUSH_SHARE of rank 0's wall time, whatever --flush-every says.
#define FLUSH_SHARE 100

// Records are written as they arrive and fsynced together at most once a second (results/journal.h:
// a host crash may lose the last second's results, which resume reruns).
#define SYNC_EVERY 1.0

static void sync_journal(Sched *s) {
    char err[512];
    int was = cpuphase_to(&s->cpu, CPU_SYNC);
    if (journal_sync(&s->journal, err, sizeof err)) {
        fprintf(stderr, "sweep: %s\n", err);
        exit(3);   // records that may not be on disk must not count as done
    }
    s->last_sync = now_seconds();
    cpuphase_to(&s->cpu, was);
}

// phase: CPU_H5_START, CPU_H5_FLUSH or CPU_H5_END, for the accounting
static void write_results(Sched *s, int phase) {
    if (s->o->dry_jobs) return;
    int was = cpuphase_to(&s->cpu, phase);
    double t0 = now_seconds(), c0 = cpu_seconds();
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
    sync_journal(s);   // the file never holds a result the journal could still lose
    if (h5_write_results(s->output, p, (const JobResult *const *)by_job, &info, err, sizeof err))
        fprintf(stderr, "sweep: %s\n", err);
    free(hashes);
    free(by_job);
    s->last_flush = now_seconds();
    s->flush_cost = s->last_flush - t0;
    s->rebuilds++;
    s->rebuild_cpu += cpu_seconds() - c0;
    cpuphase_to(&s->cpu, was);
}

// FNV-1a 64 of a file's bytes as 16 hex digits; "" when it cannot be read.
static void file_hash(const char *path, char out[17]) {
    size_t len;
    char *buf = path && path[0] ? read_whole_file(path, &len) : NULL;
    out[0] = 0;
    if (!buf) return;
    snprintf(out, 17, "%016llx", (unsigned long long)fnv1a64(buf, len, FNV1A64_INIT));
    free(buf);
}

// A result came back (from a worker or the local child): journal it, then count it or retry it.
static void journal_result(Sched *s, JobResult *r, int rank) {
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
    s->typical_job = s->typical_job > 0 ? 0.8 * s->typical_job + 0.2 * r->seconds : r->seconds;
    r->attempts = s->attempt[j];
    if (rank == 0) { r->rank = 0; gethostname(r->host, sizeof r->host - 1); }
    progress_job_done(&s->prog, r, rank, s->plan->jobs[j].est_flops);
    if (s->o->dry_jobs) { s->prog.done++; return; }
    char err[512];
    s->results++;
    if (journal_write(&s->journal, r, 0, err, sizeof err)) {
        fprintf(stderr, "sweep: %s\n", err);
        exit(3);   // a result that cannot be journalled must not count as done
    }
    if (r->status == JOB_OK || journal_job_finished(r, s->plan, &s->plan->jobs[j])) {
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

static void take_result(Sched *s, JobResult *r, int rank) {
    int was = cpuphase_to(&s->cpu, CPU_JOURNAL);
    journal_result(s, r, rank);
    cpuphase_to(&s->cpu, was);
}

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
static int release_held(Sched *s) {
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

static void dispatch(Sched *s) {
    release_held(s);
    for (int rank = 1; rank < s->nranks; rank++) {
        if (s->running[rank] != -1 || !lost_usable(&s->lost, rank)) continue;
        int j = next_job(s, rank);
        if (j < 0 && (s->stopping || s->lost.n_dead || s->qi >= s->qn)) return;
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
        cpuphase_to(&s->cpu, was);
    }
    // Dry jobs measure the hand-out to workers: rank 0 keeps its own slot only when it is alone.
    if (s->running[0] == -1 && !(s->o->dry_jobs && s->nranks > 1)) {
        int j = next_job(s, 0);
        if (j < 0) return;
        int was = cpuphase_to(&s->cpu, CPU_DISPATCH);
        s->running[0] = j;
        s->since[0] = runstate_now();
        s->state_dirty = 1;
        s->prog.running++;
        if (s->o->dry_jobs) {
            JobResult r;
            dry_result(s->ctx, j, &r);
            take_result(s, &r, 0);
        } else {
            JobResult tmp = { 0 };
            int failed = runner_run(&s->local, s->ctx, j, prev_of(s, j, &tmp));
            job_result_free(&tmp);
            if (!failed) return;
            JobResult r;
            dry_result(s->ctx, j, &r);
            r.status = JOB_ERROR;
            snprintf(r.message, sizeof r.message, "cannot start the job's process");
            take_result(s, &r, 0);
        }
        cpuphase_to(&s->cpu, was);
    }
}

// One message from a worker, if any is waiting; returns 1 if one was handled.
static int poll_workers(Sched *s) {
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
        take_result(s, &r, rank);
        job_result_free(&r);
    }
    free(buf);
    return 1;
}

static int poll_local(Sched *s) {
    if (s->local.job < 0) return 0;
    JobResult r;
    if (s->o->job_timeout > 0 && now_seconds() - s->local.started > s->o->job_timeout) {
        int j = s->local.job;
        runner_abort(&s->local);
        dry_result(s->ctx, j, &r);
        r.status = JOB_TIMEOUT;
        r.seconds = s->o->job_timeout;
        snprintf(r.message, sizeof r.message, "killed after the job timeout of %.0f s", s->o->job_timeout);
        take_result(s, &r, 0);
        return 1;
    }
    if (!runner_poll(&s->local, s->ctx, 0, &r)) return 0;
    take_result(s, &r, 0);
    job_result_free(&r);
    return 1;
}

// A worker that is starting or running a job and has sent nothing (no result, no heartbeat) for
// --worker-timeout seconds: a dead or unreachable node. Returns its rank, or 0.
static int silent_worker(const Sched *s) {
    if (s->o->worker_timeout <= 0) return 0;
    double now = now_seconds();
    for (int r = 1; r < s->nranks; r++)
        if (!s->lost.dead[r] && (s->running[r] >= 0 || s->running[r] == -2) && now - s->heard[r] > s->o->worker_timeout)
            return r;
    return 0;
}

// A silent worker is lost: its job is journalled as a failed attempt (retried by the rerun), no rank
// gets a new job, and the ranks still answering finish theirs before the run ends (mpi/lost.h).
static void lose_rank(Sched *s, int r) {
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
        take_result(s, &lr, r);
    }
    s->running[r] = -3;   // neither idle nor running: never counted again
    s->state_dirty = 1;
}

static int any_running(const Sched *s) {
    for (int r = 0; r < s->nranks; r++) if (s->running[r] >= 0) return 1;
    return 0;
}

static void begin_stop(Sched *s) {
    s->stopping = 1;
    s->stop_deadline = now_seconds() + s->o->grace;
    if (!s->o->quiet)
        fprintf(stderr, "\nsweep: signal %d: no new jobs; running ones get %g s to finish\n", (int)stop_requested,
                s->o->grace);
}

static void abort_running(Sched *s) {
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

int scheduler_loop(JobContext *ctx, const RunOptions *o, const char *output, int *worker_lost) {
    const Plan *p = ctx->plan;
    Sched s;
    memset(&s, 0, sizeof s);
    s.plan = p; s.ctx = ctx; s.o = o; s.output = output;
    MPI_Comm_size(MPI_COMM_WORLD, &s.nranks);
    cpuphase_start(&s.cpu, CPU_SETUP);
    double entered = now_seconds();
    s.queue = xcalloc(p->n_jobs * (size_t)(p->max_attempts + 1) + 1, sizeof *s.queue);
    s.attempt = xcalloc(p->n_jobs, sizeof *s.attempt);
    s.more = xcalloc(p->n_jobs, 1);
    s.running = xcalloc(s.nranks, sizeof *s.running);
    s.abort_sent = xcalloc(s.nranks, sizeof *s.abort_sent);
    s.heard = xcalloc(s.nranks, sizeof *s.heard);
    s.held = xcalloc(p->n_jobs + 1, 1);
    s.held_seen = -1;
    lost_init(&s.lost, s.nranks);
    *worker_lost = 0;
    s.running[0] = -1;   // rank 0's own slot is free; workers count once their first READY arrives
    for (int r = 1; r < s.nranks; r++) s.running[r] = -2;
    s.base_hash = xcalloc(p->axis[AX_BASE].n, sizeof *s.base_hash);
    s.since = xcalloc(s.nranks, sizeof *s.since);
    s.rank_host = xcalloc(s.nranks, sizeof *s.rank_host);
    gethostname(s.rank_host[0], sizeof s.rank_host[0] - 1);
    s.started_wall = runstate_now();
    for (int i = 0; i < p->axis[AX_BASE].n; i++) {
        uint64_t h = model_header_checksum(&ctx->bases[i]);   // covers every tensor's checksum
        snprintf(s.base_hash[i], 17, "%016llx", (unsigned long long)h);
    }
    s.tok_hash = xcalloc(p->axis[AX_BASE].n, sizeof *s.tok_hash);
    s.eval_hash = xcalloc(p->axis[AX_EVAL_TEXT].n + 1, sizeof *s.eval_hash);
    if (!o->dry_jobs) {
        for (int i = 0; i < p->axis[AX_BASE].n; i++) file_hash(p->bases[i].tokenizer, s.tok_hash[i]);
        for (int e = 0; e < p->axis[AX_EVAL_TEXT].n; e++) file_hash(p->evals[e].path, s.eval_hash[e]);
    }

    char err[512];
    int skipped = 0, failed_earlier = 0, more = 0;
    s.local.job = -1;
    // forked before the journal is read, while rank 0 is small; a failure is retried at the first job
    if (!o->dry_jobs) (void)runner_start(&s.local, ctx);
    if (!o->dry_jobs) {
        if (journal_open(&s.journal, output_journal_path(output), p, o->keep_adapter_max, err, sizeof err)) {
            fprintf(stderr, "sweep: %s\n", err);
            runner_stop(&s.local);
            // the workers are waiting for work: release them, or the final broadcast never completes
            for (int r = 1; r < s.nranks; r++) MPI_Send(NULL, 0, MPI_BYTE, r, TAG_STOP, MPI_COMM_WORLD);
            free(s.queue); free(s.attempt); free(s.more); free(s.running); free(s.abort_sent); free(s.base_hash);
            free(s.since); free(s.rank_host); free(s.tok_hash); free(s.eval_hash); free(s.heard); free(s.held);
            lost_free(&s.lost);
            return RUN_BAD_INPUT;
        }
    }
    if (o->memfit_said && !o->quiet) fprintf(stderr, "%s\n", o->memfit_said);
    int *order = xmalloc(p->n_jobs * sizeof *order);
    plan_longest_first(p, order);
    for (int k = 0; k < p->n_jobs; k++) {
        int j = order[k];
        const JobResult *prev = o->dry_jobs ? NULL : journal_find(&s.journal.c, p->jobs[j].id);
        int retry = prev && prev->status != JOB_OK && o->retry_failed;
        if (prev && !retry && journal_job_finished(prev, p, &p->jobs[j])) {
            skipped++;
            failed_earlier += prev->status != JOB_OK;
            continue;
        }
        if (prev) s.attempt[j] = prev->status == JOB_OK || retry ? 0 : prev->attempts;
        if (p->jobs[j].combo && !o->dry_jobs) { s.held[j] = 1; s.n_held++; continue; }   // until its inputs are in
        if (job_can_evaluate_more(p, j, prev)) { s.more[j] = 1; more++; }
        s.queue[s.qn++] = j;
    }
    free(order);
    progress_start(&s.prog, p, s.qn + s.n_held, skipped, more, s.nranks, o);
    s.prog.failed_earlier = failed_earlier;
    for (int k = 0; k < s.qn; k++) s.prog.flops_left += p->jobs[s.queue[k]].est_flops;
    for (int j = 0; j < p->n_jobs; j++) if (s.held[j]) s.prog.flops_left += p->jobs[j].est_flops;
    write_results(&s, CPU_H5_START);
    write_state(&s, 0);

    double cpu0 = cpu_seconds(), wall0 = now_seconds();
    for (int r = 0; r < s.nranks; r++) s.heard[r] = wall0;
    Backoff b;
    backoff_init(&b);
    for (;;) {
        s.wakeups++;
        cpuphase_to(&s.cpu, CPU_LOOP);
        if (stop_requested && !s.stopping) begin_stop(&s);
        if (s.stopping && s.stop_deadline && (now_seconds() > s.stop_deadline || stop_signals > 1)) {
            if (any_running(&s)) {
                if (!o->quiet)
                    fprintf(stderr, "sweep: %s: abandoning the running jobs\n",
                            stop_signals > 1 ? "second signal" : "grace period over");
                abort_running(&s);
            }
            s.stop_deadline = 0;
        }
        int active = 0;
        while (poll_workers(&s)) active = 1;
        active |= poll_local(&s);
        dispatch(&s);
        // What arrived while dispatch() was sending (a send to a far node can take seconds) is read
        // before anyone is judged silent.
        while (poll_workers(&s)) active = 1;
        for (int r; (r = silent_worker(&s));) lose_rank(&s, r);
        if (!any_running(&s) && !s.aborts_pending && (s.stopping || s.lost.n_dead || (s.qi >= s.qn && !release_held(&s)))) {
            int waiting = 0;   // a worker's first READY is received before STOP, so no message is left over
            for (int r = 1; r < s.nranks; r++) waiting |= s.running[r] == -2;
            if (!waiting) break;
        }
        if (!o->dry_jobs && now_seconds() - s.last_flush > fmax(o->flush_every, FLUSH_SHARE * s.flush_cost))
            write_results(&s, CPU_H5_FLUSH);
        if (s.state_dirty && now_seconds() - s.last_state >= 1.0) write_state(&s, 0);
        if (!o->dry_jobs && now_seconds() - s.last_sync >= SYNC_EVERY) sync_journal(&s);
        progress_tick(&s.prog, 0);
        // After a message (and the dispatch it allowed) the next one is a job away: straight to the cap.
        if (active) rank0_backoff(&b, wait_cap_ns(&s));
        else {
            long ns = backoff_next(&b), least = expected_wait_ns(&s, b.cap_ns);
            if (ns < least) ns = least;
            JobResult r;   // sleeping in poll() on the runner's socket doubles as the wait
            cpuphase_to(&s.cpu, CPU_WAIT);
            if (s.local.job >= 0) {
                if (runner_poll(&s.local, ctx, ns, &r)) {
                    take_result(&s, &r, 0);
                    job_result_free(&r);
                    rank0_backoff(&b, wait_cap_ns(&s));
                }
            } else if (ns) {
                struct timespec ts = { ns / 1000000000, ns % 1000000000 };
                nanosleep(&ts, NULL);
            }
        }
    }
    double wall = now_seconds() - wall0, cpu = cpu_seconds() - cpu0;
    int lost = s.lost.n_dead > 0;
    runner_stop(&s.local);
    if (lost) {
        // No message to any rank now: a lost one may never take it, and the caller ends the run with MPI_Abort.
        fprintf(stderr, "sweep: ending the run: %d rank%s lost; %d jobs were handed out, every one finished or "
                "recorded as lost; rerun to resume\n", s.lost.n_dead, s.lost.n_dead > 1 ? "s" : "", s.qi);
        runner_abort(&s.local);
        *worker_lost = 1;
    } else {
        for (int r = 1; r < s.nranks; r++) MPI_Send(NULL, 0, MPI_BYTE, r, TAG_STOP, MPI_COMM_WORLD);
    }
    cpuphase_to(&s.cpu, CPU_LOOP);
    write_results(&s, CPU_H5_END);
    write_state(&s, 1);
    progress_tick(&s.prog, 1);
    // abandoned jobs count as work left, and so do the jobs of a lost worker
    int interrupted = lost || (s.stopping && (s.qi < s.qn || s.prog.done < s.prog.total));
    progress_summary(&s.prog, wall, cpu, interrupted);
    if (!o->quiet && !o->dry_jobs)   // per-result costs that must not grow with the file (tests/mpi/test_rank0.py)
        fprintf(stderr, "sweep: rank 0: %ld results, %.3f ms CPU each; %ld forks, %ld journal syncs, %ld rebuilds of "
                "the results file (%.2f s CPU), %ld wakeups\n", s.results, s.results ? 1e3 * cpu / s.results : 0.0, s.local.forks,
                s.journal.syncs, s.rebuilds, s.rebuild_cpu, s.wakeups);
    if (!o->quiet && !o->dry_jobs) {   // CPU time, so it means something on a loaded machine too
        char line[1024];
        double sum, wall_all = now_seconds() - entered;
        cpuphase_to(&s.cpu, CPU_LOOP);
        cpuphase_format(&s.cpu, line, sizeof line, &sum);
        fprintf(stderr, "sweep: rank 0 CPU: %.3f s from the start to the end of the run (%.2f%% of its %.1f s wall): %s\n",
                sum, wall_all > 0 ? 100.0 * sum / wall_all : 0.0, wall_all, line);
    }
    if (!o->dry_jobs) journal_close(&s.journal);
    free(s.queue); free(s.attempt); free(s.more); free(s.running); free(s.abort_sent); free(s.base_hash);
    free(s.since); free(s.rank_host); free(s.tok_hash); free(s.eval_hash); free(s.heard); free(s.held);
    lost_free(&s.lost);
    if (interrupted) return RUN_INTERRUPTED;
    // The status describes the file: failures journalled by an earlier run still count.
    return s.prog.failed || failed_earlier ? RUN_JOBS_FAILED : RUN_OK;
}
