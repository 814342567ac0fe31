"""sweep status: read from another process while a sweep runs (the journal without its lock, the state
file for what is running), then after it: done / running / failed / total agree with the plan, per
format and condition and per host; a failed job (SWEEP_TEST_FAULT) is among the last failures; a journal
whose last record is cut in the middle still reads (the cut record is ignored and counted as torn bytes);
bad input gives exit 2 and one line."""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)
steps = c.steps_for(sweep, work, 0.7)
spec = c.write_spec(work, formats={"none": {}, "norm": {"lr": 1e-2}, "lora": {"rank": 2, "alpha": 4, "lr": 1e-3}},
                    train={"steps": steps, "batch": 2, "seq": 12}, seeds=2, max_attempts=1,
                    eval={"users": "own", "slices": 1, "general": False, "tokens": 50})
ids = c.plan_ids(sweep, spec, work)
failing = ids[3]


def status(path, *extra):
    r = subprocess.run([sweep, "status", path, "--json"] + list(extra), cwd=work, env=c.ENV, capture_output=True,
                       text=True, timeout=60)
    return r, (json.loads(r.stdout.splitlines()[-1]) if r.returncode == 0 and r.stdout.strip() else None)


out = os.path.join(work, "out/results.h5")
p = c.start(2, sweep, ["spec.json", "-o", out, "-q"], work, env={"SWEEP_TEST_FAULT": "error:%s" % failing})
seen_running, polls, consistent = 0, 0, True
t0 = time.time()
while p.poll() is None and time.time() - t0 < 200:
    if os.path.exists(out):
        r, s = status(out)
        if r.returncode == 0:
            polls += 1
            j = s["jobs"]
            consistent &= j["done"] + j["running"] + j["failed"] + j["pending"] == j["total"] == len(ids)
            if s["state"] == "running" and j["running"] > 0:
                seen_running += 1
        else:
            c.check(False, "status during the run: exit %d %s" % (r.returncode, r.stderr))
    time.sleep(0.3)
outp, errp = p.communicate(timeout=60)
c.check(p.returncode == 1, "the sweep with one injected error exits 1 (got %d)\n%s" % (p.returncode, errp[-1500:]))
c.check(polls >= 3, "status answered while the sweep ran (%d polls)" % polls)
c.check(seen_running >= 1, "status saw running jobs while the sweep ran (%d of %d polls)" % (seen_running, polls))
c.check(consistent, "done + running + failed + pending = total = %d in every poll" % len(ids))

r, s = status(out)
c.check(r.returncode == 0 and s is not None, "status after the run: %s" % r.stderr)
if s:
    c.check(s["state"] == "finished", "state finished: %s" % s["state"])
    c.check(s["jobs"] == {"done": len(ids) - 1, "running": 0, "failed": 1, "pending": 0, "total": len(ids)},
            "final counts: %s" % s["jobs"])
    by = {(x["format"], x["condition"]): x for x in s["by_format_condition"]}
    # the plan: none once, norm and lora each 3 users x 2 seeds per condition (real only here)
    c.check(by.get(("none", "real"), {}).get("total") == 1 and by.get(("norm", "real"), {}).get("total") == 6
            and by.get(("lora", "real"), {}).get("total") == 6, "per format and condition totals: %s" % by)
    c.check(sum(x["failed"] for x in by.values()) == 1, "one failure among the formats")
    c.check(sum(h["done"] + h["failed"] for h in s["hosts"]) == len(ids), "jobs per host add up: %s" % s["hosts"])
    c.check(len(s["last_failures"]) == 1 and s["last_failures"][0]["id"] == failing
            and "injected error" in s["last_failures"][0]["message"], "last failures: %s" % s["last_failures"])
text = subprocess.run([sweep, "status", out], cwd=work, env=c.ENV, capture_output=True, text=True, timeout=60)
c.check(text.returncode == 0 and "%d done" % (len(ids) - 1) in text.stdout and failing in text.stdout
        and "lora" in text.stdout, "text output:\n%s%s" % (text.stdout, text.stderr))
w = subprocess.run([sweep, "status", out, "--watch", "0.2"], cwd=work, env=c.ENV, capture_output=True, text=True,
                   timeout=60)
c.check(w.returncode == 0, "--watch on a finished sweep prints once and returns: %d %s" % (w.returncode, w.stderr))

# A journal cut in the middle of its last record: a sweep killed mid-append, or one being written now.
cut = os.path.join(work, "cut")
os.makedirs(cut, exist_ok=True)
shutil.copy(out, os.path.join(cut, "results.h5"))
with open(out + ".journal", "rb") as f:
    jb = f.read()
recs, _ = c.journal_records(tool, out + ".journal")
with open(os.path.join(cut, "results.h5.journal"), "wb") as f:
    f.write(jb[:-10])
r, s = status(os.path.join(cut, "results.h5"))
c.check(r.returncode == 0 and s is not None, "a torn journal still reads: %s" % r.stderr)
if s:
    last = recs[-1][0]
    c.check(s["journal_torn_bytes"] > 0, "the torn record is reported: %s" % s["journal_torn_bytes"])
    c.check(s["jobs"]["done"] + s["jobs"]["failed"] == len(ids) - 1 and s["jobs"]["pending"] == 1,
            "the torn record's job %s counts as pending: %s" % (last, s["jobs"]))
    c.check(s["state"] == "stopped", "no state file, a journal: stopped (%s)" % s["state"])

# Bad input: one line, exit 2.
bad = os.path.join(work, "bad")
os.makedirs(bad, exist_ok=True)
with open(os.path.join(bad, "junk.h5"), "w") as f:
    f.write("not hdf5\n")
shutil.copy(out, os.path.join(bad, "r.h5"))
with open(os.path.join(bad, "r.h5.journal"), "wb") as f:
    f.write(b"garbage, not a journal at all, long enough to have a frame\n" * 3)
shutil.copy(out, os.path.join(bad, "s.h5"))
with open(os.path.join(bad, "s.h5.state"), "w") as f:
    f.write("sweep-state 1\nwhat is this\n")
for args, what in ((["missing.h5"], "a missing file"), ([os.path.join(bad, "junk.h5")], "a file that is not HDF5"),
                   ([os.path.join(bad, "r.h5")], "a corrupt journal"), ([os.path.join(bad, "s.h5")], "a bad state file"),
                   ([out, "--watch", "x"], "a bad --watch"), ([out, "--bogus"], "an unknown option"), ([], "no file")):
    r = subprocess.run([sweep, "status"] + args, cwd=work, env=c.ENV, capture_output=True, text=True, timeout=60)
    lines = r.stderr.strip().splitlines()
    c.check(r.returncode == 2 and (not args or len(lines) == 1), "%s: exit 2 with one line (%d: %r)" %
            (what, r.returncode, r.stderr))
c.finish("status")
