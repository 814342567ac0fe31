"""Killed mid-update (issue #15 part 3): rank 0 updates the results file in place (results/h5write.h),
so a kill while it writes must leave a file no reader takes as complete. SWEEP_TEST_FAULT=h5kill:ID
makes rank 0 kill itself (SIGKILL) in the middle of the update that writes job ID: that job's cells
are written and flushed, its row of the per-job table is not. Then:
- every reader refuses the file: h5py ("already open for write", the superblock's flag) and sweep's
  own reader (results_tool compare exits 2);
- the job is in the journal (journalled and fsynced before any write of the file);
- the resumed run rebuilds the file once and it equals an uninterrupted run (results_tool compare),
  and a finished sweep's rerun leaves it equal and readable."""
import os
import sys

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)
spec = c.write_spec(work, formats={"none": {}, "norm": {"lr": 1e-2}, "lora": {"rank": 2, "alpha": 4, "lr": 1e-3}},
                    train={"steps": 3, "batch": 2, "seq": 12}, seeds=2)
ids = c.plan_ids(sweep, spec, work)
victim = ids[len(ids) // 2]
c.log("plan: %d jobs; rank 0 dies while writing job %s into the file" % (len(ids), victim))

ref = c.run(2, sweep, ["spec.json", "-o", "ref/results.h5", "-q"], work)
c.check(ref.returncode == 0, "uninterrupted run: exit %d\n%s" % (ref.returncode, ref.stderr[-2000:]))

out = os.path.join(work, "out", "results.h5")
args = ["spec.json", "-o", out, "--flush-every", "0"]
r = c.run(2, sweep, args, work, env={"SWEEP_TEST_FAULT": "h5kill:" + victim[:12]})
c.check(r.returncode != 0, "the run whose rank 0 was killed fails: exit %d" % r.returncode)
gone = c.wait_gone(work, timeout=30)
c.check(gone, "no rank or job process survives rank 0's death")
for pid in c.sweep_processes_in(work):
    os.kill(pid, 9)
recs, torn = c.journal_records(tool, out + ".journal")
c.check(victim in [x[0] for x in recs], "the job being written is in the journal (%d records)" % len(recs))
c.check(not any(x.startswith("sweep: finished") for x in r.stderr.splitlines()),
        "rank 0 died before its closing summary (%d of %d jobs journalled)" % (len(recs), len(ids)))
c.check(os.path.exists(out), "the file being updated is on disk")
try:
    with h5py.File(out, "r") as f:
        n = len(f["job"])
    c.check(False, "h5py refuses the half-updated file, but it opened (%d jobs)" % n)
except OSError as e:
    c.check("open for write" in str(e), "h5py refuses the half-updated file: %s" % e)
rc, msg = c.compare(tool, os.path.join(work, "ref", "results.h5"), out)
c.check(rc == 2, "sweep's reader refuses it too: results_tool compare exit %d: %s" % (rc, msg[:200]))

last = c.run(2, sweep, args, work)
c.check(last.returncode == 0, "the resumed run: exit %d\n%s" % (last.returncode, last.stderr[-2000:]))
line = [x for x in last.stderr.splitlines() if x.startswith("sweep: rank 0: ")]
c.check(line and " 1 rebuilds of the results file" in line[0], "the resume rebuilt the file once: %s" % line)
if ref.returncode == 0 and last.returncode == 0:
    rc, msg = c.compare(tool, os.path.join(work, "ref", "results.h5"), out)
    c.check(rc == 0, "the resumed file equals the uninterrupted one: %s" % msg)
    again = c.run(2, sweep, args, work)
    rc, msg = c.compare(tool, os.path.join(work, "ref", "results.h5"), out)
    c.check(again.returncode == 0 and rc == 0, "a rerun of the finished sweep leaves it equal: exit %d, %s"
            % (again.returncode, msg))
c.finish("mpi.rank0_kill")
