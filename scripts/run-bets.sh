#!/usr/bin/env bash
# Runs bundled protocols as bundled (issue #16: every bet on the default base, beside the seeds) and
# writes each one's report: for results/REPORT.md's "The bundled bets on the default base". Each spec
# runs under mpirun -np NP into OUT/NAME.h5 (resumable: rerunning the command finishes what is missing),
# then `sweep report --format markdown` goes to OUT/NAME.md. Prints one Markdown row per spec: jobs,
# ok/failed, wall time of the run and the verdict lines. Wall times mean something only on a quiet machine.
#
#   scripts/run-bets.sh [--np 2] [--out runs/bets] [--sweep build/sweep] [--precision P] [SPEC ...]
#       SPEC: names in sweeps/ (default: bet37 bet46 bet49 bet52 bet60 bet61)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sweep="$root/build/sweep"
np=2
out="$root/runs/bets"
precision=""
specs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --np) np=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --sweep) sweep=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    -*) echo "run-bets.sh: unknown option $1" >&2; exit 2 ;;
    *) specs+=("$1"); shift ;;
  esac
done
[ ${#specs[@]} -gt 0 ] || specs=(bet37 bet46 bet49 bet52 bet60 bet61)
[ -x "$sweep" ] || { echo "run-bets.sh: no executable $sweep (build first, or give --sweep)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$out"
cd "$root"  # the specs name their bases and data relative to the repository root
extra=()
[ -z "$precision" ] || extra+=(--precision "$precision")
np_flags=()
[ "$np" -le "$(nproc)" ] || np_flags+=(--oversubscribe)

echo "| spec | jobs | wall | verdicts |"
echo "|---|---|---|---|"
for name in "${specs[@]}"; do
  spec="sweeps/$name.json"
  [ -f "$spec" ] || { echo "run-bets.sh: no spec $spec" >&2; exit 2; }
  h5="$out/$name.h5"
  start=$(date +%s.%N)
  rc=0
  mpirun -np "$np" "${np_flags[@]}" "$sweep" run "$spec" -o "$h5" -q "${extra[@]}" > "$out/$name.log" 2>&1 || rc=$?
  end=$(date +%s.%N)
  if [ "$rc" != 0 ]; then
    echo "run-bets.sh: $name: sweep run exited $rc (log: $out/$name.log)" >&2
    exit "$rc"
  fi
  "$sweep" report "$h5" --format markdown > "$out/$name.md"
  jobs=$("$sweep" status "$h5" | sed -n 's/^jobs: //p')
  # "- **LEVEL** scope at precision P: words." -> "LEVEL (scope)"; at most six per spec
  verdicts=$(perl -ne 'print "$1 ($2)\n" if /^- \*\*([^*]*)\*\* (.*?)(?: at precision \S+?)(?: \(provisional\))?: / or /^- \*\*([^*]*)\*\* (.*?): /' \
    "$out/$name.md" | head -6 | paste -sd ';' - || true)
  awk -v n="$name" -v j="$jobs" -v s="$start" -v e="$end" -v v="$verdicts" \
    'BEGIN { printf "| %s | %s | %.0f s | %s |\n", n, j, e - s, v }'
done
echo
echo "reports: $out/NAME.md; logs: $out/NAME.log"
