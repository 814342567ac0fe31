#include "mpi/run.h"
#include <errno.h>
#include <fcntl.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine/mat.h"
#include "engine/modelfile.h"
#include "engine/util.h"
#include "mpi/job_exec.h"
#include "mpi/scheduler.h"
#include "mpi/signals.h"
#include "mpi/worker.h"
#include "sweeps/planmem.h"
#include "sweeps/spec.h"

void run_options_default(RunOptions *o) {
    memset(o, 0, sizeof *o);
    o->threads = 1;
    o->flush_every = 30;
    o->progress_every = 10;
    o->grace = 60;
    o->keep_adapter_max = (size_t)1 << 20;
}

const char *output_journal_path(const char *output) {
    static char path[1100];
    snprintf(path, sizeof path, "%s.journal", output);
    return path;
}

// Where a base is staged: DIR/<metadata checksum>-<file name>. The checksum (engine/modelfile.h's,
// which covers every tensor's own checksum) keeps two bases with one file name apart, and makes a
// staged copy of an older file with the same name and size never pass for a newer one.
static char *staged_path(const char *dir, const char *src) {
    uint64_t sum = model_file_checksum(src);
    const char *name = strrchr(src, '/');
    name = name ? name + 1 : src;
    char *out = xmalloc(strlen(dir) + strlen(name) + 20);
    sprintf(out, "%s/%016llx-%s", dir, (unsigned long long)sum, name);
    return out;
}

// Copies src to dst unless dst already has the same size (a staged copy from an earlier run on
// this node: its name carries the content checksum); written under a temporary name, then renamed.
static int stage_copy(const char *src, const char *dst, char *err, size_t errlen) {
    struct stat a, b;
    if (stat(src, &a)) { snprintf(err, errlen, "%s: %s", src, strerror(errno)); return -1; }
    if (!stat(dst, &b) && b.st_size == a.st_size) return 0;
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", dst, (int)getpid());
    int in = open(src, O_RDONLY), out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0) {
        snprintf(err, errlen, "--stage-base: cannot copy %s to %s: %s", src, tmp, strerror(errno));
        if (in >= 0) close(in);
        if (out >= 0) close(out);
        return -1;
    }
    static char buf[1 << 20];
    ssize_t n;
    int bad = 0;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, n) != n) { bad = 1; break; }
    bad |= n < 0;
    close(in);
    bad |= close(out) != 0;
    if (bad || rename(tmp, dst)) {
        unlink(tmp);
        snprintf(err, errlen, "--stage-base: cannot copy %s to %s: %s", src, dst, strerror(errno));
        return -1;
    }
    return 0;
}

// Custom users' documents are split once, by rank 0, before any rank reads them; the results
// file's directory is made here too, since the default cache directory lives beside it. Returns 0,
// RUN_BAD_INPUT, or RUN_INTERNAL when a split cannot be written.
static int prepare_inputs(const Plan *p, const char *spec_path, const char *output, char *err, size_t errlen) {
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", output);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (make_dirs(dir)) {
            snprintf(err, errlen, "%s: cannot create the results directory: %s", dir, strerror(errno));
            return RUN_BAD_INPUT;
        }
    }
    int status;
    if (spec_split_users(p, &status, err, errlen)) return status == 2 ? RUN_BAD_INPUT : RUN_INTERNAL;
    // Every text a job will read must exist before any work starts.
    for (int u = 0; u < p->axis[AX_TRAIN_USER].n; u++)
        if (access(p->users[u].train_path, R_OK)) {
            snprintf(err, errlen, "%s: users.%s: %s: %s", spec_path, p->users[u].name, p->users[u].train_path,
                     strerror(errno));
            return RUN_BAD_INPUT;
        }
    for (int e = 0; e < p->axis[AX_EVAL_TEXT].n; e++)
        if (access(p->evals[e].path, R_OK)) {
            snprintf(err, errlen, "%s: eval: text %s: %s: %s", spec_path, p->evals[e].label, p->evals[e].path,
                     strerror(errno));
            return RUN_BAD_INPUT;
        }
    return 0;
}

// job_context_open, with the spec's name before a message about one of its bases ("bases.NAME: ...").
static int open_context(JobContext *ctx, const Plan *plan, char **staged, int verify, const char *cache,
                        const char *spec_path, char *err, size_t errlen) {
    char why[1024];
    if (job_context_open(ctx, plan, (const char *const *)staged, verify, cache, why, sizeof why) == 0) return 0;
    if (!strncmp(why, "bases.", 6)) snprintf(err, errlen, "%s: %s", spec_path, why);
    else snprintf(err, errlen, "%s", why);
    return -1;
}

// Agree across all ranks whether this step failed anywhere; rank 0 prints the first message.
static int all_ok(int ok, const char *err, int rank) {
    int all;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!ok && (rank == 0 || all == 0)) {
        static int printed;
        if (!printed && err[0]) { fprintf(stderr, "sweep: %s\n", err); printed = 1; }
    }
    return all;
}

// The node memory every rank agrees on: --mem-per-node, else the smallest default any rank reads
// (mpi/memfit.h). `said` receives the line rank 0 prints once the run starts.
static size_t node_memory(const RunOptions *o, char *said, size_t saidlen) {
    char from[128] = "--mem-per-node";
    unsigned long long mine = o->mem_per_node, all;
    if (!mine) {
        size_t b;
        mine = memfit_default_limit(&b, from, sizeof from) ? ~0ULL : (unsigned long long)b;
    }
    MPI_Allreduce(&mine, &all, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
    char h[16];
    memest_human((size_t)all, h, sizeof h);
    if (all == ~0ULL) snprintf(said, saidlen, "sweep: memory per node: unknown (no limit read): jobs are not held back");
    else snprintf(said, saidlen, "sweep: memory per node: %s (%s%s)", h, from, all != mine ? "; smaller on another node" : "");
    return (size_t)all;
}

// Which node each rank is on (rank 0 gets the table, others NULL): the lowest world rank sharing its
// memory names the node. *n_nodes and ranks_on[node] for rank 0.
static int *gather_nodes(MPI_Comm node, int rank, int nranks, int *n_nodes, int **ranks_on) {
    int leader, *leaders = rank == 0 ? xmalloc((size_t)nranks * sizeof *leaders) : NULL;
    MPI_Allreduce(&rank, &leader, 1, MPI_INT, MPI_MIN, node);
    MPI_Gather(&leader, 1, MPI_INT, leaders, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank != 0) return NULL;
    int *node_of = xmalloc((size_t)nranks * sizeof *node_of), *index = xmalloc((size_t)nranks * sizeof *index);
    *ranks_on = xcalloc((size_t)nranks, sizeof **ranks_on);
    *n_nodes = 0;
    for (int r = 0; r < nranks; r++) index[r] = -1;
    for (int r = 0; r < nranks; r++) {
        int l = leaders[r];
        if (index[l] < 0) index[l] = (*n_nodes)++;
        node_of[r] = index[l];
        (*ranks_on)[node_of[r]]++;
    }
    free(leaders);
    free(index);
    return node_of;
}

int run_sweep(const RunOptions *o) {
    int rank, nranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    engine_set_threads(o->threads);
    char err[1024] = "";

    // Every rank parses the same spec: the plan is deterministic, so nothing needs broadcasting.
    Plan plan;
    int ok = spec_load_precision(o->spec_path, SPEC_FILES_OPTIONAL, o->precision, &plan, err, sizeof err) == 0;
    if (!all_ok(ok, rank == 0 ? err : "", rank)) return RUN_BAD_INPUT;
    const char *output = o->output ? o->output : plan.output;

    int status = rank == 0 ? prepare_inputs(&plan, o->spec_path, output, err, sizeof err) : 0;
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!all_ok(status == 0, err, rank)) { plan_free(&plan); return status; }

    // Bases: one rank per node stages and verifies; the others then map the same pages.
    MPI_Comm node;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
    int node_rank;
    MPI_Comm_rank(node, &node_rank);

    // Memory: every job must fit a node on its own (as sweep plan --mem-per-node checks); rank 0 then
    // never starts jobs whose estimates sum above a node's memory.
    char mem_said[256];
    size_t mem = node_memory(o, mem_said, sizeof mem_said);
    int n_nodes = 0, *ranks_on = NULL, *node_of = gather_nodes(node, rank, nranks, &n_nodes, &ranks_on);
    PlanMem pm;
    memset(&pm, 0, sizeof pm);
    size_t *node_fixed = NULL;
    MemHold *hold = NULL;
    MemFit fit;
    RunOptions ro = *o;
    status = 0;
    if (rank == 0) {
        plan_mem_init(&pm, &plan, &(MemExec){ .recompute = o->recompute });
        node_fixed = xcalloc((size_t)n_nodes, sizeof *node_fixed);
        int fewest = nranks;
        for (int n = 0; n < n_nodes; n++) {
            node_fixed[n] = plan_mem_node_fixed(&pm, ranks_on[n]);
            if (ranks_on[n] < fewest) fewest = ranks_on[n];
        }
        char why[512];
        if (plan_mem_check(&pm, &plan, mem, fewest, why, sizeof why)) {
            snprintf(err, sizeof err, "%s: %s", o->spec_path, why);
            status = RUN_BAD_INPUT;
        }
        hold = xcalloc((size_t)n_nodes, sizeof *hold);
        memfit_hold_init(hold, n_nodes);
        fit = (MemFit){ .limit = mem, .job = pm.job, .nranks = nranks, .node_of = node_of, .node_fixed = node_fixed,
                        .hold = hold };
        ro.memfit = &fit;
        ro.memfit_said = mem_said;
        o = &ro;
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (!all_ok(status == 0, err, rank)) {
        plan_mem_free(&pm); free(node_fixed); free(node_of); free(ranks_on); free(hold);
        MPI_Comm_free(&node);
        plan_free(&plan);
        return status;
    }
    int nb = plan.axis[AX_BASE].n;
    char **staged = xcalloc(nb, sizeof *staged);
    ok = 1;
    if (o->stage_dir) {
        for (int i = 0; i < nb; i++) {
            staged[i] = staged_path(o->stage_dir, plan.bases[i].path);
            if (node_rank == 0 && ok) {
                if (make_dirs(o->stage_dir)) {
                    snprintf(err, sizeof err, "--stage-base: %s: %s", o->stage_dir, strerror(errno));
                    ok = 0;
                } else ok = stage_copy(plan.bases[i].path, staged[i], err, sizeof err) == 0;
            }
        }
    }
    char cache[1100];
    if (o->cache_dir) snprintf(cache, sizeof cache, "%s", o->cache_dir);
    else snprintf(cache, sizeof cache, "%s.cache", output);
    JobContext ctx;
    memset(&ctx, 0, sizeof ctx);
    // The node's first rank verifies every tensor once; the others then trust the same pages.
    if (node_rank == 0 && ok) ok = open_context(&ctx, &plan, staged, 1, cache, o->spec_path, err, sizeof err) == 0;
    int leaders_ok = all_ok(ok, err, rank);
    if (leaders_ok && node_rank != 0)
        ok = open_context(&ctx, &plan, staged, 0, cache, o->spec_path, err, sizeof err) == 0;
    int rc, lost = 0;
    if (!leaders_ok || !all_ok(ok, err, rank)) {
        rc = RUN_BAD_INPUT;
    } else {
        ctx.keep_adapter_max = o->keep_adapter_max;
        ctx.recompute = o->recompute;
        rc = rank == 0 ? scheduler_loop(&ctx, o, output, &lost) : worker_loop(&ctx, o);
    }
    if (lost) {   // a silent worker would hang the collectives below: the launcher ends every rank
        fflush(NULL);
        MPI_Abort(MPI_COMM_WORLD, rc);
    }
    // Every rank learns the sweep's status, so mpirun's own exit status reflects it.
    MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    job_context_close(&ctx);
    for (int i = 0; i < nb; i++) free(staged[i]);
    free(staged);
    MPI_Comm_free(&node);
    plan_mem_free(&pm); free(node_fixed); free(node_of); free(ranks_on); free(hold);
    plan_free(&plan);
    return rc;
}
