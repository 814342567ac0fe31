"""`sweep train` reproduces jobs of `sweep run`: one spec (an fp and a ternary base; norm on real and on
random tokens, LoRA, full FT with warmup and cosine decay, norm at bf16 and at int8, steer after blocks 0
and 1; a seed other than 0,
eval.tokens set) runs at -np 1; then `sweep train --json` with each job's base and hyperparameters gives
that job's loss curve, final loss, tokens, perplexities, NLLs, token counts, adapter and largest parameter
change (value and tensor: the results file's max_param_change, max_param_tensor) bit for bit.

Usage: /usr/bin/python3 test_vs_run.py SWEEP WORKDIR
"""
import json
import os
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
import common as c  # noqa: E402

sweep, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
c.make_world(sweep, work)

TRAIN = "data/users/alba/train.txt"
EVALS = ["data/users/alba/eval-1.txt", "data/users/alba/eval-2.txt"]
SEED, EVAL_TOKENS = 5, 300
common_train = {"steps": 40, "batch": 4, "seq": 12}
formats = {
    "norm": {"lr": 3e-2, "conditions": ["real", "random"]},
    "lora": {"rank": 2, "alpha": 4, "lr": 1e-2, "targets": ["q", "k", "v", "o", "gate", "up", "down"],
             "conditions": ["real"]},
    "full": {"lr": 3e-3, "warmup": 5, "cosine": True, "min_lr_frac": 0.1, "conditions": ["real"]},
    "norm-bf16": {"format": "norm", "lr": 3e-2, "precision": "bf16", "conditions": ["real"]},
    "norm-int8": {"format": "norm", "lr": 3e-2, "precision": "int8", "conditions": ["real"]},
    "steer": {"lr": 1e-2, "layers": [0, 1], "conditions": ["real"]},
}
BASES = {"fp": "base/base.sweep", "ternary": "base/base-ternary.sweep"}
# What sweep train is told for each format: the same fields as flags.
flags = {
    "norm": ["--lr", "3e-2"],
    "lora": ["--rank", "2", "--alpha", "4", "--lr", "1e-2"],
    "full": ["--lr", "3e-3", "--warmup", "5", "--cosine", "--min-lr-frac", "0.1"],
    "norm-bf16": ["--lr", "3e-2", "--precision", "bf16"],
    "norm-int8": ["--lr", "3e-2", "--precision", "int8"],
    "steer": ["--lr", "1e-2", "--layers", "0,1"],
}
c.write_spec(work, bases=BASES, tokenizer=None,
             users=[{"name": "alba", "train": TRAIN, "eval": EVALS}], formats=formats, train=common_train,
             seeds=[SEED], conditions=["random", "real"],   # random first: a job's condition is its label, not its axis position
             eval={"users": "own", "general": False, "tokens": EVAL_TOKENS})
r = c.run(1, sweep, ["spec.json", "-o", "out/results.h5", "-q", "--keep-adapters-max", "100000000"], work)
if not c.check(r.returncode == 0, "sweep run: exit %d\n%s" % (r.returncode, r.stderr[-2000:])):
    c.finish("train.vs_run")


def strings(ds):
    return [x.decode() if isinstance(x, bytes) else x for x in ds[:]]


with h5py.File(os.path.join(work, "out/results.h5"), "r") as f:
    ids = strings(f["job"])
    jobs = [{"id": ids[k], "base": b, "format": fm, "condition": cond, "seed": int(f["job_seed"][k]),
             "status": strings(f["status"])[k], "final_loss": float(f["final_loss"][k]),
             "tokens": int(f["tokens"][k]), "loss": f["loss"][k].astype(np.float32),
             "max_param_change": float(f["max_param_change"][k]), "max_param_tensor": strings(f["max_param_tensor"])[k],
             "adapter": f["adapters"][ids[k]][:].astype(np.float32) if ids[k] in f["adapters"] else None,
             "adapter_shape": tuple(f["adapters"][ids[k]].attrs["shape"]) if ids[k] in f["adapters"] else None}
            for k, (b, fm, cond) in enumerate(zip(strings(f["job_base"]), strings(f["job_format"]),
                                                  strings(f["job_condition"])))]
    bases, conds, fmts = strings(f["base"]), strings(f["condition"]), strings(f["format"])
    texts = strings(f["eval_text"])
    for jb in jobs:
        at = (bases.index(jb["base"]), conds.index(jb["condition"]), fmts.index(jb["format"]), 0, 0)
        jb["cells"] = {t: (float(f["ppl"][at + (e,)]), float(f["nll"][at + (e,)]), int(f["n_tokens"][at + (e,)]))
                       for e, t in enumerate(texts)}

want = sorted((b, f, cond) for b in BASES for f in formats for cond in formats[f]["conditions"])
c.check(sorted((j["base"], j["format"], j["condition"]) for j in jobs) == want and len(want) == 14,
        "the spec's fourteen jobs: %s" % [(j["base"], j["format"], j["condition"]) for j in jobs])
for jb in jobs:
    name = "%s/%s/%s" % (jb["base"], jb["format"], jb["condition"])
    swad = "%s-%s-%s.swad" % (jb["base"], jb["format"], jb["condition"])
    c.check(jb["status"] == "ok" and jb["seed"] == SEED and jb["adapter"] is not None, "%s: ok, adapter kept" % name)
    args = ["train", BASES[jb["base"]], "--format", formats[jb["format"]].get("format", jb["format"]), "--condition", jb["condition"], "--seed", str(SEED),
            "--steps", "40", "--batch", "4", "--seq", "12", "--eval-tokens", str(EVAL_TOKENS), "--json",
            "-o", swad] + flags[jb["format"]]
    if jb["condition"] == "real":
        args += ["--text", TRAIN]
    for e in EVALS:
        args += ["--eval", e]
    t = subprocess.run([sweep] + args, cwd=work, env=c.ENV, capture_output=True, text=True, timeout=120)
    if not c.check(t.returncode == 0, "%s: sweep train exit %d: %s" % (name, t.returncode, t.stderr)):
        continue
    j = json.loads(t.stdout)
    curve = np.array(j["loss_curve"], dtype=np.float32)
    c.check(len(curve) == 40 and curve.tobytes() == jb["loss"][:40].tobytes(),
            "%s: the loss curve equals the job's bit for bit\n train %s\n run   %s" % (name, curve[:4], jb["loss"][:4]))
    c.check(j["final_loss"] == jb["final_loss"], "%s: final loss %r, the job's %r" % (name, j["final_loss"],
                                                                                        jb["final_loss"]))
    c.check(j["tokens"] == jb["tokens"], "%s: tokens %d, the job's %d" % (name, j["tokens"], jb["tokens"]))
    c.check(j["max_param_change"] == jb["max_param_change"] and j["max_param_change"] > 0 and
            j["max_param_tensor"] == jb["max_param_tensor"] and j["max_param_tensor"],
            "%s: largest parameter change %r (%s), the job's %r (%s)" % (name, j["max_param_change"], j["max_param_tensor"],
                                                                        jb["max_param_change"], jb["max_param_tensor"]))
    for ev in j["evals"]:
        label = "alba/" + os.path.splitext(os.path.basename(ev["text"]))[0]
        ppl, nll, n = jb["cells"].get(label, (None, None, None))
        c.check((ev["ppl"], ev["nll"], ev["tokens"]) == (ppl, nll, n),
                "%s on %s: ppl %r nll %r tokens %r; the job's cell %r %r %r" % (name, label, ev["ppl"], ev["nll"],
                                                                              ev["tokens"], ppl, nll, n))
    # SWAD: header, the fp32 block, an 8-byte checksum
    raw = open(os.path.join(work, swad), "rb").read()
    block = np.frombuffer(raw[len(raw) - 8 - 4 * len(jb["adapter"]):len(raw) - 8], dtype="<f4")
    c.check(block.tobytes() == jb["adapter"].tobytes(), "%s: the adapter file holds the job's adapter" % name)
    if jb["format"] == "steer":   # one vector per steered block of the tiny base (dim 16)
        c.check(jb["adapter_shape"] == (2, 16), "%s: the results file's shape attribute is %s" % (name, jb["adapter_shape"]))

c.finish("train.vs_run")
