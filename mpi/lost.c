#include "mpi/lost.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"

void lost_init(Lost *l, int nranks) {
    l->nranks = nranks;
    l->dead = xcalloc(nranks, 1);
    l->drained = xcalloc(nranks, 1);
    l->n_dead = 0;
}

void lost_free(Lost *l) {
    free(l->dead);
    free(l->drained);
    l->dead = l->drained = NULL;
}

int lost_mark(Lost *l, int r, const char (*hosts)[64]) {
    if (l->dead[r]) return 0;
    int first = !l->drained[r];   // a rank of an already lost host was drained with it
    l->dead[r] = 1;
    l->drained[r] = 1;
    l->n_dead++;
    if (hosts[r][0])
        for (int k = 1; k < l->nranks; k++)
            if (!strcmp(hosts[k], hosts[r])) l->drained[k] = 1;
    return first;
}

void lost_result(JobResult *out, int job, const char id[17], int r, const char *host, double silent) {
    memset(out, 0, sizeof *out);
    out->job = job;
    memcpy(out->id, id, sizeof out->id);
    out->status = JOB_CRASHED;
    out->rank = r;
    snprintf(out->host, sizeof out->host, "%s", host);
    out->seconds = silent;
    snprintf(out->message, sizeof out->message, "lost with rank %d on host %s (no answer for %.0f s)", r,
             host[0] ? host : "?", silent);
}
