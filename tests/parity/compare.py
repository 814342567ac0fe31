#!/usr/bin/python3
"""PyTorch parity test: for two model shapes and every adapter format, writes random weights and a
fixed batch, runs parity_driver (the fp32 engine) and reference.py (float64 PyTorch) on them, and
checks logits, loss, every trainable gradient by name, the loss of 10 AdamW steps on that batch and
the gradient norms AdamW saw.

Error of a tensor (gated at 1e-4): its relative error in the max norm, max_i |c_i - r_i| / max_j |r_j|.
fp32 gets about 1e-6 here. A second gate catches a few wrong elements in an otherwise right tensor:
elementwise relative error, max_i |c_i - r_i| / max(|r_i|, 1e-2 max_j |r_j|), at most 1e-3 (fp32 gets
up to ~1e-4 on elements a hundred times smaller than the largest, from cancellation in their sums).

usage: compare.py --driver build/tests/parity_driver --workdir DIR
"""
import argparse
import math
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402

TOL = 1e-4            # normwise
ELEM_TOL = 1e-3       # elementwise, against max(|r_i|, ELEM_FLOOR * max |r|)
ELEM_FLOOR = 1e-2

VARIANTS = {
    # config_tiny's shape: GQA (4 query heads on 2 KV heads), untied head, no biases
    "tiny": dict(cfg=dict(dim=16, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=24, vocab=37, context=12,
                          rope_theta=10000.0, norm_eps=1e-5, tied=0, qkv_bias=0),
                 batch=2, seq=8, grad_clip=0.0, ignore=False),
    # Qwen2-like: 6 query heads on 2 KV heads, q/k/v biases, tied head; clipping and an ignored target
    "gqa_bias_tied": dict(cfg=dict(dim=24, n_layers=2, n_heads=6, n_kv_heads=2, ffn_dim=40, vocab=53,
                                   context=16, rope_theta=500000.0, norm_eps=1e-6, tied=1, qkv_bias=1),
                          batch=3, seq=12, grad_clip=0.5, ignore=True),
}

# lora_b: LoRA with B set to random values (A from the C side), so that dA is not trivially zero
FORMATS = ["none", "norm", "lora", "lora_b", "full"]
LR = {"none": 0.0, "norm": 1e-2, "lora": 1e-2, "lora_b": 1e-2, "full": 1e-3}


class Tally:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, ok, msg):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL " + msg)


def tensor_err(c, r):
    """(normwise, elementwise) relative errors of c against the reference r."""
    c, r = np.asarray(c, np.float64).ravel(), np.asarray(r, np.float64).ravel()
    if c.shape != r.shape:
        return math.inf, math.inf
    if r.size == 0:
        return 0.0, 0.0
    diff, top = np.abs(c - r), np.abs(r).max()
    if top == 0:    # an exactly zero reference (LoRA A's gradient while B = 0) must be matched exactly
        return float(diff.max()), float(diff.max())
    return float(diff.max() / top), float((diff / np.maximum(np.abs(r), ELEM_FLOOR * top)).max())


def run_driver(driver, case_path, w_path, t_path, out_path, adapter_in=None):
    cmd = [driver, case_path, w_path, t_path, out_path] + ([adapter_in] if adapter_in else [])
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stderr.strip()


def lora_shapes(cfg, rank):
    d, hd = cfg["dim"], cfg["dim"] // cfg["n_heads"]
    q, kv, f = cfg["n_heads"] * hd, cfg["n_kv_heads"] * hd, cfg["ffn_dim"]
    io = {"self_attn.q_proj": (q, d), "self_attn.k_proj": (kv, d), "self_attn.v_proj": (kv, d),
          "self_attn.o_proj": (d, q), "mlp.gate_proj": (f, d), "mlp.up_proj": (f, d), "mlp.down_proj": (d, f)}
    return {f"model.layers.{i}.{t}": io[t] for i in range(cfg["n_layers"]) for t in reference.LORA_TARGETS}


def check_variant(vname, v, driver, workdir, tally, worst):
    cfg = v["cfg"]
    rng = np.random.default_rng(7)
    weights = reference.random_weights(cfg, seed=11)
    windows = rng.integers(0, cfg["vocab"], size=(v["batch"], v["seq"] + 1))
    if v["ignore"]:
        windows[1, -1] = -1     # one ignored target (ignore_index); the last of a window is never an input
    w_path, t_path = os.path.join(workdir, vname + ".weights"), os.path.join(workdir, vname + ".tokens")
    reference.write_weights(w_path, cfg, weights)
    reference.write_tokens(t_path, windows)
    rank, alpha = 2, 4.0

    for fmt in FORMATS:
        engine_fmt = "lora" if fmt == "lora_b" else fmt
        case = dict(cfg, batch=v["batch"], seq=v["seq"], format=engine_fmt, lora_rank=rank, lora_alpha=alpha,
                    lora_targets="q,k,v,o,gate,up,down", lr=LR[fmt], beta1=0.9, beta2=0.95, eps=1e-8,
                    weight_decay=0.01, grad_clip=v["grad_clip"], steps=10, seed=1234)
        tag = f"{vname}/{fmt}"
        case_path = os.path.join(workdir, f"{vname}.{fmt}.case")
        out_path = os.path.join(workdir, f"{vname}.{fmt}.out")
        reference.write_case(case_path, case)
        adapter_in = None
        b_given = {}
        if fmt == "lora_b":
            brng = np.random.default_rng(99)
            for prefix, (out, _) in lora_shapes(cfg, rank).items():
                b_given[prefix + ".lora_B"] = 0.3 * brng.standard_normal((out, rank))
            adapter_in = os.path.join(workdir, f"{vname}.{fmt}.adapter")
            reference.write_records(adapter_in, b_given)
        rc, err = run_driver(driver, case_path, w_path, t_path, out_path, adapter_in)
        tally.check(rc == 0, f"{tag}: parity_driver exited {rc}: {err}")
        if rc != 0:
            continue
        c = reference.read_records(out_path)

        # starting values: norm and full must copy the base exactly; LoRA A is kaiming-uniform(sqrt 5)
        init = {}
        for name in reference.trainable_names(cfg, engine_fmt):
            got = c.get("init." + name)
            tally.check(got is not None, f"{tag}: driver wrote no init.{name}")
            if got is None:
                continue
            if engine_fmt in ("norm", "full"):
                tally.check(np.array_equal(got.ravel(), weights[name].astype(np.float64).ravel()),
                            f"{tag}: adapter's starting {name} is not the base's")
                init[name] = weights[name].astype(np.float64)
            elif name.endswith("lora_A"):
                bound = 1.0 / math.sqrt(got.shape[1])   # gain sqrt(2/(1+5)) * sqrt(3/fan_in)
                tally.check(np.abs(got).max() <= bound * (1 + 1e-6) and np.abs(got).max() > 0.5 * bound,
                            f"{tag}: {name} not kaiming-uniform(a=sqrt 5): max |A| {np.abs(got).max():.4g}, "
                            f"bound {bound:.4g}")
                init[name] = got
            else:
                want = b_given.get(name, np.zeros_like(got))
                tally.check(np.allclose(got, want, rtol=1e-6, atol=0),
                            f"{tag}: {name} starts at max |B| {np.abs(got).max():.3g}, expected "
                            f"{'the given values' if name in b_given else 'zero'}")
                init[name] = want
        r = reference.run(cfg, case, weights, windows, init)

        compared = ["logits", "loss"] + ["grad." + n for n in reference.trainable_names(cfg, engine_fmt)]
        if engine_fmt != "none":
            compared += ["losses", "grad_norms"]
        for key in compared:
            if key not in c:
                tally.check(False, f"{tag}: driver wrote no {key}")
                continue
            e, el = tensor_err(c[key], r[key])
            worst.append((e, el, tag, key))
            tally.check(e <= TOL, f"{tag}: {key}: relative error {e:.3g} > {TOL:g}")
            tally.check(el <= ELEM_TOL, f"{tag}: {key}: elementwise relative error {el:.3g} > {ELEM_TOL:g}")
        if engine_fmt != "none":
            L = r["losses"].ravel()
            tally.check(L[-1] < L[0], f"{tag}: the reference's loss did not fall in 10 steps ({L[0]:.4f} -> {L[-1]:.4f})")
            if v["grad_clip"] > 0:
                tally.check(r["grad_norms"].max() > v["grad_clip"],
                            f"{tag}: clipping at {v['grad_clip']} never triggered, so it is not tested")
            fe = max(tensor_err(c["final." + n], r["final." + n])[0] for n in reference.trainable_names(cfg, engine_fmt))
            print(f"  {tag}: parameters after 10 steps, worst relative error {fe:.3g} (reported, not gated: "
                  f"Adam's m/sqrt(v) turns fp32 noise in near-zero gradients into full-size steps)")
            print(f"  {tag}: losses C {' '.join(f'{x:.6f}' for x in c['losses'].ravel())}")
            print(f"  {tag}: losses T {' '.join(f'{x:.6f}' for x in L)}")

        if vname == "tiny" and fmt == "none":
            # negative control: the same comparison must reject a model with GPT-J-style RoPE pairs
            wrong = reference.run(cfg, case, weights, windows, init, interleaved_rope=True)
            e = tensor_err(c["logits"], wrong["logits"])[0]
            tally.check(e > 100 * TOL, f"{tag}: logits also match interleaved RoPE (error {e:.3g}): the test "
                        "cannot tell the pairing conventions apart")
            print(f"  negative control: interleaved-RoPE reference differs from the engine by {e:.3g}")


def check_bad_input(driver, workdir, tally):
    """A truncated weight file is bad input: exit 2, one line naming the file."""
    v = VARIANTS["tiny"]
    case_path = os.path.join(workdir, "bad.case")
    reference.write_case(case_path, dict(v["cfg"], batch=v["batch"], seq=v["seq"], format="norm"))
    bad_w = os.path.join(workdir, "bad.weights")
    with open(bad_w, "wb") as f:
        f.write(b"\0" * 100)
    rc, err = run_driver(driver, case_path, bad_w, os.path.join(workdir, "tiny.tokens"),
                         os.path.join(workdir, "bad.out"))
    tally.check(rc == 2 and "bad.weights" in err and len(err.splitlines()) == 1,
                f"truncated weights: exit {rc}, stderr {err!r}; expected exit 2 and one line naming the file")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--driver", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    tally, worst = Tally(), []
    for vname, v in VARIANTS.items():
        check_variant(vname, v, a.driver, a.workdir, tally, worst)
    check_bad_input(a.driver, a.workdir, tally)

    print(f"\n{'normwise':>10} {'elementwise':>11}  tensor (relative errors of the engine against float64 PyTorch)")
    for e, el, tag, key in worst:
        print(f"{e:10.2e} {el:11.2e}  {tag} {key}")
    if worst:
        e, el, tag, key = max(worst)
        print(f"worst normwise: {e:.2e} at {tag} {key} (tolerance {TOL:g})")
        el, e, tag, key = max((w[1], w[0], w[2], w[3]) for w in worst)
        print(f"worst elementwise: {el:.2e} at {tag} {key} (tolerance {ELEM_TOL:g})")
    print(f"parity: {tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
