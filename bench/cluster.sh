#!/usr/bin/env bash
# Many nodes on one machine (scripts/vcluster.sh, as root), for BENCHMARKS.md: the overhead of
# spreading ranks over nodes (TCP between them), not a speedup (the nodes share this machine's cores).
#   bench/cluster.sh [--quick] [--sweeps "demo bet61"] [--no-dry]
# For the demo and bet61 sweeps (sweeps/*.json; they need fixtures/data and fixtures/base: in a
# worktree, `ln -s /path/to/built/fixtures/data fixtures/data`; without them a tiny generated sweep
# stands in, and the output says so): wall time and worker efficiency at 1 node x 2 ranks and at
# 3 nodes x 2 ranks, and whether the two results files are equal bit for bit (results_tool compare).
# Then dry jobs dispatched per second (--dry-jobs, a 20,000-job spec on a tiny base) at 1 x 2 and
# 3 x 2. The load average before and after each.
# --quick: the tiny sweep and a 2,000-job dry spec only (a check that the script works).
# --sweeps LIST: only these of sweeps/*.json (default "demo bet61"); --no-dry: skip the dry jobs.
# SWEEP (default build/sweep) and WORK (default a folder in /var/tmp, kept; not /tmp, which is private
# to each node) may be set.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sweep=$(realpath "${SWEEP:-$root/build/sweep}")
# not under /tmp or /dev/shm: those are private to each node
work=${WORK:-$(mktemp -d /var/tmp/sweep-cluster-bench.XXXXXX)}
quick=0 sweeps="demo bet61" dry=1
while (($#)); do
  case $1 in
    --quick) quick=1; shift ;;
    --sweeps) sweeps=${2:?--sweeps needs a list}; shift 2 ;;
    --no-dry) dry=0; shift ;;
    *) echo "usage: bench/cluster.sh [--quick] [--sweeps \"demo bet61\"] [--no-dry]" >&2; exit 2 ;;
  esac
done
tool=$(realpath "${RESULTS_TOOL:-$(dirname "$sweep")/tests/results_tool}")
mkdir -p "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
[ -x "$sweep" ] || { echo "bench/cluster.sh: no executable $sweep (build first, or set SWEEP)" >&2; exit 2; }
vc=$root/scripts/vcluster.sh
"$vc" up -n 3
trap '"$vc" down >/dev/null' EXIT

load() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"; }

timed() {   # LABEL CMD...: the sweep's summary line and the command's wall time
    local label=$1 t0 t1 rc=0
    shift
    t0=$(date +%s.%N)
    "$@" 2> "$work/stderr.txt" || rc=$?
    t1=$(date +%s.%N)
    printf '%-22s ' "$label"
    grep -E "^sweep: (finished|interrupted)" "$work/stderr.txt" || tail -3 "$work/stderr.txt"
    printf '%-22s exit %d, mpirun wall %.1f s\n' "" "$rc" "$(echo "$t1 - $t0" | bc)"
}

# 1 x 2 and 3 x 2 on one spec (run from DIR, results under WORK)
both() {
    local dir=$1 spec=$2 name=$3
    shift 3
    cd "$dir"
    rm -rf "$work/$name-1x2" "$work/$name-3x2"
    load
    timed "$name 1 node x 2" "$vc" mpirun --host n1:2 "$sweep" run "$spec" -o "$work/$name-1x2/results.h5" \
        --progress-every 1000 "$@"
    timed "$name 3 nodes x 2" "$vc" mpirun --host n1:2,n2:2,n3:2 "$sweep" run "$spec" \
        -o "$work/$name-3x2/results.h5" --progress-every 1000 "$@"
    if [[ -x $tool ]]; then   # the same results on 3 nodes as on 1 (or the first difference)
        local same
        same=$("$tool" compare "$work/$name-1x2/results.h5" "$work/$name-3x2/results.h5" 2>&1) && same="equal bit for bit"
        printf '%-22s 1 x 2 against 3 x 2: %s\n' "$name files" "${same%%$'\n'*}"
    fi
    load
}

# the tiny world of the MPI tests: a stand-in sweep, and the dry-jobs spec
ROOT=$root /usr/bin/python3 - "$sweep" "$work" "$quick" <<'PY'
import os, sys
sys.path.insert(0, os.path.join(os.environ["ROOT"], "tests", "mpi"))
import common as c
sweep, work, quick = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
users = ("alba", "brisk", "corvo", "delia")
if not os.path.exists(os.path.join(work, "base", "base.sweep")):
    c.make_world(sweep, work, users=users)
c.write_spec(work, name="tiny.json", users=list(users), train={"steps": 200 if quick else 2000, "batch": 4, "seq": 12},
             seeds=2)
c.write_spec(work, name="dry.json", users=list(users), formats={"norm": {"lr": 1e-2}}, seeds=500 if quick else 5000,
             eval={"users": "own", "slices": 1, "general": False, "tokens": 200})
PY

if ((quick)); then
    echo "== --quick: a tiny generated sweep ($("$sweep" plan "$work/tiny.json" | grep '^total'))"
    both "$work" tiny.json tiny
else
    for s in $sweeps; do
        if [[ -d $root/fixtures/data && -f $root/fixtures/base/base.sweep ]]; then
            echo "== sweeps/$s.json"
            both "$root" "sweeps/$s.json" "$s"
        else
            echo "== sweeps/$s.json needs fixtures/data and fixtures/base (sweep fixtures, sweep pretrain):" \
                 "a tiny generated sweep stands in ($("$sweep" plan "$work/tiny.json" | grep '^total'))"
            both "$work" tiny.json "tiny-for-$s"
        fi
    done
fi
if ((dry)); then
    echo "== dry jobs ($("$sweep" plan "$work/dry.json" | grep '^total'))"
    cd "$work"
    load
    for hosts in n1:2 n1:2,n2:2,n3:2; do
        timed "dry $hosts" "$vc" mpirun --host "$hosts" "$sweep" run dry.json --dry-jobs -o dry/results.h5
    done
    load
fi
echo "work: $work"
