"""eval.combos' ensemble (sweeps/SPEC.md, sweeps/combos.h, engine/ensemble.h): for each user, the
mixture of the next-token distributions of other users' trained adapters (never its own), evaluated
on the user's own texts once the inputs are journalled.

- the trained jobs keep their ids (and come first) when an ensemble is added;
- k = 1: the draw is the one other user with the lowest other_score(the user's own job id, name)
  (recomputed here), and the cell equals, bit for bit, that user's own job's cell on the same text
  (eval.users "all": every job scores every user's texts; an ensemble of one is the adapter itself);
- the same for lora, full and steer ensembles of k = 1 (their blocks are split back per member);
- all others (k = 2 of 3 users): each cell's nll lies between the members' smallest nll - log 2 and
  their mean (a mixture of probabilities; Jensen), and is neither member's nor the user's own;
- -np 1 and -np 2 give the same file, and so do the ensembles added to a finished sweep (no input
  retrained) and a run killed mid-sweep and resumed;
- a failed input fails the ensembles that hold it, naming it; the user whose own adapter failed still
  gets its ensemble (leave-one-user-out);
- bad ensembles are refused by `sweep run` as by `sweep plan`: exit 2, one line naming file and field;
- `sweep report --protocol bet55` tabulates ens/own per user from the same cells."""
import json
import math
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)
FORMATS = {"none": {}, "norm": {"lr": 1e-2}}
TRAIN = {"steps": 10, "batch": 2, "seq": 12}
EVAL = {"users": "all", "slices": 2, "general": False, "tokens": 200}
COMBOS = [{"ensemble": "norm"}, {"ensemble": "norm", "k": 1, "label": "norm+e1"}]
plain = c.write_spec(work, name="plain.json", formats=FORMATS, train=TRAIN, seeds=2, eval=EVAL)
spec = c.write_spec(work, name="spec.json", formats=FORMATS, train=TRAIN, seeds=2, eval=dict(EVAL, combos=COMBOS))
ids, ids0 = c.plan_ids(sweep, spec, work), c.plan_ids(sweep, plain, work)
c.check(ids[:len(ids0)] == ids0, "eval.combos' ensemble leaves the trained jobs' ids and order alone")
c.check(len(ids) == len(ids0) + 2 * 3 * 2, "2 ensembles x 3 users x 2 seeds: %d jobs" % len(ids))


def run(np_, spec_name, out, env=None, ok=True):
    r = c.run(np_, sweep, [spec_name, "-o", out, "-q"], work, env=env)
    if ok:
        c.check(r.returncode == 0, "%s -np %d -> %s: exit %d\n%s" % (spec_name, np_, out, r.returncode, r.stderr[-2000:]))
    return os.path.join(work, out), r


def same(a, b, what):
    rc, msg = c.compare(tool, a, b)
    c.check(rc == 0, "%s: h5_compare_results: %s" % (what, msg))


def fnv1a64(b, h=0xcbf29ce484222325):
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def other_score(job_id, user):   # sweeps/grid.c other_score: FNV-1a, splitmix64's finaliser
    h = fnv1a64((job_id + "\nother=" + user).encode())
    h = ((h ^ (h >> 30)) * 0xbf58476d1ce4e5b9) & 0xFFFFFFFFFFFFFFFF
    h = ((h ^ (h >> 27)) * 0x94d049bb133111eb) & 0xFFFFFFFFFFFFFFFF
    return h ^ (h >> 31)


p0, _ = run(2, "plain.json", "out/plain.h5")
v1, _ = run(1, "spec.json", "out/np1.h5")
v2, _ = run(2, "spec.json", "out/np2.h5")
same(v1, v2, "-np 1 vs -np 2")

grid = c.read_grid(v1)
fi, users, evals, seeds = grid["format"], grid["train_user"], grid["eval_text"], grid["seed"]
job_ids, jf, ju, js = grid["job"], grid["job_format"], grid["job_train_user"], grid["job_seed"]
ppl, nll, kept = grid["ppl"], grid["nll"], grid["adapters"]
c.check(fi == ["none", "norm", "norm+ensemble", "norm+e1"], "format axis %s" % fi)
st = c.read_jobs(v1)["status"]
c.check(all(x == "ok" for x in st), "every job ok: %s" % st)
norm, ens, e1 = fi.index("norm"), fi.index("norm+ensemble"), fi.index("norm+e1")


def job_of(fmt, user, seed):
    return c.job_of(grid, fmt, user, seed)


c.check(not any(jf[k] in ("norm+ensemble", "norm+e1") and job_ids[k] in kept for k in range(len(job_ids))),
        "an ensemble keeps no adapter of its own (its members are their jobs' adapters)")
drawn_users = set()
for uu, name in enumerate(users):
    own = [e for e, x in enumerate(evals) if x.startswith(name + "/")]
    others = [v for v in users if v != name]
    for si, seed in enumerate(seeds):
        # k = 1: the lowest score of the user's own job id with each other user's name
        drawn = min(others, key=lambda v: (other_score(job_of("norm", name, seed), v), users.index(v)))
        drawn_users.add((name, drawn))
        dv = users.index(drawn)
        rest = [users.index(v) for v in others if v != drawn][0]
        for e in own:
            got, want = nll[0, 0, e1, uu, si, e], nll[0, 0, norm, dv, si, e]
            c.check(got == want and ppl[0, 0, e1, uu, si, e] == ppl[0, 0, norm, dv, si, e],
                    "k=1 %s seed %d %s: cell %r is %s's own adapter's %r bit for bit" % (name, seed, evals[e], got, drawn, want))
            c.check(got != nll[0, 0, norm, rest, si, e] and got != nll[0, 0, norm, uu, si, e],
                    "k=1 %s seed %d %s: not the undrawn user's nor the user's own" % (name, seed, evals[e]))
            # k = 2: a mixture of the two others' distributions
            a, b = nll[0, 0, norm, dv, si, e], nll[0, 0, norm, rest, si, e]
            m = nll[0, 0, ens, uu, si, e]
            c.check(min(a, b) - math.log(2) - 1e-6 <= m <= 0.5 * (a + b) + 1e-6 and m not in (a, b, nll[0, 0, norm, uu, si, e]),
                    "ensemble %s seed %d %s: nll %r against members %r %r" % (name, seed, evals[e], m, a, b))
        not_own = [e for e in range(len(evals)) if e not in own]
        c.check(np.isnan(ppl[0, 0, ens, uu, si][not_own]).all(), "the ensemble scores only %s's own texts" % name)
c.check(len({d for _, d in drawn_users}) > 1, "the k=1 draw is not the same user for everyone: %s" % sorted(drawn_users))

# --- every format's blocks are split back into their members: k = 1 of lora, full and steer (one seed)
FMTS = {"none": {}, "lora": {"rank": 2, "alpha": 4, "lr": 1e-3}, "full": {"lr": 1e-3}, "steer": {"lr": 1e-2}}
c.write_spec(work, name="fmts.json", formats=FMTS, train=TRAIN, seeds=1,
             eval=dict(EVAL, combos=[{"ensemble": x, "k": 1} for x in ("lora", "full", "steer")]))
fv, _ = run(2, "fmts.json", "out/fmts.h5")
pj = json.loads(subprocess.run([sweep, "plan", "fmts.json", "--json"], cwd=work, env=c.ENV, capture_output=True,
                               text=True).stdout)
by_id = {j["id"]: j for j in pj["jobs"]}
with h5py.File(fv, "r") as f:
    ffi = [x.decode() for x in f["format"][()]]
    fnll = f["nll"][()]
n_cells = 0
for j in pj["jobs"]:
    if "inputs" not in j:
        continue
    src = by_id[j["inputs"][0]]
    c.check(len(j["inputs"]) == 1 and src["train_user"] != j["train_user"] and j["format"] == src["format"] + "+ensemble",
            "%s %s: one other user's %s job" % (j["format"], j["train_user"], src["format"]))
    for t in j["eval_text"]:
        e = evals.index(t)
        got = fnll[0, 0, ffi.index(j["format"]), users.index(j["train_user"]), 0, e]
        want = fnll[0, 0, ffi.index(src["format"]), users.index(src["train_user"]), 0, e]
        n_cells += 1
        c.check(got == want, "%s %s %s: %r, the drawn %s adapter's own cell %r" % (j["format"], j["train_user"], t, got,
                                                                                  src["train_user"], want))
c.check(n_cells == 3 * 3 * EVAL["slices"], "%d k=1 cells of lora, full and steer" % n_cells)

# --- the report section of Bet 55 reads the ensemble cells (results/report_bet55.c)
r = subprocess.run([sweep, "report", v1, "--protocol", "bet55", "--format", "json"], cwd=work, env=c.ENV,
                   capture_output=True, text=True)
c.check(r.returncode == 0, "sweep report --protocol bet55: %s" % r.stderr[-500:])
s55 = next((x for x in json.loads(r.stdout)["sections"] if x["key"] == "bet55"), {}) if r.returncode == 0 else {}
c.check(s55.get("criterion") == "descriptive: no pre-registered criterion", "bet55 says it is descriptive")
for combo in ("norm+ensemble", "norm+e1"):
    t = next((t for t in s55.get("tables", []) if t["title"] == "base fp: %s against norm" % combo), None)
    if not c.check(t is not None and [row[0] for row in t["rows"]] == users, "bet55 table of %s: %s" % (combo, t)):
        continue
    for row in t["rows"]:
        uu = users.index(row[0])
        own = [e for e, x in enumerate(evals) if x.startswith(row[0] + "/")]
        x = [ppl[0, 0, fi.index(combo), uu, s_, e] / ppl[0, 0, norm, uu, s_, e] for s_ in range(len(seeds)) for e in own]
        w = float(np.median(x))
        c.check(abs(row[4] - w) <= 1e-12 * w, "bet55 %s %s ens/own %r, want %r" % (combo, row[0], row[4], w))

# --- bad ensembles: sweep run refuses them as sweep plan does
for name, combo, want in (("k0.json", {"ensemble": "norm", "k": 0}, "eval.combos[0].k: 0 is out of range"),
                          ("k3.json", {"ensemble": "norm", "k": 3}, "eval.combos[0].k: 3 is more than the 2 other users"),
                          ("one.json", {"ensemble": "norm", "groups": {"a": ["alba"]}}, "eval.combos[0].groups.a: a group"),
                          ("lora.json", {"ensemble": "lora"}, "eval.combos[0].ensemble: lora is not a format")):
    c.write_spec(work, name=name, formats=FORMATS, train=TRAIN, seeds=2, eval=dict(EVAL, combos=[combo]))
    for cmd in ("plan", "run"):
        if cmd == "plan":
            rr = subprocess.run([sweep, "plan", name], cwd=work, env=c.ENV, capture_output=True, text=True, timeout=60)
            lines = rr.stderr.splitlines()
        else:
            rr = c.run(1, sweep, [name, "-o", "out/bad.h5", "-q"], work)
            lines = c.sweep_lines(rr.stderr)
        c.check(rr.returncode == 2 and len(lines) == 1 and lines[0].startswith("sweep: " + name + ": " + want)
                or (cmd == "plan" and rr.returncode == 2 and len(lines) == 1 and lines[0].startswith(name + ": " + want)),
                "sweep %s %s: exit %d, %r" % (cmd, name, rr.returncode, lines))

# --- ensembles added to a finished sweep: only the ensembles run
shutil.copyfile(p0 + ".journal", os.path.join(work, "out", "grown.h5.journal"))
g, _ = run(2, "spec.json", "out/grown.h5")
same(v1, g, "ensembles added to a finished sweep")
recs = [x[0] for x in c.journal_records(tool, g + ".journal")[0]]
c.check(len(recs) == len(ids) and sorted(recs[len(ids0):]) == sorted(ids[len(ids0):]),
        "no input retrained: the journal gained exactly the ensembles' records (%d -> %d)" % (len(ids0), len(recs)))

# --- killed mid-sweep and resumed
same(*c.killed_and_resumed(tool, sweep, work, 4, formats=FORMATS, eval=dict(EVAL, combos=COMBOS)), "killed and resumed")

# --- a failed input: the ensembles holding it fail naming it; its own user's ensemble still runs
bad = job_of("norm", "alba", seeds[0])
c.write_spec(work, name="fail.json", formats=FORMATS, train=TRAIN, seeds=2, eval=dict(EVAL, combos=COMBOS), max_attempts=1)
fpath, fr = run(2, "fail.json", "out/fail.h5", env={"SWEEP_TEST_FAULT": "error:" + bad}, ok=False)
c.check(fr.returncode != 0, "a failed job makes the run's exit non-zero")
jobs = c.read_jobs(fpath)
with h5py.File(fpath, "r") as f:
    jf2 = [x.decode() for x in f["job_format"][()]]
    ju2 = [x.decode() for x in f["job_train_user"][()]]
    js2 = list(f["job_seed"][()])
for k, jid in enumerate(jobs["id"]):
    holds = js2[k] == seeds[0] and ju2[k] != "alba" and (jf2[k] == "norm+ensemble" or (
        jf2[k] == "norm+e1" and ("%s" % ju2[k], "alba") in drawn_users and
        min([v for v in users if v != ju2[k]], key=lambda v: (other_score(job_of("norm", ju2[k], seeds[0]), v),
                                                              users.index(v))) == "alba"))
    if holds:
        c.check(jobs["status"][k] == "error" and bad in jobs["message"][k] and "alba" in jobs["message"][k],
                "ensemble %s (%s %s) fails naming its input: %s %r" % (jid, jf2[k], ju2[k], jobs["status"][k], jobs["message"][k]))
    elif jid != bad:
        c.check(jobs["status"][k] == "ok", "job %s (%s %s seed %d) still ok: %s" % (jid, jf2[k], ju2[k], js2[k], jobs["status"][k]))
c.finish("ensemble")
