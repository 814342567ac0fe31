#!/usr/bin/python3
"""Private memory per process (its unique set: Private_Clean + Private_Dirty of /proc/PID/smaps_rollup,
summed with its forked children's at the same moment) and Pss, sampled every 0.1 s; the peak of each.

  1b:      Llama 3.2 1B's shape, random weights: DIR/1b-ternary.sweep (`sweep bench --config 1b --ternary
           --save-model`) and its bf16 copy (`sweep quantize --dtype bf16`), made when absent; two
           `sweep bench --model FILE --format norm --batch 1 --seq 256 --precision P` at once, per precision.
           DIR/1b-int4.sweep (`sweep quantize 1b-bf16.sweep --int4 --group 64`: timing and memory only, its
           values are the ternary file's) with --runs int4:fp32,int4:bf16 (int4 products decode tiles of the
           mapped nibbles: no cache file, engine/int4.h).
           The ready forms' cache file (engine/matcache.h) is made by one unmeasured run first, as a sweep's
           node makes it before any job forks.
  default: a sweep under mpirun -np 2 on fixtures/base (the default config) at fp32, bf16 and int8: norm and
           LoRA jobs on three users; each rank's peak with its forked job; f32, ternary and int4 bases.

Memory does not depend on load; step times printed beside it do (not a speed benchmark).
With --recompute the 1b runs keep one layer's activations at a time (`sweep bench --recompute`).
usage: bench/memory.py [--sweep build/sweep] [--dir /tmp/sweep-memory] [--what 1b,default] [--steps 2] [--recompute]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")


def rollup(pid):
    out = {}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                m = re.match(r"(\w+):\s+(\d+) kB", line)
                if m:
                    out[m.group(1)] = int(m.group(2))
    except OSError:
        return None
    return out


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pid, kids):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def run_sampled(cmds, units_of, cwd=None):
    """Starts cmds at once; units_of(popens, kids) -> {label: root pid}; peaks of private and Pss (kB) of
    each unit's process tree, sampled while every command runs and holds most of its memory (once one
    has unmapped what it shared, those pages would count as the others' alone)."""
    ps = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, cwd=cwd)
          for c in cmds]
    samples = []   # per sample: {label: (private, pss, rss)}
    while all(p.poll() is None for p in ps):
        kids = children_map()
        sample = {}
        for label, root in units_of(ps, kids).items():
            priv = pss = rss = 0
            for pid in tree(root, kids):
                r = rollup(pid)
                if r:
                    priv += r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)
                    pss += r.get("Pss", 0)
                    rss += r.get("Rss", 0)
            sample[label] = (priv, pss, rss)
        samples.append(sample)
        time.sleep(0.1)
    # Only samples where every process holds at least 90% of its largest Rss count: while one process
    # starts or tears down (unmaps the shared files), the pages it no longer maps count as the others' own.
    top = {}
    for smp in samples:
        for k, v in smp.items():
            top[k] = max(top.get(k, 0), v[2])
    peak = {}
    for smp in samples:
        if set(smp) != set(top) or any(v[2] < 0.9 * top[k] for k, v in smp.items()):
            continue
        for k, v in smp.items():
            old = peak.get(k, (0, 0))
            peak[k] = (max(old[0], v[0]), max(old[1], v[1]))
    for p in ps:
        p.wait()
    outs = [p.stdout.read() for p in ps]
    return peak, outs, [p.returncode for p in ps]


def check(cmd, **kw):
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, **kw)
    if r.returncode:
        sys.exit("%s: exit %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    return r


def gb(kb):
    return "%.2f GB" % (kb / 1e6 * 1.024)


def one_b(a):
    tern, bf16 = os.path.join(a.dir, "1b-ternary.sweep"), os.path.join(a.dir, "1b-bf16.sweep")
    int4 = os.path.join(a.dir, "1b-int4.sweep")
    cache = os.path.join(a.dir, "cache")
    if not os.path.exists(tern):
        check([a.sweep, "bench", "--config", "1b", "--ternary", "--save-model", tern])
    if not os.path.exists(bf16):
        check([a.sweep, "quantize", tern, bf16, "--dtype", "bf16"])
    if any(name == "int4" for _, name, _ in a.runs) and not os.path.exists(int4):
        check([a.sweep, "quantize", bf16, int4, "--int4", "--group", "64"])
    print("\n1b shape, norm, batch 1 x 256, two `sweep bench --model%s` processes at once (%s steps):\n"
          % (" --recompute" if a.recompute else "", a.steps))
    print("| base | precision | step CPU s (each) | peak private per process | peak Pss per process |")
    print("|---|---|---|---|---|")
    for path, name, prec in a.runs:
        # --no-sgemm: the sgemm probe's vocab x dim operands (1 GB here) are not the step's memory
        base = [a.sweep, "bench", "--model", path, "--cache-dir", cache, "--precision", prec, "--batch", "1", "--no-sgemm"]
        check(base + ["--format", "none", "--seq", "8", "--steps", "1", "--warmup", "0"])   # makes the ready forms
        run = base + ["--format", "norm", "--seq", "256", "--warmup", "1", "--json"] + (["--recompute"] if a.recompute else []) + ["--steps"]
        # the second process runs two steps longer, so the first one's whole run is seen with both alive
        cmd, cmd2 = run + [str(a.steps)], run + [str(a.steps + 2)]
        peak, outs, rcs = run_sampled([cmd, cmd2], lambda ps, kids: {i: p.pid for i, p in enumerate(ps)})
        steps = []
        for o in outs:
            js = [json.loads(ln) for ln in o.splitlines() if ln.startswith("{")]
            steps.append("%.2f" % js[0]["step_cpu_seconds"] if js else "failed")
        print("| %s | %s | %s | %s | %s |" % (name, prec, ", ".join(steps), ", ".join(gb(peak[i][0]) for i in (0, 1)),
                                             ", ".join(gb(peak[i][1]) for i in (0, 1))))
        sys.stdout.flush()


def default_sweep(a, repo):
    work = os.path.join(a.dir, "default")
    sys.path.insert(0, os.path.join(repo, "tests", "mpi"))
    import common  # noqa: E402  (tests/mpi/common.py: user texts)
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    common.make_data(work)
    print("\ndefault config (fixtures/base), sweep under mpirun -np 2: norm and LoRA-r4 on 3 users, 30 steps of 4 x 128;"
          "\nper rank, with its forked job (peak over the run):\n")
    print("| base | precision | peak private rank 0 | rank 1 | peak Pss rank 0 | rank 1 |")
    print("|---|---|---|---|---|---|")
    fp32_priv = None
    for bname, bfile in (("f32", "base.sweep"), ("ternary", "base-ternary.sweep"), ("int4", "base-int4.sweep")):
        for prec in ("fp32", "bf16", "int8"):
            spec = {"protocol": "custom", "output": "out-%s-%s/results.h5" % (bname, prec),
                    "bases": {"b": os.path.join(repo, "fixtures", "base", bfile)},
                    "tokenizer": os.path.join(repo, "fixtures", "base", "tokenizer.bpe"), "data": "data",
                    "users": ["alba", "brisk", "corvo"],
                    "formats": {"norm": {"lr": 1e-2}, "lora": {"rank": 4, "alpha": 8, "lr": 1e-3}},
                    "train": {"steps": 30, "batch": 4, "seq": 128, "precision": prec}, "seeds": 1,
                    "eval": {"users": "own", "slices": 1, "general": False, "tokens": 256}, "max_attempts": 1}
            with open(os.path.join(work, "spec.json"), "w") as f:
                json.dump(spec, f)
            cmd = ["mpirun", "-np", "2", "--oversubscribe", a.sweep, "run", "spec.json", "-q"]

            def ranks(ps, kids):
                # mpirun's descendants that run the sweep binary and whose parent does not: the ranks
                out = {}
                for pid in tree(ps[0].pid, kids)[1:]:
                    try:
                        exe = os.readlink("/proc/%d/exe" % pid)
                        with open("/proc/%d/stat" % pid) as f:
                            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                        pexe = os.readlink("/proc/%d/exe" % ppid)
                    except OSError:
                        continue
                    if os.path.basename(exe) == "sweep" and os.path.basename(pexe) != "sweep":
                        out[len(out)] = pid
                return {i: p for i, p in enumerate(sorted(out.values()))}
            peak, outs, rcs = run_sampled([cmd], ranks, cwd=work)
            if rcs[0]:
                print("| %s | %s | failed: %s |" % (bname, prec, outs[0][-300:].replace("\n", " ")))
                continue
            priv = [peak.get(i, (0, 0))[0] for i in (0, 1)]
            if prec == "fp32":
                fp32_priv = priv
            rel = "" if prec == "fp32" or not fp32_priv else " (%+.0f%%, %+.0f%% of fp32)" % tuple(
                100.0 * (p - q) / q for p, q in zip(priv, fp32_priv))
            print("| %s | %s | %.1f MB | %.1f MB%s | %.1f MB | %.1f MB |" % (
                bname, prec, priv[0] / 1000 * 1.024, priv[1] / 1000 * 1.024, rel,
                peak.get(0, (0, 0))[1] / 1000 * 1.024, peak.get(1, (0, 0))[1] / 1000 * 1.024))
            sys.stdout.flush()


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweep", default=os.path.join(repo, "build", "sweep"))
    ap.add_argument("--dir", default="/tmp/sweep-memory")
    ap.add_argument("--what", default="1b,default")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--recompute", action="store_true", help="1b runs with sweep bench --recompute")
    ap.add_argument("--runs", default="ternary:int8,ternary:bf16,bf16:bf16,ternary:fp32,bf16:fp32",
                    help="1b runs, BASE:PRECISION (BASE ternary, bf16 or int4)")
    a = ap.parse_args()
    a.sweep = os.path.abspath(a.sweep)
    os.makedirs(a.dir, exist_ok=True)
    files = {"ternary": os.path.join(a.dir, "1b-ternary.sweep"), "bf16": os.path.join(a.dir, "1b-bf16.sweep"),
             "int4": os.path.join(a.dir, "1b-int4.sweep")}
    a.runs = [(files[r.split(":")[0]], r.split(":")[0], r.split(":")[1]) for r in a.runs.split(",")]
    what = a.what.split(",")
    if "default" in what:
        default_sweep(a, repo)
    if "1b" in what:
        one_b(a)


if __name__ == "__main__":
    main()
