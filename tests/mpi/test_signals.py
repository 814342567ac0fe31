"""Signals: a graceful stop hands out no new jobs, lets the running ones finish within --grace (or
abandons them after it), writes the file and exits 75; the same command then resumes, and the final
file equals an uninterrupted run's.

- SIGUSR1 to mpirun (Slurm's --signal warning; Open MPI forwards it to the ranks);
- SIGTERM to every process of the run but mpirun (what Slurm does to a job step before SIGKILL: ranks
  and job processes alike; the job processes must not die of it);
- SIGUSR1 with a short --grace: the running jobs are abandoned, not recorded as failures;
- SIGUSR1 twice: the second abandons the running jobs at once, whatever the grace.
(SIGTERM to mpirun itself is followed by Open MPI's own SIGKILL a second later: test_kill_resume.)"""
import os
import signal
import sys
import time

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)
spec = c.write_spec(work, formats={"norm": {"lr": 1e-2}},
                    train={"steps": c.steps_for(sweep, work, 0.7), "batch": 4, "seq": 12}, seeds=8,
                    eval={"users": "own", "slices": 1, "general": False, "tokens": 100})
ids = c.plan_ids(sweep, spec, work)
c.log("plan: %d jobs" % len(ids))
out = os.path.join(work, "out", "results.h5")
journal = out + ".journal"

ref = c.run(3, sweep, ["spec.json", "-o", "ref/results.h5", "-q"], work)
c.check(ref.returncode == 0, "uninterrupted run: exit %d\n%s" % (ref.returncode, ref.stderr[-1500:]))
job_seconds = c.read_jobs(os.path.join(work, "ref/results.h5"))["seconds"] if ref.returncode == 0 else [2.0]
c.log("jobs take %.1f .. %.1f s" % (min(job_seconds), max(job_seconds)))


def records(path=journal):
    if not os.path.exists(path):
        return []
    try:
        return c.journal_records(tool, path)[0]
    except SystemExit:
        return []


def rank_and_job_pids(p):
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != p.pid:
            try:
                if os.getsid(int(d)) == p.pid and os.path.basename(os.readlink("/proc/%s/exe" % d)) == "sweep":
                    pids.append(int(d))
            except OSError:
                pass
    return pids


def job_processes(p):
    """The run's job processes: sweep processes whose parent is a rank of the run."""
    ranks = set(rank_and_job_pids(p))
    kids = []
    for pid in ranks:
        try:
            with open("/proc/%d/stat" % pid) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) in ranks:
                    kids.append(pid)
        except OSError:
            pass
    return kids


def interrupted_run(name, grace, send, spec_name="spec.json", out_h5=out, plan=ids, wait_for="a landed job"):
    """Starts the sweep, waits for a job to land (or, wait_for="every rank in a job", for three job
    processes), calls send(p); returns (records at the signal, records after, seconds from the signal to
    the exit, stderr)."""
    jpath = out_h5 + ".journal"
    before = len(records(jpath))
    args = [spec_name, "-o", os.path.relpath(out_h5, work), "--grace", str(grace), "--progress-every", "1000"]
    p = c.start(3, sweep, args, work)
    t0 = time.time()
    if wait_for == "a landed job":
        while len(records(jpath)) <= before and p.poll() is None and time.time() - t0 < 120:
            time.sleep(0.05)
        time.sleep(0.3)   # every rank is inside a job now
    else:
        while len(job_processes(p)) < 3 and p.poll() is None and time.time() - t0 < 120:
            time.sleep(0.02)
    at_signal = len(records(jpath))
    ts = time.time()
    try:
        send(p)
    except ProcessLookupError:
        pass   # the sweep ended first: the exit status check below says so
    try:
        _, err = p.communicate(timeout=120)
    except Exception:  # noqa: BLE001
        c.kill_group(p)
        _, err = p.communicate()
    took = time.time() - ts
    after = records(jpath)
    c.log("%s: %d records at the signal, %d at the exit %.1f s later (exit %s)" %
          (name, at_signal, len(after), took, p.returncode))
    c.check(p.returncode == 75, "%s: exit 75 (got %s)\n%s" % (name, p.returncode, err[-1500:]))
    with open(out_h5 + ".state") as f:   # rank 0 keeps its status for wrappers (results/runstate.h)
        ended = [l.split()[1] for l in f if l.startswith("exit ")]
    c.check(ended == ["75"], "%s: the state file says exit 75: %s" % (name, ended))
    c.check(any("no new jobs" in l for l in c.sweep_lines(err)), "%s: says it stops handing out jobs" % name)
    c.check(all(r[1] == "ok" for r in after), "%s: nothing recorded as failed: %s" %
            (name, [r for r in after if r[1] != "ok"]))
    c.check(c.wait_gone(work, 10), "%s: no process of the run is left" % name)
    try:
        jobs = c.read_jobs(out_h5)
        ok = sum(s == "ok" for s in jobs["status"])
        c.check(ok == len(set(r[0] for r in after)) and jobs["status"].count("pending") == len(plan) - ok,
                "%s: the file is written: %d ok, the rest pending" % (name, ok))
    except Exception as e:  # noqa: BLE001
        c.check(False, "%s: the results file opens: %s" % (name, e))
    return at_signal, len(after), took, err


# 1. SIGUSR1 to mpirun, long grace: the three running jobs finish and are recorded, nothing new starts.
n0, n1, took, _ = interrupted_run("SIGUSR1", 60, lambda p: os.kill(p.pid, signal.SIGUSR1))
c.check(1 <= n1 - n0 <= 4, "SIGUSR1: the running jobs finish (and only they): %d more records" % (n1 - n0))
c.check(n1 < len(ids), "SIGUSR1: jobs are left for the rerun")


# 2. SIGTERM to ranks and job processes, as Slurm sends it.
def term_all(p):
    for pid in rank_and_job_pids(p):
        os.kill(pid, signal.SIGTERM)


n0, n1, took, _ = interrupted_run("SIGTERM to every rank and job", 60, term_all)
c.check(1 <= n1 - n0 <= 4, "SIGTERM: the running jobs finish: %d more records" % (n1 - n0))

# 3. A grace shorter than a job: the jobs still running after it are abandoned, and not recorded. Jobs
# of about 4 s (their own spec and file), signalled as soon as all three are running: none can finish
# within 0.3 s (timed against the jobs just landed, 0.6 s ones finished within the grace on a fast
# machine).
long_spec = c.write_spec(work, name="long.json", formats={"norm": {"lr": 1e-2}},
                         train={"steps": c.steps_for(sweep, work, 4.0), "batch": 4, "seq": 12}, seeds=2,
                         eval={"users": "own", "slices": 1, "general": False, "tokens": 100})
n0, n1, took, err = interrupted_run("SIGUSR1, grace 0.3 s", 0.3, lambda p: os.kill(p.pid, signal.SIGUSR1),
                                    "long.json", os.path.join(work, "out", "long.h5"),
                                    c.plan_ids(sweep, long_spec, work), "every rank in a job")
c.check(n1 == n0 and "grace period over: abandoning the running jobs" in err,
        "grace 0.3 s: the jobs still running are abandoned (%d more records)" % (n1 - n0))
c.check(took < 3, "grace 0.3 s: exit %.1f s after the signal" % took)


# 4. Two signals: the second abandons the running jobs although the grace is long.
def twice(p):
    os.kill(p.pid, signal.SIGUSR1)
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGUSR1)


n0, n1, took, err = interrupted_run("SIGUSR1 twice", 600, twice)
c.check(n1 - n0 <= 2 and took < 30 and "second signal: abandoning the running jobs" in err, "a second signal abandons the running jobs (%d more records, %.1f s)" %
        (n1 - n0, took))

# The same command completes the rest, and the result is the uninterrupted one.
last = c.run(3, sweep, ["spec.json"], work)
c.check(last.returncode == 0, "resumed run: exit %d\n%s" % (last.returncode, last.stderr[-1500:]))
with open(out + ".state") as f:
    c.check("exit 0\n" in f.read(), "the finished run's state file says exit 0")
recs = records()
c.check(sorted(r[0] for r in recs) == sorted(ids), "every job journalled exactly once (%d records)" % len(recs))
if ref.returncode == 0 and last.returncode == 0:
    rc, msg = c.compare(tool, os.path.join(work, "ref/results.h5"), out)
    c.check(rc == 0, "the resumed result equals the uninterrupted one: %s" % msg)
c.finish("mpi.signals")
