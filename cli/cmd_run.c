#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/commands.h"
#include "mpi/run.h"

static const char usage[] =
    "usage: mpirun -np N sweep run SPEC [options]\n"
    "Runs every job of the spec: rank 0 schedules (longest estimated job first) and runs jobs too;\n"
    "each job trains once and evaluates all its eval texts in a child process, so a crash costs\n"
    "only that job. Results go to the journal OUTPUT.journal (fsynced per job) and the HDF5 file\n"
    "OUTPUT, rebuilt atomically. Rerunning the same command after any interruption runs only the\n"
    "missing jobs. -np 1 works (one rank both schedules and runs).\n"
    "\n"
    "  -o, --output FILE      results file (default: the spec's \"output\")\n"
    "  --threads N            BLAS threads per rank (default 1: one rank per core)\n"
    "  --stage-base DIR       copy each base once per node to DIR (/dev/shm, $TMPDIR) before mapping\n"
    "  --cache DIR            tokenised texts, shared by a node's ranks (default OUTPUT.cache)\n"
    "  --flush-every SEC      rebuild the HDF5 file this often (default 30)\n"
    "  --progress-every SEC   plain progress line period when stderr is not a terminal (default 10)\n"
    "  --grace SEC            after SIGUSR1/SIGTERM/SIGINT, running jobs get SEC to finish (default 60)\n"
    "  --job-timeout SEC      kill a job running longer than SEC, recorded as timeout (default none)\n"
    "  --keep-adapters-max B  keep trained adapters up to B bytes in the results (default 1048576)\n"
    "  --dry-jobs             hand out jobs that do nothing (measures the scheduler alone)\n"
    "  -q, --quiet            no progress output\n"
    "\n"
    "Exit status: 0 all jobs ok; 1 some jobs failed (recorded in the file); 2 bad input;\n"
    "75 stopped by a signal with jobs left (rerun to resume).\n";

static double num_arg(const char *opt, const char *v) {
    char *end;
    double d = v ? strtod(v, &end) : 0;
    if (!v || *end || d < 0) {
        fprintf(stderr, "sweep run: %s needs a non-negative number\n", opt);
        exit(2);
    }
    return d;
}

int cmd_run(int argc, char **argv) {
    RunOptions o;
    run_options_default(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); return 0; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) { if (!v) goto missing; o.output = v; i++; }
        else if (!strcmp(a, "--threads")) { o.threads = (int)num_arg(a, v); i++; if (o.threads < 1) o.threads = 1; }
        else if (!strcmp(a, "--stage-base")) { if (!v) goto missing; o.stage_dir = v; i++; }
        else if (!strcmp(a, "--cache")) { if (!v) goto missing; o.cache_dir = v; i++; }
        else if (!strcmp(a, "--flush-every")) { o.flush_every = num_arg(a, v); i++; }
        else if (!strcmp(a, "--progress-every")) { o.progress_every = num_arg(a, v); i++; }
        else if (!strcmp(a, "--grace")) { o.grace = num_arg(a, v); i++; }
        else if (!strcmp(a, "--job-timeout")) { o.job_timeout = num_arg(a, v); i++; }
        else if (!strcmp(a, "--keep-adapters-max")) { o.keep_adapter_max = (size_t)num_arg(a, v); i++; }
        else if (!strcmp(a, "--dry-jobs")) o.dry_jobs = 1;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o.quiet = 1;
        else if (a[0] == '-') { fprintf(stderr, "sweep run: unknown option %s\n%s", a, usage); return 2; }
        else if (!o.spec_path) o.spec_path = a;
        else { fprintf(stderr, "sweep run: one spec only (got %s and %s)\n", o.spec_path, a); return 2; }
        continue;
    missing:
        fprintf(stderr, "sweep run: %s needs a value\n", a);
        return 2;
    }
    if (!o.spec_path) { fputs(usage, stderr); return 2; }
    MPI_Init(&argc, &argv);
    int rc = run_sweep(&o);
    MPI_Finalize();
    return rc;
}
