"""eval.variants (sweeps/SPEC.md): each trained adapter evaluated under int8/int4 round trips and
residual-stream noise without retraining.

- the spec without the field: the same job ids, and no variant datasets in the file;
- -np 1 and -np 2 give the same variant metrics and bytes bit for bit (and h5_compare_results equal);
- noise 0 equals the identity bit for bit; int8 of none equals the identity; the identity equals /ppl;
- the int8/int4 bytes are the packed integers plus a float32 scale per group (derived from the kept
  adapter's shape);
- adding eval.variants to a finished sweep's spec evaluates the new cells from the kept adapters
  (no retraining) and gives the file of a fresh run; a run killed mid-sweep and resumed too;
- a variant cell equals what `sweep eval --adapter-quant/--noise --json` gives on the adapter `sweep
  train` makes for that job (two paths, exactly)."""
import json
import os
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)
FORMATS = {"none": {}, "norm": {"lr": 1e-2}, "lora": {"rank": 2, "alpha": 4, "lr": 1e-3}}
TRAIN = {"steps": 10, "batch": 2, "seq": 12}
EVAL = {"users": "own", "slices": 2, "general": True, "tokens": 200}
VARIANTS = ["int8", "int4:channel", {"noise": [0, 0.05]}]
LABELS = ["identity", "int8", "int4:channel", "noise=0", "noise=0.05"]
plain = c.write_spec(work, name="plain.json", formats=FORMATS, train=TRAIN, seeds=2, eval=EVAL)
spec = c.write_spec(work, name="spec.json", formats=FORMATS, train=TRAIN, seeds=2, eval=dict(EVAL, variants=VARIANTS))
ids = c.plan_ids(sweep, spec, work)
c.check(ids == c.plan_ids(sweep, plain, work), "eval.variants leaves the job ids alone")

VDS = ["variant_ppl", "variant_nll", "variant_n_tokens", "variant_adapter_bytes", "variant"]


def run(np_, spec_name, out):
    r = c.run(np_, sweep, [spec_name, "-o", out, "-q"], work)
    c.check(r.returncode == 0, "%s -np %d -> %s: exit %d\n%s" % (spec_name, np_, out, r.returncode, r.stderr[-2000:]))
    return os.path.join(work, out)


def same_variants(a, b, what):
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        for name in VDS:
            x, y = fa[name][()], fb[name][()]
            eq = np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y)
            c.check(eq, "%s: %s differs" % (what, name))
    rc, msg = c.compare(tool, a, b)
    c.check(rc == 0, "%s: h5_compare_results: %s" % (what, msg))


# --- the spec without the field
p0 = run(2, "plain.json", "out/plain.h5")
with h5py.File(p0, "r") as f:
    c.check(not any(k.startswith("variant") for k in f), "no variant datasets without eval.variants: %s" % list(f))

# --- ranks
v1 = run(1, "spec.json", "out/np1.h5")
v2 = run(2, "spec.json", "out/np2.h5")
same_variants(v1, v2, "-np 1 vs -np 2")

with h5py.File(v1, "r") as f:
    labels = [x.decode() for x in f["variant"][()]]
    c.check(labels == LABELS, "variant coordinate %s" % labels)
    vp = f["variant_ppl"][()]
    ppl = f["ppl"][()]
    c.check(np.isfinite(ppl).sum() > 0 and np.array_equal(vp[..., 0], ppl, equal_nan=True), "identity equals ppl")
    c.check(np.array_equal(vp[..., 3], vp[..., 0], equal_nan=True), "noise 0 equals identity bit for bit")
    fi = [x.decode() for x in f["format"][()]]
    none, norm = fi.index("none"), fi.index("norm")
    c.check(np.array_equal(vp[:, :, none, ..., 1], vp[:, :, none, ..., 0], equal_nan=True), "int8 of none is the base")
    ok = np.isfinite(vp[..., 0])
    c.check((vp[..., 4][ok] != vp[..., 0][ok]).all(), "noise 0.05 moves every cell")
    c.check((vp[:, :, norm, ..., 2] != vp[:, :, norm, ..., 0])[np.isfinite(vp[:, :, norm, ..., 0])].any(),
            "int4 of norm moves some cell")
    c.check(np.array_equal(np.isnan(vp), np.broadcast_to(np.isnan(ppl)[..., None], vp.shape)),
            "each variant has exactly the identity's cells")
    # bytes: per tensor one float32 scale per tensor, per channel one per row; norm's tensors are its rows
    job_ids = [x.decode() for x in f["job"][()]]
    jf = [x.decode() for x in f["job_format"][()]]
    vb = f["variant_adapter_bytes"][()]
    for k, jid in enumerate(job_ids):
        if jf[k] != "norm":
            continue
        rows, cols = f["adapters"][jid].attrs["shape"]
        want = [4 * rows * cols, rows * (cols + 4), rows * ((4 * cols + 7) // 8 + 4), 4 * rows * cols, 4 * rows * cols]
        c.check(list(vb[k]) == want, "norm job %s bytes %s, want %s" % (jid, list(vb[k]), want))
    c.check((vb[[k for k, x in enumerate(jf) if x == "none"]] == 0).all(), "none has no adapter bytes")
    lora = [k for k, x in enumerate(jf) if x == "lora"]
    c.check(all(vb[k][1] < vb[k][0] and vb[k][2] < vb[k][0] for k in lora), "lora: int8, int4 below fp32 bytes")

# --- adding the variants to a finished sweep: only the new cells, from the kept adapters
import shutil  # noqa: E402
shutil.copyfile(p0 + ".journal", os.path.join(work, "out", "grown.h5.journal"))
t0 = time.time()
g = run(2, "spec.json", "out/grown.h5")
same_variants(v1, g, "variants added to a finished sweep")
with h5py.File(g, "r") as fg, h5py.File(p0, "r") as fp:
    c.check(np.array_equal(fg["loss"][()], fp["loss"][()], equal_nan=True), "no job retrained (loss curves kept)")

# --- killed mid-sweep and resumed: the file of an uninterrupted run
same_variants(*c.killed_and_resumed(tool, sweep, work, 2, formats={"none": {}, "norm": {"lr": 1e-2}},
                                    eval=dict(EVAL, variants=VARIANTS)), "killed and resumed")

# --- two paths: sweep run's cell and sweep eval on the adapter sweep train makes for that job
with h5py.File(v1, "r") as f:
    vp = f["variant_ppl"][()]
    vn = f["variant_nll"][()]
    users = [x.decode() for x in f["train_user"][()]]
    evals = [x.decode() for x in f["eval_text"][()]]
    seeds = list(f["seed"][()])
    job_ids = [x.decode() for x in f["job"][()]]
    jf = [x.decode() for x in f["job_format"][()]]
    ju = [x.decode() for x in f["job_train_user"][()]]
    js = list(f["job_seed"][()])
    k = next(i for i in range(len(job_ids)) if jf[i] == "norm" and ju[i] == "brisk" and js[i] == seeds[1])
adapter = os.path.join(work, "out", "brisk.swad")
r = subprocess.run([sweep, "train", "base/base.sweep", "--text", "data/users/brisk/train.txt", "--format", "norm",
                    "--lr", "0.01", "--steps", "10", "--batch", "2", "--seq", "12", "--seed", str(seeds[1]),
                    "--tokenizer", "base/tokenizer.bpe", "--print-every", "0", "-o", adapter],
                   cwd=work, env=c.ENV, capture_output=True, text=True)
c.check(r.returncode == 0, "sweep train: %s" % r.stderr[-1000:])
flags = {"identity": [], "int8": ["--adapter-quant", "int8"], "int4:channel": ["--adapter-quant", "int4:channel"],
         "noise=0": ["--noise", "0", "--noise-seed", str(seeds[1])],
         "noise=0.05": ["--noise", "0.05", "--noise-seed", str(seeds[1])]}
u, s, norm = users.index("brisk"), 1, fi.index("norm")
for text in ("brisk/eval-2", "general"):
    path = "data/general/eval.txt" if text == "general" else "data/users/brisk/eval-2.txt"
    for v, label in enumerate(LABELS):
        r = subprocess.run([sweep, "eval", "base/base.sweep", path, "--tokenizer", "base/tokenizer.bpe", "--adapter",
                            adapter, "--max-tokens", str(EVAL["tokens"] + 1), "--json"] + flags[label],
                           cwd=work, env=c.ENV, capture_output=True, text=True)
        if not c.check(r.returncode == 0, "sweep eval %s: %s" % (label, r.stderr[-500:])):
            continue
        got = json.loads(r.stdout.splitlines()[0])
        cell = (0, 0, norm, u, s, evals.index(text), v)
        c.check(got["ppl"] == vp[cell] and got["nll"] == vn[cell],
                "%s on %s: sweep eval ppl %r nll %r, sweep run %r %r" % (label, text, got["ppl"], got["nll"], vp[cell], vn[cell]))
# --- the report sections of Bets 53 and 63 read the variant cells (results/report_catalogue.c)
def section(protocol):
    r = subprocess.run([sweep, "report", v1, "--protocol", protocol, "--format", "json"], cwd=work, env=c.ENV,
                       capture_output=True, text=True)
    c.check(r.returncode == 0, "sweep report --protocol %s: %s" % (protocol, r.stderr[-500:]))
    return next((x for x in json.loads(r.stdout)["sections"] if x["key"] == protocol), {}) if r.returncode == 0 else {}


def want_ratio(u, f, k):
    """Median over seeds x u's own texts of (format f, variant k) / (the base, variant k): the rule the report states."""
    own = [i for i, e in enumerate(evals) if e.startswith(users[u] + "/")]
    x = [vp[0, 0, f, u, s_, e, k] / vp[0, 0, fi.index("none"), 0, 0, e, k] for s_ in range(len(seeds)) for e in own]
    return float(np.median(x))


s53 = section("bet53")
t = next((t for t in s53.get("tables", []) if t["title"] == "base fp: norm at int4:channel against no adapter"), None)
if c.check(t is not None, "bet53 has the norm int4:channel table"):
    for row in t["rows"]:
        u = users.index(row[0])
        w = want_ratio(u, norm, LABELS.index("int4:channel"))
        c.check(abs(row[4] - w) <= 1e-12 * w and row[8] == ("yes" if w > 1 else "no"),
                "bet53 %s: quant/none %r, want %r" % (row[0], row[4], w))
s63 = section("bet63")
c.check(s63.get("criterion") == "descriptive: no pre-registered criterion", "bet63 says it is descriptive")
t = next((t for t in s63.get("tables", []) if t["title"] == "base fp: norm and the base under noise"), None)
if c.check(t is not None, "bet63 has the norm table"):
    rows = {(r[0], r[1]): r for r in t["rows"]}
    for u in range(len(users)):
        w = want_ratio(u, norm, LABELS.index("noise=0.05"))
        got = rows.get((users[u], "0.05"))
        c.check(got is not None and abs(got[4] - w) <= 1e-12 * w, "bet63 %s sigma 0.05: %r, want %r" % (users[u], got, w))
merged = os.path.join(work, "out", "merged.h5")
r = subprocess.run([sweep, "merge", v1, "-o", merged], cwd=work, env=c.ENV, capture_output=True, text=True)
c.check(r.returncode == 0, "sweep merge of a variant file: %d %s" % (r.returncode, r.stderr))
same_variants(merged, v1, "sweep merge carries the variants (tests/mpi/test_merge_variants.py)")
c.finish("variants")
