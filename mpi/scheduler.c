// Rank 0's main loop: set up (sched_setup.c), write the first results file, then turn by turn take
// results in (sched_take.c), hand jobs out (sched_dispatch.c), judge silent workers and stop signals
// (sched_stop.c), keep the files current (sched_output.c) and sleep (sched_wait.c); at the end the
// final file and the closing lines. The state it keeps is mpi/sched.h's Sched.
#include "mpi/scheduler.h"
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "engine/util.h"
#include "mpi/sched.h"
#include "mpi/signals.h"
#include "mpi/wire.h"

int scheduler_loop(JobContext *ctx, const RunOptions *o, const char *output, int *worker_lost) {
    const Plan *p = ctx->plan;
    Sched s;
    memset(&s, 0, sizeof s);
    s.plan = p; s.ctx = ctx; s.o = o; s.output = output;
    MPI_Comm_size(MPI_COMM_WORLD, &s.nranks);
    cpuphase_start(&s.cpu, CPU_SETUP);
    double entered = now_seconds();
    *worker_lost = 0;
    if (sched_setup(&s) != RUN_OK) return RUN_BAD_INPUT;
    int failed_earlier = s.prog.failed_earlier;
    sched_write_results(&s, CPU_H5_START);
    sched_write_state(&s, -1);

    double cpu0 = cpu_seconds(), wall0 = now_seconds();
    for (int r = 0; r < s.nranks; r++) s.heard[r] = wall0;
    Backoff b;
    backoff_init(&b);
    int runner_looked = 0;   // the last wait was a poll on the runner's socket and nothing came
    for (;;) {
        s.wakeups++;
        cpuphase_to(&s.cpu, CPU_LOOP);
        if (stop_requested && !s.stopping) sched_begin_stop(&s);
        if (s.stopping && s.stop_deadline && (now_seconds() > s.stop_deadline || stop_signals > 1)) {
            if (sched_any_running(&s)) {
                if (!o->quiet)
                    fprintf(stderr, "sweep: %s: abandoning the running jobs\n",
                            stop_signals > 1 ? "second signal" : "grace period over");
                sched_abort_running(&s);
            }
            s.stop_deadline = 0;
        }
        int active = 0;
        while (sched_poll_workers(&s)) active = 1;
        active |= sched_poll_local(&s, !runner_looked);
        runner_looked = 0;
        // What arrived while sched_dispatch() was sending (a send to a far node can take seconds) is read
        // before anyone is judged silent; when it sent nothing, the look above was just made.
        if (sched_dispatch(&s))
            while (sched_poll_workers(&s)) active = 1;
        for (int r; (r = sched_silent_worker(&s));) sched_lose_rank(&s, r);
        if (!sched_any_running(&s) && !s.aborts_pending && (s.stopping || s.lost.n_dead || (s.qi >= s.qn && !sched_release_held(&s)))) {
            int waiting = 0;   // a worker's first READY is received before STOP, so no message is left over
            for (int r = 1; r < s.nranks; r++) waiting |= s.running[r] == -2;
            if (!waiting) break;
        }
        if (!o->dry_jobs && now_seconds() - s.last_flush > fmax(o->flush_every, FLUSH_SHARE * s.flush_cost))
            sched_write_results(&s, CPU_H5_FLUSH);
        if (s.state_dirty && now_seconds() - s.last_state >= 1.0) sched_write_state(&s, -1);
        if (!o->dry_jobs && now_seconds() - s.last_sync >= SYNC_EVERY) sched_sync_journal(&s);
        progress_tick(&s.prog, 0);
        // After a message (and the dispatch it allowed) the next one is a job away: straight to the cap.
        if (active) sched_backoff(&b, sched_wait_cap_ns(&s));
        else {
            long ns = backoff_next(&b), least = sched_expected_wait_ns(&s, b.cap_ns);
            if (ns < least) ns = least;
            JobResult r;   // sleeping in poll() on the runner's socket doubles as the wait
            if (s.local.job >= 0) {
                unsigned char *payload;
                size_t len;
                if (runner_poll(&s.local, ctx, ns, &r, &payload, &len)) {
                    sched_take_received(&s, &r, 0, payload, len);
                    job_result_free(&r);
                    free(payload);
                    sched_backoff(&b, sched_wait_cap_ns(&s));
                } else runner_looked = 1;
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
    sched_write_results(&s, CPU_H5_END);
    // abandoned jobs count as work left, and so do the jobs of a lost worker
    int interrupted = lost || (s.stopping && (s.qi < s.qn || s.prog.done < s.prog.total));
    // The status describes the file: failures journalled by an earlier run still count.
    int status = interrupted ? RUN_INTERRUPTED : s.prog.failed || failed_earlier ? RUN_JOBS_FAILED : RUN_OK;
    sched_write_state(&s, status);   // kept for the wrapper: mpirun reports its own status when it sees a node lost first
    progress_tick(&s.prog, 1);
    progress_summary(&s.prog, wall, cpu, interrupted);
    if (!o->quiet && !o->dry_jobs)   // per-result costs that must not grow with the file (tests/mpi/test_rank0.py)
        fprintf(stderr, "sweep: rank 0: %ld results, %.3f ms CPU each; %ld forks, %ld journal syncs, %ld rebuilds of "
                "the results file and %ld in-place updates writing %ld cells and %ld job rows (%.2f s CPU), %ld wakeups\n",
                s.results, s.results ? 1e3 * cpu / s.results : 0.0, s.local.forks, s.journal.syncs, s.rebuilds,
                s.h5w.updates, s.h5w.cells, s.h5w.rows, s.rebuild_cpu, s.wakeups);
    if (!o->quiet && !o->dry_jobs) {   // CPU time, so it means something on a loaded machine too
        char line[1024];
        double sum, wall_all = now_seconds() - entered;
        cpuphase_to(&s.cpu, CPU_LOOP);
        cpuphase_format(&s.cpu, line, sizeof line, &sum);
        fprintf(stderr, "sweep: rank 0 CPU: %.3f s from the start to the end of the run (%.2f%% of its %.1f s wall): %s\n",
                sum, wall_all > 0 ? 100.0 * sum / wall_all : 0.0, wall_all, line);
    }
    if (!o->dry_jobs) journal_close(&s.journal);
    sched_free(&s);
    return status;
}
