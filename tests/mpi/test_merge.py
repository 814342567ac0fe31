"""sweep merge: spec A (seeds [0]) and spec B (seeds [1]) run apart under mpirun, merged, equal a single
run of the union spec (seeds [0, 1]) as h5_compare_results compares results files (every deterministic
value bit for bit; timings, ranks, hosts, backends, attempts, messages and the spec attributes are how a
run went and may differ). The merged file reports like the union run. Refusals, each one line and exit 2:
a base, tokenizer or eval text whose content hash differs, a job that differs between two files, another
protocol, a file without the hash attributes, an output with a journal."""
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
fmts = {"none": {}, "norm": {"lr": 1e-2}, "lora": {"rank": 2, "alpha": 4, "lr": 1e-3}}
ev = {"users": "all", "slices": 1, "general": True, "tokens": 100}
for name, seeds in (("a", [0]), ("b", [1]), ("u", [0, 1])):
    c.write_spec(work, name="%s.json" % name, formats=fmts, seeds=seeds, eval=ev, train={"steps": 8, "batch": 2, "seq": 12})
    r = c.run(2, sweep, ["%s.json" % name, "-o", "%s/results.h5" % name, "-q"], work)
    c.check(r.returncode == 0, "run %s: exit %d\n%s" % (name, r.returncode, r.stderr[-1500:]))
A, B, U = (os.path.join(work, n, "results.h5") for n in "abu")
M = os.path.join(work, "merged.h5")


def merge(*args):
    r = subprocess.run([sweep, "merge"] + list(args), cwd=work, env=c.ENV, capture_output=True, text=True, timeout=120)
    return r.returncode, r.stderr.strip()


rc, msg = merge(A, B, "-o", M)
c.check(rc == 0, "merge A B: %d %s" % (rc, msg))
rc, msg = c.compare(tool, M, U)
c.check(rc == 0, "the merged file equals the union run: %s" % msg)
rc, msg = c.compare(tool, A, U)
c.check(rc == 1, "A alone differs from the union run (the comparison can fail): %s" % msg)
with h5py.File(M, "r") as f, h5py.File(U, "r") as g:
    c.check(f.attrs["created_by"] == "sweep merge", "created_by: %s" % f.attrs["created_by"])
    for k in ("protocol", "base_hashes", "tokenizer_hashes", "eval_hashes"):
        c.check(np.array_equal(np.asarray(f.attrs[k]), np.asarray(g.attrs[k])), "root attribute %s as the union run's" % k)
    for k in ("job_seed", "job_base", "job_condition", "job_format", "job_train_user", "precision", "status"):
        c.check(np.array_equal(f[k][:], g[k][:]), "per-job column %s as the union run's" % k)
    c.check(sorted(f["adapters"].keys()) == sorted(g["adapters"].keys()), "the same adapters kept")
# the same jobs twice: the merge of a file with itself is the file
rc, msg = merge(A, A, "-o", os.path.join(work, "aa.h5"))
c.check(rc == 0 and c.compare(tool, os.path.join(work, "aa.h5"), A)[0] == 0, "A merged with A equals A: %s" % msg)
# three files, one overlapping: the union run again
rc, msg = merge(A, U, B, "-o", os.path.join(work, "aub.h5"))
c.check(rc == 0 and c.compare(tool, os.path.join(work, "aub.h5"), U)[0] == 0, "A + U + B equals U: %s" % msg)


def report(path):
    r = subprocess.run([sweep, "report", path, "--format", "json"], cwd=work, env=c.ENV, capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        return None
    d = json.loads(r.stdout)
    for k in ("file", "spec_hash", "created_by", "tool_version"):
        d.pop(k, None)
    return d


rm, ru = report(M), report(U)
c.check(rm is not None and rm == ru, "the merged file reports as the union run does")

# Refusals
bad = os.path.join(work, "bad")
os.makedirs(bad, exist_ok=True)


def altered(name, fn):
    p = os.path.join(bad, name)
    shutil.copy(B, p)
    with h5py.File(p, "r+") as f:
        fn(f)
    return p


def set_attr(key, i, value):
    def fn(f):
        v = [x.decode() if isinstance(x, bytes) else x for x in f.attrs[key]]
        v[i] = value
        f.attrs.modify(key, np.array(v, dtype=h5py.string_dtype()))
    return fn


def bump_ppl(f):
    idx = np.argwhere(np.isfinite(f["ppl"][:]))[0]
    d = f["ppl"][:]
    d[tuple(idx)] = d[tuple(idx)] * (1 + 1e-15) + 1e-12
    f["ppl"][...] = d


def drop(key):
    return lambda f: f.attrs.__delitem__(key)


def other_protocol(f):
    f.attrs.modify("protocol", "bet37")


cases = [
    (altered("evalhash.h5", set_attr("eval_hashes", 0, "0000000000000000")), "eval_hashes"),
    (altered("basehash.h5", set_attr("base_hashes", 0, "0000000000000000")), "base_hashes"),
    (altered("tokhash.h5", set_attr("tokenizer_hashes", 0, "0000000000000000")), "tokenizer_hashes"),
    (altered("proto.h5", other_protocol), "protocol"),
    (altered("nohash.h5", drop("eval_hashes")), "eval_hashes"),
]
for p, field in cases:
    rc, msg = merge(A, p, "-o", os.path.join(work, "refused.h5"))
    c.check(rc == 2 and len(msg.splitlines()) == 1 and field in msg, "%s refused naming %s: %d %r" %
            (os.path.basename(p), field, rc, msg))
# a job in two files that differs in one cell's last bits: the none job is in both A and B
p = altered("cell.h5", bump_ppl)
with h5py.File(p, "r") as f:
    first = f["job"][0].decode() if isinstance(f["job"][0], bytes) else f["job"][0]
rc, msg = merge(A, p, "-o", os.path.join(work, "refused.h5"))
c.check(rc == 2 and len(msg.splitlines()) == 1 and "job" in msg and "ppl" in msg, "a differing job refused: %d %r" % (rc, msg))
c.check(not os.path.exists(os.path.join(work, "refused.h5")), "nothing written when refused")
rc, msg = merge(A, B, "-o", A.replace("a/results.h5", "u/results.h5"))
c.check(rc == 2 and "journal" in msg, "an output with a sweep's journal refused: %r" % msg)
for args in ([A, B], ["-o", M], [A, "-o"], [A, "--bogus", "-o", M], ["missing.h5", "-o", M]):
    rc, msg = merge(*args)
    c.check(rc == 2 and len(msg.splitlines()) == 1, "bad arguments %s: exit 2, one line: %d %r" % (args, rc, msg))
c.finish("merge")
