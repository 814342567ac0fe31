"""sbatch slurm/one-node.sbatch (ranks by mpirun) on a small sweep, wait, check the HDF5 file.

2 ranks x 1 CPU on this node: the job completes once (no requeue, exit 0); the log shows the rank
check passed for 2 ranks and sweep saw 2 ranks; the file holds every job of the spec once, ok, with a
cell on each eval text and NaN elsewhere, and jobs ran on both ranks of this host.
"""
import os
import socket
import sys

from slurmtest import (check, check_no_script_errors, check_results, finish, job_log, log, make_world, sbatch,
                       setup, wait_job)

SEEDS = 2

sweep, rankcheck, tool, work, env = setup(sys.argv)
spec = make_world(sweep, work, seeds=SEEDS, steps=40)
n_jobs = 1 + 2 * 3 * SEEDS

job = sbatch("one-node.sbatch", ["spec.json", "out/results.h5"], work, env,
             ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1"])
info = wait_job(job, timeout=200)
text = job_log(work, job)
log(text)
check_no_script_errors(text, "the job")
check(info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0",
      "job completed with exit 0: %s %s" % (info.get("JobState"), info.get("ExitCode")))
check(info.get("Restarts") == "0", "no requeue: restarts %s" % info.get("Restarts"))
check("rank check ok: 2 ranks on 1 node(s)" in text, "the log shows the rank check for 2 ranks")
check("launcher: mpirun -np 2" in text, "launched by mpirun with 2 ranks")
check("1 thread(s) per rank" in text, "one BLAS thread per rank (SLURM_CPUS_PER_TASK=1)")
check("sweep: %d jobs (0 already done), 2 ranks" % n_jobs in text, "sweep itself saw %d jobs on 2 ranks" % n_jobs)

got = check_results(os.path.join(work, "out", "results.h5"), spec, SEEDS)
if got:
    ranks, hosts = got
    check(sorted(set(ranks)) == [0, 1], "jobs ran on ranks 0 and 1: %s" % sorted(set(ranks)))
    check(set(hosts) == {socket.gethostname()}, "jobs ran on this host: %s" % set(hosts))
finish("slurm.sbatch")
