"""A thousand users under mpirun (issue #15's CI test): 1,000 custom users (a dir of generated text each)
on the tiny base, none + norm, the sampled design eval.others 5, at -np 2. The sweep finishes; `sweep
status` counts every job done; the report is sampled and stays small as text and under 5 MB as HTML;
`sweep merge` of the file with a second copy of itself equals it. Keep it under about 2 minutes on a quiet
machine."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

sweep, tool, work = sys.argv[1:4]
N, K = 1000, 5
c.make_world(sweep, work)
styles = sorted(c.USER_STYLES)
users = []
for i in range(N):
    d = os.path.join(work, "docs", "u%04d" % i)
    os.makedirs(d)
    with open(os.path.join(d, "doc.txt"), "w") as f:
        f.write(c.user_text(styles[i % len(styles)], 1000 + i, 900))
    users.append({"name": "u%04d" % i, "dir": "docs/u%04d" % i})
c.write_spec(work, users=users, formats={"none": {}, "norm": {"lr": 1e-2}}, train={"steps": 2, "batch": 1, "seq": 8},
             seeds=1, eval={"users": "own", "others": K, "slices": 1, "general": False, "tokens": 16,
                            "slice_bytes": 256})
t0 = time.time()
r = c.run(2, sweep, ["spec.json", "-o", "out/results.h5", "--progress-every", "1000"], work, timeout=600)
c.log("run: %.1f s; %s" % (time.time() - t0, [l for l in c.sweep_lines(r.stderr) if "finished" in l]))
c.check(r.returncode == 0, "the sweep finishes: exit %d\n%s" % (r.returncode, r.stderr[-1500:]))
out = os.path.join(work, "out", "results.h5")

s = subprocess.run([sweep, "status", out, "--json"], capture_output=True, text=True, timeout=120)
st = json.loads(s.stdout) if s.returncode == 0 else {}
c.check(st.get("jobs", {}).get("done") == N + 1 == st.get("jobs", {}).get("total") and st.get("state") == "finished",
        "status: %d of %d done, finished: %s %s" % (N + 1, N + 1, st.get("jobs"), s.stderr))

rep = subprocess.run([sweep, "report", out], capture_output=True, text=True, timeout=300)
c.check(rep.returncode == 0 and "sampled" in rep.stdout and len(rep.stdout) < 64 * 1024,
        "report: sampled, %d bytes of text" % len(rep.stdout))
html = os.path.join(work, "html")
h = subprocess.run([sweep, "report", out, "--html", html], capture_output=True, text=True, timeout=300)
size = os.path.getsize(os.path.join(html, "index.html")) if h.returncode == 0 else -1
c.check(0 < size < 5 * 1024 * 1024, "HTML under 5 MB: %d bytes %s" % (size, h.stderr[-300:]))

copy = os.path.join(work, "copy.h5")
with open(out, "rb") as a, open(copy, "wb") as b:
    b.write(a.read())
m = subprocess.run([sweep, "merge", out, copy, "-o", os.path.join(work, "merged.h5")], capture_output=True, text=True,
                   timeout=300)
c.check(m.returncode == 0, "merge: %s" % m.stderr)
rc, msg = c.compare(tool, os.path.join(work, "merged.h5"), out)
c.check(rc == 0, "the merge of a file with its copy equals it: %s" % msg)
c.finish("thousand")
