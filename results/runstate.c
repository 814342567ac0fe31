#include "results/runstate.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "engine/util.h"

const char *runstate_path(const char *output) {
    static char path[1100];
    snprintf(path, sizeof path, "%s.state", output);
    return path;
}

double runstate_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

int runstate_write(const char *path, const RunState *st, char *err, size_t errlen) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) { snprintf(err, errlen, "%s: %s", tmp, strerror(errno)); return -1; }
    fprintf(f, "sweep-state 1\npid %ld\nhost %s\nstarted %.3f\nupdated %.3f\nranks %d\ntotal %d\ndone %d\n"
               "failed %d\neta %.0f\nfinished %d\n",
            st->pid, st->host[0] ? st->host : "?", st->started, st->updated, st->ranks, st->total, st->done,
            st->failed, st->eta, st->finished);
    if (st->finished) fprintf(f, "exit %d\n", st->exit_status);
    for (int i = 0; i < st->n_running; i++)
        fprintf(f, "running %s %d %s %.3f\n", st->running[i].id, st->running[i].rank,
                st->running[i].host[0] ? st->running[i].host : "?", st->running[i].since);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

void runstate_free(RunState *st) {
    free(st->running);
    st->running = NULL;
    st->n_running = 0;
}

int runstate_read(const char *path, RunState *st, char *err, size_t errlen) {
    memset(st, 0, sizeof *st);
    st->eta = -1;
    st->exit_status = -1;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return 1;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[512];
    int n = 0, cap = 0;
    for (int ln = 1; fgets(line, sizeof line, f); ln++) {
        char key[32], a[64], b[64], c[64], d[64];
        int k = sscanf(line, "%31s %63s %63s %63s %63s", key, a, b, c, d);
        int ok = 1;
        if (ln == 1) ok = k == 2 && !strcmp(key, "sweep-state") && !strcmp(a, "1");
        else if (k == 2 && !strcmp(key, "pid")) st->pid = atol(a);
        else if (k == 2 && !strcmp(key, "host")) snprintf(st->host, sizeof st->host, "%s", a);
        else if (k == 2 && !strcmp(key, "started")) st->started = atof(a);
        else if (k == 2 && !strcmp(key, "updated")) st->updated = atof(a);
        else if (k == 2 && !strcmp(key, "ranks")) st->ranks = atoi(a);
        else if (k == 2 && !strcmp(key, "total")) st->total = atoi(a);
        else if (k == 2 && !strcmp(key, "done")) st->done = atoi(a);
        else if (k == 2 && !strcmp(key, "failed")) st->failed = atoi(a);
        else if (k == 2 && !strcmp(key, "eta")) st->eta = atof(a);
        else if (k == 2 && !strcmp(key, "finished")) st->finished = atoi(a);
        else if (k == 2 && !strcmp(key, "exit")) st->exit_status = atoi(a);
        else if (k == 5 && !strcmp(key, "running") && strlen(a) == 16) {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                RunningJob *nr = xmalloc(cap * sizeof *nr);
                if (n) memcpy(nr, st->running, n * sizeof *nr);
                free(st->running);
                st->running = nr;
            }
            RunningJob *r = &st->running[n++];
            memset(r, 0, sizeof *r);
            memcpy(r->id, a, 17);
            r->rank = atoi(b);
            snprintf(r->host, sizeof r->host, "%s", c);
            r->since = atof(d);
        } else ok = 0;
        if (!ok) {
            snprintf(err, errlen, "%s: line %d: not a sweep state line", path, ln);
            fclose(f);
            st->n_running = n;
            runstate_free(st);
            return -1;
        }
    }
    fclose(f);
    st->n_running = n;
    return 0;
}
