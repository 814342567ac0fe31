"""--worker-timeout, and the end of a graceful stop after the last hand-out, on localhost.

1. Heartbeats: jobs of ~3 s with --worker-timeout 1.2 finish (exit 0): a worker running a long job
   is not taken for lost, since it sends a heartbeat every 0.3 s.
2. A worker rank stopped (SIGSTOP, as a node that goes silent: no result, no heartbeat, no reset):
   rank 0 notices it within the timeout, with one line naming the rank and its host, journals its
   job as lost (one failed attempt naming rank 2), lets the running jobs of the other ranks finish,
   and ends the run with exit 75 within the timeout plus about a job; every job finished before is in
   the journal and in the results file; the rerun finishes and equals an uninterrupted run bit for bit.
3. The warning arrives after the last job was handed out, and the one job still running (hung) is
   abandoned at the end of the grace period: exit 75 (work left), not 0; the rerun completes it.
"""
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)
spec = c.write_spec(work, formats={"norm": {"lr": 1e-2}},
                    train={"steps": c.steps_for(sweep, work, 3.0), "batch": 4, "seq": 12}, seeds=2,
                    eval={"users": "own", "slices": 1, "general": False, "tokens": 100})
ids = c.plan_ids(sweep, spec, work)
c.log("plan: %d jobs" % len(ids))


def records(out):
    j = os.path.join(work, out + ".journal")
    if not os.path.exists(j):
        return []
    try:
        return c.journal_records(tool, j)[0]
    except SystemExit:
        return []


# 1. Long jobs, short timeout: the heartbeats keep the workers alive.
ref = c.run(3, sweep, ["spec.json", "-o", "ref/results.h5", "-q", "--worker-timeout", "1.2"], work)
c.check(ref.returncode == 0, "jobs longer than --worker-timeout finish (heartbeats): exit %d\n%s"
        % (ref.returncode, ref.stderr[-1500:]))
secs = c.read_jobs(os.path.join(work, "ref/results.h5"))["seconds"] if ref.returncode == 0 else [0]
c.log("jobs took %.1f .. %.1f s" % (min(secs), max(secs)))
c.check(min(secs) > 1.2 * 1.5, "the jobs were longer than the timeout (%.1f s)" % min(secs))


# 2. A silent worker.
def rank_pid(p, rank):
    """The rank process (not its job child) of mpirun p with OMPI_COMM_WORLD_RANK=rank."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.getsid(int(d)) != p.pid or os.path.basename(os.readlink("/proc/%s/exe" % d)) != "sweep":
                continue
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read().split(b"\0")
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if os.path.basename(os.readlink("/proc/%d/exe" % ppid)) == "sweep":
                continue   # a job child: its parent is a rank
            if ("OMPI_COMM_WORLD_RANK=%d" % rank).encode() in env:
                return int(d)
        except OSError:
            continue
    return None


p = c.start(3, sweep, ["spec.json", "-o", "out/results.h5", "--worker-timeout", "2", "--progress-every", "1000"], work)
t0 = time.time()
while len(records("out/results.h5")) < 2 and time.time() - t0 < 120 and p.poll() is None:
    time.sleep(0.1)
victim = rank_pid(p, 2)
c.check(victim is not None, "found rank 2's process")
n_before = len(records("out/results.h5"))
if victim:
    os.kill(victim, signal.SIGSTOP)
t_stop = time.time()
try:
    out, err = p.communicate(timeout=60)
except Exception:
    c.kill_group(p)
    out, err = p.communicate()
took = time.time() - t_stop
if victim:
    try:
        os.kill(victim, signal.SIGCONT)
    except ProcessLookupError:
        pass
c.log(err[-2000:])
c.check(p.returncode == 75, "a silent worker ends the run with exit 75: %d" % p.returncode)
host = socket.gethostname()
lines = [l for l in c.sweep_lines(err) if "has not answered" in l]
c.check(len(lines) == 1 and re.search(r"rank 2 on host %s has not answered for \d+ s" % re.escape(host), lines[0]),
        "one line names the rank and its host: %s" % lines)
c.check(took < 2 + 3 * max(secs) + 6, "rank 0 noticed within the timeout and ended after the running jobs: %.1f s"
        % took)
recs = records("out/results.h5")
kept = [r for r in recs if r[1] == "ok"]
lost = [r for r in recs if r[1] != "ok"]
c.check(len(kept) >= n_before, "finished jobs kept in the journal: %d, %d before the stop" % (len(kept), n_before))
c.check(len(lost) == 1 and lost[0][2] == 1, "rank 2's job is journalled as one lost attempt: %s" % lost)
if os.path.exists(os.path.join(work, "out/results.h5")):
    jobs = c.read_jobs(os.path.join(work, "out/results.h5"))
    ok = sum(1 for s in jobs["status"] if s == "ok")
    c.check(ok == len(kept), "the results file holds the journalled jobs as ok: %d of %d" % (ok, len(kept)))
    why = [m for i, m in zip(jobs["id"], jobs["message"]) if lost and i == lost[0][0]]
    c.check(why and "lost with rank 2 on host %s" % socket.gethostname() in why[0], "its message names rank 2: %s" % why)
else:
    c.check(False, "the results file was written")
c.check(c.wait_gone(work), "no sweep process left")
rerun = c.run(3, sweep, ["spec.json", "-o", "out/results.h5", "-q", "--worker-timeout", "2"], work)
c.check(rerun.returncode == 0, "the rerun finishes: exit %d %s" % (rerun.returncode, rerun.stderr[-800:]))
rc, msg = c.compare(tool, os.path.join(work, "ref/results.h5"), os.path.join(work, "out/results.h5"))
c.check(rc == 0, "the resumed file equals the uninterrupted run: %s" % msg)

# 3. The warning after the last hand-out; the last running job hangs and is abandoned.
hang = ids[0]   # longest first: the first handed out, so the others finish and the queue empties
p = c.start(2, sweep, ["spec.json", "-o", "last/results.h5", "--grace", "1", "--progress-every", "1000"], work,
            env={"SWEEP_TEST_FAULT": "hang:" + hang})
t0 = time.time()
while len(records("last/results.h5")) < len(ids) - 1 and time.time() - t0 < 120 and p.poll() is None:
    time.sleep(0.1)
c.check(len(records("last/results.h5")) == len(ids) - 1, "every job but the hung one finished")
os.kill(p.pid, signal.SIGUSR1)
try:
    out, err = p.communicate(timeout=60)
except Exception:
    c.kill_group(p)
    out, err = p.communicate()
c.check("abandoning the running jobs" in err, "the hung job was abandoned after the grace period")
c.check(p.returncode == 75, "a job abandoned after the last hand-out is work left: exit 75, not %d" % p.returncode)
c.check(hang not in [r[0] for r in records("last/results.h5")], "the abandoned job is not in the journal")
rerun = c.run(2, sweep, ["spec.json", "-o", "last/results.h5", "-q"], work)
c.check(rerun.returncode == 0, "the rerun completes it: exit %d" % rerun.returncode)
rc, msg = c.compare(tool, os.path.join(work, "ref/results.h5"), os.path.join(work, "last/results.h5"))
c.check(rc == 0, "and equals the uninterrupted run: %s" % msg)
c.finish("mpi.worker_timeout")
