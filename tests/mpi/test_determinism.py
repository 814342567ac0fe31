"""Determinism: one spec at -np 1, 2 and 4 gives the same metrics, loss curves, adapters and statuses
bit for bit (h5_compare_results), although the jobs ran on different ranks in a different order; the
-np 4 run trains with --recompute (each layer recomputed in the backward), which must not change a bit."""
import math
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)
spec = c.write_spec(work, bases={"fp": "base/base.sweep", "ternary": "base/base-ternary.sweep"},
                    formats={"none": {}, "norm": {"lr": 1e-2}, "lora": {"rank": 2, "alpha": 4, "lr": 1e-3},
                             "full": {"lr": 1e-3}},
                    conditions=["real", "random"], seeds=2)
ids = c.plan_ids(sweep, spec, work)
c.log("plan: %d jobs" % len(ids))

outs = {}
for np_ in (1, 2, 4):
    out = "out/np%d.h5" % np_
    r = c.run(np_, sweep, ["spec.json", "-o", out, "--progress-every", "1000"] + (["--recompute"] if np_ == 4 else []), work)
    c.check(r.returncode == 0, "-np %d: exit %d\n%s" % (np_, r.returncode, r.stderr[-2000:]))
    outs[np_] = os.path.join(work, out)
    if r.returncode != 0:
        continue
    summary = [l for l in c.sweep_lines(r.stderr) if "finished:" in l]
    c.check(len(summary) == 1 and "%d of %d jobs done, 0 failed" % (len(ids), len(ids)) in summary[0],
            "-np %d: summary line: %s" % (np_, summary))
    jobs = c.read_jobs(outs[np_])
    c.check(jobs["id"] == ids, "-np %d: the file's jobs are the plan's, in plan order" % np_)
    c.check(all(s == "ok" for s in jobs["status"]), "-np %d: every job ok: %s" % (np_, sorted(set(jobs["status"]))))
    ranks = sorted(set(jobs["rank"]))
    c.check(ranks == list(range(np_)), "-np %d: every rank ran jobs (ranks seen: %s)" % (np_, ranks))

if all(os.path.exists(p) for p in outs.values()):
    for np_ in (2, 4):
        rc, msg = c.compare(tool, outs[1], outs[np_])
        c.check(rc == 0, "-np 1 and -np %d give identical results: %s" % (np_, msg))
    # The comparison must have something to compare: finite ppl in every asked cell, trained adapters
    # and loss curves kept, and the two bases and the two conditions actually different.
    with h5py.File(outs[1], "r") as f:
        ppl = f["ppl"][:]
        n_cells = int(np.isfinite(ppl).sum())
        c.check(n_cells > 0 and not np.isinf(ppl).any(), "cells hold finite perplexities (%d)" % n_cells)
        c.check(len(f["adapters"]) > 0, "adapters are kept")
        loss = f["loss"][:]
        c.check(np.isfinite(loss).sum() > 0, "loss curves are kept")
        fp, tern = ppl[0], ppl[1]
        both = np.isfinite(fp) & np.isfinite(tern)
        c.check(both.any() and (fp[both] != tern[both]).any(), "the ternary base gives other numbers")
    # compare_results itself sees a change: flip one cell of a copy
    flipped = os.path.join(work, "out", "flipped.h5")
    with open(outs[1], "rb") as a, open(flipped, "wb") as b:
        b.write(a.read())
    with h5py.File(flipped, "r+") as f:
        d = f["ppl"]
        v = d[:]
        idx = tuple(np.argwhere(np.isfinite(v))[0])
        v[idx] = math.nextafter(v[idx], math.inf)
        d[...] = v
    rc, msg = c.compare(tool, outs[1], flipped)
    c.check(rc == 1, "a one-ulp change in one cell is found (rc %d: %s)" % (rc, msg))

c.finish("mpi.determinism")
