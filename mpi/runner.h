// Rank 0's own job slot, run through a helper process (the runner) forked once, before the journal is
// read: the runner forks a child per job (mpi/child.h) as every worker rank does, so rank 0 itself never
// forks per result. A fork costs in proportion to the forking process's memory (page tables, then
// copy-on-write faults on every page it writes while the child lives); rank 0's memory grows with the
// journal and the results file's buffers, the runner's does not.
//
// Rank 0 and the runner talk over a socket pair in frames: i32 kind, i32 job, u64 length, payload.
//   rank 0 -> runner: RUNNER_JOB (payload: the job's earlier encoded result, or none), RUNNER_ABORT
//   runner -> rank 0: RUNNER_RESULT (payload: the encoded JobResult, crashes included), RUNNER_ABORTED
// The runner ignores the stop signals (rank 0 decides what they mean), dies with rank 0
// (PR_SET_DEATHSIG), and leaves when its socket closes.
#pragma once
#include <sys/types.h>
#include "mpi/job_exec.h"

enum { RUNNER_JOB = 1, RUNNER_ABORT = 2, RUNNER_RESULT = 3, RUNNER_ABORTED = 4 };

typedef struct {
    pid_t pid;              // the runner process, 0 when there is none
    int fd;                 // rank 0's end of the socket pair
    int job;                // the job it runs, -1 when idle
    double started;         // when that job was handed over (rank 0's clock, for --job-timeout)
    unsigned char *buf;     // the frame as it arrives
    size_t len, cap;
    long forks;             // processes rank 0 forked for its slot (runners): 1 unless one died
} Runner;

// Forks the runner. 0 ok, -1 (errno).
int runner_start(Runner *rn, JobContext *ctx);
// Hands job j to the runner (prev: evaluate only its missing texts), starting a runner if the last
// one died. 0 ok, -1 when there is no runner to run it.
int runner_run(Runner *rn, JobContext *ctx, int j, const JobResult *prev);
// Waits up to timeout_ns for the running job. Returns 1 when it has ended, with r filled (a crash, or
// the runner's own death, becomes a JOB_CRASHED result), else 0. *payload (when payload is not NULL):
// the encoded result r was decoded from (malloc'd, *len bytes), NULL when r was made here.
int runner_poll(Runner *rn, const JobContext *ctx, long timeout_ns, JobResult *r, unsigned char **payload,
                size_t *len);
// Kills the running job and waits until the runner confirms it (a result that raced it is dropped).
void runner_abort(Runner *rn);
// Closes the socket and reaps the runner.
void runner_stop(Runner *rn);
