"""Memory-aware scheduling does not starve a big job (issue 13): mpi/memfit.h reserves a node for the
first waiting job that fits it once as many jobs as the node has ranks have started past it.

Tiny base, -np 2 on one node. Longest first, the queue is: 4 long norm jobs, 1 full job, 4 short norm
jobs. --mem-per-node (from `sweep plan --json`'s own estimates) holds two norm jobs but not a full job
beside a norm job. When the long norms are done, the full job heads the queue but cannot start beside
the norm still running: without a reservation every short norm takes the freed rank in turn and the
full job starts only when they run out (4 short norms before it); with it, at most 2 (one per rank)
start before the node is held for the full job. The full job never overlaps another job; two norm
jobs do overlap (the limit does not simply serialise the run); the results are those of an unlimited
run (scheduling only)."""
import json
import os
import subprocess
import sys

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

RANKS = 2
sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)

base = c.steps_for(sweep, work, 1.0)   # about 1 s per norm job of `base` steps
long_, short = 5 * base, max(1, base // 4)
c.write_spec(work, name="reserve.json", users=["alba"], seeds=1,
             formats={"norm": {"steps": [long_, short], "lr": [1e-2, 2e-2, 3e-2, 4e-2]},
                      "full": {"steps": base, "lr": 1e-4}},
             train={"steps": base, "batch": 4, "seq": 12},
             eval={"users": "own", "slices": 1, "general": False, "tokens": 50})
r = subprocess.run([sweep, "plan", "reserve.json", "--json"], cwd=work, capture_output=True, text=True, env=c.ENV)
if r.returncode != 0:
    raise SystemExit("sweep plan: " + r.stderr)
plan = json.loads(r.stdout)


def kind_of(label):
    if label.startswith("full"):
        return "full"
    return "long" if "steps=%d," % long_ in label else "short"


jobs = {j["id"]: j for j in plan["jobs"]}
kind = {i: kind_of(j["format"]) for i, j in jobs.items()}
flops = {k: [jobs[i]["est_flops"] for i in jobs if kind[i] == k] for k in ("long", "full", "short")}
c.check(len(flops["long"]) == 4 and len(flops["short"]) == 4 and len(flops["full"]) == 1,
        "4 long norms, 1 full, 4 short norms: %s" % {k: len(v) for k, v in flops.items()})
c.check(min(flops["long"]) > max(flops["full"]) > max(flops["short"]),
        "longest first hands out the long norms, then the full job, then the short norms")
est = {k: max(jobs[i]["est_mem_bytes"] for i in jobs if kind[i] == k) for k in ("long", "full", "short")}
norm, full = max(est["long"], est["short"]), est["full"]
mem = plan["memory"]
fixed = mem["shared_bytes"] + RANKS * mem["rank_bytes"]
limit = fixed + (3 * norm + full) // 2   # two norms fit (2 norm < limit - fixed), a full beside a norm does not
c.log("tiny: full %d B, norm %d B, node fixed %d B: --mem-per-node %d" % (full, norm, fixed, limit))
c.check(fixed + 2 * norm <= limit < fixed + full + norm and fixed + full <= limit,
        "the limit holds two norms or one full alone, not a full beside a norm")


def intervals(path):
    with h5py.File(path, "r") as f:
        return sorted((s, s + d, kind[i.decode()]) for i, s, d in zip(f["job"][:], f["started"][:], f["seconds"][:]))


r = c.run(RANKS, sweep, ["reserve.json", "-o", "out/limited.h5", "--mem-per-node", str(limit)], work)
if c.check(r.returncode == 0, "limited run: exit %d\n%s" % (r.returncode, r.stderr[-2000:])):
    iv = intervals(os.path.join(work, "out/limited.h5"))
    t0 = iv[0][0]
    c.log("limited run:", ["%s %.2f-%.2f" % (k, s - t0, e - t0) for s, e, k in iv])
    fs = [x for x in iv if x[2] == "full"][0]
    before = sum(1 for x in iv if x[2] == "short" and x[0] < fs[0])
    c.check(before <= RANKS, "at most %d short norms start while the full job waits (one per rank): %d" % (RANKS, before))
    beside = max(min(a[1], fs[1]) - max(a[0], fs[0]) for a in iv if a is not fs)
    c.check(beside <= 0.05, "the full job runs alone (largest overlap %.2f s)" % beside)
    norms = [x for x in iv if x[2] != "full"]
    pair = max(min(a[1], b[1]) - max(a[0], b[0]) for k, a in enumerate(norms) for b in norms[k + 1:])
    c.check(pair > 0.2, "two norm jobs run at once (largest overlap %.2f s)" % pair)

r = c.run(RANKS, sweep, ["reserve.json", "-o", "out/free.h5", "--mem-per-node", "1T", "-q"], work)
if c.check(r.returncode == 0, "unlimited run: exit %d\n%s" % (r.returncode, r.stderr[-2000:])):
    rc, msg = c.compare(tool, os.path.join(work, "out/limited.h5"), os.path.join(work, "out/free.h5"))
    c.check(rc == 0, "the reservation changes only the order of starts: the results are the same\n%s" % msg[-1500:])
c.finish("reserve")
