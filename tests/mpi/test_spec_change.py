"""Spec changes against an existing journal:
- a spec that changes existing jobs (another lr) is refused: exit 2, one line, journal and file untouched;
- a spec that changes nothing a job depends on (max_attempts, description) runs nothing;
- a spec that only adds jobs and cells (another seed, more eval slices, the general text) runs the new
  jobs, and completes the old ones by evaluating just their new texts with the adapters kept in the
  journal (no retraining: they take a fraction of a training's time); the file equals a fresh run of
  the extended spec bit for bit;
- with adapters not kept (--keep-adapters-max 0) the old trained jobs are trained again, with the same
  numbers (the none job has no adapter to keep and is still completed)."""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)
base_spec = dict(users=["alba", "brisk"], seeds=1,
                 train={"steps": c.steps_for(sweep, work, 0.5), "batch": 4, "seq": 12},
                 formats={"none": {}, "norm": {"lr": 1e-2}, "lora": {"rank": 2, "alpha": 4, "lr": 1e-3}},
                 eval={"users": "own", "slices": 1, "general": False, "tokens": 100})
c.write_spec(work, name="s1.json", **base_spec)
changed = dict(base_spec, formats={"none": {}, "norm": {"lr": 2e-2}, "lora": {"rank": 2, "alpha": 4, "lr": 1e-3}})
c.write_spec(work, name="s2.json", **changed)
c.write_spec(work, name="same.json", **dict(base_spec, max_attempts=3, description="same jobs"))
extended = dict(base_spec, seeds=2, eval={"users": "own", "slices": 2, "general": True, "tokens": 100})
c.write_spec(work, name="s3.json", **extended)
ids1 = c.plan_ids(sweep, "s1.json", work)
ids3 = c.plan_ids(sweep, "s3.json", work)
c.check(set(ids1) < set(ids3), "the extended spec keeps every job id (%d of %d)" % (len(ids1), len(ids3)))

out = os.path.join(work, "out", "results.h5")
r = c.run(2, sweep, ["s1.json", "-q"], work)
c.check(r.returncode == 0, "first spec: exit %d %s" % (r.returncode, r.stderr[-800:]))


def snapshot():
    with open(out, "rb") as f, open(out + ".journal", "rb") as g:
        return f.read(), g.read()


before = snapshot()
r = c.run(2, sweep, ["s2.json"], work, env={"OMPI_MCA_odls_base_sigkill_timeout": "0"})
lines = c.sweep_lines(r.stderr)
c.check(r.returncode == 2 and len(lines) == 1 and "changes existing jobs" in lines[0] and "journal" in lines[0],
        "a spec with another lr is refused, one line (%d): %s" % (r.returncode, lines))
c.check(snapshot() == before, "the refused spec leaves the journal and the file as they were")

r = c.run(2, sweep, ["same.json"], work)
c.check(r.returncode == 0 and "%d jobs (%d already done)" % (len(ids1), len(ids1)) in r.stderr,
        "a spec that changes no job runs nothing: %s" % c.sweep_lines(r.stderr)[:1])

old_seconds = dict(zip(*[c.read_jobs(out)[k] for k in ("id", "seconds")]))
r = c.run(2, sweep, ["s3.json", "--progress-every", "1000"], work)
c.check(r.returncode == 0, "extended spec: exit %d %s" % (r.returncode, r.stderr[-800:]))
c.check("%d jobs (0 already done, %d need only new eval texts)" % (len(ids3), len(ids1)) in r.stderr,
        "the old jobs only need their new texts: %s" % c.sweep_lines(r.stderr)[:1])

fresh = c.run(2, sweep, ["s3.json", "-o", "fresh/results.h5", "-q"], work)
c.check(fresh.returncode == 0, "fresh run of the extended spec: exit %d" % fresh.returncode)
if fresh.returncode == 0:
    rc, msg = c.compare(tool, os.path.join(work, "fresh/results.h5"), out)
    c.check(rc == 0, "extended run equals a fresh run of the extended spec: %s" % msg)
    fresh_jobs = c.read_jobs(os.path.join(work, "fresh/results.h5"))
    ext_jobs = c.read_jobs(out)
    fresh_s = dict(zip(fresh_jobs["id"], fresh_jobs["seconds"]))
    ext_s = dict(zip(ext_jobs["id"], ext_jobs["seconds"]))
    for jid in ids1[1:]:
        c.check(ext_s[jid] < 0.5 * fresh_s[jid], "job %s was not trained again: %.3f s vs %.3f s for a training" %
                (jid, ext_s[jid], fresh_s[jid]))
    with h5py.File(out, "r") as f:
        labels = [x.decode() for x in f["eval_text"][:]]
        c.check("general" in labels and "alba/eval-2" in labels, "the new eval texts are on the axis: %s" % labels)
        c.check(np.isfinite(f["ppl"][:]).sum() > 0, "cells are filled")
recs, _ = c.journal_records(tool, out + ".journal")
c.check(len(recs) == len(ids1) + len(ids3), "journal: the first run's records, then one per job of the extension "
        "(%d)" % len(recs))

# Without kept adapters the old jobs train again; the numbers are the same.
r1 = c.run(2, sweep, ["s1.json", "-o", "nokeep/results.h5", "-q", "--keep-adapters-max", "0"], work)
r3 = c.run(2, sweep, ["s3.json", "-o", "nokeep/results.h5", "--keep-adapters-max", "0"], work)
c.check(r1.returncode == 0 and r3.returncode == 0 and "1 need only new eval texts" in r3.stderr,
        "without kept adapters every old trained job runs in full, the none job still needs none (%d, %d): %s" %
        (r1.returncode, r3.returncode, c.sweep_lines(r3.stderr)[:1]))
if fresh.returncode == 0 and r3.returncode == 0:
    with h5py.File(os.path.join(work, "fresh/results.h5"), "r") as a, \
            h5py.File(os.path.join(work, "nokeep/results.h5"), "r") as b:
        for name in ("ppl", "nll", "loss", "final_loss"):
            c.check(np.array_equal(a[name][:], b[name][:], equal_nan=True),
                    "retrained: %s equal to the fresh run" % name)
c.finish("mpi.spec_change")
