// Memory-aware hand-out (sweep run --mem-per-node): rank 0 starts a job on a rank only when the
// job's estimate (sweeps/planmem.h), summed with the estimates of the jobs running on that rank's
// node and the node's fixed part (its bases, shared once, and its ranks' own processes), stays within
// the node's memory. A job that does not fit waits, and smaller ones behind it in the queue take the
// idle ranks meanwhile, but not forever: once as many jobs as the node has ranks have started there
// past the first waiting job that fits the node when empty, the node is reserved for it (no new
// starts there until it fits), so freed memory goes to it instead of to the next small job. Only
// the order of starts changes, never a job's result.
// Plain arrays, no MPI: tests/unit/test_memest.c drives it.
#pragma once
#include <stddef.h>

// A node's reservation: the job it waits for and how many jobs started there past it meanwhile.
typedef struct {
    int job;                   // the first waiting job that fits the node when empty (-1: none yet)
    int passed;                // jobs started on the node since that job began to wait there
} MemHold;

typedef struct {
    size_t limit;              // bytes per node
    const size_t *job;         // [n_jobs] each job's private estimate
    int nranks;
    const int *node_of;        // [nranks] node index of each rank (0 .. n_nodes-1)
    const size_t *node_fixed;  // [n_nodes] what each node holds besides its jobs
    MemHold *hold;             // [n_nodes] reservations, updated by memfit_pick (job -1 at first);
                               // NULL: none (a big job may wait until the smaller ones run out)
} MemFit;

// Bytes the jobs running on node (running[r] >= 0: job index on rank r) hold, with the node's fixed part.
size_t memfit_node_used(const MemFit *f, int node, const int *running);
// Position in cand[0..n) (the queue, in order) of the job to start on rank now: the first that fits on
// its node beside what runs there, unless the node is reserved for a job waiting ahead of it; -1 if
// none. The caller starts the job returned (the node's reservation counts it).
int memfit_pick(const MemFit *f, int rank, const int *running, const int *cand, int n);
// Every node unreserved: hold[n_nodes] with job -1.
void memfit_hold_init(MemHold *hold, int n_nodes);
// Where the node's memory limit comes from, in this order: Slurm's SLURM_MEM_PER_NODE (MB), this
// process's cgroup limit (v2 memory.max, v1 memory.limit_in_bytes, the smallest up its path) when
// below MemTotal, /proc/meminfo's MemTotal less 10% (at least 512 MiB). Writes a short description of the source to `from`. 0 ok, -1 when none is readable.
int memfit_default_limit(size_t *bytes, char *from, size_t fromlen);
