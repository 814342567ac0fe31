// How long rank 0 sleeps between looks at its workers and its runner.
#include "mpi/sched.h"
#include <math.h>
#include "results/runstate.h"

// How long rank 0 may sleep between looks once idle: 0.5% of a typical job, within 1..20 ms. A
// result then waits at most that long, and jobs of a minute cost 50 wakeups a second, not 1000.
long sched_wait_cap_ns(const Sched *s) {
    if (s->typical_job <= 0) return BACKOFF_CAP_DEFAULT;
    double ns = s->typical_job * 0.005 * 1e9;
    return ns < 1e6 ? 1000000L : ns > 2e7 ? 20000000L : (long)ns;
}

// While every worker runs a job, the next message is most likely a result near the end of a typical
// job (heartbeats are seconds apart): rank 0 sleeps through the start of the earliest one, in waits of
// at most 10 caps, instead of polling at the cap all along (a wakeup costs 5-60 us: at a 1 ms cap that
// alone was 1-4% of a core on tiny jobs). The stretch slept through is the typical job less three
// times the jobs' spread around it, between 70% (jobs of unlike lengths) and 95% (alike ones): polling
// at the cap covers only the window in which results come. A job shorter than that waits at most 10 caps.
long sched_expected_wait_ns(const Sched *s, long cap) {
    if (s->typical_job <= 0 || s->stopping || s->nranks < 2) return 0;
    double lead = fmin(0.95, fmax(0.7, 1.0 - 3.0 * s->job_spread / s->typical_job)) * s->typical_job;
    double first = INFINITY;
    for (int r = 1; r < s->nranks; r++) {
        if (s->running[r] < 0) return 0;   // idle or starting: a READY may come at any time
        first = fmin(first, s->since[r] + lead);
    }
    double ns = (first - runstate_now()) * 1e9;
    return ns <= 0 ? 0 : ns > 10.0 * cap ? 10 * cap : (long)ns;
}

void sched_backoff(Backoff *b, long cap) {
    backoff_reset(b);
    b->cap_ns = cap;
    b->ns = cap > 1000000 ? cap : 1000000;
    b->idle_at_1ms = 20;
}
