#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "engine/memest.h"
#include "mpi/run.h"
#include "mpi/signals.h"
#include "sweeps/spec.h"

static const char usage[] =
    "usage: mpirun -np N sweep run SPEC [options]\n"
    "Runs every job of the spec: rank 0 schedules (longest estimated job first) and runs jobs too;\n"
    "each job trains once and evaluates all its eval texts in a child process, so a crash costs\n"
    "only that job. Results go to the journal OUTPUT.journal (fsynced per job) and the HDF5 file\n"
    "OUTPUT, rebuilt from the journal at the start, then updated in place with the new results only\n"
    "(while an update runs, or if one was killed, HDF5 readers refuse the file). Rerunning the same\n"
    "command after any interruption runs only the missing jobs. -np 1 works (one rank both schedules\n"
    "and runs). A spec that only adds jobs or eval texts runs the new jobs and evaluates old ones on\n"
    "their new texts with their kept adapters; one that changes existing jobs is refused while the\n"
    "journal exists.\n"
    "\n"
    "  -o, --output FILE      results file (default: the spec's \"output\")\n"
    "  --threads N            BLAS threads per rank (default 1: one rank per core); keep it the same\n"
    "                         when resuming: other counts can change the last bits of the numbers\n"
    "  --precision P          fp32, fp32-dnnl, bf16 or int8 for the weight products, in place of the\n"
    "                         spec's default (train.precision; a format naming its own keeps it). Jobs\n"
    "                         at another precision are other jobs (other ids): resume with the same\n"
    "                         flag; while the journal exists a run that would change its jobs is refused\n"
    "  --stage-base DIR       copy each base once per node to DIR (/dev/shm, $TMPDIR) before mapping\n"
    "  --cache DIR            tokenised texts, shared by a node's ranks (default OUTPUT.cache)\n"
    "  --flush-every SEC      update the HDF5 file this often (default 30; spaced further when an update\n"
    "                         takes more than 1% of the time between them)\n"
    "  --progress-every SEC   plain progress line period when stderr is not a terminal (default 10)\n"
    "  --grace SEC            after SIGUSR1/SIGTERM/SIGINT, running jobs get SEC to finish (default 60)\n"
    "  --job-timeout SEC      kill a job running longer than SEC, recorded as timeout (default none)\n"
    "  --worker-timeout SEC   a worker running a job that has sent nothing for SEC is lost (a dead or\n"
    "                         unreachable node): its job is recorded as a failed attempt, no rank gets\n"
    "                         a new job, running jobs finish, then the run ends (exit 75); workers send\n"
    "                         a heartbeat every SEC/4 while a job runs (default 0: wait forever)\n"
    "  --keep-adapters-max B  keep trained adapters up to B bytes in the results (default 1048576); a\n"
    "                         larger one is never copied out of its job (a 1b full fine-tune: 4.9 GB)\n"
    "  --mem-per-node M       memory of one node (bytes, or with K M G T: 64G, 1.5T); default Slurm's\n"
    "                         SLURM_MEM_PER_NODE, else the cgroup limit (memory.max, v1's\n"
    "                         memory.limit_in_bytes), else MemTotal less 10% (the run says which).\n"
    "                         Rank 0 never starts a job whose estimated peak (sweep plan prints them),\n"
    "                         summed with those of the jobs running on that node and the node's fixed\n"
    "                         part (bases shared once, each rank's own process), exceeds M: a big job\n"
    "                         waits for neighbours to finish while smaller ones take the other ranks,\n"
    "                         until as many have started past it as the node has ranks: then the node\n"
    "                         is reserved for it. A job that fits no node is refused (exit 2)\n"
    "  --retry-failed         give jobs recorded as failed max_attempts new attempts\n"
    "  --recompute            training holds one layer's activations at a time and recomputes each\n"
    "                         layer in the backward, and (except full fine-tuning, and at fp32 whose\n"
    "                         OpenBLAS products are not row-exact) computes the loss over row chunks,\n"
    "                         never holding the whole logits: less memory per job (the 1B shape),\n"
    "                         about one more forward per step, the same results bit for bit;\n"
    "                         memory estimates count it (sweep plan --recompute prints them)\n"
    "  --dry-jobs             hand out jobs that do nothing to the workers, and no file is written\n"
    "                         (measures the scheduler alone: jobs/s in the summary)\n"
    "  -q, --quiet            no progress output\n"
    "\n"
    "Exit status: 0 all jobs ok; 1 some jobs failed (recorded in the file, this run or an earlier\n"
    "one); 2 bad input; 3 internal error (the journal, or a custom user's split, cannot be written);\n"
    "75 stopped by a signal with jobs left, or a worker lost (--worker-timeout; rerun to resume).\n"
    "\n"
    "Stopping: SIGUSR1 to mpirun (which forwards it; under Slurm slurm/sweep-job.sh relays the\n"
    "--signal=B:USR1@120 warning), or SIGUSR1/SIGTERM/SIGINT to the ranks (what Slurm sends a job step),\n"
    "stops handing out jobs, lets the running ones finish within --grace, writes the file and exits 75;\n"
    "a second signal abandons the running jobs at once. SIGTERM to mpirun itself makes Open MPI kill\n"
    "the ranks a second later: finished jobs are in the journal and the rerun resumes after them.\n";

// Before MPI_Init every rank parses the options; only the first of them prints, so that a usage
// error under mpirun -np N is one line, not N. The launchers' rank variables say which one it is.
// The others leave with status 0: a launcher kills the remaining ranks at the first non-zero exit,
// which could end the first rank before it has printed; the first rank's 2 is the job's status.
static int first_rank(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v) return atoi(v) == 0;
    }
    return 1;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
    if (first_rank()) {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return 2;
    }
    return 0;
}

int cmd_run(int argc, char **argv) {
    RunOptions o;
    run_options_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double *num = NULL, d = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { if (first_rank()) fputs(usage, stdout); return 0; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) { if (!v) goto missing; o.output = v; i++; }
        else if (!strcmp(a, "--stage-base")) { if (!v) goto missing; o.stage_dir = v; i++; }
        else if (!strcmp(a, "--precision")) {
            char why[256];
            if (!v) goto missing;
            if (spec_precision_check(v, why, sizeof why)) return usage_error("sweep run: --precision: %s", why);
            o.precision = v;
            i++;
        }
        else if (!strcmp(a, "--cache")) { if (!v) goto missing; o.cache_dir = v; i++; }
        else if (!strcmp(a, "--mem-per-node")) {
            if (!v) goto missing;
            if (memest_parse(v, &o.mem_per_node))
                return usage_error("sweep run: --mem-per-node: expected bytes or a size like 64G, got '%s'", v);
            i++;
        }
        else if (!strcmp(a, "--flush-every")) num = &o.flush_every;
        else if (!strcmp(a, "--progress-every")) num = &o.progress_every;
        else if (!strcmp(a, "--grace")) num = &o.grace;
        else if (!strcmp(a, "--job-timeout")) num = &o.job_timeout;
        else if (!strcmp(a, "--worker-timeout")) num = &o.worker_timeout;
        else if (!strcmp(a, "--threads") || !strcmp(a, "--keep-adapters-max")) num = &d;
        else if (!strcmp(a, "--dry-jobs")) o.dry_jobs = 1;
        else if (!strcmp(a, "--retry-failed")) o.retry_failed = 1;
        else if (!strcmp(a, "--recompute")) o.recompute = 1;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o.quiet = 1;
        else if (a[0] == '-' && a[1]) return usage_error("sweep run: unknown option %s (see sweep run --help)", a);
        else if (!o.spec_path) o.spec_path = a;
        else return usage_error("sweep run: one spec only (got %s and %s)", o.spec_path, a);
        if (num) {
            char e[400];
            int bad = !strcmp(a, "--threads") ? opt_int(a, v, 1, 1024, &o.threads, e, sizeof e)
                                              : opt_real(a, v, 0, 1e9, 0, num, e, sizeof e);
            if (bad) return usage_error("sweep run: %s", e);
            i++;
            if (!strcmp(a, "--keep-adapters-max")) o.keep_adapter_max = (size_t)d;
        }
        continue;
    missing:
        return usage_error("sweep run: %s needs a value", a);
    }
    if (!o.spec_path) return usage_error("sweep run: no spec given (usage: mpirun -np N sweep run SPEC [options])");
    // before MPI_Init: a Slurm warning during a slow start-up must ask for a stop, not kill the rank
    signals_install();
    MPI_Init(&argc, &argv);
    int rc = run_sweep(&o);
    MPI_Finalize();
    return rc;
}
