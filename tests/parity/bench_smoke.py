#!/usr/bin/python3
"""Keeps `sweep bench` and bench/torch_peer.py from rotting without timing anything: both run on the
tiny config, print one JSON object per format with the agreed keys, count the same FLOPs (so their
GFLOP/s compare), and `sweep bench` rejects bad options with exit 2 and one line.

usage: bench_smoke.py --sweep build/sweep --peer bench/torch_peer.py
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

KEYS = ["format", "train_tok_s", "eval_tok_s", "gflops", "sgemm_gflops"]
ARGS = ["--config", "tiny", "--batch", "2", "--seq", "12", "--steps", "2", "--warmup", "1", "--format", "all",
        "--json", "--threads", "1"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweep", required=True)
    ap.add_argument("--peer", required=True)
    a = ap.parse_args()
    passed = failed = 0

    def check(ok, msg):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL " + msg)

    runs = {}
    for who, cmd in (("sweep", [a.sweep, "bench"] + ARGS), ("torch", ["/usr/bin/python3", a.peer] + ARGS)):
        p = subprocess.run(cmd, capture_output=True, text=True)
        check(p.returncode == 0, f"{who}: exit {p.returncode}: {p.stderr.strip()}")
        objs = []
        for line in p.stdout.splitlines():
            try:
                objs.append(json.loads(line))
            except ValueError:
                check(False, f"{who}: not a JSON line: {line!r}")
        check([o.get("format") for o in objs] == ["none", "norm", "lora", "full"],
              f"{who}: formats {[o.get('format') for o in objs]}, expected none, norm, lora, full")
        for o in objs:
            check(all(k in o for k in KEYS), f"{who}/{o.get('format')}: missing keys {[k for k in KEYS if k not in o]}")
            for k in ("eval_tok_s", "gflops", "sgemm_gflops"):
                v = o.get(k)
                check(isinstance(v, (int, float)) and math.isfinite(v) and v > 0, f"{who}/{o.get('format')}: {k} = {v!r}")
            trains = o.get("format") != "none"
            v = o.get("train_tok_s")
            check((isinstance(v, (int, float)) and v > 0) if trains else v is None,
                  f"{who}/{o.get('format')}: train_tok_s = {v!r}")
        runs[who] = {o.get("format"): o for o in objs}

    # the peer must count exactly the FLOPs model_forward_flops and model_backward_flops count
    for f in ("none", "norm", "lora", "full"):
        e, t = runs.get("sweep", {}).get(f), runs.get("torch", {}).get(f)
        if e and t:
            for k in ("train_flops", "eval_flops"):
                check(e.get(k) == t.get(k) or (e.get(k) and t.get(k) and abs(e[k] - t[k]) <= 1e-9 * e[k]),
                      f"{f}: {k}: engine {e.get(k)}, torch_peer {t.get(k)}")

    # --profile: every kind of work timed where it happens, and every weight product counted exactly once:
    # the FLOPs of the profiled products differ between formats exactly as the engine's FLOP counts do
    p = subprocess.run([a.sweep, "bench"] + ARGS + ["--profile"], capture_output=True, text=True)
    check(p.returncode == 0, f"--profile: exit {p.returncode}: {p.stderr.strip()}")
    plain, prof = {}, {}
    for line in p.stdout.splitlines():
        o = json.loads(line)
        (prof if "profile" in o else plain)[o["format"]] = o
    check(sorted(prof) == ["full", "lora", "none", "norm"], f"--profile: profiles of {sorted(prof)}")

    def product_flops(f):
        return sum(2.0 * s["n"] * s["out"] * s["in"] * s["calls_per_step"] for s in prof[f]["profile"]["products"])

    def secs(f, kind, phase):
        return prof[f]["profile"]["seconds_per_step"][kind][phase]

    if sorted(prof) == ["full", "lora", "none", "norm"]:
        attn_fwd = plain["none"]["eval_flops"] - product_flops("none")
        check(attn_fwd > 0, f"--profile: none: products {product_flops('none')} of {plain['none']['eval_flops']} FLOPs")
        for f in ("norm", "full"):
            rest = plain[f]["train_flops"] - product_flops(f)   # attention: forward once, backward twice
            check(abs(rest - 3 * attn_fwd) <= 1e-9 * plain[f]["train_flops"],
                  f"--profile: {f}: {rest} FLOPs outside the profiled products, expected {3 * attn_fwd}")
        check({s["op"] for s in prof["full"]["profile"]["products"]} == {"x W^T", "dy W", "dy^T x"},
              "--profile: full lacks a product kind")
        check("dy^T x" not in {s["op"] for s in prof["norm"]["profile"]["products"]}, "--profile: norm has weight gradients")
        for kind in ("products", "attention", "rmsnorm", "rope", "swiglu", "embedding", "loss", "copies"):
            check(secs("full", kind, "forward") + secs("full", kind, "backward") > 0, f"--profile: full: no time in {kind}")
        check(secs("full", "optimizer", "update") > 0 and secs("lora", "lora", "backward") > 0,
              "--profile: optimizer or LoRA products not timed")
        check(all(secs("none", k, "backward") == 0 for k in prof["none"]["profile"]["seconds_per_step"]),
              "--profile: none has backward time")
        for f, o in prof.items():
            pr = o["profile"]
            by_shape = sum(s["seconds_per_step"] for s in pr["products"])
            timed = sum(v for kinds in pr["seconds_per_step"].values() for v in kinds.values())
            check(abs(by_shape - sum(pr["seconds_per_step"]["products"].values())) <= 1e-6 + 1e-3 * by_shape,
                  f"--profile: {f}: products by shape {by_shape} s, by kind {pr['seconds_per_step']['products']}")
            check(0 < timed <= pr["wall_seconds_per_step"] * 1.0001, f"--profile: {f}: timed {timed} s of {pr['wall_seconds_per_step']}")

    # --save-model writes the random (here ternary) weights as a model file; --model benchmarks it mapped
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tiny-ternary.sweep")
        p = subprocess.run([a.sweep, "bench", "--config", "tiny", "--ternary", "--save-model", path],
                           capture_output=True, text=True)
        check(p.returncode == 0 and os.path.exists(path) and "ternary" in p.stdout,
              f"--save-model: exit {p.returncode}, {p.stderr.strip()!r}")
        p = subprocess.run([a.sweep, "bench", "--model", path] + ARGS[4:8] + ["--format", "norm", "--json"],
                           capture_output=True, text=True)
        o = json.loads(p.stdout) if p.returncode == 0 and p.stdout.startswith("{") else {}
        check(o.get("ternary") is True and o.get("config") == path and (o.get("train_tok_s") or 0) > 0,
              f"--model {path}: exit {p.returncode}, {p.stdout.strip()!r} {p.stderr.strip()!r}")
        model_bad = [["--model", os.path.join(tmp, "missing.sweep")], ["--model", path, "--ternary"],
                     ["--save-model", os.path.join(tmp, "no", "dir", "x.sweep"), "--config", "tiny"]]
    for bad in [["--format", "nope"], ["--threads", "0"], ["--config", "huge"], ["--seq", "100000", "--config", "tiny"],
                ["--batch"]] + model_bad:
        p = subprocess.run([a.sweep, "bench"] + bad, capture_output=True, text=True)
        check(p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and p.stdout == "",
              f"sweep bench {' '.join(bad)}: exit {p.returncode}, stderr {p.stderr.strip()!r}")

    print(f"bench_smoke: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
