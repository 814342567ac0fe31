"""Slurm's own time limit stops the sweep, the job requeues itself, and the requeued job resumes to the
results of an uninterrupted run.

sbatch --time=3 --signal=B:USR1@50 --requeue slurm/one-node.sbatch, the ranks started by plain mpirun
(no test launcher, no scancel): the warning comes from slurmctld. slurmctld checks time limits every
30 s (fixed in its code, not in slurm.conf) and sends the warning at the first check that finds the
job within N + 30 s of its end: here 100 to 130 s after the start, 50 to 80 s before the limit;
the kill comes at a later check, at least 30 s after the warning. --time is in minutes; 3 rather than
1 leaves room for start-up under load (a rank check and sweep's MPI_Init took over 70 s together on
this machine at a load average of 20; a warning inside MPI_Init kills the rank, see sweep-job.sh). Once the time limit has requeued the job, the test gives later
allocations 10 minutes (scontrol update), so a slow machine cannot make every allocation end at its
own warning.

The sweep is 13 jobs of about half a second. So that the first allocation cannot finish before the
warning however fast the machine, the test holds the job's sweep processes (SIGSTOP) once two jobs
are in the journal and lets them go (SIGCONT) when the wrapper logs the warning: a sweep too slow
for its walltime. The ranks then take no new jobs, finish the running ones within SWEEP_GRACE (8 s),
write the file and exit 75; the wrapper requeues; the next start (after cred_expire, 30 s here)
resumes from the journal. Checked: a requeue after a warning that came 100-130 s after Slurm started
that allocation (the time limit's, not a stray signal), sweep stopped with work left, no allocation
ran into the limit (no SIGTERM), the next start resumed with some but not all jobs done, exit 0 in
the end, every job in the journal once, and the results file bit-identical (every deterministic
variable and kept adapter) to an uninterrupted mpirun run outside Slurm.
"""
import os
import signal
import subprocess
import sys
import time

import world
from slurmtest import (allocation_watcher, check, check_final, check_results, check_time_limit_requeues, finish,
                       hold_when, job_log, journal_ids, log, make_world, resumed, sbatch, setup, signal_all,
                       steps_for, wait_job, warned)

SEEDS = 2
LIMIT_MIN, WARN_S = 3, 50

sweep, rankcheck, tool, work, env = setup(sys.argv)
make_world(sweep, work, seeds=SEEDS, steps=50)
steps = steps_for(sweep, work, 0.5)
spec = world.write_spec(work, SEEDS, steps)
n_jobs = 1 + 2 * 3 * SEEDS
log("%d jobs of %d steps (about 0.5 s each on this machine now)" % (n_jobs, steps))

out = os.path.join(work, "out", "results.h5")
journal = out + ".journal"
job = sbatch("one-node.sbatch", ["spec.json", "out/results.h5"], work,
             dict(env, SWEEP_GRACE="8", SWEEP_STOP_MARGIN="8"),
             ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1", "--time=%d" % LIMIT_MIN,
              "--signal=B:USR1@%d" % WARN_S, "--requeue"])


# 1. Hold the first allocation's sweep once it has made progress, until the warning arrives.
starts_at = {}   # Slurm's StartTime of each allocation, by its restart count
t0 = time.time()
held = hold_when(sweep, tool, work, job, journal, 2, starts_at)
done_at_hold = len(journal_ids(tool, journal))
# The reference, an uninterrupted run outside Slurm, runs meanwhile (the held sweep takes no CPU).
log("reference: an uninterrupted run, mpirun -np 2 outside Slurm")
os.makedirs(os.path.join(work, "ref"))
ref_t0 = time.time()
ref = subprocess.Popen(["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", sweep, "run", "spec.json",
                        "-o", "ref/results.h5", "-q"], cwd=work, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
if not held and warned(work, job):
    log("%.1f s: the warning came before two jobs were done: nothing to hold" % (time.time() - t0))
else:
    log("%.1f s: held %d sweep process(es) of job %s with %d of %d jobs journalled" % (
        time.time() - t0, len(held), job, done_at_hold, n_jobs))
    check(held, "the first allocation's sweep was found and held")
    check(done_at_hold < n_jobs, "work was left when the sweep was held: %d of %d jobs" % (done_at_hold, n_jobs))
    t1 = time.time()
    while held and not warned(work, job) and time.time() - t1 < 150:
        time.sleep(0.2)
    check(warned(work, job), "the time limit's warning reached the batch shell within 150 s of the hold")
    log("%.1f s: warning logged; letting the sweep go" % (time.time() - t0))
signal_all(held, signal.SIGCONT)

# 2. The rest: the requeue waits cred_expire (30 s here) before the job may start again. Once the
# time limit has requeued the job, later allocations get 10 minutes: on a loaded machine start-up
# alone (two mpirun launches) can take 50 s, and every allocation would end at its own warning.
info = wait_job(job, timeout=420, until=allocation_watcher(job, starts_at, 10))
try:
    ref_out = ref.communicate(timeout=max(10, 400 - (time.time() - ref_t0)))[0]
except subprocess.TimeoutExpired:
    ref.kill()
    ref_out = ref.communicate()[0]
log("reference took %.1f s, exit %d" % (time.time() - ref_t0, ref.returncode))
if not check(ref.returncode == 0, "the reference run exits 0"):
    log(ref_out)
text = job_log(work, job)
log(text)
restarts = int(info.get("Restarts", "0"))
check(restarts >= 1, "the time limit requeued the job: restarts %d" % restarts)
check("launcher: mpirun -np 2 --bind-to none" in text, "ranks started by plain mpirun")

check_time_limit_requeues(text, job, starts_at, restarts, LIMIT_MIN, WARN_S)
done = resumed(text, n_jobs, 2)
check(len(done) >= 2 and done[0] == 0 and all(a <= b for a, b in zip(done, done[1:])) and 0 < done[-1] < n_jobs,
      "each start of sweep resumed from the journal, the last with some but not all jobs done: %s" % done)
check_final(tool, info, text, out, n_jobs, ref=os.path.join(work, "ref", "results.h5") if ref.returncode == 0 else None)
check_results(out, spec, SEEDS)
finish("slurm.timelimit")
