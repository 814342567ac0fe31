"""The wrapper refuses ranks that do not join, passes bad input through as exit 2, and gives each rank
SLURM_CPUS_PER_TASK threads.

1. A launcher whose processes come up as singletons (tests/slurm/singleton-launch.sh): the job fails
   with exit 3 and a line saying 2 processes see a world of 1; sweep never starts (no journal).
2. A spec that does not exist, and one sweep refuses: exit 2, one line naming the file, no requeue.
3. One rank with --cpus-per-task=2 through srun: the step gets 2 CPUs, sweep 2 threads, and finishes.
4. A warning before any job could finish (grace 0) with SWEEP_MAX_IDLE_REQUEUES=1: no requeue, since
   an allocation that finishes no job would be followed by another like it; exit 75.
5. A warning during the rank check (a launcher that takes 8 s): the shell survives it, sweep is not
   started, exit 75 (not requeued here, SWEEP_MAX_IDLE_REQUEUES=1).
"""
import os
import subprocess
import sys

import world
from slurmtest import (check, check_no_script_errors, finish, job_log, journal_ids, log, make_world, sbatch, setup,
                       wait_job)

HERE = os.path.dirname(os.path.abspath(__file__))

sweep, rankcheck, tool, work, env = setup(sys.argv)
make_world(sweep, work, seeds=1, steps=20)
world.write_spec(work, 1, 20000, name="spec-long.json")   # jobs of 10 s or more
with open(os.path.join(work, "bad-spec.json"), "w") as f:
    f.write('{"protocol": "custom", "users": ["ash"], "colour": "blue"}\n')

singleton_env = dict(env, SWEEP_LAUNCH="bash %s" % os.path.join(HERE, "singleton-launch.sh"))
two = ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1"]
jobs = {
    "singletons": sbatch("one-node.sbatch", ["spec.json", "out/singletons.h5"], work, singleton_env, two),
    "no-spec": sbatch("one-node.sbatch", ["nope.json", "out/nope.h5"], work, env, two),
    "bad-spec": sbatch("one-node.sbatch", ["bad-spec.json", "out/bad.h5"], work, env, two),
    "threads": sbatch("many-nodes.sbatch", ["spec.json", "out/threads.h5"], work, env,
                      ["--nodes=1", "--ntasks-per-node=1", "--cpus-per-task=2"]),
}
idle_env = dict(env, SWEEP_GRACE="0", SWEEP_MAX_IDLE_REQUEUES="1")
jobs["idle"] = sbatch("many-nodes.sbatch", ["spec-long.json", "out/idle.h5"], work, idle_env, two)
wait_job(jobs["idle"], timeout=120, until=lambda i: "already done), 2 ranks" in job_log(work, jobs["idle"]))
subprocess.run(["scancel", "--signal=USR1", "--batch", jobs["idle"]], check=True, timeout=30)
early_env = dict(env, SWEEP_LAUNCH="bash %s" % os.path.join(HERE, "slow-launch.sh"), SWEEP_MAX_IDLE_REQUEUES="1")
jobs["early"] = sbatch("many-nodes.sbatch", ["spec.json", "out/early.h5"], work, early_env, two)
wait_job(jobs["early"], timeout=120, until=lambda i: "launcher: bash" in job_log(work, jobs["early"]))
subprocess.run(["scancel", "--signal=USR1", "--batch", jobs["early"]], check=True, timeout=30)
info = {name: wait_job(job, timeout=150) for name, job in jobs.items()}
logs = {name: job_log(work, job) for name, job in jobs.items()}
for name in jobs:
    log("---- %s: %s %s\n%s" % (name, info[name].get("JobState"), info[name].get("ExitCode"), logs[name]))
    check_no_script_errors(logs[name], name)


def ended(name, code):
    i = info[name]
    check(i.get("JobState") == "FAILED" and i.get("ExitCode") == "%d:0" % code and i.get("Restarts") == "0",
          "%s: the job fails with exit %d, no requeue: %s %s restarts %s"
          % (name, code, i.get("JobState"), i.get("ExitCode"), i.get("Restarts")))


ended("singletons", 3)
text = logs["singletons"]
check(text.count("rankcheck 0 1 ") == 2, "singletons: the probe really saw two 'rank 0 of 1'")
check("rank check failed: 2 processes see a world of 1, not 2" in text, "singletons: the wrapper says why")
check("Not starting the sweep" in text and "sweep: " not in text, "singletons: sweep never started")
check(not os.path.exists(os.path.join(work, "out", "singletons.h5.journal")), "singletons: no journal written")

ended("no-spec", 2)
check("sweep-job: nope.json: spec not readable" in logs["no-spec"], "no-spec: one line naming the file")

ended("bad-spec", 2)
errors = [l for l in logs["bad-spec"].splitlines() if l.startswith("sweep: ")]
check(len(errors) == 1 and "bad-spec.json" in errors[0] and "colour" in errors[0],
      "bad-spec: sweep's one line names the file and the field: %s" % errors)
check("sweep exited with status 2" in logs["bad-spec"] and "requeue" not in logs["bad-spec"],
      "bad-spec: exit 2 passed through, no requeue")

i = info["threads"]
check(i.get("JobState") == "COMPLETED" and i.get("ExitCode") == "0:0", "threads: the job completes")
text = logs["threads"]
check("1 ranks on 1 node(s), 2 thread(s) per rank" in text, "threads: 2 threads per rank from SLURM_CPUS_PER_TASK")
check("srun --mpi=pmix --ntasks=1 --cpus-per-task=2" in text, "threads: the srun step asks for 2 CPUs per task")
check(os.path.exists(os.path.join(work, "out", "threads.h5")), "threads: the results file is written")
ended("idle", 75)
text = logs["idle"]
check("SIGUSR1 received" in text and "sweep exited with status 75" in text, "idle: warned, stopped with work left")
check("the journal holds 0 result(s), 0 at the start" in text, "idle: the wrapper counted no finished job")
check("1 allocations in a row finished no job" in text and "requeueing job" not in text, "idle: not requeued")
check(journal_ids(tool, os.path.join(work, "out", "idle.h5.journal")) == [], "idle: indeed no result in the journal")
ended("early", 75)
text = logs["early"]
check("SIGUSR1 received" in text and "rank check ok" in text, "early: the shell survived the warning during the rank check")
check("signalled before the sweep started: not starting it" in text and "sweep: " not in text,
      "early: sweep was not started")
check("requeueing job" not in text, "early: not requeued (SWEEP_MAX_IDLE_REQUEUES=1)")
finish("slurm.rankcheck")
