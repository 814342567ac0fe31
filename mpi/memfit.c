#include "mpi/memfit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t memfit_node_used(const MemFit *f, int node, const int *running) {
    size_t used = f->node_fixed[node];
    for (int r = 0; r < f->nranks; r++)
        if (f->node_of[r] == node && running[r] >= 0) used += f->job[running[r]];
    return used;
}

int memfit_pick(const MemFit *f, int rank, const int *running, const int *cand, int n) {
    size_t used = memfit_node_used(f, f->node_of[rank], running);
    if (used >= f->limit) return -1;
    for (int k = 0; k < n; k++)
        if (f->job[cand[k]] <= f->limit - used) return k;
    return -1;
}

// memory.max of this process's cgroup (v2: the "0::/path" line of /proc/self/cgroup); 0 when unlimited or unknown.
static size_t cgroup_limit(char *path, size_t pathlen) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return 0;
    char line[1024], rel[900] = "";
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "0::", 3)) { snprintf(rel, sizeof rel, "%s", line + 3); rel[strcspn(rel, "\n")] = 0; }
    fclose(f);
    size_t best = 0;
    // the limit may sit on an ancestor: the smallest on the way up counts
    for (;;) {
        snprintf(path, pathlen, "/sys/fs/cgroup%s%smemory.max", rel, rel[0] && rel[strlen(rel) - 1] == '/' ? "" : "/");
        FILE *m = fopen(path, "r");
        if (m) {
            char v[64] = "";
            if (fgets(v, sizeof v, m) && strncmp(v, "max", 3)) {
                size_t b = strtoull(v, NULL, 10);
                if (b && (!best || b < best)) best = b;
            }
            fclose(m);
        }
        char *slash = strrchr(rel, '/');
        if (!slash || !rel[0] || !strcmp(rel, "/")) break;
        *slash = 0;
    }
    return best;
}

int memfit_default_limit(size_t *bytes, char *from, size_t fromlen) {
    const char *s = getenv("SLURM_MEM_PER_NODE");
    char *end;
    if (s && *s) {
        unsigned long long mb = strtoull(s, &end, 10);
        if (end != s && mb > 0) {
            *bytes = (size_t)mb << 20;
            snprintf(from, fromlen, "SLURM_MEM_PER_NODE=%s MB", s);
            return 0;
        }
    }
    char path[1100];
    size_t cg = cgroup_limit(path, sizeof path);
    size_t total = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "MemTotal:", 9)) total = (size_t)strtoull(line + 9, NULL, 10) << 10;
        fclose(f);
    }
    if (cg && (!total || cg < total)) {
        *bytes = cg;
        snprintf(from, fromlen, "the cgroup limit");
        return 0;
    }
    if (!total) return -1;
    size_t margin = total / 10 > ((size_t)512 << 20) ? total / 10 : (size_t)512 << 20;
    *bytes = total > 2 * margin ? total - margin : total / 2;
    snprintf(from, fromlen, "MemTotal less 10%%");
    return 0;
}
