"""`sweep prune` (Bet 48) on the tiny base of tests/mpi/common.py, reading the model files it writes
directly (engine/modelfile.h's layout): each projection row (or tensor) has exactly round(S n) zeros,
the zeroed weights are the smallest in |w| of their group, everything else is copied unchanged, the
"pruning" record is in the metadata; the pruned file evaluates and trains like any base; prune then
`quantize --ternary` keeps every zero and the record; bad input exits 2 with one line naming the file
or option and writes nothing.

Usage: /usr/bin/python3 test_prune.py SWEEP WORKDIR
"""
import json
import os
import re
import struct
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
import common as c  # noqa: E402

sweep, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
c.make_world(sweep, work)
BASE = "base/base.sweep"
TEXT = "data/users/alba/eval-1.txt"
PROJ = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def run(*args):
    return subprocess.run([sweep] + list(args), cwd=work, env=c.ENV, capture_output=True, text=True, timeout=120)


def read_model(path):
    """(metadata, {name: float64 array}) of a model file: f32, bf16 and ternary tensors decoded."""
    with open(os.path.join(work, path), "rb") as f:
        data = f.read()
    meta_len, data_off = struct.unpack_from("<QQ", data, 16)
    meta = json.loads(data[64:64 + meta_len])
    out = {}
    for t in meta["tensors"]:
        shape, raw = t["shape"], data[data_off + t["offset"]:data_off + t["offset"] + t["nbytes"]]
        if t["dtype"] == "f32":
            x = np.frombuffer(raw, "<f4").astype(np.float64)
        elif t["dtype"] == "bf16":
            x = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else:   # ternary: float32 scale[rows], then 5 trits per byte, lowest digit first, rows byte-aligned
            rows, cols = shape
            scale = np.frombuffer(raw[:4 * rows], "<f4").astype(np.float64)
            per_row = (cols + 4) // 5
            packed = np.frombuffer(raw[4 * rows:], np.uint8).reshape(rows, per_row).astype(np.int64)
            trits = np.stack([(packed // 3 ** d) % 3 - 1 for d in range(5)], axis=-1).reshape(rows, -1)[:, :cols]
            x = trits * scale[:, None]
        out[t["name"]] = x.reshape(shape)
    return meta, out


def is_proj(name):
    return any(name.endswith(p + ".weight") for p in PROJ)


def ppl(model):
    r = run("eval", model, TEXT)
    m = re.search(r": ppl (\S+)", r.stdout)
    c.check(r.returncode == 0 and m, "sweep eval %s: exit %d: %s" % (model, r.returncode, r.stderr))
    return float(m.group(1)) if m else None


_, orig = read_model(BASE)
c.check(all(np.count_nonzero(orig[n] == 0) == 0 for n in orig if is_proj(n)),
        "the tiny base has no exact zeros in its projections (else the counts below are not exact)")

# ---- per row: round(S x cols) zeros in every row, the smallest of the row -------------------------------
for per, s in (("row", 0.5), ("row", 0.3), ("tensor", 0.3)):
    out = "pruned-%s-%s.sweep" % (per, s)
    r = run("prune", BASE, out, "--sparsity", str(s), "--per", per)
    if not c.check(r.returncode == 0, "prune %s %s: exit %d: %s" % (per, s, r.returncode, r.stderr)):
        continue
    meta, w = read_model(out)
    pr = meta.get("pruning", {})
    total = sum(orig[n].size for n in orig if is_proj(n))
    zeroed = 0
    for n in orig:
        if not is_proj(n):
            c.check(np.array_equal(w[n], orig[n]), "%s %s: %s changed (only projections are pruned)" % (per, s, n))
            continue
        rows, cols = orig[n].shape
        groups = [(w[n][i], orig[n][i]) for i in range(rows)] if per == "row" else [(w[n].ravel(), orig[n].ravel())]
        for g, o in groups:
            k = int(np.floor(s * g.size + 0.5))
            z = g == 0
            zeroed += int(z.sum())
            c.check(z.sum() == k, "%s %s: %s: %d zeros in a group of %d, want %d" % (per, s, n, z.sum(), g.size, k))
            c.check(np.array_equal(g[~z], o[~z]), "%s %s: %s: a kept weight changed" % (per, s, n))
            if 0 < k < g.size:
                c.check(np.abs(o[z]).max() <= np.abs(o[~z]).min(),
                        "%s %s: %s: a zeroed weight (|w| %.4g) is larger than a kept one (%.4g)"
                        % (per, s, n, np.abs(o[z]).max(), np.abs(o[~z]).min()))
        if per == "tensor":
            per_row = (w[n] == 0).sum(axis=1)
            c.check(per_row.min() != per_row.max() or rows == 1,
                    "tensor %s: %s has the same zeros in every row: not one threshold per tensor" % (s, n))
    c.check(pr.get("method") == "magnitude" and pr.get("per") == per and pr.get("sparsity") == s and
            pr.get("zeroed") == zeroed and pr.get("weights") == total and
            pr.get("tensors") == ["q", "k", "v", "o", "gate", "up", "down"],
            "%s %s: metadata pruning record %s (zeroed %d of %d)" % (per, s, pr, zeroed, total))

# ---- the pruned file is a base: evaluates (differently), trains -----------------------------------------
p_base, p_pruned = ppl(BASE), ppl("pruned-row-0.5.sweep")
c.check(p_base and p_pruned and p_pruned != p_base, "pruning changes the perplexity: %s vs %s" % (p_pruned, p_base))
r = run("train", "pruned-row-0.5.sweep", "--text", "data/users/alba/train.txt", "--format", "norm", "--steps", "5",
        "--batch", "2", "--eval", TEXT)
c.check(r.returncode == 0 and "eval " in r.stdout, "sweep train on the pruned base: exit %d: %s" % (r.returncode, r.stderr))

# ---- prune then quantize --ternary: every pruned zero survives, the record is kept -----------------------
r = run("quantize", "pruned-row-0.5.sweep", "pruned-ternary.sweep", "--ternary")
if c.check(r.returncode == 0, "quantize the pruned base: exit %d: %s" % (r.returncode, r.stderr)):
    pmeta, pw = read_model("pruned-row-0.5.sweep")
    tmeta, tw = read_model("pruned-ternary.sweep")
    c.check(tmeta.get("pruning") == pmeta.get("pruning"), "quantize keeps the pruning record: %s" % tmeta.get("pruning"))
    c.check(tmeta["quantization"].get("matrices") == "ternary" or "ternary" in json.dumps(tmeta["quantization"]),
            "the quantized file is ternary: %s" % tmeta["quantization"])
    for n in pw:
        if is_proj(n):
            lost = int(((pw[n] == 0) & (tw[n] != 0)).sum())
            c.check(lost == 0, "%s: %d pruned zeros became nonzero trits" % (n, lost))
            # the decoder reads real trits: nonzero ones carry the sign of the weight they quantise
            nz = tw[n] != 0
            c.check(nz.sum() > 0 and np.array_equal(np.sign(tw[n][nz]), np.sign(pw[n][nz])),
                    "%s: %d nonzero trits, or a trit of the wrong sign: the ternary decoder is wrong" % (n, nz.sum()))
    c.check(ppl("pruned-ternary.sweep") is not None, "the pruned ternary base evaluates")

# ---- bad input: exit 2, one line naming the file or the option, nothing written -------------------------
r = run("quantize", BASE, "ternary.sweep", "--ternary")
c.check(r.returncode == 0, "quantize the base: %s" % r.stderr)
cases = [
    ([BASE, "bad.sweep"], "--sparsity"),
    ([BASE, "bad.sweep", "--sparsity", "1"], "--sparsity"),
    ([BASE, "bad.sweep", "--sparsity", "-0.1"], "--sparsity"),
    ([BASE, "bad.sweep", "--sparsity", "half"], "--sparsity"),
    ([BASE, "bad.sweep", "--sparsity"], "--sparsity"),
    ([BASE, "bad.sweep", "--sparsity", "0.5", "--per", "col"], "--per"),
    (["missing.sweep", "bad.sweep", "--sparsity", "0.5"], "missing.sweep"),
    ([TEXT, "bad.sweep", "--sparsity", "0.5"], TEXT),
    (["ternary.sweep", "bad.sweep", "--sparsity", "0.5"], "ternary.sweep"),
    ([BASE, BASE, "--sparsity", "0.5"], BASE),
    ([BASE, "bad.sweep", "extra", "--sparsity", "0.5"], "extra"),
    ([BASE, "bad.sweep", "--sparsity", "0.5", "--bogus"], "--bogus"),
    ([BASE, "--sparsity", "0.5"], "OUT"),
    ([BASE, "no/such/dir/bad.sweep", "--sparsity", "0.5"], "no/such/dir/bad.sweep"),
]
for args, names in cases:
    r = run("prune", *args)
    lines = r.stderr.strip().splitlines()
    c.check(r.returncode == 2 and len(lines) == 1 and lines[0].startswith("sweep prune: ") and names in lines[0],
            "prune %s: exit %d, want 2 and one line naming %s:\n%s" % (" ".join(args), r.returncode, names, r.stderr))
c.check(not os.path.exists(os.path.join(work, "bad.sweep")), "bad input writes no file")
r = run("prune", "--help")
c.check(r.returncode == 0 and r.stdout.startswith("usage: sweep prune"), "--help: exit %d" % r.returncode)

c.finish("prune.cli")
