#!/usr/bin/env bash
# The runner's figures for BENCHMARKS.md ("Runner"):
#   bench/scheduler.sh dry [RUNS]          dry jobs dispatched per second at -np 8 --oversubscribe on a
#                                          20,000-job spec (tiny generated base: the jobs do nothing)
#   bench/scheduler.sh efficiency [NP]     worker efficiency and scheduler CPU on a bet61-like sweep of
#                                          the default base (fixtures/base): bet61's users, shapes and 9
#                                          cells per job, 4 seeds and 10 steps so 12 jobs balance on NP ranks
#   bench/scheduler.sh bet61 | demo [NP]   the bundled spec itself, wall time end to end (default NP 2)
# Prints each run's summary line (and the mpirun command's own wall time) and the load average.
# SWEEP (default build/sweep) and WORK (default a temp dir, kept) may be set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sweep=$(realpath "${SWEEP:-$root/build/sweep}")
work=${WORK:-$(mktemp -d /tmp/sweep-bench.XXXXXX)}
mkdir -p "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
mode=${1:-dry}
[ -x "$sweep" ] || { echo "bench/scheduler.sh: no executable $sweep (build first, or set SWEEP)" >&2; exit 2; }

load() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }

timed() {   # runs mpirun ..., prints the sweep's summary line and the command's wall time
    local t0 t1 rc=0
    t0=$(date +%s.%N)
    "$@" 2> "$work/stderr.txt" || rc=$?
    t1=$(date +%s.%N)
    grep -E "^sweep: (finished|interrupted)" "$work/stderr.txt" || tail -3 "$work/stderr.txt"
    printf 'exit %d, mpirun wall %.1f s\n' "$rc" "$(echo "$t1 - $t0" | bc)"
}

case $mode in
dry)
    runs=${2:-3}
    ROOT=$root /usr/bin/python3 - "$sweep" "$work" <<'PY'
import os, sys
sys.path.insert(0, os.path.join(os.environ["ROOT"], "tests", "mpi"))
import common as c
sweep, work = sys.argv[1:3]
users = ("alba", "brisk", "corvo", "delia")
if not os.path.exists(os.path.join(work, "base", "base.sweep")):
    c.make_world(sweep, work, users=users)
c.write_spec(work, name="dry20k.json", users=list(users), formats={"norm": {"lr": 1e-2}}, seeds=5000,
             eval={"users": "own", "slices": 1, "general": False, "tokens": 200})
PY
    cd "$work"
    echo "spec: $("$sweep" plan dry20k.json | grep '^total')"
    load
    for i in $(seq "$runs"); do
        timed mpirun -np 8 --oversubscribe --bind-to none "$sweep" run dry20k.json --dry-jobs -o dry/results.h5
    done
    load
    ;;
efficiency)
    np=${2:-2}
    [ -f "$root/fixtures/base/base.sweep" ] || { echo "no default base in fixtures/base" >&2; exit 2; }
    sed -e 's/"seeds": \[0\]/"seeds": [0, 1, 2, 3]/' -e 's/"steps": 100,/"steps": 10,/' \
        -e "s#\"fixtures/#\"$root/fixtures/#g" "$root/sweeps/bet61.json" > "$work/bet61x4.json"
    cd "$work"
    echo "spec: $("$sweep" plan bet61x4.json --ranks "$np" | grep -E '^total|^estimated')"
    rm -rf eff
    load
    timed mpirun -np "$np" --bind-to none "$sweep" run bet61x4.json -o eff/results.h5 --progress-every 1000
    load
    ;;
bet61|demo)
    np=${2:-2}
    [ -f "$root/fixtures/base/base.sweep" ] || { echo "no default base in fixtures/base" >&2; exit 2; }
    cd "$root"
    rm -rf "$work/$mode"
    load
    timed mpirun -np "$np" --bind-to none "$sweep" run "sweeps/$mode.json" -o "$work/$mode/results.h5" \
        --progress-every 1000
    load
    ;;
*)
    echo "usage: bench/scheduler.sh dry [RUNS] | efficiency [NP] | bet61 [NP] | demo [NP]" >&2
    exit 2
    ;;
esac
echo "work: $work"
