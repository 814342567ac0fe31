"""Kill and resume: `mpirun -np 3 sweep run` is killed with SIGKILL at seeded random moments, several
times, then run to completion; the file equals that of an uninterrupted run bit for bit, every job is
in it once, and the journal holds one record per job (no job ran to completion twice).

Kills: SIGKILL to mpirun's process group (Open MPI puts each rank in a group of its own: the ranks
must notice and die, taking their job processes with them); SIGKILL to every process of the run at
once (a node lost, Slurm's kill of a job step); SIGTERM to mpirun (Open MPI forwards it and follows with
SIGKILL a second later). After each kill nothing of the run may survive, and the results file on disk
must open, or, when the kill struck during an in-place update, be refused by HDF5 as open for write
(never read half updated)."""
import os
import random
import signal
import sys
import time

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)
spec = c.write_spec(work, formats={"none": {}, "norm": {"lr": 1e-2}, "lora": {"rank": 2, "alpha": 4, "lr": 1e-3}},
                    train={"steps": c.steps_for(sweep, work, 0.4), "batch": 4, "seq": 12}, seeds=6)
ids = c.plan_ids(sweep, spec, work)
c.log("plan: %d jobs" % len(ids))

ref = c.run(3, sweep, ["spec.json", "-o", "ref/results.h5", "-q"], work)
c.check(ref.returncode == 0, "uninterrupted run: exit %d\n%s" % (ref.returncode, ref.stderr[-2000:]))

out = os.path.join(work, "out", "results.h5")
journal = out + ".journal"
args = ["spec.json", "--flush-every", "0.3", "-q"]


def n_records():
    if not os.path.exists(journal):
        return 0
    try:
        return len(c.journal_records(tool, journal)[0])
    except SystemExit:
        return 0   # a torn tail being written right now; the next look will do


rng = random.Random(20240611)
kills = ["group", "all", "group", "term", "all"]
for k, how in enumerate(kills):
    before = n_records()
    if before >= len(ids):
        break
    p = c.start(3, sweep, args, work)
    # Half the kills wait for a job to land first (mid-sweep), the others strike at any moment,
    # start-up included.
    t0 = time.time()
    if rng.random() < 0.5:
        while n_records() <= before and p.poll() is None and time.time() - t0 < 120:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0))
    else:
        time.sleep(rng.uniform(0.2, 4.0))
    finished = p.poll() is not None
    if how == "group":
        c.kill_group(p)
    elif how == "all":
        c.kill_session(p)
    else:
        try:
            os.kill(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        p.communicate(timeout=60)
    except Exception:
        c.kill_group(p)
        p.communicate()
    gone = c.wait_gone(work, timeout=20)
    c.check(gone, "kill %d (%s): no rank or job process survives" % (k, how))
    if not gone:
        for pid in c.sweep_processes_in(work):
            os.kill(pid, signal.SIGKILL)
    after = n_records()
    c.log("kill %d (%s) after %.1f s%s: journal %d -> %d records" %
          (k, how, time.time() - t0, " (already finished)" if finished else "", before, after))
    if os.path.exists(out):
        try:
            with h5py.File(out, "r") as f:
                n = len(f["job"])
            c.check(n == len(ids), "kill %d: the file on disk lists every job (%d)" % (k, n))
        except Exception as e:  # noqa: BLE001
            # killed while rank 0 updated it in place: every reader refuses it (results/h5write.h)
            # until the next run rebuilds it, which the final comparison checks
            refused = "open for write" in str(e)
            c.check(refused, "kill %d: the results file on disk opens, or is refused as being written: %s" % (k, e))
            if refused:
                c.log("kill %d: struck during an in-place update: the file is refused until the rerun" % k)

last = c.run(3, sweep, args, work)
c.check(last.returncode == 0, "resumed run: exit %d\n%s" % (last.returncode, last.stderr[-2000:]))
recs, torn = c.journal_records(tool, journal)
c.log("journal: %d records for %d jobs" % (len(recs), len(ids)))
c.check(0 < n_records() and sorted(r[0] for r in recs) == sorted(ids),
        "the journal holds exactly one record per job (%d records, %d distinct, %d jobs)" %
        (len(recs), len(set(r[0] for r in recs)), len(ids)))
c.check(all(r[1] == "ok" and r[2] == 1 for r in recs), "every record is ok at attempt 1")
if ref.returncode == 0 and last.returncode == 0:
    rc, msg = c.compare(tool, os.path.join(work, "ref", "results.h5"), out)
    c.check(rc == 0, "resumed result equals the uninterrupted one: %s" % msg)
    jobs = c.read_jobs(out)
    c.check(jobs["id"] == ids and len(set(jobs["id"])) == len(ids), "every job is in the file once")
    c.check(all(s == "ok" for s in jobs["status"]), "every job ok")
# a rerun of a finished sweep runs nothing and changes nothing
again = c.run(2, sweep, ["spec.json"], work)
c.check(again.returncode == 0 and "%d jobs (%d already done)" % (len(ids), len(ids)) in again.stderr,
        "a finished sweep reruns nothing: %s" % c.sweep_lines(again.stderr)[:1])
c.check(len(c.journal_records(tool, journal)[0]) == len(ids), "and appends nothing to the journal")
c.finish("mpi.kill_resume")
