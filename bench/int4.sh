#!/bin/bash
# The int4 base's figures for BENCHMARKS.md, on a quiet machine (issue #13 part 4):
#  1. held-out perplexity of the default base at f32, ternary and int4 (fixtures/base/RECORD.md's protocol);
#  2. Llama 3.2 1B's shape, norm-only, batch 1 x 256: step time and peak private memory per process,
#     two `sweep bench --model` processes at once (bench/memory.py), int4 at fp32 and bf16 beside ternary
#     at int8 and bf16 at bf16;
#  3. step time of one process per format on the 1b int4 file (sweep bench --model).
# usage: bash bench/int4.sh [DIR]   (DIR holds the 1b files, ~3 GB; default /tmp/sweep-memory)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
sweep=$repo/build/sweep
dir=${1:-/tmp/sweep-memory}
cd "$repo"
echo "== default base, held-out perplexity (fixtures/data/general/eval.txt)"
"$sweep" eval fixtures/base/base.sweep fixtures/base/base-ternary.sweep fixtures/base/base-int4.sweep \
    fixtures/data/general/eval.txt
echo "== 1b shape, two processes at once: step CPU s and peak private memory"
/usr/bin/python3 bench/memory.py --sweep "$sweep" --dir "$dir" --what 1b \
    --runs int4:fp32,int4:bf16,ternary:int8,bf16:bf16
echo "== 1b shape int4, one process: step time per format"
"$sweep" bench --model "$dir/1b-int4.sweep" --format norm,lora --batch 1 --seq 256 --precision fp32
"$sweep" bench --model "$dir/1b-int4.sweep" --format norm,lora --batch 1 --seq 256 --precision bf16
