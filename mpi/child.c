#define _GNU_SOURCE   // ppoll
#include "mpi/child.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include "engine/util.h"
#include "results/journal.h"
#include "results/runstate.h"

static int write_all(int fd, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        p += w; n -= (size_t)w;
    }
    return 0;
}

int child_start(Child *c, JobContext *ctx, int j, const JobResult *prev) {
    int pfd[2];
    if (pipe(pfd)) return -1;
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) { close(pfd[0]); close(pfd[1]); return -1; }
    if (pid == 0) {
        // A job must not outlive its rank: an orphan would keep running, and keep the journal's
        // lock (inherited with rank 0's descriptor) from the rerun that resumes the sweep.
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(5);
        close(pfd[0]);
        // mpirun and Slurm signal whole process groups: the rank decides what a signal means (a
        // graceful stop lets this job finish) and kills the job itself with SIGKILL when it must.
        signal(SIGTERM, SIG_IGN);
        signal(SIGUSR1, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        JobResult r;
        if (prev) job_evaluate_more(ctx, j, prev, &r);
        else job_execute(ctx, j, &r);
        unsigned char *buf; size_t len;
        if (result_encode(&r, &buf, &len)) _exit(3);
        // _exit: the child must not run MPI's or stdio's exit handlers inherited from the parent
        _exit(write_all(pfd[1], buf, len) ? 4 : 0);
    }
    close(pfd[1]);
    memset(c, 0, sizeof *c);
    c->pid = pid;
    c->fd = pfd[0];
    c->job = j;
    c->started = now_seconds();
    c->started_wall = runstate_now();
    return 0;
}

static void crashed(JobResult *r, const JobContext *ctx, int j, const char *msg) {
    memset(r, 0, sizeof *r);
    r->job = j;
    memcpy(r->id, ctx->plan->jobs[j].id, sizeof r->id);
    r->status = JOB_CRASHED;
    snprintf(r->message, sizeof r->message, "%s", msg);
}

int child_poll(Child *c, const JobContext *ctx, long timeout_ns, JobResult *r) {
    if (!c->eof) {
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        struct timespec ts = { timeout_ns / 1000000000, timeout_ns % 1000000000 };
        int got = ppoll(&p, 1, &ts, NULL);
        if (got <= 0) return 0;
        if (c->len + 65536 > c->cap) {
            c->cap = (c->len + 65536) * 2;
            unsigned char *nb = realloc(c->buf, c->cap);
            if (!nb) { fprintf(stderr, "sweep: out of memory reading a job result\n"); exit(3); }
            c->buf = nb;
        }
        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n > 0) { c->len += (size_t)n; return 0; }
        if (n < 0 && errno == EINTR) return 0;
        c->eof = 1;
    }
    int status;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    pid_t w = wait4(c->pid, &status, 0, &ru);   // the child's own peak resident set comes with it
    double seconds = now_seconds() - c->started;
    char msg[160];
    if (w != c->pid) {
        crashed(r, ctx, c->job, "lost track of the job's process");
    } else if (WIFSIGNALED(status)) {
        snprintf(msg, sizeof msg, "crashed: killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        crashed(r, ctx, c->job, msg);
    } else if (WEXITSTATUS(status) != 0) {
        snprintf(msg, sizeof msg, "crashed: the job's process exited with status %d", WEXITSTATUS(status));
        crashed(r, ctx, c->job, msg);
    } else {
        char err[256];
        if (result_decode(c->buf, c->len, r, err, sizeof err)) {
            snprintf(msg, sizeof msg, "crashed: unreadable result (%s)", err);
            crashed(r, ctx, c->job, msg);
        }
        r->job = c->job;
    }
    r->seconds = seconds;
    r->peak_rss_bytes = w == c->pid ? (uint64_t)ru.ru_maxrss * 1024 : 0;   // ru_maxrss is in KiB
    r->started = c->started_wall;
    close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof *c);
    return 1;
}

void child_kill(Child *c) {
    if (!c->pid) return;
    kill(c->pid, SIGKILL);
    waitpid(c->pid, NULL, 0);
    close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof *c);
}
