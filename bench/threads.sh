#!/usr/bin/env bash
# Two threads per rank against one (issue 17's target: >= 1.7x one thread's training tokens/s at the
# default config): `sweep bench --format norm --batch 8 --seq 256 --no-sgemm` at --threads 1 and 2,
# for each binary given and each precision, alternating binaries and thread counts within a round
# so that every pair sees the same machine, over several rounds. Prints each run with the load
# average before it, then a Markdown table of the medians and each binary's 2-thread / 1-thread ratio.
#
#   bench/threads.sh [--sweep B]... [--precisions "bf16 fp32-dnnl"] [--repeats 3] [--steps 10] [--rest 12]
# --rest: seconds of sleep before each run, so that the load average a run starts at is not its
# predecessor's own (the quiet-machine rule: discard runs that start above 1.5 on 2 cores).
# Several --sweep (e.g. main's build and a branch's) are compared round by round; default build/sweep.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sweeps=()
precisions="bf16 fp32-dnnl"
repeats=3
steps=10
rest=12
while [ $# -gt 0 ]; do
  case "$1" in
    --sweep) sweeps+=("$2"); shift 2 ;;
    --precisions) precisions=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --rest) rest=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "threads.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ ${#sweeps[@]} -gt 0 ] || sweeps=("$root/build/sweep")
for s in "${sweeps[@]}"; do
  [ -x "$s" ] || { echo "threads.sh: $s: not an executable (build first, or pass --sweep)" >&2; exit 2; }
done
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
for r in $(seq 1 "$repeats"); do
  for p in $precisions; do
    for i in "${!sweeps[@]}"; do
      for t in 1 2; do
        sleep "$rest"
        load=$(cut -d' ' -f1 /proc/loadavg)
        # OpenBLAS starts one thread per core at load; capping it keeps idle helpers from spinning
        tok=$(OPENBLAS_NUM_THREADS=1 "${sweeps[$i]}" bench --format norm --batch 8 --seq 256 --no-sgemm \
                --precision "$p" --threads "$t" --steps "$steps" --json | sed -n 's/.*"train_tok_s": *\([0-9.]*\).*/\1/p')
        echo "round $r  $p  ${sweeps[$i]}  threads $t  load $load  train tok/s $tok"
        echo "$p $i $t $tok" >> "$raw"
      done
    done
  done
done
echo
echo "| precision | binary | 1 thread tok/s | 2 threads tok/s | 2 / 1 |"
echo "|---|---|---|---|---|"
for p in $precisions; do
  for i in "${!sweeps[@]}"; do
    med() { awk -v p="$p" -v i="$i" -v t="$1" '$1 == p && $2 == i && $3 == t { print $4 }' "$raw" | sort -g |
            awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
    one=$(med 1); two=$(med 2)
    ratio=$(awk -v a="$one" -v b="$two" 'BEGIN { if (a > 0) printf "%.2fx", b / a }')
    echo "| $p | ${sweeps[$i]} | ${one%.*} | ${two%.*} | $ratio |"
  done
done
