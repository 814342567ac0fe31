"""Slurm across the virtual nodes (scripts/start-slurm-cluster.sh: slurmctld in n1, one slurmd per node
n1..n3, munge shared), 19 jobs of ~1 s:

- MPI_Init under srun --mpi=pmix holds every rank until all are ready: one rank whose first PMIx
  fence is released 3 s late (tests/cluster/slowfence.c, preloaded) still gets the rank check's
  allreduce right (with Slurm's tree fence the others went on and that rank crashed).
- many-nodes.sbatch --nodes=3 --ntasks-per-node=2 (srun --mpi=pmix) with a real time limit,
  --time=2 --signal=B:USR1@45 --requeue: the rank check passes on 3 nodes; the sweep is held
  (SIGSTOP, its ranks on all three nodes) from its third finished job until Slurm's own warning
  reaches the batch shell, 45-75 s into the allocation; then every held rank on every node has ended
  when the wrapper logs sweep's exit 75, the job requeues (later allocations get 10 minutes), resumes
  from the journal and completes: COMPLETED, exit 0; every job once in the journal; the results file
  names n1, n2 and n3 and equals an uninterrupted run bit for bit.
- one-node.sbatch --nodes=1 --ntasks-per-node=2 (mpirun inside the allocation) on one of the nodes:
  COMPLETED, exit 0, its ranks on one host, the file equal to the uninterrupted run.
The machine's own /etc/slurm and the single-node Slurm of tests/slurm are not touched (the cluster's
config is bind-mounted inside the nodes only); vcluster.sh down at the end ends every daemon here.
"""
import os
import re
import signal
import subprocess
import sys
import time

import h5py

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "slurm"))
import vc  # noqa: E402
from vc import c  # noqa: E402
import slurmtest as st  # noqa: E402

LIMIT_MIN, WARN_S = 2, 45

sweep, tool, rankcheck, work = sys.argv[1:5]
vc.up(3)
t_start = time.time()
r = subprocess.run(["bash", os.path.join(vc.REPO, "scripts", "start-slurm-cluster.sh")], capture_output=True,
                   text=True, timeout=300)
c.log(r.stdout + r.stderr)
if r.returncode != 0:
    c.check(False, "start-slurm-cluster.sh: exit %d" % r.returncode)
    c.finish("cluster.slurm")
st.SLURM_PREFIX = ["bash", vc.VCLUSTER, "exec", "n1"]
ENV = dict(c.ENV, SWEEP=sweep, SWEEP_RANKCHECK=rankcheck, SWEEP_GRACE="20", SWEEP_STOP_MARGIN="10")
for k in list(ENV):
    if k.startswith("SLURM_") or k.startswith("SWEEP_LAUNCH") or k.startswith("OMPI_MCA_"):
        del ENV[k]

c.make_world(sweep, work)
spec = c.write_spec(work, train={"steps": c.steps_for(sweep, work, 1.0), "batch": 4, "seq": 12}, seeds=3)
ids = c.plan_ids(sweep, spec, work)

# 1. A rank whose MPI_Init fence is released late: the others must wait for it.
for slow in (1, 4):
    p = st.slurm("srun", "--mpi=pmix", "-N3", "--ntasks-per-node=2", "--kill-on-bad-exit=1", rankcheck, cwd=work,
                 env=dict(ENV, LD_PRELOAD=os.environ["SWEEP_TEST_SLOWFENCE"], SLOW_RANK=str(slow), SLOW_SECONDS="3"),
                 timeout=120)
    answers = [l for l in p.stdout.splitlines() if l.startswith("rankcheck ") and l.split()[-1] == "21"]
    if not c.check(p.returncode == 0 and len(answers) == 6,
                   "rank %d's modex fence released 3 s late: all 6 ranks answered the allreduce (exit %d, %d answers)"
                   % (slow, p.returncode, len(answers))):
        c.log(p.stdout + p.stderr)


def hosts(path):
    with h5py.File(path, "r") as f:
        return sorted(set(h.decode() if isinstance(h, bytes) else h for h in f["host"][:]))


def node_of(pid):
    for k in (1, 2, 3):
        if pid in vc.node_pids("n%d" % k):
            return "n%d" % k
    return "?"


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# 2. many-nodes.sbatch on 3 nodes with a real time limit: held mid-run until the warning, requeue, completion.
out = "many/results.h5"
os.makedirs(os.path.join(work, "many"))
journal = os.path.join(work, out + ".journal")
job = st.sbatch("many-nodes.sbatch", ["spec.json", out], work, ENV,
                ["--nodes=3", "--ntasks-per-node=2", "--cpus-per-task=1", "--time=%d" % LIMIT_MIN,
                 "--signal=B:USR1@%d" % WARN_S, "--requeue"])
starts_at = {}
t0 = time.time()
held = st.hold_when(sweep, tool, work, job, journal, 3, starts_at, timeout=150)
done_at_hold = len(st.journal_ids(tool, journal))
# The uninterrupted run, meanwhile (the held sweep takes no CPU).
ref = c.run(2, sweep, ["spec.json", "-o", "ref/results.h5", "-q"], work)
c.check(ref.returncode == 0, "uninterrupted run: exit %d %s" % (ref.returncode, ref.stderr[-800:]))
nodes = sorted(set(node_of(p) for p in held) - {"?"})   # "?": a job child that had just ended
c.log("%.1f s: held %d sweep process(es) of job %s on %s with %d of %d jobs journalled" % (
    time.time() - t0, len(held), job, nodes, done_at_hold, len(ids)))
c.check(nodes == ["n1", "n2", "n3"], "the sweep was held mid-run with ranks on all three nodes: %s" % nodes)
c.check(done_at_hold < len(ids), "work was left when the sweep was held: %d of %d jobs" % (done_at_hold, len(ids)))
while held and not st.warned(work, job) and time.time() - t0 < 200:
    time.sleep(0.2)
c.check(st.warned(work, job), "the time limit's warning reached the batch shell")
st.signal_all(held, signal.SIGCONT)
t1 = time.time()
while "sweep exited with status" not in st.job_log(work, job) and time.time() - t1 < 90:
    time.sleep(0.1)
left = [p for p in held if alive(p)]
c.check("sweep exited with status" in st.job_log(work, job) and not left,
        "the warning stopped the ranks on all nodes: none of the %d held processes alive when sweep's exit is logged "
        "(alive: %s)" % (len(held), left))
info = st.wait_job(job, 300, until=st.allocation_watcher(job, starts_at, 10))
text = st.job_log(work, job)
c.log(text[-5000:])
restarts = int(info.get("Restarts", "0"))
c.check(restarts >= 1, "the time limit requeued the job: restarts %d" % restarts)
c.check(text.count("rank check ok: 6 ranks on 3 node(s)") == restarts + 1, "the rank check passed on 3 nodes at each start")
counted = re.search(r"the journal holds (\d+) result\(s\)", text)
c.check(counted and int(counted.group(1)) >= done_at_hold,
        "the wrapper counted the finished jobs in the journal (its idle-requeue guard): %s, %d at the hold"
        % (counted and counted.group(1), done_at_hold))
st.check_time_limit_requeues(text, job, starts_at, restarts, LIMIT_MIN, WARN_S)
done = st.resumed(text, len(ids), 6)
c.check(len(done) >= 2 and done[0] == 0 and done[-1] > 0, "the second start resumed from the journal: %s" % done)
res = os.path.join(work, out)
st.check_final(tool, info, text, res, len(ids), ref=os.path.join(work, "ref/results.h5"))
if os.path.exists(res):
    c.check(hosts(res) == ["n1", "n2", "n3"], "its host column names n1, n2, n3: %s" % hosts(res))
c.log("many-nodes part: %.0f s" % (time.time() - t0))

# 3. one-node.sbatch on one of the nodes.
out = "one/results.h5"
os.makedirs(os.path.join(work, "one"))
job = st.sbatch("one-node.sbatch", ["spec.json", out], work, ENV, ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1"])
info = st.wait_job(job, 180)
text = st.job_log(work, job)
c.check(info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0",
        "one-node.sbatch completed with exit 0: %s %s\n%s" % (info.get("JobState"), info.get("ExitCode"), text[-2000:]))
res = os.path.join(work, out)
if c.check(os.path.exists(res), "one-node: the results file exists"):
    h = hosts(res)
    c.check(len(h) == 1 and h[0] in ("n1", "n2", "n3"), "one-node: its ranks on one virtual node: %s" % h)
    rc, msg = c.compare(tool, os.path.join(work, "ref/results.h5"), res)
    c.check(rc == 0, "one-node: the file equals the uninterrupted run: %s" % msg)
c.log("cluster.slurm: %.0f s after the nodes were up" % (time.time() - t_start))
c.finish("cluster.slurm")
