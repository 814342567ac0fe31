#!/usr/bin/env bash
# Pretraining throughput probe for sizing the default base's pretraining (issue #16): runs `sweep pretrain`
# at the default config for SECONDS of training per mode (fp32, bf16; QAT at bf16 and int8), each from a
# random init (QAT from scratch: the same products as QAT continued from a base), stops it there
# (--max-minutes: a checkpoint, exit 75) and prints tokens/s, with the tokens and steps that fit in 90
# minutes against the old base's 1.33M tokens. Run on a quiet machine; takes about 4 x (SECONDS + the time
# to tokenize --max-text-bytes of text) plus start-up.
#
#   bench/pretrain_rate.sh [--sweep build/sweep] [--data fixtures/data] [--seconds 30] [--threads 2]
#                          [--batch 16] [--seq 256] [--modes "fp32 bf16 qat-bf16 qat-int8"] [--work DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sweep="$root/build/sweep"
data="$root/fixtures/data"
seconds=30
threads=2
batch=16
seq=256
modes="fp32 bf16 qat-bf16 qat-int8"
work=/tmp/pretrain-rate
while [ $# -gt 0 ]; do
  case "$1" in
    --sweep) sweep=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --seq) seq=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "pretrain_rate.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
tok="$root/fixtures/base/tokenizer.bpe"
minutes=$(awk -v s="$seconds" 'BEGIN { printf "%.4f", s / 60 }')
mkdir -p "$work"
echo "| mode | steps done | tok/s | tokens in 90 min | x the old base's 1.33M | steps of ${batch}x${seq} in 90 min |"
echo "|---|---|---|---|---|---|"
for mode in $modes; do
  case "$mode" in
    fp32) flags=(--precision fp32) ;;
    bf16) flags=(--precision bf16) ;;
    qat-fp32) flags=(--ternary-qat --precision fp32) ;;
    qat-bf16) flags=(--ternary-qat --precision bf16) ;;
    qat-int8) flags=(--ternary-qat --precision int8) ;;
    *) echo "pretrain_rate.sh: unknown mode $mode" >&2; exit 2 ;;
  esac
  out="$work/$mode"
  rm -rf "$out"
  set +e
  # the rate does not depend on how much text there is: 4 MB tokenizes in seconds
  "$sweep" pretrain --data "$data" --tokenizer "$tok" -o "$out" --steps 100000 --batch "$batch" --seq "$seq" \
    --threads "$threads" --checkpoint-every 0 --max-text-bytes 4000000 --max-minutes "$minutes" "${flags[@]}" \
    2> "$work/$mode.log"
  rc=$?
  set -e
  line=$(grep "stopped after step" "$work/$mode.log" || true)
  if [ "$rc" != 75 ] || [ -z "$line" ]; then
    echo "| $mode | failed (exit $rc, see $work/$mode.log) | | | | |"
    continue
  fi
  echo "$line" | awk -v mode="$mode" -v b="$batch" -v s="$seq" '{
    match($0, /step [0-9]+/); steps = substr($0, RSTART + 5, RLENGTH - 5)
    match($0, /[0-9.]+ tok\/s/); tps = substr($0, RSTART, RLENGTH - 6) + 0
    t90 = tps * 5400
    printf "| %s | %s | %.0f | %.1fM | %.1fx | %d |\n", mode, steps, tps, t90 / 1e6, t90 / 1.33e6, t90 / (b * s) }'
  rm -rf "$out"
done
echo
echo "30x the old base is 40M tokens; fixtures/data/general/train.txt holds about 6.4M tokens of this tokenizer."
