"""Memory-aware scheduling and per-job peaks (issue 13 part 3), end to end:
- tiny base, norm and full jobs of a few seconds each, -np 3 on one node, --mem-per-node set from
  `sweep plan --json`'s own estimates to the node's fixed part + one full + one norm job + a little,
  i.e. below two full jobs: no two full jobs overlap in time (the results' started + seconds), while
  norm jobs run beside full ones; the control run with a large limit does overlap two full jobs (so
  the overlap check can fail);
- `sweep plan --mem-per-node` below the node's fixed part + the largest job refuses with one line,
  exit 2, and `sweep run` refuses the same before any job runs (no journal);
- /peak_rss_bytes is present for every job and within the stated bounds of the estimates:
  tiny config (a job's estimate, ~2.5 MB, is below the process's own ~8-10 MB): estimate <= measured
  <= estimate + shared + MEMEST_RANK_BYTES; default config (none, norm, lora, full at fp32 and bf16,
  -np 2): measured / (estimate + shared) within [0.7, 1.3]."""
import json
import os
import subprocess
import sys

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

DEFAULT_LOW, DEFAULT_HIGH = 0.7, 1.3

sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)


def plan_json(spec, *extra):
    r = subprocess.run([sweep, "plan", spec, "--json"] + list(extra), cwd=work, capture_output=True, text=True,
                       env=c.ENV)
    if r.returncode != 0:
        raise SystemExit("sweep plan %s: %s" % (spec, r.stderr))
    return json.loads(r.stdout)


def intervals(path):
    with h5py.File(path, "r") as f:
        fmt = [x.decode().split("[")[0] for x in f["job_format"][:]]
        return [(fm, s, s + d) for fm, s, d in zip(fmt, f["started"][:], f["seconds"][:])]


def overlap(a, b):
    return min(a[2], b[2]) - max(a[1], b[1])


def full_pairs_overlap(iv):
    fulls = [x for x in iv if x[0] == "full"]
    return max([overlap(a, b) for i, a in enumerate(fulls) for b in fulls[i + 1:]] or [-1])


# --- scheduling on the tiny base: jobs of ~3 s so that overlaps in time are plain
# Full jobs cost more FLOPs at the same steps, so they are handed out first: the first full starts, the
# second cannot fit beside it, a norm job takes the second rank at the same moment.
steps = c.steps_for(sweep, work, 3)
c.write_spec(work, name="mem.json", users=["alba", "brisk"], seeds=1,
             formats={"norm": {"lr": 1e-2}, "full": {"lr": 1e-4}},
             train={"steps": steps, "batch": 4, "seq": 12},
             eval={"users": "own", "slices": 1, "general": False, "tokens": 50})
plan = plan_json("mem.json")
RANKS = 3
est = {j["id"]: j["est_mem_bytes"] for j in plan["jobs"]}
kind = {j["id"]: j["format"].split("[")[0] for j in plan["jobs"]}
full = max(est[i] for i in est if kind[i] == "full")
norm = max(est[i] for i in est if kind[i] == "norm")
mem = plan["memory"]
fixed = mem["shared_bytes"] + RANKS * mem["rank_bytes"]
c.check(full > norm, "a full job is estimated above a norm job: %d vs %d" % (full, norm))
flops = {j["id"]: j["est_flops"] for j in plan["jobs"]}
c.check(min(flops[i] for i in flops if kind[i] == "full") > max(flops[i] for i in flops if kind[i] == "norm"),
        "full jobs are handed out first (longest first)")
limit = int(fixed + full + norm + (full - norm) // 2)   # room for one full and one norm, not two fulls
c.log("tiny: full %d B, norm %d B, node fixed %d B at %d ranks: --mem-per-node %d" % (full, norm, fixed, RANKS, limit))
c.check(limit < fixed + 2 * full, "the limit is below two full jobs")

r = c.run(RANKS, sweep, ["mem.json", "-o", "out/limited.h5", "--mem-per-node", str(limit)], work)
c.check(r.returncode == 0, "limited run: exit %d\n%s" % (r.returncode, r.stderr[-2000:]))
c.check("memory per node: " in r.stderr and "(--mem-per-node)" in r.stderr,
        "the run says which limit it used: %s" % [ln for ln in r.stderr.splitlines() if "memory" in ln])
if r.returncode == 0:
    iv = intervals(os.path.join(work, "out/limited.h5"))
    c.log("limited run:", ["%s %.2f-%.2f" % (k, s - iv[0][1], e - iv[0][1]) for k, s, e in sorted(iv, key=lambda x: x[1])])
    c.check(full_pairs_overlap(iv) <= 0.05, "no two full jobs overlap (largest overlap %.2f s)" % full_pairs_overlap(iv))
    beside = max(overlap(a, b) for a in iv for b in iv if a[0] == "full" and b[0] == "norm")
    c.check(beside > 0.5, "norm jobs run beside a full job (largest overlap %.2f s)" % beside)

# control: the same grid with room for everything runs two full jobs at once
r = c.run(RANKS, sweep, ["mem.json", "-o", "out/free.h5", "--mem-per-node", "1T", "-q"], work)
if c.check(r.returncode == 0, "unlimited run: exit %d\n%s" % (r.returncode, r.stderr[-2000:])):
    c.check(full_pairs_overlap(intervals(os.path.join(work, "out/free.h5"))) > 0.5,
            "without the limit two full jobs overlap (the check above can fail)")

# --- a job that fits no node: plan and run refuse it with one line, exit 2
small = str(int(fixed + full - 1))
p = subprocess.run([sweep, "plan", "mem.json", "--ranks-per-node", str(RANKS), "--mem-per-node", small], cwd=work,
                   capture_output=True, text=True, env=c.ENV)
c.check(p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "fits no node" in p.stderr,
        "plan refuses a job that fits no node: %d %r" % (p.returncode, p.stderr))
p = subprocess.run([sweep, "plan", "mem.json", "--ranks-per-node", str(RANKS), "--mem-per-node", str(limit)],
                   cwd=work, capture_output=True, text=True, env=c.ENV)
c.check(p.returncode == 0 and "fits, 1 of the largest at once per node" in p.stdout,
        "plan says how many full jobs a node runs at once: %r" % p.stdout[-400:])
r = c.run(RANKS, sweep, ["mem.json", "-o", "out/refused.h5", "--mem-per-node", small], work)
lines = c.sweep_lines(r.stderr)
c.check(r.returncode == 2 and any("fits no node" in ln for ln in lines) and
        not os.path.exists(os.path.join(work, "out/refused.h5.journal")),
        "run refuses it too, before any job: exit %d %s" % (r.returncode, lines))

# --- peaks against estimates
def check_peaks(path, plan, low_of, high_of, what):
    est = {j["id"]: j["est_mem_bytes"] for j in plan["jobs"]}
    fmt = {j["id"]: j["format"] for j in plan["jobs"]}
    with h5py.File(path, "r") as f:
        rows = list(zip([x.decode() for x in f["job"][:]], f["peak_rss_bytes"][:]))
    for jid, peak in rows:
        e = est[jid]
        c.log("%s %-24s estimate %8.1f MiB  measured %8.1f MiB" % (what, fmt[jid], e / 2**20, peak / 2**20))
        c.check(low_of(e) <= peak <= high_of(e), "%s %s: measured %d B outside [%d, %d]" %
                (what, fmt[jid], peak, low_of(e), high_of(e)))


tiny_plan = plan_json("mem.json")
sh, rb = tiny_plan["memory"]["shared_bytes"], tiny_plan["memory"]["rank_bytes"]
check_peaks(os.path.join(work, "out/limited.h5"), tiny_plan, lambda e: e, lambda e: e + sh + rb, "tiny")
c.write_spec(work, name="tinyall.json", users=["alba"], seeds=1,
             formats={"none": {}, "norm": {"lr": 1e-2}, "lora": {"rank": 2, "alpha": 4, "lr": 1e-3},
                      "full": {"lr": 1e-4}}, train={"steps": 5, "batch": 2, "seq": 12},
             eval={"users": "own", "slices": 1, "general": True, "tokens": 100})
r = c.run(2, sweep, ["tinyall.json", "-o", "out/tinyall.h5", "-q"], work)
if c.check(r.returncode == 0, "tiny none/norm/lora/full: exit %d %s" % (r.returncode, r.stderr[-1000:])):
    check_peaks(os.path.join(work, "out/tinyall.h5"), plan_json("tinyall.json"), lambda e: e,
                lambda e: e + sh + rb, "tiny")

# the default config: random weights of its shape (sweep bench --save-model), the tiny tokenizer
b = subprocess.run([sweep, "bench", "--config", "default", "--save-model", os.path.join(work, "default.sweep")],
                   capture_output=True, text=True, env=c.ENV)
c.check(b.returncode == 0, "a default-config model file: %s" % b.stderr)
c.write_spec(work, name="default.json", bases={"def": "default.sweep"}, users=["alba"], seeds=1,
             formats={"none": {}, "norm": {"lr": 1e-2}, "lora": {"rank": 4, "alpha": 8, "lr": 1e-3},
                      "full": {"lr": 1e-4}},
             train={"steps": 2, "batch": 4, "seq": 128, "precision": ["fp32", "bf16"]},
             eval={"users": "own", "slices": 1, "general": False, "tokens": 1200})
r = c.run(2, sweep, ["default.json", "-o", "out/default.h5", "-q"], work, timeout=280)
if c.check(r.returncode == 0, "default config: exit %d %s" % (r.returncode, r.stderr[-1000:])):
    dp = plan_json("default.json")
    dsh = dp["memory"]["shared_bytes"]
    check_peaks(os.path.join(work, "out/default.h5"), dp, lambda e: DEFAULT_LOW * (e + dsh),
                lambda e: DEFAULT_HIGH * (e + dsh), "default")
c.finish("memory")
