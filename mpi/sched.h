// Rank 0's scheduler, inside: the state scheduler_loop (mpi/scheduler.c) keeps, and the files that act on it,
// one purpose each: sched_setup.c (the state from the plan and the journal), sched_dispatch.c (handing out jobs),
// sched_take.c (results coming in), sched_output.c (journal syncs, the results file, OUTPUT.state),
// sched_wait.c (sleeping), sched_stop.c (signals, lost workers).
#pragma once
#include "mpi/backoff.h"
#include "mpi/cpuphase.h"
#include "mpi/job_exec.h"
#include "mpi/lost.h"
#include "mpi/progress.h"
#include "mpi/run.h"
#include "mpi/runner.h"
#include "results/h5write.h"
#include "results/journal.h"

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
    double job_spread;           // seconds, a moving average of |a finished job - typical_job|
    double *since;               // [nranks]: wall-clock start of the rank's job (for sweep status)
    char (*rank_host)[64];       // [nranks]: host of each rank, from its first READY, else its results ("" unknown)
    int state_dirty;             // the running set changed since OUTPUT.state was written
    double last_state, started_wall;
    double *heard;               // [nranks]: when rank 0 last heard from that rank (or handed it a job)
    Lost lost;                   // workers lost mid-run and the ranks of their hosts (mpi/lost.h)
    double last_sync;            // when the journal was last fsynced
    long results, rebuilds;      // for the closing accounting line: results taken, results file rebuilds
    long wakeups;                // turns of the main loop
    double rebuild_cpu;          // CPU seconds the rebuilds and in-place updates of the file took
    unsigned char *held;         // per job: a combination waiting for its inputs (mpi/job_combo.h)
    int n_held;
    long held_seen;              // s->results at the last look at the held jobs (-1: never looked)
    unsigned char *h5_dirty;     // [n_jobs]: journalled since the results file was last written
    int *h5_list, h5_n;          // those jobs, in the order they were journalled
    unsigned char *h5_cells;     // [n_jobs]: the results file holds cells of the job's record
    int h5_current;              // the file was rebuilt this run and every update since went in
    H5Written h5w;               // what the in-place updates wrote (results/h5write.h)
    CpuPhases cpu;               // where rank 0's CPU went (mpi/cpuphase.h), printed at the end
} Sched;

// Writes of the results file are spaced so they take at most 1/FLUSH_SHARE of rank 0's wall time,
// whatever --flush-every says (an update costs what the results since the last one wrote; a rebuild,
// when one is needed mid-run, the whole file).
#define FLUSH_SHARE 100

// Records are written as they arrive and fsynced together at most once a second (results/journal.h:
// a host crash may lose the last second's results, which resume reruns).
#define SYNC_EVERY 1.0

// sched_setup.c
int sched_setup(Sched *s);
void sched_free(Sched *s);
// sched_output.c
void sched_sync_journal(Sched *s);
void sched_write_results(Sched *s, int phase);
// The run state file (results/runstate.h): end_status -1 while the run goes on, its exit status at the end
void sched_write_state(Sched *s, int end_status);
// job j was journalled: the next write of the results file takes it
void sched_mark_written(Sched *s, int j);
// sched_take.c
void sched_take_result(Sched *s, JobResult *r, int rank);
// sched_take_result of a result decoded from payload[len], which is journalled as it came (payload NULL: encoded)
void sched_take_received(Sched *s, JobResult *r, int rank, const unsigned char *payload, size_t len);
int sched_poll_workers(Sched *s);
// rank 0's own job: its --job-timeout, and its result unless look is 0 (the wait just looked)
int sched_poll_local(Sched *s, int look);
// sched_dispatch.c
int sched_release_held(Sched *s);
// Hands out what it can; returns the number of jobs sent to workers over MPI.
int sched_dispatch(Sched *s);
// sched_wait.c
long sched_wait_cap_ns(const Sched *s);
long sched_expected_wait_ns(const Sched *s, long cap);
void sched_backoff(Backoff *b, long cap);
// sched_stop.c
int sched_silent_worker(const Sched *s);
void sched_lose_rank(Sched *s, int r);
int sched_any_running(const Sched *s);
void sched_begin_stop(Sched *s);
void sched_abort_running(Sched *s);
