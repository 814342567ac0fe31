"""Failure is data: with SWEEP_TEST_FAULT one job segfaults, one returns an error, one diverges and one
hangs (killed by --job-timeout). Each is retried up to max_attempts, then recorded with its status and
message; the sweep finishes the rest and exits 1 with a summary. At -np 1 every job runs in rank 0's
own child, at -np 3 mostly in the workers': both paths are exercised. A rerun keeps the failures and
still exits 1; --retry-failed without the faults then gives the file of a sweep that never failed."""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)
spec = c.write_spec(work, formats={"none": {}, "norm": {"lr": 1e-2}, "lora": {"rank": 2, "alpha": 4, "lr": 1e-3}},
                    train={"steps": 30, "batch": 2, "seq": 12}, seeds=2, max_attempts=2)
ids = c.plan_ids(sweep, spec, work)
# the none job is first in plan order; pick trained jobs for the faults
crash, error, nan, hang = ids[1], ids[4], ids[7], ids[10]
faults = "crash:%s,error:%s,nan:%s,hang:%s" % (crash, error, nan[:10], hang)
expect = {crash: ("crashed", "signal 11"), error: ("error", "injected error"),
          nan: ("diverged", "diverged"), hang: ("timeout", "job timeout")}

clean = c.run(2, sweep, ["spec.json", "-o", "clean/results.h5", "-q"], work)
c.check(clean.returncode == 0, "a sweep without faults: exit %d\n%s" % (clean.returncode, clean.stderr[-1500:]))

for np_ in (1, 3):
    out = "np%d/results.h5" % np_
    r = c.run(np_, sweep, ["spec.json", "-o", out, "--job-timeout", "3", "--progress-every", "1000"], work,
              env={"SWEEP_TEST_FAULT": faults}, timeout=200)
    lines = c.sweep_lines(r.stderr)
    c.check(r.returncode == 1, "-np %d: exit 1 when jobs failed (got %d)\n%s" % (np_, r.returncode, r.stderr[-2000:]))
    summary = [l for l in lines if "finished:" in l]
    c.check(len(summary) == 1 and "%d of %d jobs done, 4 failed" % (len(ids), len(ids)) in summary[0],
            "-np %d: the summary counts 4 failed: %s" % (np_, summary))
    for jid, (status, _) in expect.items():
        c.check(any(jid in l and "failed (%s, attempt 2)" % status in l for l in lines),
                "-np %d: a line reports job %s failed (%s); its lines: %s" % (np_, jid, status,
                                                                        [l for l in lines if jid in l]))
        c.check(any(jid in l and "will retry" in l for l in lines), "-np %d: job %s was retried" % (np_, jid))
    path = os.path.join(work, out)
    if not os.path.exists(path):
        c.check(False, "-np %d: no results file" % np_)
        continue
    jobs = c.read_jobs(path)
    for i, jid in enumerate(jobs["id"]):
        if jid in expect:
            status, words = expect[jid]
            c.check(jobs["status"][i] == status and words in jobs["message"][i] and jobs["attempts"][i] == 2,
                    "-np %d: job %s recorded as %s after 2 attempts: %s, %r, %d" %
                    (np_, jid, status, jobs["status"][i], jobs["message"][i], jobs["attempts"][i]))
        else:
            c.check(jobs["status"][i] == "ok", "-np %d: job %s ok: %s" % (np_, jid, jobs["status"][i]))
    hang_i = jobs["id"].index(hang)
    c.check(2.5 < jobs["seconds"][hang_i] < 60, "-np %d: the hung job was killed at the timeout (%.1f s)" %
            (np_, jobs["seconds"][hang_i]))
    with h5py.File(path, "r") as f:
        ppl = f["ppl"][:]
        axes = {name: [x.decode() if isinstance(x, bytes) else x for x in f[name][:]]
                for name in ("format", "train_user")}
        nan_i = jobs["id"].index(nan)
        loss = f["loss"][nan_i]
        c.check(np.isnan(loss).all() or np.isnan(loss[-1]), "the diverged job's loss curve ends in NaN")
        c.check(str(crash) not in f["adapters"] and str(jobs["id"][2]) in f["adapters"],
                "failed jobs keep no adapter, ok ones do")
    recs, _ = c.journal_records(tool, path + ".journal")
    for jid in expect:
        mine = [r for r in recs if r[0] == jid]
        c.check([r[2] for r in mine] == [1, 2], "-np %d: job %s journalled at attempts 1 and 2: %s" % (np_, jid, mine))
    c.check(len(recs) == len(ids) + 4, "-np %d: one record per ok job, two per failed one (%d)" % (np_, len(recs)))

# The same command again: nothing to run, the failures stay, the exit status still says so.
again = c.run(1, sweep, ["spec.json", "-o", "np1/results.h5"], work)
c.check(again.returncode == 1 and "4 in earlier runs" in again.stderr,
        "a rerun of a sweep with failed jobs exits 1 and says so (%d): %s" %
        (again.returncode, c.sweep_lines(again.stderr)))
# --retry-failed without faults: the failed jobs run again, and the file is that of the clean sweep.
retry = c.run(2, sweep, ["spec.json", "-o", "np3/results.h5", "--retry-failed"], work)
c.check(retry.returncode == 0 and "%d jobs (%d already done)" % (len(ids), len(ids) - 4) in retry.stderr,
        "--retry-failed runs the 4 failed jobs (%d): %s" % (retry.returncode, c.sweep_lines(retry.stderr)))
if clean.returncode == 0 and retry.returncode == 0:
    rc, msg = c.compare(tool, os.path.join(work, "clean/results.h5"), os.path.join(work, "np3/results.h5"))
    c.check(rc == 0, "after the retries the file equals a sweep that never failed: %s" % msg)
c.finish("mpi.failures")
