"""The walltime warning that the sbatch scripts ask for (--signal=B:USR1@SECONDS) requeues the job,
and the requeued job finishes the sweep.

--time=2 --signal=B:USR1@100 (the scripts' @120 scaled to a 2-minute limit; Slurm sends it up to
a minute early, as its docs say). At the first start one job hangs (tests/slurm/hang-first-start.sh),
so the allocation cannot finish before the warning however fast the machine is: the warning stops
the sweep, the hung job is abandoned after the grace period (15 s), sweep exits 75 and the job
requeues; the next start, without the fault, resumes from the journal. Checked: a requeue, exit 0 in
the end, no start ran into the limit (no SIGTERM), progress at every start, every job in the journal
exactly once, and a complete results file.
"""
import json
import os
import subprocess
import sys

from slurmtest import check, check_final, check_results, finish, job_log, log, make_world, resumed, sbatch, setup, wait_job

SEEDS = 2
HERE = os.path.dirname(os.path.abspath(__file__))

sweep, rankcheck, tool, work, env = setup(sys.argv)
spec = make_world(sweep, work, seeds=SEEDS, steps=40)
n_jobs = 1 + 2 * 3 * SEEDS
out = os.path.join(work, "out", "results.h5")
plan = json.loads(subprocess.run([sweep, "plan", spec, "--json"], capture_output=True, text=True, check=True).stdout)
hang = plan["jobs"][0]["id"]
log("job %s hangs at the first start" % hang)

job_env = dict(env, SWEEP_GRACE="15", HANG_JOB=hang, SWEEP_LAUNCH="bash %s" % os.path.join(HERE, "hang-first-start.sh"))
job = sbatch("one-node.sbatch", ["spec.json", "out/results.h5"], work, job_env,
             ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1", "--time=2", "--signal=B:USR1@100"])
info = wait_job(job, timeout=280)
text = job_log(work, job)
log(text)
restarts = int(info.get("Restarts", "0"))
check(restarts >= 1, "the walltime warning requeued the job: restarts %d" % restarts)
# The last start may get its warning too, while its final jobs finish within the grace period.
warnings = text.count("SIGUSR1 received")
check(restarts <= warnings <= restarts + 1, "a warning before each requeue: %d warnings, %d restarts"
      % (warnings, restarts))
check(text.count("requeueing job %s" % job) == restarts, "the wrapper requeued at each warning")
check("SIGTERM received" not in text, "no start ran into the time limit itself")
done = resumed(text, n_jobs, 2)
check(len(done) == restarts + 1 and done[0] == 0 and all(a < b for a, b in zip(done, done[1:])),
      "each start resumed with more jobs done than the one before: %s" % done)
ids = check_final(tool, info, text, out, n_jobs)
check(ids[-1] == hang if ids else False, "the hung job was abandoned at the first start and ran after the requeue")
check_results(out, spec, SEEDS)
finish("slurm.walltime")
