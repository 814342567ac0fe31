#define _GNU_SOURCE   // ppoll
#include "mpi/runner.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include "engine/util.h"
#include "mpi/child.h"
#include "mpi/worker.h"
#include "results/journal.h"

typedef struct { int32_t kind, job; uint64_t len; } Frame;

static int write_all(int fd, const void *p, size_t n) {
    const unsigned char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        c += w; n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n) {
    unsigned char *c = p;
    while (n) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        c += r; n -= (size_t)r;
    }
    return 0;
}

static int send_frame(int fd, int kind, int job, const unsigned char *payload, size_t len) {
    Frame f = { kind, job, len };
    return write_all(fd, &f, sizeof f) || (len && write_all(fd, payload, len)) ? -1 : 0;
}

// Reads one frame; *payload is malloc'd (NULL when empty). -1 at end of file.
static int recv_frame(int fd, Frame *f, unsigned char **payload) {
    *payload = NULL;
    if (read_all(fd, f, sizeof *f)) return -1;
    if (!f->len) return 0;
    *payload = xmalloc(f->len);
    if (read_all(fd, *payload, f->len)) { free(*payload); *payload = NULL; return -1; }
    return 0;
}

// The runner process: one job at a time, each in its own child, until the socket closes.
static void runner_main(int fd, JobContext *ctx) {
    for (;;) {
        Frame f;
        unsigned char *pl;
        if (recv_frame(fd, &f, &pl)) _exit(0);
        if (f.kind != RUNNER_JOB) {   // an abort that crossed the job's result: nothing runs
            free(pl);
            if (send_frame(fd, RUNNER_ABORTED, f.job, NULL, 0)) _exit(0);
            continue;
        }
        JobResult prev, r;
        char err[256];
        int have_prev = pl && result_decode(pl, f.len, &prev, err, sizeof err) == 0;   // unreadable: run it all
        free(pl);
        Child c;
        int aborted = 0;
        if (child_start(&c, ctx, f.job, have_prev ? &prev : NULL)) {
            dry_result(ctx, f.job, &r);
            r.status = JOB_ERROR;
            snprintf(r.message, sizeof r.message, "cannot start the job's process");
        } else {
            for (;;) {
                struct pollfd p[2] = { { .fd = c.fd, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
                if (poll(p, 2, -1) < 0) continue;   // EINTR
                if (p[1].revents) {
                    Frame g;
                    unsigned char *gp;
                    int eof = recv_frame(fd, &g, &gp);
                    free(gp);
                    child_kill(&c);
                    if (eof) _exit(0);
                    aborted = 1;
                    if (send_frame(fd, RUNNER_ABORTED, f.job, NULL, 0)) _exit(0);
                    break;
                }
                if (p[0].revents && child_poll(&c, ctx, 0, &r)) break;
            }
        }
        if (have_prev) job_result_free(&prev);
        if (aborted) continue;
        unsigned char *buf;
        size_t len;
        if (result_encode(&r, &buf, &len)) _exit(3);
        job_result_free(&r);
        if (send_frame(fd, RUNNER_RESULT, f.job, buf, len)) _exit(0);
        free(buf);
    }
}

int runner_start(Runner *rn, JobContext *ctx) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) return -1;
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) { close(sv[0]); close(sv[1]); return -1; }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);   // never outlive rank 0 (nor let its jobs do so)
        if (getppid() != parent) _exit(5);
        prctl(PR_SET_NAME, "sweep-runner");
        close(sv[0]);
        signal(SIGTERM, SIG_IGN);
        signal(SIGUSR1, SIG_IGN);
        signal(SIGINT, SIG_IGN);
        runner_main(sv[1], ctx);
        _exit(0);
    }
    close(sv[1]);
    long forks = rn->forks;
    memset(rn, 0, sizeof *rn);
    rn->pid = pid;
    rn->fd = sv[0];
    rn->job = -1;
    rn->forks = forks + 1;
    return 0;
}

static void runner_lost(Runner *rn) {
    if (rn->pid) {
        kill(rn->pid, SIGKILL);
        waitpid(rn->pid, NULL, 0);
    }
    if (rn->pid || rn->fd > 0) close(rn->fd);
    free(rn->buf);
    long forks = rn->forks;
    memset(rn, 0, sizeof *rn);
    rn->job = -1;
    rn->forks = forks;
}

int runner_run(Runner *rn, JobContext *ctx, int j, const JobResult *prev) {
    if (!rn->pid && runner_start(rn, ctx)) return -1;
    unsigned char *buf = NULL;
    size_t len = 0;
    if (prev && result_encode(prev, &buf, &len)) { buf = NULL; len = 0; }   // inconsistent: run it all
    int rc = send_frame(rn->fd, RUNNER_JOB, j, buf, len);
    free(buf);
    if (rc) { runner_lost(rn); return -1; }
    rn->job = j;
    rn->started = now_seconds();
    return 0;
}

// A whole frame at the front of rn->buf: its kind, job and payload; consumed by the caller.
static int frame_ready(const Runner *rn, Frame *f) {
    if (rn->len < sizeof *f) return 0;
    memcpy(f, rn->buf, sizeof *f);
    return rn->len - sizeof *f >= f->len;
}

static void consume(Runner *rn, const Frame *f) {
    size_t n = sizeof *f + f->len;
    memmove(rn->buf, rn->buf + n, rn->len - n);
    rn->len -= n;
}

// Reads what is there (after waiting up to timeout_ns). 1 read something, 0 nothing, -1 the runner is gone.
static int fill(Runner *rn, long timeout_ns) {
    struct pollfd p = { .fd = rn->fd, .events = POLLIN };
    struct timespec ts = { timeout_ns / 1000000000, timeout_ns % 1000000000 };
    int got = ppoll(&p, 1, timeout_ns < 0 ? NULL : &ts, NULL);
    if (got <= 0) return 0;
    if (rn->len + 65536 > rn->cap) {
        rn->cap = (rn->len + 65536) * 2;
        unsigned char *nb = realloc(rn->buf, rn->cap);
        if (!nb) { fprintf(stderr, "sweep: out of memory reading a job result\n"); exit(3); }
        rn->buf = nb;
    }
    ssize_t n = read(rn->fd, rn->buf + rn->len, rn->cap - rn->len);
    if (n > 0) { rn->len += (size_t)n; return 1; }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
    return -1;
}

static void crashed(JobResult *r, const JobContext *ctx, int j, const char *msg) {
    dry_result(ctx, j, r);
    r->status = JOB_CRASHED;
    snprintf(r->message, sizeof r->message, "%s", msg);
}

int runner_poll(Runner *rn, const JobContext *ctx, long timeout_ns, JobResult *r, unsigned char **payload,
                size_t *len) {
    if (payload) *payload = NULL;
    if (rn->job < 0) return 0;
    for (;;) {
        Frame f;
        while (frame_ready(rn, &f)) {
            if (f.kind == RUNNER_RESULT) {
                char err[256], msg[300];
                if (result_decode(rn->buf + sizeof f, f.len, r, err, sizeof err)) {
                    snprintf(msg, sizeof msg, "crashed: unreadable result (%s)", err);
                    crashed(r, ctx, rn->job, msg);
                } else if (payload) {   // journalled as it came (results/journal.h journal_write_received)
                    *payload = xmalloc(f.len ? f.len : 1);
                    memcpy(*payload, rn->buf + sizeof f, f.len);
                    *len = f.len;
                }
                r->job = rn->job;
                consume(rn, &f);
                rn->job = -1;
                return 1;
            }
            consume(rn, &f);   // a stray RUNNER_ABORTED
        }
        int got = fill(rn, timeout_ns);
        if (got < 0) {
            double seconds = now_seconds() - rn->started;
            crashed(r, ctx, rn->job, "crashed: the process running rank 0's jobs died");
            r->seconds = seconds;
            runner_lost(rn);
            return 1;
        }
        if (got == 0) return 0;
        timeout_ns = 0;
    }
}

void runner_abort(Runner *rn) {
    if (!rn->pid || rn->job < 0) return;
    if (send_frame(rn->fd, RUNNER_ABORT, rn->job, NULL, 0)) { runner_lost(rn); return; }
    for (;;) {   // until the confirmation: a result that raced the abort is dropped
        Frame f;
        while (frame_ready(rn, &f)) {
            consume(rn, &f);
            if (f.kind == RUNNER_ABORTED) { rn->job = -1; return; }
        }
        if (fill(rn, -1) < 0) { runner_lost(rn); return; }
    }
}

void runner_stop(Runner *rn) {
    if (!rn->pid) return;
    close(rn->fd);
    waitpid(rn->pid, NULL, 0);
    free(rn->buf);
    long forks = rn->forks;
    memset(rn, 0, sizeof *rn);
    rn->job = -1;
    rn->forks = forks;
}
