// Workers lost mid-run (a node dead or unreachable: no result, no heartbeat for --worker-timeout s).
// Open MPI 4.1 cannot carry a run past a lost node (mpirun ends the whole job once a node's daemon
// is gone), so rank 0 keeps what it can before that: the lost rank's job is journalled as a failed
// attempt, no rank gets a new job, and ranks still answering finish theirs (mpirun's
// odls_base_sigkill_timeout gives them that time); then the run ends with 75 so a wrapper reruns it.
#pragma once
#include "results/result.h"

typedef struct {
    int nranks;
    unsigned char *dead;      // [nranks]: lost: never sent to again, its messages ignored
    unsigned char *drained;   // [nranks]: on the host of a lost rank: no new jobs
    int n_dead;
} Lost;

void lost_init(Lost *l, int nranks);
void lost_free(Lost *l);
// Marks rank r lost and every rank on its host (hosts[r], "" unknown) drained. Returns 1 when r is
// the first lost rank of its host (the one line to print), else 0.
int lost_mark(Lost *l, int r, const char (*hosts)[64]);
// May rank r be handed a job?
static inline int lost_usable(const Lost *l, int r) { return !l->dead[r] && !l->drained[r]; }
// The failed attempt journalled for job j, in flight on lost rank r for `silent` seconds.
void lost_result(JobResult *out, int job, const char id[17], int r, const char *host, double silent);
