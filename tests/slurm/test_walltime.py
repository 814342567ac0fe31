"""The walltime warning that the sbatch scripts ask for (--signal=B:USR1@SECONDS) requeues the job
until the sweep is done.

A sweep of about 35 s of work on 2 ranks under --time=2 --signal=B:USR1@100 (the scripts' @120
scaled to a 2-minute limit; Slurm sends it within about 30 s of that). Each start that the warning
interrupts exits 75 and requeues, the next resumes from the journal, and no start runs into the limit
itself (no SIGTERM). Checked: at least one requeue, exit 0 in the end, progress at every start, every
job in the journal exactly once, and a complete results file.
"""
import os
import re
import sys

from slurmtest import (check, check_results, finish, job_log, journal_ids, log, make_world, sbatch, setup,
                       wait_job)

SEEDS = 3

sweep, rankcheck, work, env = setup(sys.argv)
spec = make_world(sweep, work, env, seeds=SEEDS, steps=4000)
n_jobs = 1 + 2 * 3 * SEEDS
out = os.path.join(work, "out", "results.h5")

job = sbatch("one-node.sbatch", ["spec.json", "out/results.h5"], work, dict(env, SWEEP_GRACE="15"),
             ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1", "--time=2", "--signal=B:USR1@100"])
info = wait_job(job, timeout=280)
text = job_log(work, job)
log(text)
check(info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0",
      "job completed with exit 0 in the end: %s %s" % (info.get("JobState"), info.get("ExitCode")))
restarts = int(info.get("Restarts", "0"))
check(restarts >= 1, "the walltime warning requeued the job at least once: restarts %d" % restarts)
# The last start may get its warning too, while its final jobs finish within the grace period.
warnings = text.count("SIGUSR1 received")
check(restarts <= warnings <= restarts + 1, "a warning before each requeue: %d warnings, %d restarts"
      % (warnings, restarts))
check(text.count("requeueing job %s" % job) == restarts, "the wrapper requeued at each warning")
check("SIGTERM received" not in text, "no start ran into the time limit itself")
done = [int(k) for k in re.findall(r"sweep: %d jobs \((\d+) already done\), 2 ranks" % n_jobs, text)]
check(len(done) == restarts + 1 and done[0] == 0 and all(a < b for a, b in zip(done, done[1:])),
      "each start resumed with more jobs done than the one before: %s" % done)
ids = journal_ids(out + ".journal")
check(len(ids) == n_jobs and len(set(ids)) == n_jobs,
      "every job in the journal exactly once: %d records, %d distinct, %d jobs" % (len(ids), len(set(ids)), n_jobs))
check_results(out, spec, SEEDS)
finish("slurm.walltime")
