#!/usr/bin/env bash
# Training and evaluation speed per compute precision, beside PyTorch fp32 and PyTorch bf16 autocast
# in the same run: `sweep bench --precision fp32|fp32-dnnl|bf16` on random fp weights, `sweep bench
# --ternary --precision fp32|int8` on the same weights quantised to ternary, and bench/torch_peer.py
# with and without --autocast bf16, alternating, --repeats times; prints the medians as the Markdown
# table of BENCHMARKS.md. Ratios divide tokens per CPU-second (the machine is shared: a loaded core
# stretches wall time, not CPU time) and, beside them, tokens per wall-second.
#
#   bench/precision_compare.sh [--sweep build/sweep] [--config default|1b] [--formats none,norm,lora,full]
#                              [--repeats 3] [--steps N] [--warmup N] [--precisions "fp32 fp32-dnnl bf16"]
#                              [--ternary "fp32 int8"] [--model FILE] [--raw FILE]
#
# --model FILE adds `sweep bench --model FILE` at each --ternary precision: a model file mapped as a
# sweep maps its base (make one with `sweep bench --config 1b --ternary --save-model FILE`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sweep="$root/build/sweep"
config=default
formats="none,norm,lora,full"
repeats=3
steps=""
warmup=""
precisions="fp32 fp32-dnnl bf16"
ternary="fp32 int8"
raw=""
model=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sweep) sweep=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --formats) formats=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --precisions) precisions=$2; shift 2 ;;
    --ternary) ternary=$2; shift 2 ;;
    --raw) raw=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "precision_compare.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ -x "$sweep" ] || { echo "precision_compare.sh: $sweep: not an executable (build first, or pass --sweep)" >&2; exit 2; }
out=${raw:-$(mktemp)}
: > "$out"
extra=()
[ -n "$steps" ] && extra+=(--steps "$steps")
[ -n "$warmup" ] && extra+=(--warmup "$warmup")
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
for r in $(seq 1 "$repeats"); do
  for p in $precisions; do
    echo "precision_compare.sh: repeat $r/$repeats: sweep $p" >&2
    "$sweep" bench --json --config "$config" --format "$formats" --precision "$p" "${extra[@]}" >> "$out"
  done
  for p in $ternary; do
    echo "precision_compare.sh: repeat $r/$repeats: sweep --ternary $p" >&2
    "$sweep" bench --json --config "$config" --format "$formats" --precision "$p" --ternary "${extra[@]}" >> "$out"
  done
  if [ -n "$model" ]; then
    for p in $ternary; do
      echo "precision_compare.sh: repeat $r/$repeats: sweep --model $model $p" >&2
      "$sweep" bench --json --model "$model" --format "$formats" --precision "$p" "${extra[@]}" >> "$out"
    done
  fi
  echo "precision_compare.sh: repeat $r/$repeats: torch fp32" >&2
  /usr/bin/python3 "$root/bench/torch_peer.py" --json --config "$config" --format "$formats" "${extra[@]}" >> "$out"
  echo "precision_compare.sh: repeat $r/$repeats: torch autocast bf16" >&2
  /usr/bin/python3 "$root/bench/torch_peer.py" --json --config "$config" --format "$formats" --autocast bf16 \
    "${extra[@]}" >> "$out"
done
/usr/bin/python3 - "$out" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def label(r):
    if r["engine"] == "sweep":
        if r["config"].endswith(".sweep"):
            return "mapped " + r["config"].rsplit("/", 1)[-1] + " " + r["precision"]
        return ("ternary " if r.get("ternary") else "") + r["precision"]
    return "torch " + ("bf16 autocast" if "autocast" in r["engine"] else "fp32")
for r in rows:
    r["label"] = label(r)
labels = list(dict.fromkeys(r["label"] for r in rows))
formats = list(dict.fromkeys(r["format"] for r in rows))
def med(l, f, key):
    v = [r[key] for r in rows if r["label"] == l and r["format"] == f and r.get(key) is not None]
    return statistics.median(v) if v else None
shapes = {(r["format"], r["batch"], r["seq"], r["eval_flops"]) for r in rows}
if len(shapes) != len(formats):   # ratios need one model shape and batch: a --model of another config breaks them
    sys.exit("precision_compare.sh: the runs differ in model shape or batch x seq (a --model file of another "
             "config than --config?): %s" % sorted(shapes))
b, s, cfg = rows[0]["batch"], rows[0]["seq"], rows[0]["config"]
n = max(1, sum(1 for r in rows if r["label"] == labels[0] and r["format"] == formats[0]))
print(f"config {cfg}, batch {b} x {s}, 1 thread; medians of {n} alternating run(s), each a median over its timed steps.")
print("tok/cpu-s = tokens per CPU-second of the process (what a quiet core would do); tok/s = per wall-second.\n")
print("| format | engine | train tok/cpu-s | train tok/s | x torch fp32 | x torch bf16 | eval tok/cpu-s | eval tok/s "
      "| x torch fp32 | x torch bf16 | step CPU s | loss |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
tok = b * s
def per(x):
    return None if not x else tok / x
def f0(x):
    return "-" if x is None else f"{x:.0f}" if x >= 10 else f"{x:.2f}"
def ratio(a, c):
    return "-" if a is None or c is None else f"{a / c:.2f}x"
for f in formats:
    ref32 = (per(med("torch fp32", f, "step_cpu_seconds")), per(med("torch fp32", f, "eval_cpu_seconds")))
    ref16 = (per(med("torch bf16 autocast", f, "step_cpu_seconds")), per(med("torch bf16 autocast", f, "eval_cpu_seconds")))
    for l in labels:
        tc, ec = per(med(l, f, "step_cpu_seconds")), per(med(l, f, "eval_cpu_seconds"))
        tw, ew = med(l, f, "train_tok_s"), med(l, f, "eval_tok_s")
        sc, loss = med(l, f, "step_cpu_seconds"), med(l, f, "loss")
        print(f"| {f} | {l} | {f0(tc)} | {f0(tw)} | {ratio(tc, ref32[0])} | {ratio(tc, ref16[0])} | {f0(ec)} | {f0(ew)} "
              f"| {ratio(ec, ref32[1])} | {ratio(ec, ref16[1])} | {'-' if sc is None else f'{sc:.3f}'} "
              f"| {'-' if loss is None else f'{loss:.4f}'} |")
EOF
[ -n "$raw" ] || rm -f "$out"
