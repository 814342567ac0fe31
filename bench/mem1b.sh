#!/bin/bash
# Issue 13's 1b check: a protocol-1b-shaped spec (its formats: norm, LoRA rank 4 alpha 8, full; its
# lr and betas) on a 1b model file (random weights, ternary projections at int8: `sweep bench --config
# 1b --ternary --save-model`), one user, few steps, one norm job, one LoRA job and two full jobs (two
# lr values), run under mpirun -np NP with --mem-per-node below two full jobs. Prints `sweep plan`'s
# estimates, then each job's estimate beside its measured /peak_rss_bytes, and checks that the two full
# jobs never overlap in time.
#
#   bash bench/mem1b.sh [--config 1b|default] [--dir DIR] [--model FILE] [--np N] [--steps S]
#                       [--batch B] [--seq T] [--precision P] [--full-precision P] [--fulls 1|2]
#                       [--eval-tokens N] [--no-recompute] [--mem-per-node M] [--plan-only]
#
# Defaults: --config 1b, DIR /tmp/sweep-mem1b, --np 2, --steps 2, batch 1 x 256, precision int8 (the
# full jobs' too unless --full-precision: fp32 needs no private bf16 copies), two full jobs (--fulls 1:
# one, nothing to overlap), eval.tokens 1024,
# --recompute on (sweep run and sweep plan), --mem-per-node: the node's fixed part + one full job + the
# largest other job + 1% (below two full jobs). --config default runs the same on the default config's
# shape in a minute (the script's own check); --plan-only stops after the estimates (cheap at 1b).
# Memory, not speed: may run beside other work, but the 1b run needs ~20 GB free and takes tens of
# minutes (full fine-tuning of 1.2B parameters on one core). Data: fixtures/data (austen) and
# fixtures/base/tokenizer.bpe (8192 tokens, within both vocabularies).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
sweep=$repo/build/sweep
config=1b dir=/tmp/sweep-mem1b model="" np=2 steps=2 batch=1 seq=256 precision=int8 recompute=--recompute
mem="" plan_only=0 full_precision="" fulls=2 eval_tokens=1024
while [ $# -gt 0 ]; do
    case "$1" in
    --config) config=$2; shift ;;
    --dir) dir=$2; shift ;;
    --model) model=$2; shift ;;
    --np) np=$2; shift ;;
    --steps) steps=$2; shift ;;
    --batch) batch=$2; shift ;;
    --seq) seq=$2; shift ;;
    --precision) precision=$2; shift ;;
    --full-precision) full_precision=$2; shift ;;
    --fulls) fulls=$2; shift ;;
    --eval-tokens) eval_tokens=$2; shift ;;
    --no-recompute) recompute="" ;;
    --mem-per-node) mem=$2; shift ;;
    --plan-only) plan_only=1 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "bench/mem1b.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
case "$config" in 1b|default) ;; *) echo "bench/mem1b.sh: --config 1b or default" >&2; exit 2 ;; esac
case "$fulls" in 1) full_lrs="[5e-5]" ;; 2) full_lrs="[5e-5, 1e-5]" ;; *) echo "bench/mem1b.sh: --fulls 1 or 2" >&2; exit 2 ;; esac
full_fields="\"lr\": $full_lrs"
[ -n "$full_precision" ] && full_fields="$full_fields, \"precision\": \"$full_precision\""
[ -x "$sweep" ] || { echo "bench/mem1b.sh: build $sweep first" >&2; exit 2; }
[ -d "$repo/fixtures/data/users/austen" ] || { echo "bench/mem1b.sh: fixtures/data is missing (ln -s it)" >&2; exit 2; }
mkdir -p "$dir/out"
dir=$(cd "$dir" && pwd)
if [ -z "$model" ]; then
    model=$dir/$config-ternary.sweep
    [ -f "$model" ] || "$sweep" bench --config "$config" --ternary --save-model "$model"
fi
spec=$dir/mem1b-$config.json
out=$dir/out/mem1b-$config.h5
cat > "$spec" <<EOF
{
  "protocol": "custom",
  "description": "bench/mem1b.sh: protocol-1b's formats on $(basename "$model"), one user, $steps steps of $batch x $seq",
  "output": "$out",
  "bases": {"ternary": "$model"},
  "tokenizer": "$repo/fixtures/base/tokenizer.bpe",
  "data": "$repo/fixtures/data",
  "users": ["austen"],
  "formats": {
    "norm": {},
    "lora": {"rank": 4, "alpha": 8},
    "full": {$full_fields}
  },
  "train": {"steps": $steps, "batch": $batch, "seq": $seq, "lr": 5e-5, "betas": [0.9, 0.95], "weight_decay": 0,
            "grad_clip": 0, "precision": "$precision"},
  "seeds": 1,
  "eval": {"users": "own", "slices": 1, "general": false, "tokens": $eval_tokens},
  "max_attempts": 1
}
EOF
echo "== spec $spec"
plan_json=$dir/plan-$config.json
"$sweep" plan "$spec" --ranks "$np" $recompute --json > "$plan_json"
if [ -z "$mem" ]; then   # the node's fixed part + one full job + the largest other one + 1%: below two full jobs
    mem=$(/usr/bin/python3 - "$plan_json" "$np" <<'EOF'
import json, sys
p = json.load(open(sys.argv[1]))
m, np_ = p["memory"], int(sys.argv[2])
full = max(j["est_mem_bytes"] for j in p["jobs"] if j["format"].startswith("full"))
other = max(j["est_mem_bytes"] for j in p["jobs"] if not j["format"].startswith("full"))
fixed = m["shared_bytes"] + np_ * m["rank_bytes"]
limit = int((fixed + full + other) * 1.01)
assert limit < fixed + 2 * full, "one full job and the largest other one are above two full jobs"
print(limit)
EOF
)
fi
echo "== sweep plan $(basename "$spec") --ranks-per-node $np --mem-per-node $mem $recompute"
"$sweep" plan "$spec" --ranks "$np" --ranks-per-node "$np" --mem-per-node "$mem" $recompute | sed -n '/^memory/,$p'
[ "$plan_only" = 1 ] && exit 0
rm -f "$out" "$out.journal" "$out.state"
echo "== mpirun -np $np sweep run $(basename "$spec") --mem-per-node $mem $recompute"
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1 \
    mpirun --oversubscribe -np "$np" "$sweep" run "$spec" --mem-per-node "$mem" $recompute --progress-every 60
/usr/bin/python3 - "$plan_json" "$out" <<'EOF'
import json, sys
import h5py
plan = json.load(open(sys.argv[1]))
est = {j["id"]: j["est_mem_bytes"] for j in plan["jobs"]}
shared = plan["memory"]["shared_bytes"]
mib = lambda b: "%.0f MiB" % (b / 2**20)
print("\nper job: estimate (private), + shared (base and ready forms, once per node), measured peak RSS of the"
      "\njob's process (/peak_rss_bytes: its private memory and the shared pages it touched)\n")
print("| format | status | estimate | estimate + shared | measured peak | measured / (estimate + shared) | started | seconds |")
print("|---|---|---|---|---|---|---|---|")
with h5py.File(sys.argv[2], "r") as f:
    rows = sorted(zip([x.decode() for x in f["job"][:]], [x.decode() for x in f["job_format"][:]],
                      f["peak_rss_bytes"][:], f["started"][:], f["seconds"][:], [x.decode() for x in f["status"][:]]), key=lambda r: r[3])
t0 = rows[0][3]
for jid, fmt, peak, start, sec, status in rows:
    e = est[jid]
    print("| %s | %s | %s | %s | %s | %.2f | %.1f | %.1f |" % (fmt, status, mib(e), mib(e + shared), mib(peak),
          peak / (e + shared), start - t0, sec))
fulls = [(s, s + d) for _, fmt, _, s, d, _ in rows if fmt.startswith("full")]
ov = max([min(a[1], b[1]) - max(a[0], b[0]) for i, a in enumerate(fulls) for b in fulls[i + 1:]] or [-1])
print("\nthe two full jobs %s (largest overlap %.2f s)" % ("never overlap" if ov <= 0 else "OVERLAP", ov))
sys.exit(0 if ov <= 0 else 1)
EOF
