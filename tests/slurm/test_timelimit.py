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
import re
import signal
import subprocess
import sys
import time

import world
from slurmtest import (check, check_no_script_errors, check_results, compare_results, finish, job_info, job_log,
                       journal_ids, log, make_world, sbatch, setup, steps_for, wait_job)

SEEDS = 2
LIMIT_MIN, WARN_S = 3, 50

sweep, rankcheck, work, env = setup(sys.argv)
make_world(sweep, work, env, seeds=SEEDS, steps=50)
steps = steps_for(sweep, work, env, 0.5)
spec = world.write_spec(work, SEEDS, steps)
n_jobs = 1 + 2 * 3 * SEEDS
log("%d jobs of %d steps (about 0.5 s each on this machine now)" % (n_jobs, steps))

out = os.path.join(work, "out", "results.h5")
journal = out + ".journal"
job = sbatch("one-node.sbatch", ["spec.json", "out/results.h5"], work,
             dict(env, SWEEP_GRACE="8", SWEEP_STOP_MARGIN="8"),
             ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1", "--time=%d" % LIMIT_MIN,
              "--signal=B:USR1@%d" % WARN_S, "--requeue"])


def job_sweeps(job):
    """Pids of this Slurm job's sweep processes (ranks and their job children): the sweep binary, with
    SLURM_JOB_ID=job in the environment."""
    exe, tag, pids = os.path.realpath(sweep), b"SLURM_JOB_ID=%s\0" % job.encode(), []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.path.realpath("/proc/%s/exe" % p) != exe:
                continue
            with open("/proc/%s/environ" % p, "rb") as f:
                if tag in f.read():
                    pids.append(int(p))
        except OSError:
            pass
    return pids


def signal_all(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


starts_at = {}   # Slurm's StartTime of each allocation, by its restart count


def note(info):
    if info.get("JobState") == "RUNNING" and info.get("StartTime", "Unknown") != "Unknown":
        starts_at.setdefault(int(info.get("Restarts", "0")), info["StartTime"])
    return False


def warned():
    return "SIGUSR1 received" in job_log(work, job)


# 1. Hold the first allocation's sweep once it has made progress, until the warning arrives. The
# journal and the log are polled often (cheap); Slurm only now and then (scontrol is slow under load).
held, state, t0, last_asked = set(), "PENDING", time.time(), 0.0
while time.time() - t0 < 200 and not warned():
    if time.time() - last_asked > 2:
        info = job_info(job)
        note(info)
        state, last_asked = info.get("JobState", state), time.time()
        if state not in ("PENDING", "RUNNING", "CONFIGURING"):
            break
    if len(journal_ids(journal)) >= 2:
        # Stop until no new process appears: a rank may fork a job between listing and stopping.
        while True:
            new = set(job_sweeps(job)) - held
            if not new:
                break
            signal_all(new, signal.SIGSTOP)
            held |= new
        break
    time.sleep(0.05)
done_at_hold = len(journal_ids(journal))
# The reference, an uninterrupted run outside Slurm, runs meanwhile (the held sweep takes no CPU).
log("reference: an uninterrupted run, mpirun -np 2 outside Slurm")
os.makedirs(os.path.join(work, "ref"))
ref_t0 = time.time()
ref = subprocess.Popen(["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", sweep, "run", "spec.json",
                        "-o", "ref/results.h5", "-q"], cwd=work, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
if not held and warned():
    log("%.1f s: the warning came before two jobs were done: nothing to hold" % (time.time() - t0))
else:
    log("%.1f s: held %d sweep process(es) of job %s with %d of %d jobs journalled" % (
        time.time() - t0, len(held), job, done_at_hold, n_jobs))
    check(held, "the first allocation's sweep was found and held")
    check(done_at_hold < n_jobs, "work was left when the sweep was held: %d of %d jobs" % (done_at_hold, n_jobs))
    t1 = time.time()
    while held and not warned() and time.time() - t1 < 150:
        time.sleep(0.2)
    check(warned(), "the time limit's warning reached the batch shell within 150 s of the hold")
    log("%.1f s: warning logged; letting the sweep go" % (time.time() - t0))
signal_all(held, signal.SIGCONT)

# 2. The rest: the requeue waits cred_expire (30 s here) before the job may start again. Once the
# time limit has requeued the job, later allocations get 10 minutes: on a loaded machine start-up
# alone (two mpirun launches) can take 50 s, and every allocation would end at its own warning.
extended = [False]


def extend_after_requeue(info):
    note(info)
    if not extended[0] and int(info.get("Restarts", "0")) >= 1:
        r = subprocess.run(["scontrol", "update", "JobId=%s" % job, "TimeLimit=10"], capture_output=True, text=True)
        check(r.returncode == 0, "later allocations get a 10-minute limit: %s" % r.stderr.strip())
        extended[0] = True
    return False


info = wait_job(job, timeout=420, until=extend_after_requeue)
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
check_no_script_errors(text, "the job")
check(info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0",
      "job completed with exit 0 in the end: %s %s" % (info.get("JobState"), info.get("ExitCode")))
restarts = int(info.get("Restarts", "0"))
check(restarts >= 1, "the time limit requeued the job: restarts %d" % restarts)
check("launcher: mpirun -np 2 --bind-to none" in text, "ranks started by plain mpirun")

# Each requeue follows a warning that came when the time limit sends it: 40 to 70 s after Slurm
# started that allocation (up to the rank check's length later in the log: bash runs the trap when
# the probe returns).
stamp = lambda s, fmt: time.mktime(time.strptime(s, fmt))
starts = [m.start() for m in re.finditer(r"sweep-job: \S+ \S+: job %s start \d+" % job, text)]
check(len(starts) == restarts + 1, "one wrapper start per allocation: %d starts, %d restarts" % (len(starts), restarts))
check(sorted(starts_at) == list(range(restarts + 1)), "Slurm's start time of every allocation seen: %s" % starts_at)
warned_allocs = 0
lo, hi = LIMIT_MIN * 60 - WARN_S - 30, LIMIT_MIN * 60 - WARN_S
for k, pos in enumerate(starts):
    part = text[pos:starts[k + 1] if k + 1 < len(starts) else len(text)]
    w = re.search(r"sweep-job: (\S+ \S+): SIGUSR1 received", part)
    if "requeueing job %s" % job in part:
        if check(w is not None, "allocation %d: a warning before the requeue" % (k + 1)) and k in starts_at:
            after = stamp(w.group(1), "%Y-%m-%d %H:%M:%S") - stamp(starts_at[k], "%Y-%m-%dT%H:%M:%S")
            check(lo - 1 <= after <= hi + 40, "allocation %d: the warning came %.0f s after Slurm started it, "
                  "within [%d, %d] s as the time limit sends it" % (k + 1, after, lo, hi))
            warned_allocs += 1
        # 75 from sweep; a rank still in MPI start-up when the warning came dies of it (138, which the
        # wrapper counts as 75); or the warning came during the rank check and sweep never started.
        check(any(t in part for t in ("sweep exited with status 75", "(status 138): treating it as 75",
                                      "signalled before the sweep started")),
              "allocation %d: sweep stopped with work left (exit 75), or was not started" % (k + 1))
    else:
        check(k == len(starts) - 1, "allocation %d: only the last one is not requeued" % (k + 1))
check(warned_allocs == restarts, "every requeue followed a time-limit warning: %d of %d" % (warned_allocs, restarts))
check("SIGTERM received" not in text, "no allocation ran into the time limit itself")
done = [int(k) for k in re.findall(r"sweep: %d jobs \((\d+) already done\), 2 ranks" % n_jobs, text)]
check(len(done) >= 2 and done[0] == 0 and all(a <= b for a, b in zip(done, done[1:])) and 0 < done[-1] < n_jobs,
      "each start of sweep resumed from the journal, the last with some but not all jobs done: %s" % done)
check(text.rstrip().endswith("sweep exited with status 0"), "the last start finished the sweep")

ids = journal_ids(journal)
check(len(ids) == n_jobs and len(set(ids)) == n_jobs,
      "every job in the journal exactly once: %d records, %d distinct, %d jobs" % (len(ids), len(set(ids)), n_jobs))
check(set(ids) == set(journal_ids(os.path.join(work, "ref", "results.h5.journal"))),
      "the same job ids as the uninterrupted run")
check_results(out, spec, SEEDS)
if os.path.exists(out):
    diffs = compare_results(os.path.join(work, "ref", "results.h5"), out) if ref.returncode == 0 else ["no reference"]
    check(not diffs, "the results equal the uninterrupted run's: differences in %s" % diffs)
finish("slurm.timelimit")
