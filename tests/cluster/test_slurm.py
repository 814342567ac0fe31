"""Slurm across the virtual nodes (scripts/start-slurm-cluster.sh: slurmctld in n1, one slurmd per node
n1..n3, munge shared), 19 jobs of ~1 s:

- many-nodes.sbatch --nodes=3 --ntasks-per-node=2 (srun --mpi=pmix): the rank check passes on 3 nodes;
  the walltime warning (SIGUSR1 to the batch shell, as --signal=B:USR1 sends it: scancel --signal=USR1
  --batch) mid-run stops the ranks on all nodes, sweep exits 75, the wrapper requeues, the next start
  resumes from the journal and completes: COMPLETED, exit 0, a restart; every job once in the journal;
  the results file names n1, n2 and n3 and equals an uninterrupted run bit for bit.
- one-node.sbatch --nodes=1 --ntasks-per-node=2 (mpirun inside the allocation) on one of the nodes:
  COMPLETED, exit 0, its ranks on one host, the file equal to the uninterrupted run.
The machine's own /etc/slurm and the single-node Slurm of tests/slurm are not touched (the cluster's
config is bind-mounted inside the nodes only); vcluster.sh down at the end ends every daemon here.
"""
import os
import re
import subprocess
import sys
import time

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vc  # noqa: E402
from vc import c  # noqa: E402

sweep, tool, rankcheck, work = sys.argv[1:5]
vc.up(3)
r = subprocess.run(["bash", os.path.join(vc.REPO, "scripts", "start-slurm-cluster.sh")], capture_output=True,
                   text=True, timeout=300)
c.log(r.stdout + r.stderr)
if r.returncode != 0:
    c.check(False, "start-slurm-cluster.sh: exit %d" % r.returncode)
    c.finish("cluster.slurm")
c.make_world(sweep, work)
spec = c.write_spec(work, train={"steps": c.steps_for(sweep, work, 1.0), "batch": 4, "seq": 12}, seeds=3)
ids = c.plan_ids(sweep, spec, work)
SLURM = os.path.join(vc.REPO, "slurm")
ENV = dict(c.ENV, SWEEP=sweep, SWEEP_RANKCHECK=rankcheck, SWEEP_GRACE="20")
for k in list(ENV):
    if k.startswith("SLURM_") or k.startswith("SWEEP_LAUNCH") or k.startswith("OMPI_MCA_"):
        del ENV[k]

ref = c.run(2, sweep, ["spec.json", "-o", "ref/results.h5", "-q"], work)
c.check(ref.returncode == 0, "uninterrupted run: exit %d %s" % (ref.returncode, ref.stderr[-800:]))


def n1(*cmd, timeout=60):
    return subprocess.run(["bash", vc.VCLUSTER, "exec", "n1"] + list(cmd), cwd=work, env=ENV, capture_output=True,
                          text=True, timeout=timeout)


def sbatch(script, options, out):
    os.makedirs(os.path.join(work, os.path.dirname(out)), exist_ok=True)
    r = n1("sbatch", "--parsable", "--output=log-%j.out", "--time=10", *options, os.path.join(SLURM, script),
           "spec.json", out)
    if r.returncode != 0:
        raise SystemExit("sbatch: %s %s" % (r.stdout, r.stderr))
    job = r.stdout.strip().split(";")[0]
    c.log("submitted %s: job %s" % (script, job))
    return job


def info(job):
    r = n1("scontrol", "show", "job", "-o", job)
    return dict(f.split("=", 1) for f in r.stdout.split() if "=" in f) if r.returncode == 0 else {}


def wait_job(job, timeout, until=None):
    t0, last, i = time.time(), None, {}
    while time.time() - t0 < timeout:
        i = info(job)
        seen = (i.get("JobState"), i.get("Restarts"))
        if seen != last:
            c.log("%6.1f s: job %s %s, restarts %s" % (time.time() - t0, job, *seen))
            last = seen
        if (until and until(i)) or i.get("JobState") in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"):
            return i
        time.sleep(0.25)
    n1("scancel", job)
    c.check(False, "job %s did not end within %d s" % (job, timeout))
    return i


def records(out):
    j = os.path.join(work, out + ".journal")
    try:
        return [x[0] for x in c.journal_records(tool, j)[0]] if os.path.exists(j) else []
    except SystemExit:
        return []


def log_of(job):
    try:
        with open(os.path.join(work, "log-%s.out" % job), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def hosts(path):
    with h5py.File(path, "r") as f:
        return sorted(set(h.decode() if isinstance(h, bytes) else h for h in f["host"][:]))


# 1. many-nodes.sbatch on 3 nodes, the warning mid-run, requeue, completion.
out = "many/results.h5"
job = sbatch("many-nodes.sbatch", ["--nodes=3", "--ntasks-per-node=2", "--cpus-per-task=1"], out)
wait_job(job, 120, until=lambda i: len(records(out)) >= 3 or i.get("JobState") != "RUNNING" and i.get("JobState") != "PENDING")
c.check(len(records(out)) < len(ids), "the warning comes mid-run: %d of %d jobs done" % (len(records(out)), len(ids)))
n1("scancel", "--signal=USR1", "--batch", job)
i = wait_job(job, 240)
text = log_of(job)
c.log(text[-4000:])
c.check("rank check ok: 6 ranks on 3 node(s)" in text, "the rank check passed on 3 nodes")
c.check("sweep exited with status 75" in text and "requeueing job %s" % job in text,
        "the warning stopped the ranks on all nodes: sweep exited 75 and the job requeued")
c.check(i.get("JobState") == "COMPLETED" and i.get("ExitCode") == "0:0" and int(i.get("Restarts", "0")) >= 1,
        "requeued once and completed with exit 0: %s %s restarts %s" % (i.get("JobState"), i.get("ExitCode"),
                                                                   i.get("Restarts")))
done = [int(k) for k in re.findall(r"sweep: %d jobs \((\d+) already done\)" % len(ids), text)]
c.check(len(done) >= 2 and done[0] == 0 and done[-1] > 0, "the second start resumed from the journal: %s" % done)
final = records(out)
c.check(sorted(final) == sorted(ids), "every job once in the journal (%d records, %d jobs)" % (len(final), len(ids)))
res = os.path.join(work, out)
if c.check(os.path.exists(res), "the results file exists"):
    c.check(hosts(res) == ["n1", "n2", "n3"], "its host column names n1, n2, n3: %s" % hosts(res))
    rc, msg = c.compare(tool, os.path.join(work, "ref/results.h5"), res)
    c.check(rc == 0, "after the requeue across nodes the file equals the uninterrupted run: %s" % msg)

# 2. one-node.sbatch on one of the nodes.
out = "one/results.h5"
job = sbatch("one-node.sbatch", ["--nodes=1", "--ntasks-per-node=2", "--cpus-per-task=1"], out)
i = wait_job(job, 180)
text = log_of(job)
c.check(i.get("JobState") == "COMPLETED" and i.get("ExitCode") == "0:0",
        "one-node.sbatch completed with exit 0: %s %s\n%s" % (i.get("JobState"), i.get("ExitCode"), text[-2000:]))
res = os.path.join(work, out)
if c.check(os.path.exists(res), "one-node: the results file exists"):
    h = hosts(res)
    c.check(len(h) == 1 and h[0] in ("n1", "n2", "n3"), "one-node: its ranks on one virtual node: %s" % h)
    rc, msg = c.compare(tool, os.path.join(work, "ref/results.h5"), res)
    c.check(rc == 0, "one-node: the file equals the uninterrupted run: %s" % msg)
c.finish("cluster.slurm")
