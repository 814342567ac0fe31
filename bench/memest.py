#!/usr/bin/python3
"""Estimated peak memory of a job (engine/memest.h, as `sweep plan --json` prints it) against the peak
the sweep measured (/peak_rss_bytes: the job's forked process's ru_maxrss, the shared base pages it
touched included), at Llama 3.2 1B's shape on random weights:

  ternary base (DIR/1b-ternary.sweep, `sweep bench --config 1b --ternary --save-model`) at int8, and
  its bf16 copy (`sweep quantize --dtype bf16`) at bf16; none, norm and LoRA (rank 8, all projections)
  jobs, batch 1 x 256, a few steps, one eval text scored over 2 windows of the context; one sweep per
  base under mpirun -np NP. Full fine-tuning at 1b is planned only (~27 GB: above this machine);
  `sweep plan --mem-per-node` says whether it fits.

The table: estimate = the job's private part; shared = the mapped base and its ready forms (once per
node); measured / (estimate + shared) is the figure tests/mpi/test_memory.py bounds on the default
config (0.7 .. 1.3). Memory does not depend on load: this may run beside other work.
usage: bench/memest.py [--sweep build/sweep] [--dir /tmp/sweep-memest] [--np 2] [--steps 2]
"""
import argparse
import json
import os
import subprocess
import sys

import h5py

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "mpi"))
import common as c  # noqa: E402


def check(cmd, **kw):
    r = subprocess.run(cmd, env=c.ENV, capture_output=True, text=True, **kw)
    if r.returncode:
        sys.exit("%s: exit %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    return r


def mib(b):
    return "%.0f MiB" % (b / 2**20)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweep", default=os.path.join(HERE, "..", "build", "sweep"))
    ap.add_argument("--dir", default="/tmp/sweep-memest")
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--steps", type=int, default=2)
    a = ap.parse_args()
    a.sweep = os.path.abspath(a.sweep)
    os.makedirs(a.dir, exist_ok=True)
    if not os.path.exists(os.path.join(a.dir, "base", "tokenizer.bpe")):
        c.make_data(a.dir, users=("alba",), train_bytes=20000, eval_bytes=6000, slices=1)
        c.make_base(a.sweep, a.dir)   # for its tokenizer (300 tokens: within the 1b vocabulary)
    tern, bf16 = os.path.join(a.dir, "1b-ternary.sweep"), os.path.join(a.dir, "1b-bf16.sweep")
    if not os.path.exists(tern):
        check([a.sweep, "bench", "--config", "1b", "--ternary", "--save-model", tern])
    if not os.path.exists(bf16):
        check([a.sweep, "quantize", tern, bf16, "--dtype", "bf16"])
    formats = {"none": {}, "norm": {"lr": 1e-3}, "lora": {"rank": 8, "alpha": 16, "lr": 1e-4}}
    rows = []
    for name, path, prec in (("ternary", tern, "int8"), ("bf16", bf16, "bf16")):
        spec = "%s.json" % name
        c.write_spec(a.dir, name=spec, bases={name: os.path.basename(path)}, users=["alba"], seeds=1, formats=formats,
                     train={"steps": a.steps, "batch": 1, "seq": 256, "precision": prec},
                     eval={"users": "own", "slices": 1, "general": False, "tokens": 500},
                     output="out/%s.h5" % name)
        plan = json.loads(check([a.sweep, "plan", spec, "--json"], cwd=a.dir).stdout)
        out = os.path.join(a.dir, "out", "%s.h5" % name)
        for f in (out, out + ".journal"):
            if os.path.exists(f):
                os.remove(f)
        r = c.run(a.np, a.sweep, [spec, "-q"], a.dir, timeout=3600)
        if r.returncode != 0:
            sys.exit("sweep run %s: exit %d\n%s" % (spec, r.returncode, r.stderr[-3000:]))
        est = {j["id"]: j["est_mem_bytes"] for j in plan["jobs"]}
        shared = plan["memory"]["shared_bytes"]
        with h5py.File(out, "r") as f:
            for jid, fmt, peak in zip(f["job"][:], f["job_format"][:], f["peak_rss_bytes"][:]):
                e = est[jid.decode()]
                rows.append((name, prec, fmt.decode(), e, shared, int(peak)))
    print("\n1b shape, batch 1 x 256, %d steps, -np %d: estimated vs measured peak per job\n" % (a.steps, a.np))
    print("| base | precision | format | estimate (private) | shared (once per node) | estimate + shared | "
          "measured peak RSS | measured / (estimate + shared) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, prec, fmt, e, sh, peak in rows:
        print("| %s | %s | %s | %s | %s | %s | %s | %.2f |" % (name, prec, fmt, mib(e), mib(sh), mib(e + sh), mib(peak),
                                                           peak / (e + sh)))
    # full fine-tuning at this shape: planned, not run
    c.write_spec(a.dir, name="full.json", bases={"ternary": os.path.basename(tern)}, users=["alba"], seeds=1,
                 formats={"full": {"lr": 1e-5}}, train={"steps": 1, "batch": 1, "seq": 256, "precision": "int8"},
                 eval={"users": "own", "slices": 1, "general": False, "tokens": 500}, output="out/full.h5")
    plan = json.loads(check([a.sweep, "plan", "full.json", "--json"], cwd=a.dir).stdout)
    print("\nfull fine-tune at 1b (int8 on the ternary base): estimate %s private (weights, gradients, AdamW, bf16"
          " copies, activations)" % mib(plan["memory"]["largest_job_bytes"]))
    r = subprocess.run([a.sweep, "plan", "full.json", "--ranks-per-node", str(a.np), "--mem-per-node", "64G"],
                       cwd=a.dir, capture_output=True, text=True, env=c.ENV)
    print("sweep plan full.json --ranks-per-node %d --mem-per-node 64G: %s" %
          (a.np, (r.stdout.strip().splitlines() or [""])[-1] if r.returncode == 0 else r.stderr.strip()))


if __name__ == "__main__":
    main()
