"""The report at scale: make_report_files --users N writes a results file of N custom users (none +
norm, every adapter on every user's slice) whose diagonal margins are known: user t's margin is
(t % 20 - 4)% (tests/report/make_report_files.c). Up to REPORT_FULL_USERS (30) users text shows the full
matrix; beyond it text and markdown show the margin quantiles, histogram, win counts and the worst and
best users, and stay small; HTML keeps one heatmap picture whose size does not grow with the cells and
stays under 5 MB; JSON and CSV still give every cell.

Usage: test_scale.py SWEEP MAKE_REPORT_FILES WORKDIR"""
import csv
import io
import json
import os
import shutil
import subprocess
import sys

sweep, maker, work = sys.argv[1:4]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr, flush=True)


def report(path, *args):
    r = subprocess.run([sweep, "report", path] + list(args), capture_output=True, text=True, timeout=300)
    check(r.returncode == 0, "report %s %s: exit %d %s" % (path, args, r.returncode, r.stderr[-500:]))
    return r.stdout


if os.path.exists(work):
    shutil.rmtree(work)
os.makedirs(work)
for args in (["30"], ["31"], ["1000"], ["1000", "--others", "5"]):
    r = subprocess.run([maker, work, ".", "--users"] + args, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise SystemExit("make_report_files --users %s: %s" % (args, r.stderr))

margin = lambda t: (t % 20 - 4)   # percent, as the fixture makes it

# 30 users: the full matrix, as before
small = report(os.path.join(work, "users-30.h5"))
check("adapter \\ text" in small and "too many to print" not in small, "30 users: the full matrix in text")
check(sum(1 for l in small.splitlines() if l.startswith("  u00")) >= 60, "30 users: a row per user in matrix and diagonal")
# 31 users: summaries
mid = report(os.path.join(work, "users-31.h5"))
check("too many to print" in mid and "histogram" in mid, "31 users: summaries instead of the matrix")

big = os.path.join(work, "users-1000.h5")
n = 1000
text = report(big)
md = report(big, "--format", "markdown")
check(len(text) < 64 * 1024, "1000 users: text report is small (%d bytes)" % len(text))
check(len(md) < 64 * 1024, "1000 users: markdown report is small (%d bytes)" % len(md))
ms = [margin(t) for t in range(n)]
wins = sum(m > 0 for m in ms)
five = sum(m >= 5 for m in ms)
for doc, name in ((text, "text"), (md, "markdown")):
    check("too many to print" in doc, "%s: the matrix is named, not printed" % name)
    lines = doc.splitlines()
    fields = lambda l: [x.strip() for x in l.split("|")] if name == "markdown" else l.split()
    won = [l for l in lines if "own adapter wins (interval excludes 0)" in l]
    check(won and ("%d" % wins) in fields(won[0]), "%s: %d users' own adapter wins: %s" % (name, wins, won))
    fv = [l for l in lines if "margin >= 5%" in l]
    check(fv and ("%d" % five) in fields(fv[0]), "%s: %d users >= 5%%: %s" % (name, five, fv))
# quantiles: min -4%, max 15%, median from the formula (linear interpolation)
srt = sorted(ms)
med = (srt[n // 2 - 1] + srt[n // 2]) / 2
qlines = {l.split()[0]: l.split()[1] for l in text.splitlines()
          if l.strip() and l.split()[0] in ("min", "median", "max") and len(l.split()) == 2}
check(qlines.get("min") == "-4.0%" and qlines.get("max") == "15.0%" and qlines.get("median") == "%.1f%%" % med,
      "quantiles min/median/max: %s (expected -4.0%%, %.1f%%, 15.0%%)" % (qlines, med))
worst = [l for l in text.splitlines() if l.strip().startswith("1  u")]
check(worst and worst[0].split()[1] == "u0000" and worst[0].split()[2] == "-4.0%", "worst user u0000 at -4.0%%: %s" % worst)
best = [l for l in text.splitlines() if l.strip().startswith("1000  u")]
check(best and best[0].split()[1] == "u0999" and best[0].split()[2] == "15.0%", "best user u0999 at 15.0%%: %s" % best)
hist = [l for l in text.splitlines() if "#" in l and "%" in l]
check(len(hist) == 10 and sum(int(l.split()[2]) for l in hist) == n, "histogram: 10 bins of %d users: %s" % (n, hist))

# HTML: one picture, under 5 MB, no per-cell rectangles
html = os.path.join(work, "html")
report(big, "--html", html)
size = os.path.getsize(os.path.join(html, "index.html"))
check(size < 5 * 1024 * 1024, "index.html under 5 MB at 1000 users (%d bytes)" % size)
svg = open(os.path.join(html, "confusion-tiny-norm.svg")).read()
check(svg.count("<image") == 1 and svg.count("<rect") < 10, "the heatmap is one picture (%d rects)" % svg.count("<rect"))
check(len(svg) < 400 * 1024, "the heatmap picture is small (%d bytes)" % len(svg))

# JSON and CSV: every cell
j = json.loads(report(big, "--format", "json"))
conf = [s for s in j["sections"] if s["key"] == "confusion"][0]
mt = [t for t in conf["tables"] if t["title"].startswith("Confusion matrix")][0]
check(len(mt["rows"]) == n + 1, "JSON: the matrix has a row per adapter and the base (%d)" % len(mt["rows"]))
rows = list(csv.reader(io.StringIO(report(big, "--format", "csv"))))
cells = sum(1 for r in rows if r[1].startswith("Confusion matrix") and r[3] != "adapter \\ text")
check(cells == (n + 1) * n, "CSV: every matrix cell (%d, expected %d)" % (cells, (n + 1) * n))
# The sampled design (eval.others 5): the report says so and estimates each user's margin against the
# adapters drawn for its texts. Expected, from the plan's draws (sweep plan --no-check on the file's spec):
# user t's margin is 1 - own / best drawn other, best 99 when adapter t+1 drew t, else 100.
import h5py  # noqa: E402
sp = os.path.join(work, "users-1000-others-5.h5")
with h5py.File(sp, "r") as f:
    spec = f.attrs["spec"]
with open(os.path.join(work, "sampled.json"), "w") as f:
    f.write(spec if isinstance(spec, str) else spec.decode())
r = subprocess.run([sweep, "plan", "sampled.json", "--no-check", "--json"], cwd=work, capture_output=True, text=True)
check(r.returncode == 0, "plan of the sampled spec: %s" % r.stderr)
drawers = {}
for job in json.loads(r.stdout)["jobs"] if r.returncode == 0 else []:
    if job["train_user"] is None:
        continue
    a = int(job["train_user"][1:])
    for t in job["eval_text"]:
        drawers.setdefault(int(t.split("/")[0][1:]), set()).add(a)
exp_known = exp_wins = 0
for t in range(n):
    others = drawers.get(t, set()) - {t}
    if not others:
        continue
    exp_known += 1
    own = 99.0 * (1 - margin(t) / 100.0)
    best = 99.0 if (t + 1) % n in others else 100.0
    exp_wins += 1 - own / best > 0
st = report(sp)
check("sampled" in st and len(st) < 64 * 1024, "sampled: the report says so and stays small")
lines = st.splitlines()
won = [l for l in lines if "own adapter wins (interval excludes 0)" in l]
withm = [l for l in lines if l.strip().startswith("with a margin")]
check(won and won[0].split()[-2] == str(exp_wins), "sampled: %d users win (from the draws): %s" % (exp_wins, won))
check(withm and withm[0].split()[-2] == str(exp_known), "sampled: %d users have a drawn other: %s" % (exp_known, withm))
check(exp_known > 0.97 * n, "sampled: nearly every user's text is drawn by some adapter (%d)" % exp_known)
print("report scale: %d failed" % len(failures))
sys.exit(1 if failures else 0)
