#include "results/status.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/util.h"
#include "mpi/run.h"
#include "results/journal.h"

static char *strdup_x(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static StatusHost *host_slot(SweepStatus *st, const char *host) {
    const char *h = host[0] ? host : "?";
    for (int i = 0; i < st->n_hosts; i++)
        if (!strcmp(st->hosts[i].host, h)) return &st->hosts[i];
    StatusHost *nh = xcalloc(st->n_hosts + 1, sizeof *nh);
    if (st->n_hosts) memcpy(nh, st->hosts, st->n_hosts * sizeof *nh);
    free(st->hosts);
    st->hosts = nh;
    StatusHost *x = &st->hosts[st->n_hosts++];
    snprintf(x->host, sizeof x->host, "%s", h);
    return x;
}

// Is the sweep that wrote the state still alive? Only answerable on rank 0's host; elsewhere a state
// updated in the last minutes counts as alive (rank 0 rewrites it whenever a job starts or ends).
static int state_alive(const RunState *rs) {
    if (rs->finished) return 0;
    char me[64] = "";
    gethostname(me, sizeof me - 1);
    if (!strcmp(me, rs->host)) return rs->pid > 0 && (kill((pid_t)rs->pid, 0) == 0 || errno == EPERM);
    return runstate_now() - rs->updated < 600;
}

int sweep_status_read(const char *results_path, SweepStatus *st, char *err, size_t errlen) {
    memset(st, 0, sizeof *st);
    st->eta = st->elapsed = -1;
    snprintf(st->path, sizeof st->path, "%s", results_path);
    ResultsFile rf;
    if (h5_read_results(results_path, &rf, err, errlen)) return -1;
    snprintf(st->protocol, sizeof st->protocol, "%s", rf.protocol ? rf.protocol : "");
    snprintf(st->spec_hash, sizeof st->spec_hash, "%s", rf.spec_hash ? rf.spec_hash : "");
    st->n_formats = rf.axis[AX_FORMAT].n;
    st->n_conditions = rf.axis[AX_CONDITION].n;
    st->formats = xcalloc(st->n_formats, sizeof *st->formats);
    st->conditions = xcalloc(st->n_conditions, sizeof *st->conditions);
    for (int i = 0; i < st->n_formats; i++) st->formats[i] = strdup_x(rf.axis[AX_FORMAT].labels[i]);
    for (int i = 0; i < st->n_conditions; i++) st->conditions[i] = strdup_x(rf.axis[AX_CONDITION].labels[i]);
    st->by_fc = xcalloc((size_t)st->n_formats * st->n_conditions + 1, sizeof *st->by_fc);

    JournalContents jc;
    memset(&jc, 0, sizeof jc);
    const char *jpath = output_journal_path(results_path);
    if (access(jpath, F_OK) == 0) {
        if (journal_read(jpath, &jc, err, errlen)) { results_file_free(&rf); sweep_status_free(st); return -1; }
        st->has_journal = 1;
        st->journal_torn_bytes = jc.torn_bytes;
    }
    RunState rs;
    char serr[512];
    int src = runstate_read(runstate_path(results_path), &rs, serr, sizeof serr);
    if (src < 0) {
        snprintf(err, errlen, "%s", serr);
        journal_contents_free(&jc); results_file_free(&rf); sweep_status_free(st);
        return -1;
    }
    st->has_state = src == 0;
    int alive = st->has_state && state_alive(&rs);
    st->state = !st->has_state ? (st->has_journal ? "stopped" : "not started")
              : alive ? "running" : rs.finished ? "finished" : "stopped";
    if (alive) {
        st->eta = rs.eta;
        st->elapsed = runstate_now() - rs.started;
        st->ranks = rs.ranks;
    }

    for (int j = 0; j < rf.n_jobs; j++) {
        const ResultsJob *job = &rf.jobs[j];
        const JobResult *r = st->has_journal ? journal_find(&jc, job->id) : NULL;
        int running = 0;
        const RunningJob *rj = NULL;
        for (int k = 0; alive && k < rs.n_running; k++)
            if (!strcmp(rs.running[k].id, job->id)) { running = 1; rj = &rs.running[k]; break; }
        StatusCount *c = &st->by_fc[(size_t)job->ax[AX_FORMAT] * st->n_conditions + job->ax[AX_CONDITION]];
        c->total++; st->all.total++;
        if (running) {   // a failed attempt being retried counts as running
            c->running++; st->all.running++;
            host_slot(st, rj->host)->running++;
        } else if (r && r->status == JOB_OK) {
            c->done++; st->all.done++;
            host_slot(st, r->host)->done++;
        } else if (r) {
            c->failed++; st->all.failed++;
            host_slot(st, r->host)->failed++;
        }
    }
    // The last failures: journal records are in order of each job's first appearance, so walk backwards.
    for (int i = jc.n - 1; i >= 0 && st->n_failures < STATUS_LAST_FAILURES; i--) {
        const JobResult *r = &jc.latest[i];
        if (r->status == JOB_OK) continue;
        StatusFailure *f = &st->failures[st->n_failures++];
        memcpy(f->id, r->id, 17);
        snprintf(f->status, sizeof f->status, "%s", job_status_name(r->status));
        f->attempts = r->attempts;
        snprintf(f->host, sizeof f->host, "%s", r->host);
        snprintf(f->message, sizeof f->message, "%s", r->message);
    }
    if (st->has_state) runstate_free(&rs);
    journal_contents_free(&jc);
    results_file_free(&rf);
    return 0;
}

void sweep_status_free(SweepStatus *st) {
    for (int i = 0; st->formats && i < st->n_formats; i++) free(st->formats[i]);
    for (int i = 0; st->conditions && i < st->n_conditions; i++) free(st->conditions[i]);
    free(st->formats); free(st->conditions); free(st->by_fc); free(st->hosts);
    st->formats = st->conditions = NULL; st->by_fc = NULL; st->hosts = NULL;
}
