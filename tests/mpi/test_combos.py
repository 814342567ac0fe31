"""eval.combos (sweeps/SPEC.md, sweeps/combos.h): averages of trained adapters over groups of users,
evaluated on each member's own texts, scheduled once their inputs are journalled.

- the trained jobs keep their ids (and come first) when eval.combos is added;
- the combined adapter kept for a combo job is the float32 of the float64 mean of its inputs' kept
  adapters (input order: users in spec order), recomputed here by hand;
- a combo cell equals `sweep eval` of an adapter file written here by hand from the two inputs'
  mean (same bits: two paths);
- -np 1 and -np 3 give the same file (h5_compare_results), and so do: the combos added to a finished
  sweep (no input retrained), and a run killed mid-sweep and resumed;
- a failed input marks its combos failed, naming the input; the others still run."""
import os
import shutil
import struct
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
EVAL = {"users": "own", "slices": 2, "general": False, "tokens": 200}
COMBOS = [{"average": "norm"}, {"average": "norm", "groups": {"ab": ["alba", "brisk"]}, "label": "norm+ab"}]
plain = c.write_spec(work, name="plain.json", formats=FORMATS, train=TRAIN, seeds=2, eval=EVAL)
spec = c.write_spec(work, name="spec.json", formats=FORMATS, train=TRAIN, seeds=2, eval=dict(EVAL, combos=COMBOS))
ids, ids0 = c.plan_ids(sweep, spec, work), c.plan_ids(sweep, plain, work)
c.check(ids[:len(ids0)] == ids0, "eval.combos leaves the trained jobs' ids and order alone")
c.check(len(ids) == len(ids0) + 3 * 2 + 2 * 2, "3 users x 2 seeds averaged over all, 2 x 2 over ab: %d jobs" % len(ids))


def run(np_, spec_name, out, env=None, ok=True):
    r = c.run(np_, sweep, [spec_name, "-o", out, "-q"], work, env=env)
    if ok:
        c.check(r.returncode == 0, "%s -np %d -> %s: exit %d\n%s" % (spec_name, np_, out, r.returncode, r.stderr[-2000:]))
    return os.path.join(work, out), r


def same(a, b, what):
    rc, msg = c.compare(tool, a, b)
    c.check(rc == 0, "%s: h5_compare_results: %s" % (what, msg))


p0, _ = run(2, "plain.json", "out/plain.h5")
v1, _ = run(1, "spec.json", "out/np1.h5")
v3, _ = run(3, "spec.json", "out/np3.h5")
same(v1, v3, "-np 1 vs -np 3")

grid = c.read_grid(v1)
fi, users, evals, seeds = grid["format"], grid["train_user"], grid["eval_text"], grid["seed"]
job_ids, jf, ju, js = grid["job"], grid["job_format"], grid["job_train_user"], grid["job_seed"]
ppl, nll = grid["ppl"], grid["nll"]
c.check(fi == ["none", "norm", "norm+average", "norm+ab"], "format axis %s" % fi)
st = c.read_jobs(v1)["status"]
c.check(all(x == "ok" for x in st), "every job ok: %s" % st)


def job_of(fmt, user, seed):
    return c.job_of(grid, fmt, user, seed)


with h5py.File(v1, "r") as f:
    def mean_of(group, seed):
        a = [f["adapters"][job_of("norm", u, seed)][()].astype(np.float64) for u in group]
        return (sum(a) / len(a)).astype(np.float32)

    for k, jid in enumerate(job_ids):
        if jf[k] not in ("norm+average", "norm+ab"):
            continue
        group = users if jf[k] == "norm+average" else ["alba", "brisk"]
        got = f["adapters"][jid][()]
        want = mean_of(group, js[k])
        c.check(got.dtype == np.float32 and np.array_equal(got, want), "%s %s seed %d: the kept adapter is the mean" % (jf[k], ju[k], js[k]))
        c.check(not np.array_equal(got, f["adapters"][job_of("norm", ju[k], js[k])][()]), "the mean is not the member's own")
    cb, ab, norm = fi.index("norm+average"), fi.index("norm+ab"), fi.index("norm")
    u = users.index("corvo")
    c.check(np.isnan(ppl[0, 0, ab, u]).all(), "corvo is in no group of norm+ab: no cells")
    for uu, name in enumerate(users):
        own = [e for e, x in enumerate(evals) if x.startswith(name + "/")]
        c.check(np.isfinite(ppl[0, 0, cb, uu][:, own]).all(), "norm+average has %s's own cells" % name)
        others = [e for e in range(len(evals)) if e not in own]
        c.check(np.isnan(ppl[0, 0, cb, uu][:, others]).all(), "norm+average: only %s's own texts" % name)
    c.check((ppl[0, 0, cb][np.isfinite(ppl[0, 0, cb])] != ppl[0, 0, norm][np.isfinite(ppl[0, 0, cb])]).all(),
            "the average's cells differ from the own adapter's")
    hand = mean_of(["alba", "brisk"], seeds[1])


# --- the report section of Bet 54 reads the combination cells (results/report_catalogue.c)
import json  # noqa: E402
r = subprocess.run([sweep, "report", v1, "--protocol", "bet54", "--format", "json"], cwd=work, env=c.ENV,
                   capture_output=True, text=True)
c.check(r.returncode == 0, "sweep report --protocol bet54: %s" % r.stderr[-500:])
s54 = next((x for x in json.loads(r.stdout)["sections"] if x["key"] == "bet54"), {}) if r.returncode == 0 else {}
c.check(s54.get("criterion") == "descriptive: no pre-registered criterion", "bet54 says it is descriptive")
for combo, members in (("norm+average", users), ("norm+ab", ["alba", "brisk"])):
    t = next((t for t in s54.get("tables", []) if t["title"] == "base fp: %s against norm" % combo), None)
    if not c.check(t is not None and [row[0] for row in t["rows"]] == members, "bet54 table of %s: %s" % (combo, t)):
        continue
    for row in t["rows"]:
        uu = users.index(row[0])
        own = [e for e, x in enumerate(evals) if x.startswith(row[0] + "/")]
        x = [ppl[0, 0, fi.index(combo), uu, s_, e] / ppl[0, 0, norm, uu, s_, e] for s_ in range(len(seeds)) for e in own]
        w = float(np.median(x))
        c.check(abs(row[4] - w) <= 1e-12 * w, "bet54 %s %s avg/own %r, want %r" % (combo, row[0], row[4], w))

# --- two paths: the cell of norm+ab for brisk, and sweep eval of the mean written by hand
def fnv1a64(b):
    h = 0xcbf29ce484222325
    for x in b:
        h = ((h ^ x) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


adapter = os.path.join(work, "out", "brisk.swad")
r = subprocess.run([sweep, "train", "base/base.sweep", "--text", "data/users/brisk/train.txt", "--format", "norm",
                    "--lr", "0.01", "--steps", "1", "--batch", "2", "--seq", "12", "--tokenizer", "base/tokenizer.bpe",
                    "--print-every", "0", "-o", adapter], cwd=work, env=c.ENV, capture_output=True, text=True)
c.check(r.returncode == 0, "sweep train: %s" % r.stderr[-1000:])
raw = open(adapter, "rb").read()
body = hand.reshape(-1).tobytes()
head = raw[:len(raw) - 8 - len(body)]   # header, the fp32 block, FNV-1a of both (engine/adapter.c)
blob = head + body
open(os.path.join(work, "out", "mean.swad"), "wb").write(blob + struct.pack("<Q", fnv1a64(blob)))
for text in ("brisk/eval-1", "brisk/eval-2"):
    r = subprocess.run([sweep, "eval", "base/base.sweep", "data/users/%s.txt" % text, "--tokenizer", "base/tokenizer.bpe",
                        "--adapter", "out/mean.swad", "--max-tokens", str(EVAL["tokens"] + 1), "--json"],
                       cwd=work, env=c.ENV, capture_output=True, text=True)
    if c.check(r.returncode == 0, "sweep eval: %s" % r.stderr[-500:]):
        got = json.loads(r.stdout.splitlines()[0])
        cell = (0, 0, ab, users.index("brisk"), 1, evals.index(text))
        c.check(got["ppl"] == ppl[cell] and got["nll"] == nll[cell],
                "%s: sweep eval of the hand-made mean %r %r, sweep run %r %r" % (text, got["ppl"], got["nll"], ppl[cell], nll[cell]))

# --- combos added to a finished sweep: only the combos run
shutil.copyfile(p0 + ".journal", os.path.join(work, "out", "grown.h5.journal"))
g, _ = run(2, "spec.json", "out/grown.h5")
same(v1, g, "combos added to a finished sweep")
recs = [x[0] for x in c.journal_records(tool, g + ".journal")[0]]
c.check(len(recs) == len(ids) and sorted(recs[len(ids0):]) == sorted(ids[len(ids0):]),
        "no input retrained: the journal gained exactly the combos' records (%d -> %d)" % (len(ids0), len(recs)))

# --- killed mid-sweep and resumed
same(*c.killed_and_resumed(tool, sweep, work, 4, formats=FORMATS, eval=dict(EVAL, combos=COMBOS)), "killed and resumed")

# --- a failed input: its combos fail naming it, the rest run
bad = job_of("norm", "alba", seeds[0])
c.write_spec(work, name="fail.json", formats=FORMATS, train=TRAIN, seeds=2, eval=dict(EVAL, combos=COMBOS), max_attempts=1)
fpath, fr = run(2, "fail.json", "out/fail.h5", env={"SWEEP_TEST_FAULT": "error:" + bad}, ok=False)
c.check(fr.returncode != 0, "a failed job makes the run's exit non-zero")
jobs = c.read_jobs(fpath)
with h5py.File(fpath, "r") as f:
    jf2 = [x.decode() for x in f["job_format"][()]]
    js2 = list(f["job_seed"][()])
for k, jid in enumerate(jobs["id"]):
    dep = jf2[k] in ("norm+average", "norm+ab") and js2[k] == seeds[0]
    if dep:
        c.check(jobs["status"][k] == "error" and bad in jobs["message"][k] and "alba" in jobs["message"][k],
                "combo %s fails naming its input: %s %r" % (jid, jobs["status"][k], jobs["message"][k]))
    elif jid != bad:
        c.check(jobs["status"][k] == "ok", "job %s (%s seed %d) still ok: %s" % (jid, jf2[k], js2[k], jobs["status"][k]))
c.finish("combos")
