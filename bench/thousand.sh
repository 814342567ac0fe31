#!/usr/bin/env bash
# A thousand users (issue #15), for BENCHMARKS.md: builds N users (default 1000) from text found on this
# machine (/usr/share/doc/*/copyright, two documents per user, as custom users given by "dir"), a tiny base
# (tests/mpi/common.py), formats none + norm, one eval slice each, and times:
#   plan, run (mpirun -np NP, default 2; the sweep's own summary gives worker efficiency and the
#   scheduler's CPU share of wall, its "rank 0:" line rank 0's CPU per result, forks, journal syncs,
#   rebuilds and in-place updates of the results file (cells and job rows written) and wakeups, and its
#   "rank 0 CPU:" line all of rank 0's CPU from start to end as a share of wall, by phase), status,
#   report (text, markdown, --html: times and sizes) and merge (the file with a second run of one more seed).
#   bench/thousand.sh [USERS] [NP]      eval.users "all": every adapter on every user's slice (N^2 cells)
#   OTHERS=K bench/thousand.sh ...      eval.users "own" with eval.others K (sampled design, N (K+1) cells)
# SWEEP (default build/sweep) and WORK (default a temp dir, kept) may be set. Timings are only meaningful
# on a quiet machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sweep=$(realpath "${SWEEP:-$root/build/sweep}")
work=${WORK:-$(mktemp -d /tmp/sweep-thousand.XXXXXX)}
users=${1:-1000}
np=${2:-2}
mkdir -p "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
[ -x "$sweep" ] || { echo "bench/thousand.sh: no executable $sweep (build first, or set SWEEP)" >&2; exit 2; }

ROOT=$root /usr/bin/python3 - "$sweep" "$work" "$users" "${OTHERS:-}" <<'PY'
import glob, json, os, shutil, sys
sys.path.insert(0, os.path.join(os.environ["ROOT"], "tests", "mpi"))
import common as c
sweep, work, n, others = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if not os.path.exists(os.path.join(work, "base", "base.sweep")):
    c.make_world(sweep, work)
docs = sorted(p for p in glob.glob("/usr/share/doc/*/copyright") if os.path.getsize(p) >= 3000)
if len(docs) < 2:
    raise SystemExit("bench/thousand.sh: too few documents in /usr/share/doc")
shutil.rmtree(os.path.join(work, "docs"), ignore_errors=True)
names = []
for i in range(n):
    d = os.path.join(work, "docs", "u%04d" % i)
    os.makedirs(d)
    for k, src in enumerate((docs[i % len(docs)], docs[(i + 1 + i // len(docs)) % len(docs)])):
        shutil.copy(src, os.path.join(d, "doc%d.txt" % k))
    names.append({"name": "u%04d" % i, "dir": "docs/u%04d" % i})
ev = {"users": "all", "slices": 1, "general": False, "tokens": 50, "slice_bytes": 1024}
if others:
    ev.update({"users": "own", "others": int(others)})
for name, seeds in (("thousand.json", [0]), ("thousand-seed1.json", [1])):
    c.write_spec(work, name=name, users=names, formats={"none": {}, "norm": {"lr": 1e-2}},
                 train={"steps": 10, "batch": 2, "seq": 12}, seeds=seeds, eval=ev)
PY
cd "$work"
exec 3>&2   # the timings, whatever the timed command's own output is redirected to
t() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); printf '%-8s %6.2f s\n' "$label" "$(echo "$t1 - $t0" | bc)" >&3; }
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
label=plan t "$sweep" plan thousand.json --ranks "$np" | grep -E '^total|^estimated' || true
rm -rf out out1 merged.h5 html
label=run t mpirun -np "$np" --oversubscribe --bind-to none "$sweep" run thousand.json -o out/results.h5 \
    --progress-every 1000 2> run.txt || true
grep -E "^sweep: (finished|interrupted|rank 0:|rank 0 CPU:)" run.txt || tail -3 run.txt
ls -la out/results.h5 out/results.h5.journal | awk '{print $5, $9}'
label=status t "$sweep" status out/results.h5 | head -2
label=report t "$sweep" report out/results.h5 > report.txt
label=md t "$sweep" report out/results.h5 --format markdown > report.md
label=html t "$sweep" report out/results.h5 --html html > /dev/null 2>&1
echo "report sizes: text $(stat -c %s report.txt), markdown $(stat -c %s report.md), index.html $(stat -c %s html/index.html)"
mpirun -np "$np" --oversubscribe --bind-to none "$sweep" run thousand-seed1.json -o out1/results.h5 -q || true
label=merge t "$sweep" merge out/results.h5 out1/results.h5 -o merged.h5
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "work: $work"
