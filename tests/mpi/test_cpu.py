"""Waiting costs no core. Each rank's own CPU time (from /proc, its job processes excluded) over wall
time, while jobs of seconds run elsewhere, stays under 2%:

1. -np 4 with two jobs: two ranks run them (rank 0's own slot takes one when it is free before a
   worker asks), the other two wait; waiting ranks and the busy ranks' parent processes stay under 2%.
2. -np 2, six jobs of about two seconds (rank 0 runs jobs too): the summary's "scheduler CPU" stays under
   2% and counts rank 0's own process only: its job processes used far more CPU than that figure.

Rank 0 runs its own jobs through a runner process forked once (mpi/runner.h, named sweep-runner): its job
processes are the runner's children. The runner waits like a rank, and is held to the same 2%."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)
TICK = os.sysconf("SC_CLK_TCK")


def stat(pid):
    """(own CPU seconds, reaped children's CPU seconds, parent pid) of a process. Its own time is the sum
    of its threads' schedstat run times (nanoseconds; /proc/PID/stat counts 10 ms ticks)."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    x = s[s.rindex(")") + 2:].split()
    own = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                own += int(f.read().split()[0])
        except OSError:
            pass
    return own * 1e-9, (int(x[13]) + int(x[14])) / TICK, int(x[1])


def ranks_of(p):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if stat(int(d))[2] == p.pid and os.path.basename(os.readlink("/proc/%s/exe" % d)) == "sweep":
                    out.append(int(d))
            except OSError:
                pass
    return sorted(out)


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if stat(int(d))[2] == pid:
                    out.append(int(d))
            except OSError:
                pass
    return out


def comm(pid):
    with open("/proc/%d/comm" % pid) as f:
        return f.read().strip()


def runner_of(pid):
    """Rank 0's runner process, or None."""
    return next((k for k in children_of(pid) if comm(k) == "sweep-runner"), None)


def jobs_of(pid):
    """A rank's job processes: its children, or for rank 0 its runner's."""
    out = []
    for k in children_of(pid):
        out += children_of(k) if comm(k) == "sweep-runner" else [k]
    return out


def rank_number(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
    return int(env[b"OMPI_COMM_WORLD_RANK"])


# 1. Two long jobs on four ranks (8 s as measured: the 2 s window must fit inside both jobs even when the
#    machine got quieter after steps_for measured it; 4 s failed once on a loaded clean-clone run).
c.write_spec(work, name="two.json", users=["alba"], formats={"norm": {"lr": 1e-2}},
             train={"steps": c.steps_for(sweep, work, 8.0), "batch": 4, "seq": 12}, seeds=2,
             eval={"users": "own", "slices": 1, "general": False, "tokens": 100})
p = c.start(4, sweep, ["two.json", "-o", "two/results.h5", "-q"], work)
t0 = time.time()
ranks, busy = [], []
while p.poll() is None and time.time() - t0 < 120:   # until both jobs run
    ranks = ranks_of(p)
    busy = [r for r in ranks if jobs_of(r)]
    if len(ranks) == 4 and len(busy) == 2:
        break
    time.sleep(0.05)
if c.check(len(ranks) == 4 and len(busy) == 2, "four ranks, two of them running a job (%s, %s)" % (ranks, busy)):
    numbers = {r: rank_number(r) for r in ranks}
    runner = next((runner_of(r) for r in ranks if numbers[r] == 0), None)
    c.check(runner is not None, "rank 0 has its runner process")
    watched = ranks + ([runner] if runner else [])
    first = {r: stat(r) for r in watched}
    ta = time.time()
    time.sleep(2.0)
    try:
        still = all(jobs_of(r) for r in busy)
        last = {r: stat(r) for r in watched}
    except OSError:
        still, last = False, first
    wall = time.time() - ta
    c.check(still, "the two jobs ran through the whole measurement (make them longer if this fails)")
    for r in watched:
        share = (last[r][0] - first[r][0]) / wall
        role = "running a job" if r in busy or (r == runner and any(numbers[b] == 0 for b in busy)) else "waiting"
        name = "rank 0's runner" if r == runner else "rank %d" % numbers[r]
        c.log("%s (%s): %.2f%% of a core over %.1f s" % (name, role, 100 * share, wall))
        c.check(share < 0.02, "%s (%s) uses %.2f%% of a core while jobs run" % (name, role, 100 * share))
out, err = p.communicate(timeout=180)
c.check(p.returncode == 0, "two jobs on four ranks: exit %d %s" % (p.returncode, err[-800:]))

# 2. A realistic sweep at -np 2: the summary's figure, and whose CPU it counts.
c.write_spec(work, name="six.json", users=["alba", "brisk", "corvo"], formats={"norm": {"lr": 1e-2}},
             train={"steps": c.steps_for(sweep, work, 1.5), "batch": 4, "seq": 12}, seeds=2,
             eval={"users": "own", "slices": 1, "general": False, "tokens": 100})
p = c.start(2, sweep, ["six.json", "-o", "six/results.h5", "--progress-every", "1000"], work)
rank0, sample, runner, rsample = None, None, None, None
t0 = time.time()
while p.poll() is None and time.time() - t0 < 180:
    try:
        if rank0 is None:
            rs = ranks_of(p)
            rank0 = next((r for r in rs if rank_number(r) == 0), None)
        if rank0 is not None:
            sample = stat(rank0)   # the last one before rank 0 exits
            runner = runner or runner_of(rank0)
        if runner is not None:
            rsample = stat(runner)   # its reaped children: rank 0's jobs
    except OSError:
        pass
    time.sleep(0.05)
out, err = p.communicate(timeout=180)
c.check(p.returncode == 0, "six jobs on two ranks: exit %d %s" % (p.returncode, err[-800:]))
m = re.search(r"in ([0-9.]+) s; worker efficiency ([0-9.]+)%.*scheduler CPU ([0-9.]+)% of wall", err)
if c.check(m is not None and sample is not None, "summary line and rank 0's CPU: %s" % c.sweep_lines(err)[-1:]):
    wall, eff, sched = float(m.group(1)), float(m.group(2)), float(m.group(3))
    jobs = c.read_jobs(os.path.join(work, "six/results.h5"))
    on_rank0 = sum(1 for r in jobs["rank"] if r == 0)
    # rank 0 reaps the runner (and so counts its jobs) only as it ends
    sample = (sample[0], max(sample[1], rsample[1] if rsample else 0.0), sample[2])
    c.log("summary: %.1f s, efficiency %.1f%%, scheduler CPU %.2f%%; rank 0: own %.2f s CPU, its jobs' %.2f s "
          "(%d jobs)" % (wall, eff, sched, sample[0], sample[1], on_rank0))
    c.check(sched < 2.0, "scheduler CPU %.2f%% of wall < 2%%" % sched)
    c.check(on_rank0 >= 1 and sample[1] > 0.5,
            "rank 0 ran jobs in child processes (%d, %.2f s)" % (on_rank0, sample[1]))
    c.check(sched / 100 * wall < 0.25 * sample[1],
            "the figure (%.3f s) excludes rank 0's job processes (%.2f s of CPU)" % (sched / 100 * wall, sample[1]))
    c.check(sched / 100 * wall <= sample[0] + 0.05,
            "the figure (%.3f s) is within rank 0's own CPU time (%.2f s)" % (sched / 100 * wall, sample[0]))
c.finish("mpi.cpu")
