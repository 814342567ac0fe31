"""sweep merge of files with eval.variants and eval.combos (results/merge.h), beside test_merge.py:

- variants, split by seeds (trained formats) and by users (none included): two specs with the same
  eval.variants run apart under mpirun and merged equal a single run of the union spec as
  h5_compare_results compares files, the variant datasets included (shown able to fail: one tampered
  variant cell);
- the variant coordinate is unioned: X (variants int8) and Y (variants noise) of the same seeds merge
  into the file of one run with both (adding variants only adds cells to existing jobs);
- a job in two files whose variant cell or variant bytes differ is refused, one line naming the job
  and the dataset; the none job of two files split by seeds with a noise variant merges (its id
  leaves the seed out, its noise draws from seed 0);
- combinations, split by seeds: the merge of two files with eval.combos (an ensemble, averages over all users and over a
  named group) equals the union run, combination jobs after the trained ones in its order;
- a group split across files (a file of two users averaged over "all", merged with a file of a third
  user) is refused, one line naming the job and both groups: its average is not the union's."""
import json
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
FMTS = {"none": {}, "norm": {"lr": 1e-2}, "lora": {"rank": 2, "alpha": 4, "lr": 1e-3}}
TRAIN = {"steps": 8, "batch": 2, "seq": 12}
EV = {"users": "own", "slices": 1, "general": True, "tokens": 100}
VARIANTS = ["int8", {"noise": [0.05]}]


def run(name, **fields):
    c.write_spec(work, name="%s.json" % name, **fields)
    r = c.run(2, sweep, ["%s.json" % name, "-o", "%s/results.h5" % name, "-q"], work)
    c.check(r.returncode == 0, "run %s: exit %d\n%s" % (name, r.returncode, r.stderr[-1500:]))
    return os.path.join(work, name, "results.h5")


def merge(*args):
    r = subprocess.run([sweep, "merge"] + list(args), cwd=work, env=c.ENV, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stderr.strip()


def split_by_seeds(tag, seeds_a, seeds_b, what, **fields):
    """Runs TAGa (seeds_a), TAGb (seeds_b) and TAGu (both) of one spec, merges the first two into
    TAGab.h5 and checks it equals the union run; returns the union run's file."""
    a, b = run(tag + "a", seeds=seeds_a, **fields), run(tag + "b", seeds=seeds_b, **fields)
    u = run(tag + "u", seeds=seeds_a + seeds_b, **fields)
    rc, msg = merge(a, b, "-o", out(tag + "ab.h5"))
    c.check(rc == 0, "%s: files split by seeds merge: %d %s" % (what, rc, msg))
    rc, msg = c.compare(tool, out(tag + "ab.h5"), u)
    c.check(rc == 0, "%s: the merge equals the union run: %s" % (what, msg))
    return u


def report(path):
    r = subprocess.run([sweep, "report", path, "--format", "json"], cwd=work, env=c.ENV, capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        return None
    d = json.loads(r.stdout)
    for k in ("file", "spec_hash", "created_by", "tool_version"):
        d.pop(k, None)
    return d


def out(name):
    return os.path.join(work, name)


def refused(rc, msg, *words):
    return rc == 2 and len(msg.splitlines()) == 1 and all(w in msg for w in words)


# --- variants split by seeds (trained formats; none below), and by users (with none, whose job both
# files hold)
TRAINED = {k: v for k, v in FMTS.items() if k != "none"}
SA = run("sa", formats=TRAINED, train=TRAIN, seeds=[0], eval=dict(EV, variants=VARIANTS))
SB = run("sb", formats=TRAINED, train=TRAIN, seeds=[1], eval=dict(EV, variants=VARIANTS))
SU = run("su", formats=TRAINED, train=TRAIN, seeds=[0, 1], eval=dict(EV, variants=VARIANTS))
UEV = dict(EV, general=False, variants=VARIANTS)   # the eval_text axis of the union: alba, brisk, corvo
UA = run("ua", formats=FMTS, train=TRAIN, seeds=[0, 1], users=["alba", "brisk"], eval=UEV)
UB = run("ub", formats=FMTS, train=TRAIN, seeds=[0, 1], users=["corvo"], eval=UEV)
UU = run("uu", formats=FMTS, train=TRAIN, seeds=[0, 1], eval=UEV)
for a, b, u, what in ((SA, SB, SU, "seeds"), (UA, UB, UU, "users")):
    m = out("merged-%s.h5" % what)
    rc, msg = merge(a, b, "-o", m)
    c.check(rc == 0, "merge split by %s (variants): %d %s" % (what, rc, msg))
    rc, msg = c.compare(tool, m, u)
    c.check(rc == 0, "split by %s: the merge equals the union run, variant datasets included: %s" % (what, msg))
    with h5py.File(m, "r") as f, h5py.File(u, "r") as g:
        for k in ("variant", "variant_ppl", "variant_nll", "variant_n_tokens", "variant_adapter_bytes"):
            x, y = f[k][()], g[k][()]
            eq = np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y)
            c.check(eq, "split by %s: %s as the union run's" % (what, k))
        c.check(np.isfinite(f["variant_ppl"][..., 2]).sum() > 0, "the noise variant has cells")
    c.check(report(m) == report(u), "split by %s: the merged file reports as the union run does" % what)
c.check(c.compare(tool, SA, SU)[0] == 1, "SA alone differs from the union run (the comparison can fail)")
# the comparison sees the variant datasets: one tampered cell is a difference
t = out("tampered.h5")
shutil.copy(SU, t)
with h5py.File(t, "r+") as f:
    d = f["variant_ppl"][()]
    idx = tuple(np.argwhere(np.isfinite(d[..., 1]))[0]) + (1,)
    d[idx] = d[idx] * (1 + 1e-15) + 1e-12
    f["variant_ppl"][...] = d
rc, msg = c.compare(tool, t, SU)
c.check(rc == 1 and "variant_ppl" in msg, "h5_compare_results sees a variant cell: %d %s" % (rc, msg))

# --- the variant coordinate unioned: int8 from one file, noise from another, the same jobs
X = run("x", formats=TRAINED, train=TRAIN, seeds=[0, 1], eval=dict(EV, variants=["int8"]))
Y = run("y", formats=TRAINED, train=TRAIN, seeds=[0, 1], eval=dict(EV, variants=[{"noise": [0.05]}]))
rc, msg = merge(X, Y, "-o", out("xy.h5"))
c.check(rc == 0 and c.compare(tool, out("xy.h5"), SU)[0] == 0,
        "X (int8) + Y (noise) equals the run with both: %d %s %s" % (rc, msg, c.compare(tool, out("xy.h5"), SU)[1]))

# --- refusals: a job in both files (the none job is in UA and UB) whose variant cell or bytes differ


def altered(name, fn):
    p = out(name)
    shutil.copy(UB, p)
    with h5py.File(p, "r+") as f:
        fn(f)
    return p


def none_job(f):
    fmt = [x.decode() for x in f["format"][()]]
    jf = [x.decode() for x in f["job_format"][()]]
    return fmt.index("none"), jf.index("none"), f["job"][jf.index("none")].decode()


def bump_variant_cell(f):
    fi, _, _ = none_job(f)
    d = f["variant_ppl"][()]
    sub = d[:, :, fi, ..., 2]
    at = np.argwhere(np.isfinite(sub))[0]
    idx = (at[0], at[1], fi) + tuple(at[2:]) + (2,)
    d[idx] = d[idx] * (1 + 1e-15) + 1e-12
    f["variant_ppl"][...] = d


def bump_variant_bytes(f):
    _, j, _ = none_job(f)
    d = f["variant_adapter_bytes"][()]
    d[j, 1] += 1
    f["variant_adapter_bytes"][...] = d


with h5py.File(UB, "r") as f:
    nid = none_job(f)[2]
# the cell tampered is on corvo's text, which UA does not have: give UA's none job that text too
for name, fn, ds in (("vcell.h5", bump_variant_cell, "variant_ppl"), ("vbytes.h5", bump_variant_bytes,
                                                                        "variant_adapter_bytes")):
    rc, msg = merge(UU, altered(name, fn), "-o", out("refused.h5"))
    c.check(refused(rc, msg, "job " + nid, ds), "a job whose %s differs refused, naming job and dataset: %d %r" %
            (ds, rc, msg))
c.check(not os.path.exists(out("refused.h5")), "nothing written when refused")
# A none job's id leaves the seed out, so its noise variant draws from seed 0 whatever the spec's
# seeds: files split by seeds, none included, agree on it and merge into the union run.
split_by_seeds("n", [1], [2], "none with a noise variant", formats=FMTS, train=TRAIN, eval=dict(EV, variants=VARIANTS))

# --- combinations split by seeds
CF = {"none": {}, "norm": {"lr": 1e-2}}
CEV = {"users": "own", "slices": 1, "general": False, "tokens": 100}
COMBOS = [{"average": "norm"}, {"average": "norm", "groups": {"ab": ["alba", "brisk"]}, "label": "norm+ab"},
          {"ensemble": "norm", "k": 1}]
CU = split_by_seeds("c", [0], [1], "combos, combination jobs included", formats=CF, train=TRAIN,
                    eval=dict(CEV, combos=COMBOS))
with h5py.File(out("cab.h5"), "r") as f:
    fmts = [x.decode() for x in f["job_format"][()]]
    c.check({"norm+average", "norm+ab", "norm+ensemble"} <= set(fmts), "combination jobs carried: %s" % sorted(set(fmts)))
c.check(report(out("cab.h5")) == report(CU), "the merged file with combinations reports as the union run does")
# a group split across files: two users averaged over "all" against three
CX = run("cx", formats=CF, train=TRAIN, seeds=[0], users=["alba", "corvo"], eval=dict(CEV, combos=COMBOS[:1]))
CY = run("cy", formats=CF, train=TRAIN, seeds=[0], users=["brisk"], eval=CEV)
rc, msg = merge(CX, CY, "-o", out("refused.h5"))
c.check(refused(rc, msg, "job ", "norm+average", "group all", "alba,corvo", "alba,corvo,brisk"),
        "a group split across files refused, naming the job and both groups: %d %r" % (rc, msg))
rc, msg = merge(CX, CU, "-o", out("refused.h5"))
c.check(refused(rc, msg, "job ", "norm+average"), "two averages of one member at one place refused: %d %r" % (rc, msg))
c.check(not os.path.exists(out("refused.h5")), "nothing written when refused")
c.finish("merge_variants")
