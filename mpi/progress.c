#include "mpi/progress.h"
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "engine/util.h"

void progress_start(Progress *g, const Plan *p, int to_run, int skipped, int more, int nranks, const RunOptions *o) {
    memset(g, 0, sizeof *g);
    g->plan = p; g->o = o;
    g->total = to_run; g->skipped = skipped; g->nranks = nranks;
    g->tty = isatty(2);
    g->t0 = g->last = now_seconds();
    char extra[80] = "";
    if (more) snprintf(extra, sizeof extra, ", %d need only new eval texts", more);
    if (!o->quiet)
        fprintf(stderr, "sweep: %d jobs (%d already done%s), %d ranks\n", to_run + skipped, skipped, extra, nranks);
}

void progress_job_done(Progress *g, const JobResult *r, int rank, double est_flops) {
    g->busy_seconds += r->seconds;
    g->done_by_rank0 += rank == 0;
    g->tokens += r->tokens;
    g->flops_done += est_flops;
    g->flops_left -= est_flops;
}

static void hms(double s, char *out, size_t n) {
    long t = s < 0 ? 0 : (long)(s + 0.5);
    snprintf(out, n, "%02ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

void progress_tick(Progress *g, int force) {
    if (g->o->quiet) return;
    double now = now_seconds(), every = g->tty ? 0.5 : g->o->progress_every;
    if (!force && now - g->last < every) return;
    g->last = now;
    double el = now - g->t0, rate = g->flops_done > 0 ? g->flops_done / el : 0;
    char eta[16] = "--:--:--", elapsed[16];
    if (rate > 0) hms(g->flops_left / rate, eta, sizeof eta);
    hms(el, elapsed, sizeof elapsed);
    fprintf(stderr, "%ssweep: %d/%d done, %d running, %d failed | %.0f train tok/s | elapsed %s | ETA %s%s",
            g->tty ? "\r" : "", g->done, g->total, g->running, g->failed, el > 0 ? g->tokens / el : 0.0, elapsed,
            eta, g->tty ? "   " : "\n");
    if (force && g->tty) fputc('\n', stderr);
}

void progress_summary(const Progress *g, double wall, double sched_cpu, int interrupted) {
    if (g->o->quiet) return;
    if (g->o->dry_jobs) {
        int n = g->done;
        fprintf(stderr, "sweep: %s: %d of %d dry jobs in %.3f s: %.0f jobs/s (%d by workers, %d by rank 0); "
                "scheduler CPU %.1f%% of wall\n", interrupted ? "interrupted" : "finished", n, g->total, wall,
                wall > 0 ? n / wall : 0.0, n - g->done_by_rank0, g->done_by_rank0,
                wall > 0 ? 100.0 * sched_cpu / wall : 0.0);
        return;
    }
    char earlier[64] = "";
    if (g->failed_earlier) snprintf(earlier, sizeof earlier, " (and %d in earlier runs)", g->failed_earlier);
    fprintf(stderr, "sweep: %s: %d of %d jobs done, %d failed%s, in %.1f s; worker efficiency %.1f%% "
            "(job seconds / (wall x %d ranks)); scheduler CPU %.2f%% of wall\n",
            interrupted ? "interrupted" : "finished", g->done, g->total, g->failed, earlier, wall,
            wall > 0 ? 100.0 * g->busy_seconds / (wall * g->nranks) : 0.0, g->nranks,
            wall > 0 ? 100.0 * sched_cpu / wall : 0.0);
}
