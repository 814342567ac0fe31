#!/usr/bin/env bash
# Training-step rates at the default config (issue 17's targets: LoRA and full within 15% of norm's
# GFLOP/s; two threads >= 1.7x one thread's tokens/s): `sweep bench --format F,... --batch 8 --seq 256
# --no-sgemm` for each binary given, precision and thread count, alternating binaries within a round
# so that every pair sees the same machine, over several rounds. Prints each run with the load average
# before it, then Markdown tables of the medians: GFLOP/s (the engine's FLOP count over the median
# step) with each format's ratio to the first format's; and, with more than one thread count, each
# format's training tokens/s per thread count with its ratio to the first count's.
#
#   bench/step_rates.sh [--sweep B]... [--precisions "bf16 fp32-dnnl"] [--formats "norm lora full"]
#                       [--threads "1 2"] [--repeats 2] [--steps 10] [--rest 12]
# --rest: seconds of sleep before each run (the quiet-machine rule: discard runs that start above 1.5
# on 2 cores). Several --sweep (e.g. main's build and a branch's) are compared; default build/sweep.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sweeps=()
precisions="bf16 fp32-dnnl"
formats="norm lora full"
threads="1"
repeats=2
steps=10
rest=12
while [ $# -gt 0 ]; do
  case "$1" in
    --sweep) sweeps+=("$2"); shift 2 ;;
    --precisions) precisions=$2; shift 2 ;;
    --formats) formats=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --rest) rest=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "step_rates.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ ${#sweeps[@]} -gt 0 ] || sweeps=("$root/build/sweep")
for s in "${sweeps[@]}"; do
  [ -x "$s" ] || { echo "step_rates.sh: $s: not an executable (build first, or pass --sweep)" >&2; exit 2; }
done
read -r -a fs <<< "$formats"
read -r -a ts <<< "$threads"
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
for r in $(seq 1 "$repeats"); do
  for p in $precisions; do
    for i in "${!sweeps[@]}"; do
      for t in "${ts[@]}"; do
        sleep "$rest"
        load=$(cut -d' ' -f1 /proc/loadavg)
        # OpenBLAS starts one thread per core at load; capping it keeps idle helpers from spinning
        out=$(OPENBLAS_NUM_THREADS=1 "${sweeps[$i]}" bench --format "$(IFS=,; echo "${fs[*]}")" --batch 8 --seq 256 \
                --no-sgemm --precision "$p" --threads "$t" --steps "$steps" --json)
        line="round $r  $p  ${sweeps[$i]}  threads $t  load $load "
        for f in "${fs[@]}"; do
          obj=$(echo "$out" | grep "\"format\": \"$f\"")
          g=$(echo "$obj" | sed -n 's/.*"gflops": *\([0-9.]*\).*/\1/p')
          tok=$(echo "$obj" | sed -n 's/.*"train_tok_s": *\([0-9.]*\).*/\1/p')
          line+=" $f $g GFLOP/s $tok tok/s"
          echo "$p $i $t $f $g $tok" >> "$raw"
        done
        echo "$line"
      done
    done
  done
done
# the median of column $1 (5: GFLOP/s, 6: tok/s) over the runs of precision $2, binary $3, threads $4, format $5
med() {
  awk -v c="$1" -v p="$2" -v i="$3" -v t="$4" -v f="$5" '$1 == p && $2 == i && $3 == t && $4 == f { print $c }' "$raw" |
    sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
ratio() { awk -v a="$1" -v b="$2" -v pct="$3" 'BEGIN { if (a > 0) { if (pct) printf "%+.1f%%", 100 * (b / a - 1); else printf "%.2fx", b / a } }'; }
echo
head="| precision | threads | binary | ${fs[0]} GFLOP/s |"; rule="|---|---|---|---|"
for f in "${fs[@]:1}"; do head+=" $f | $f / ${fs[0]} |"; rule+="---|---|"; done
echo "$head"; echo "$rule"
for p in $precisions; do
  for t in "${ts[@]}"; do
    for i in "${!sweeps[@]}"; do
      ref=$(med 5 "$p" "$i" "$t" "${fs[0]}")
      row="| $p | $t | ${sweeps[$i]} | $ref |"
      for f in "${fs[@]:1}"; do g=$(med 5 "$p" "$i" "$t" "$f"); row+=" $g | $(ratio "$ref" "$g" 1) |"; done
      echo "$row"
    done
  done
done
[ ${#ts[@]} -gt 1 ] || exit 0
echo
head="| precision | format | binary | ${ts[0]} thread(s) tok/s |"; rule="|---|---|---|---|"
for t in "${ts[@]:1}"; do head+=" $t tok/s | $t / ${ts[0]} |"; rule+="---|---|"; done
echo "$head"; echo "$rule"
for p in $precisions; do
  for f in "${fs[@]}"; do
    for i in "${!sweeps[@]}"; do
      ref=$(med 6 "$p" "$i" "${ts[0]}" "$f")
      row="| $p | $f | ${sweeps[$i]} | ${ref%.*} |"
      for t in "${ts[@]:1}"; do v=$(med 6 "$p" "$i" "$t" "$f"); row+=" ${v%.*} | $(ratio "$ref" "$v" 0) |"; done
      echo "$row"
    done
  done
done
