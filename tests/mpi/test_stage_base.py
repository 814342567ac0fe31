"""Bases and texts are shared, not copied per job:
- each rank maps each base once, and its job processes use that mapping (inherited across fork: same
  address, one mapping), never a second one of their own;
- --stage-base DIR copies each base once per node (one file per base, named by its content checksum,
  no temporary left over, identical bytes) and the ranks map the staged copy, not the original;
  a second run reuses the copies (same inode) and the results equal a run without staging;
- the token cache holds one file per (text, tokenizer) and nothing half-written."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)
spec = c.write_spec(work, bases={"fp": "base/base.sweep", "ternary": "base/base-ternary.sweep"},
                    formats={"norm": {"lr": 1e-2}}, seeds=1,
                    train={"steps": c.steps_for(sweep, work, 0.6), "batch": 4, "seq": 12},
                    eval={"users": "own", "slices": 1, "general": True, "tokens": 100})
ids = c.plan_ids(sweep, spec, work)
stage = os.path.join(work, "stage")
originals = {os.path.realpath(os.path.join(work, "base", n)) for n in ("base.sweep", "base-ternary.sweep")}


def maps_of(pid):
    """{path: [start addresses]} of the file mappings of a process that are bases (original or staged)."""
    out = {}
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].strip().endswith(".sweep"):
                out.setdefault(parts[5].strip(), []).append(parts[0].split("-")[0])
    return out


def parent(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    return int(s[s.rindex(")") + 2:].split()[1])


def watch(p):
    """Samples every sweep process of the run until it ends: {pid: (parent, maps)} of the last look that
    found the most bases mapped (a rank unmaps its bases one by one on the way out: a look between
    two unmaps once saw one base of two)."""
    seen = {}
    while p.poll() is None:
        for pid in c.sweep_processes_in(work):
            try:
                m = maps_of(pid)
                if pid not in seen or len(m) >= len(seen[pid][1]):
                    seen[pid] = (parent(pid), m)
            except OSError:
                pass
        time.sleep(0.05)
    return seen


def check_mappings(name, seen, mpirun_pid, want_staged):
    ranks = {pid: m for pid, (pp, m) in seen.items() if pp == mpirun_pid}
    jobs = {pid: (pp, m) for pid, (pp, m) in seen.items() if pp in ranks}
    c.check(len(ranks) == 3 and len(jobs) >= 2, "%s: saw 3 ranks and some job processes (%d, %d)" %
            (name, len(ranks), len(jobs)))
    for pid, m in ranks.items():
        paths = sorted(m)
        c.check(len(paths) == 2 and all(len(m[x]) == 1 for x in paths),
                "%s: rank %d maps each of the two bases once: %s" % (name, pid, m))
        staged = all(x.startswith(stage + "/") for x in paths)
        c.check(staged == want_staged and (want_staged or set(paths) == originals),
                "%s: rank %d maps the %s: %s" % (name, pid, "staged copies" if want_staged else "originals", paths))
    for pid, (pp, m) in jobs.items():
        c.check(m == ranks[pp], "%s: job process %d uses its rank's mappings, no new one: %s vs %s" %
                (name, pid, m, ranks[pp]))


plain = c.start(3, sweep, ["spec.json", "-o", "plain/results.h5", "-q"], work)
seen = watch(plain)
plain.communicate()
c.check(plain.returncode == 0, "run without staging: exit %d" % plain.returncode)
check_mappings("in place", seen, plain.pid, False)

staged_run = c.start(3, sweep, ["spec.json", "-o", "staged/results.h5", "-q", "--stage-base", stage], work)
seen = watch(staged_run)
staged_run.communicate()
c.check(staged_run.returncode == 0, "run with --stage-base: exit %d" % staged_run.returncode)
check_mappings("staged", seen, staged_run.pid, True)
files = sorted(os.listdir(stage)) if os.path.isdir(stage) else []
c.check(len(files) == 2 and all(f.endswith(".sweep") and len(f.split("-", 1)[0]) == 16 for f in files),
        "one staged copy per base, named by checksum, nothing else: %s" % files)
for f in files:
    orig = os.path.join(work, "base", f.split("-", 1)[1])
    with open(orig, "rb") as a, open(os.path.join(stage, f), "rb") as b:
        c.check(a.read() == b.read(), "staged %s has the original's bytes" % f)
inodes = {f: os.stat(os.path.join(stage, f)).st_ino for f in files}

again = c.run(3, sweep, ["spec.json", "-o", "staged2/results.h5", "-q", "--stage-base", stage], work)
c.check(again.returncode == 0, "second staged run: exit %d" % again.returncode)
c.check({f: os.stat(os.path.join(stage, f)).st_ino for f in sorted(os.listdir(stage))} == inodes,
        "the second run reuses the staged copies")
for out in ("staged/results.h5", "staged2/results.h5"):
    rc, msg = c.compare(tool, os.path.join(work, "plain/results.h5"), os.path.join(work, out))
    c.check(rc == 0, "%s equals the run without staging: %s" % (out, msg))

# token cache: 3 training texts + 3 own slices + general, under 2 tokenizers' keys (same file: one key)
cache = os.path.join(work, "plain", "results.h5.cache")
entries = sorted(os.listdir(cache))
c.check(len(entries) == 7 and all(e.endswith(".tok") for e in entries),
        "the token cache holds one file per text and tokenizer, nothing half-written: %s" % entries)
c.finish("mpi.stage_base")
