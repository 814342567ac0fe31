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

void memfit_hold_init(MemHold *hold, int n_nodes) {
    for (int i = 0; i < n_nodes; i++) hold[i] = (MemHold){ .job = -1, .passed = 0 };
}

int memfit_pick(const MemFit *f, int rank, const int *running, const int *cand, int n) {
    int node = f->node_of[rank];
    size_t used = memfit_node_used(f, node, running);
    size_t room = used < f->limit ? f->limit - used : 0;
    size_t empty = f->node_fixed[node] < f->limit ? f->limit - f->node_fixed[node] : 0;
    int first = -1;   // the first job that could run on this node once its running jobs are done
    for (int k = 0; k < n && first < 0; k++)
        if (f->job[cand[k]] <= empty) first = k;
    if (first < 0) return -1;
    MemHold *h = f->hold ? &f->hold[node] : NULL;
    if (f->job[cand[first]] <= room) {
        if (h) *h = (MemHold){ .job = -1, .passed = 0 };
        return first;
    }
    if (h && h->job != cand[first]) *h = (MemHold){ .job = cand[first], .passed = 0 };
    if (h) {   // patience: one start past the waiting job per rank of the node
        int ranks = 0;
        for (int r = 0; r < f->nranks; r++) ranks += f->node_of[r] == node;
        if (h->passed >= ranks) return -1;
    }
    for (int k = first + 1; k < n; k++)
        if (f->job[cand[k]] <= room) {
            if (h) h->passed++;
            return k;
        }
    return -1;
}

// The smallest limit file on the way from dir/rel up to dir: a limit may sit on an ancestor. Values
// of 2^60 and more (cgroup v1's "unlimited") and "max" (v2's) are none; 0 when there is none.
static size_t smallest_up(const char *dir, char *rel, const char *file) {
    size_t best = 0;
    for (;;) {
        char path[1200];
        snprintf(path, sizeof path, "%s%s/%s", dir, rel, file);
        FILE *m = fopen(path, "r");
        if (m) {
            char v[64] = "";
            if (fgets(v, sizeof v, m) && strncmp(v, "max", 3)) {
                unsigned long long b = strtoull(v, NULL, 10);
                if (b && b < (1ULL << 60) && (!best || b < best)) best = (size_t)b;
            }
            fclose(m);
        }
        char *slash = strrchr(rel, '/');
        if (!slash) break;
        *slash = 0;
    }
    return best;
}

// This process's cgroup memory limit: v2 ("0::/path" in /proc/self/cgroup, memory.max) or v1
// ("N:memory:/path", memory.limit_in_bytes); 0 when unlimited or unknown.
static size_t cgroup_limit(void) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return 0;
    char line[1024];
    size_t best = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
        if (!b) continue;
        char rel[1024];
        snprintf(rel, sizeof rel, "%s", strcmp(b + 1, "/") ? b + 1 : "");
        size_t v = 0;
        if (!strncmp(line, "0::", 3)) v = smallest_up("/sys/fs/cgroup", rel, "memory.max");
        else if (b - a - 1 == 6 && !strncmp(a + 1, "memory", 6))
            v = smallest_up("/sys/fs/cgroup/memory", rel, "memory.limit_in_bytes");
        if (v && (!best || v < best)) best = v;
    }
    fclose(f);
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
    size_t cg = cgroup_limit();
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
