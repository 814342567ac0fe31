"""The spec field `published` is metadata: every bundled spec that carries it plans the same jobs with the
same ids without it (and the same ids as with a changed copy of it), while changing a field that is in the
id (lr) does change those of the trained jobs, so the comparison is live. Bad values are tests/spec/published_*.json (run.sh).

usage: /usr/bin/python3 test_published.py SWEEP REPO_ROOT"""
import json
import os
import subprocess
import sys
import tempfile

import spectest

sweep, root = sys.argv[1:3]
work = tempfile.mkdtemp(prefix="spec_published.")
check = spectest.Checks()


def ids(spec, name):
    path = os.path.join(work, name)   # beside nothing: --no-check takes paths as given
    with open(path, "w") as f:
        json.dump(spec, f)
    r = subprocess.run([sweep, "plan", path, "--no-check", "--json"], cwd=root, capture_output=True, text=True)
    if r.returncode != 0:
        check(False, "%s: exit %d: %s" % (name, r.returncode, r.stderr.strip()))
        return None
    return [(j["id"], j["format"], j["train_user"], j["seed"]) for j in json.loads(r.stdout)["jobs"]]


n = 0
for name in sorted(os.listdir(os.path.join(root, "sweeps"))):
    if not name.endswith(".json"):
        continue
    spec = json.load(open(os.path.join(root, "sweeps", name)))
    if "published" not in spec:
        continue
    n += 1
    with_pub = ids(spec, "with-" + name)
    bare = dict(spec)
    del bare["published"]
    without = ids(bare, "without-" + name)
    check(with_pub is not None and with_pub == without, name + ": job ids change without `published`")
    other = json.loads(json.dumps(spec))
    other["published"]["verdict"] = "none" if spec["published"]["verdict"] != "none" else "STRICT"
    other["published"]["source"] += " (edited)"
    check(ids(other, "edited-" + name) == with_pub, name + ": job ids change with another `published`")
    moved = json.loads(json.dumps(spec))
    moved["train"]["lr"] = 1e-3
    got = ids(moved, "lr-" + name)
    check(got is not None and with_pub is not None and {j[0] for j in got if j[1] != "none"}.isdisjoint(
        {j[0] for j in with_pub if j[1] != "none"}),
          name + ": a changed lr kept a job id (the comparison is not live)")
check(n >= 6, "bundled specs with `published`: %d, expected the six bets" % n)
check.finish("spec_published")
