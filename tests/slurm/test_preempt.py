"""A warning signal mid-run requeues the job, and the requeued job resumes to the same results.

slurm/many-nodes.sbatch (ranks by srun --mpi=pmix) runs a sweep of 19 jobs on 2 ranks. Once the
journal holds a few results, `scancel --signal=USR1 --batch` sends the batch shell the signal Slurm
sends before the walltime (--signal=B:USR1@120) or a preemption. The wrapper forwards it, sweep exits
75 with work left, the job requeues itself and starts again, resuming from the journal. Checked: one
requeue, exit 0 in the end, the second start found some but not all jobs done, every job is in the
journal exactly once, and the results file equals that of an uninterrupted run outside Slurm.
"""
import os
import subprocess
import sys
import time

from slurmtest import (check, check_final, check_results, finish, job_log, journal_ids, log, make_world, resumed,
                       sbatch, setup, slurm, wait_job)

SEEDS = 3

sweep, rankcheck, tool, work, env = setup(sys.argv)
# Long enough training (about 1-2 s a job) that the signal lands while jobs remain.
spec = make_world(sweep, work, seeds=SEEDS, steps=2000)
n_jobs = 1 + 2 * 3 * SEEDS

log("reference: an uninterrupted run, mpirun -np 2 outside Slurm")
os.makedirs(os.path.join(work, "ref"))
t0 = time.time()
r = subprocess.run(["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", sweep, "run", "spec.json",
                    "-o", "ref/results.h5"], cwd=work, env=env, capture_output=True, text=True, timeout=240)
log("reference took %.1f s, exit %d" % (time.time() - t0, r.returncode))
if not check(r.returncode == 0, "the reference run exits 0"):
    log(r.stdout, r.stderr)
    finish("slurm.preempt")

out = os.path.join(work, "out", "results.h5")
journal = out + ".journal"
job = sbatch("many-nodes.sbatch", ["spec.json", "out/results.h5"], work, env,
             ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1"])


def some_done(info):
    return info.get("JobState") == "RUNNING" and len(journal_ids(tool, journal)) >= 2


info = wait_job(job, timeout=120, until=some_done)
done_at_signal = len(journal_ids(tool, journal))
log("signalling job %s with USR1 (batch shell) after %d of %d jobs" % (job, done_at_signal, n_jobs))
check(info.get("JobState") == "RUNNING" and 2 <= done_at_signal < n_jobs,
      "the signal comes mid-run: %s, %d of %d jobs journalled" % (info.get("JobState"), done_at_signal, n_jobs))
check(slurm("scancel", "--signal=USR1", "--batch", job).returncode == 0, "scancel --signal=USR1 --batch")

# The requeued job waits cred_expire (30 s on the test cluster) before it may start again.
info = wait_job(job, timeout=200)
text = job_log(work, job)
log(text)
check(info.get("Restarts") == "1", "requeued once: restarts %s" % info.get("Restarts"))
check("launcher: srun --mpi=pmix --ntasks=2" in text, "launched by srun --mpi=pmix with 2 ranks")
check(text.count("rank check ok: 2 ranks on 1 node(s)") == 2, "the rank check passed at both starts")
check("SIGUSR1 received: forwarding" in text, "the wrapper forwarded the warning")
check("sweep exited with status 75" in text, "sweep stopped with work left (exit 75)")
check("requeueing job %s" % job in text, "the wrapper requeued the job")
starts = resumed(text, n_jobs, 2)
check(len(starts) == 2 and starts[0] == 0 and 0 < starts[1] < n_jobs,
      "the second start resumed with some but not all jobs done: %s" % starts)
check_final(tool, info, text, out, n_jobs, ref=os.path.join(work, "ref", "results.h5"))
check_results(out, spec, SEEDS)
finish("slurm.preempt")
