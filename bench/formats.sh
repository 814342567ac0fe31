#!/usr/bin/env bash
# LoRA and full fine-tuning against norm-only (issue 17's target: each within 15% of norm's GFLOP/s
# at the default config): `sweep bench --format norm,lora,full --batch 8 --seq 256 --no-sgemm` for
# each binary given, precision and thread count, alternating binaries within a round so that every
# pair sees the same machine, over several rounds. Prints each run with the load average before it,
# then a Markdown table of the medians: GFLOP/s (the engine's FLOP count over the median step) and
# each format's ratio to norm's.
#
#   bench/formats.sh [--sweep B]... [--precisions "bf16 fp32-dnnl"] [--threads "1 2"] [--repeats 2]
#                    [--steps 10] [--rest 12]
# --rest: seconds of sleep before each run (the quiet-machine rule: discard runs that start above 1.5
# on 2 cores). Several --sweep (e.g. main's build and a branch's) are compared; default build/sweep.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sweeps=()
precisions="bf16 fp32-dnnl"
threads="1"
repeats=2
steps=10
rest=12
while [ $# -gt 0 ]; do
  case "$1" in
    --sweep) sweeps+=("$2"); shift 2 ;;
    --precisions) precisions=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --rest) rest=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "formats.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ ${#sweeps[@]} -gt 0 ] || sweeps=("$root/build/sweep")
for s in "${sweeps[@]}"; do
  [ -x "$s" ] || { echo "formats.sh: $s: not an executable (build first, or pass --sweep)" >&2; exit 2; }
done
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
for r in $(seq 1 "$repeats"); do
  for p in $precisions; do
    for t in $threads; do
      for i in "${!sweeps[@]}"; do
        sleep "$rest"
        load=$(cut -d' ' -f1 /proc/loadavg)
        # OpenBLAS starts one thread per core at load; capping it keeps idle helpers from spinning
        out=$(OPENBLAS_NUM_THREADS=1 "${sweeps[$i]}" bench --format norm,lora,full --batch 8 --seq 256 --no-sgemm \
                --precision "$p" --threads "$t" --steps "$steps" --json)
        line="round $r  $p  threads $t  ${sweeps[$i]}  load $load "
        for f in norm lora full; do
          g=$(echo "$out" | grep "\"format\": \"$f\"" | sed -n 's/.*"gflops": *\([0-9.]*\).*/\1/p')
          line+=" $f $g"
          echo "$p $t $i $f $g" >> "$raw"
        done
        echo "$line"
      done
    done
  done
done
echo
echo "| precision | threads | binary | norm GFLOP/s | lora | lora / norm | full | full / norm |"
echo "|---|---|---|---|---|---|---|---|"
for p in $precisions; do
  for t in $threads; do
    for i in "${!sweeps[@]}"; do
      med() { awk -v p="$p" -v t="$t" -v i="$i" -v f="$1" '$1 == p && $2 == t && $3 == i && $4 == f { print $5 }' "$raw" |
              sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
      n=$(med norm); l=$(med lora); f=$(med full)
      ratio() { awk -v a="$n" -v b="$1" 'BEGIN { if (a > 0) printf "%+.1f%%", 100 * (b / a - 1) }'; }
      echo "| $p | $t | ${sweeps[$i]} | $n | $l | $(ratio "$l") | $f | $(ratio "$f") |"
    done
  done
done
