#!/usr/bin/env bash
# The default bases of issue #16, made on a quiet machine: an fp base pretrained from scratch (its
# post-training ternary copy beside it), then a ternary base by quantisation-aware training continued from
# it; both resumable in pieces. Size --steps and --qat-steps with bench/pretrain_rate.sh first (tokens =
# steps x batch x seq; the old base saw 1.33M). Rerunning the same command continues where it stopped: each
# `sweep pretrain` resumes from its checkpoint, and a finished stage is skipped.
#
#   scripts/pretrain-base.sh --steps N --qat-steps M [--out /tmp/pretrain-base] [--precision bf16]
#       [--qat-precision bf16] [--threads 2] [--batch 16] [--seq 256] [--lr 2e-3] [--qat-lr 1e-3]
#       [--warmup 100] [--qat-warmup 100] [--piece-minutes 30] [--pieces K] [--sweep build/sweep]
#       [--data fixtures/data] [--tokenizer fixtures/base/tokenizer.bpe] [--config default [--vocab N]]
#
# Each `sweep pretrain` stops after --piece-minutes of training with a checkpoint (exit 75); the script
# goes on to the next piece until the stage is done, or stops after --pieces pieces in all (0: no limit),
# to be rerun later. Writes OUT/fp (base.sweep, base-ternary.sweep, RECORD.md), OUT/qat
# (base-ternary-qat.sweep, base-qat-latent.sweep, RECORD.md) and OUT/RECORD.md: both records after the
# previous fixtures/base/RECORD.md's figures. It prints the commands that install the bases in fixtures/base.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sweep="$root/build/sweep"
data="$root/fixtures/data"
tokenizer="$root/fixtures/base/tokenizer.bpe"
config=default
vocab=""
out=/tmp/pretrain-base
steps=""
qat_steps=""
precision=bf16
qat_precision=bf16
threads=2
batch=16
seq=256
lr=2e-3
qat_lr=1e-3
warmup=100
qat_warmup=100
piece=30
pieces=0
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    --qat-steps) qat_steps=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --qat-precision) qat_precision=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --seq) seq=$2; shift 2 ;;
    --lr) lr=$2; shift 2 ;;
    --qat-lr) qat_lr=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --qat-warmup) qat_warmup=$2; shift 2 ;;
    --piece-minutes) piece=$2; shift 2 ;;
    --pieces) pieces=$2; shift 2 ;;
    --sweep) sweep=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --tokenizer) tokenizer=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --vocab) vocab=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "pretrain-base.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$steps" ] || [ -z "$qat_steps" ]; then
  echo "pretrain-base.sh: give --steps N and --qat-steps M (size them with bench/pretrain_rate.sh)" >&2
  exit 2
fi
mkdir -p "$out"
done_pieces=0

# stage NAME DIR OUTPUT_FILE ARGS...: runs `sweep pretrain ARGS` piece by piece until DIR/OUTPUT_FILE and
# DIR/RECORD.md exist with no checkpoint left; returns 75 when --pieces ran out first.
stage() {
  local name=$1 dir=$2 file=$3
  shift 3
  if [ -f "$dir/$file" ] && [ -f "$dir/RECORD.md" ] && [ ! -f "$dir/checkpoint.opt" ]; then
    echo "pretrain-base.sh: $name: done already ($dir)"
    return 0
  fi
  while :; do
    if [ "$pieces" -gt 0 ] && [ "$done_pieces" -ge "$pieces" ]; then
      echo "pretrain-base.sh: $pieces piece(s) run; rerun the same command to continue"
      return 75
    fi
    echo "pretrain-base.sh: $name: sweep pretrain $*"
    set +e
    # the log keeps every line; the terminal gets progress every 100 steps
    "$sweep" pretrain "$@" --max-minutes "$piece" 2>&1 | tee -a "$dir.log" | awk '!/^pretrain: step / || /^pretrain: step [0-9]*00\//'
    local rc=${PIPESTATUS[0]}
    set -e
    done_pieces=$((done_pieces + 1))
    if [ "$rc" = 0 ]; then return 0; fi
    if [ "$rc" != 75 ]; then echo "pretrain-base.sh: $name: sweep pretrain exited $rc (log: $dir.log)" >&2; exit "$rc"; fi
  done
}

common=(--data "$data" --config "$config" --threads "$threads" --batch "$batch" --seq "$seq" --checkpoint-every 100)
[ -z "$vocab" ] || common+=(--vocab "$vocab")
rc=0
stage "fp base" "$out/fp" base.sweep "${common[@]}" -o "$out/fp" --tokenizer "$tokenizer" \
  --precision "$precision" --steps "$steps" --lr "$lr" --warmup "$warmup" || rc=$?
[ "$rc" = 0 ] || exit "$rc"
stage "QAT ternary base" "$out/qat" base-ternary-qat.sweep "${common[@]}" -o "$out/qat" --ternary-qat \
  --init "$out/fp/base.sweep" --precision "$qat_precision" --steps "$qat_steps" --lr "$qat_lr" \
  --warmup "$qat_warmup" || rc=$?
[ "$rc" = 0 ] || exit "$rc"

{
  echo "# The default bases"
  echo
  echo "Made by \`scripts/pretrain-base.sh --steps $steps --qat-steps $qat_steps --precision $precision" \
       "--qat-precision $qat_precision --threads $threads --batch $batch --seq $seq --lr $lr --qat-lr $qat_lr" \
       "--warmup $warmup --qat-warmup $qat_warmup\`: base.sweep and its post-training ternary copy" \
       "base-ternary.sweep (first record), then base-ternary-qat.sweep by quantisation-aware training from" \
       "base.sweep (second record, whose table holds the fp base, both ternary bases and the unigram model" \
       "side by side). The previous base's record follows them."
  echo
  sed 's/^# /## /' "$out/fp/RECORD.md"
  echo
  sed 's/^# /## /' "$out/qat/RECORD.md"
  if [ -f "$root/fixtures/base/RECORD.md" ]; then
    echo
    echo "## The previous default base (replaced)"
    echo
    sed 's/^# .*//' "$root/fixtures/base/RECORD.md"
  fi
} > "$out/RECORD.md"
echo
echo "pretrain-base.sh: done. To install the bases (the tokenizer is $tokenizer, unchanged):"
echo "  cp $out/fp/base.sweep $out/fp/base-ternary.sweep $out/qat/base-ternary-qat.sweep $out/RECORD.md $root/fixtures/base/"
