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

// While every worker runs a job, the next message is most likely a result near the expected end of
// one (its start plus a typical job; heartbeats are seconds apart). Within the jobs' spread of an
// expected end (at most 30% of a typical job) rank 0 polls at the cap, as results mostly come
// there; farther out it sleeps a quarter of the time to that window, within one cap and 10 caps,
// instead of polling at the cap (a wakeup costs 5-60 us: at a 1 ms cap that alone was 1-4% of a core
// on tiny jobs). So it sleeps 10 caps through most of a job, and a job that runs over the window is
// looked at less often the later it is: a result outside the window waits at most the cap or a
// third of its distance from the window, whichever is more, and never more than 10 caps. Before,
// rank 0 polled at the cap from the window's start until the result came, however late.
long sched_expected_wait_ns(const Sched *s, long cap) {
    if (s->typical_job <= 0 || s->stopping || s->nranks < 2) return 0;
    double now = runstate_now(), nearest = INFINITY, margin = fmin(s->job_spread, 0.3 * s->typical_job);
    for (int r = 1; r < s->nranks; r++) {
        if (s->running[r] < 0) return 0;   // idle or starting: a READY may come at any time
        nearest = fmin(nearest, fabs(s->since[r] + s->typical_job - now));
    }
    double ns = fmax(0.0, nearest - margin) / 4 * 1e9;
    return ns > 10.0 * cap ? 10 * cap : (long)ns;
}

void sched_backoff(Backoff *b, long cap) {
    backoff_reset(b);
    b->cap_ns = cap;
    b->ns = cap > 1000000 ? cap : 1000000;
    b->idle_at_1ms = 20;
}
