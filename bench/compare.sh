#!/usr/bin/env bash
# Runs `sweep bench` and bench/torch_peer.py on the same shapes, alternating them so that both see
# the same machine load, at each thread count, several times, and prints the medians and the
# engine/PyTorch ratios as a Markdown table (the one BENCHMARKS.md records).
#
#   bench/compare.sh [--sweep build/sweep] [--threads "1 2"] [--repeats 3] [--batch 8] [--seq 256]
#                    [--steps 10] [--formats norm,lora,full] [--raw FILE]
# A second table divides tokens by process CPU seconds instead of wall seconds: at 1 thread on a
# loaded machine it is closer to what a quiet core does (at 2 threads it counts both threads' time).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sweep="$root/build/sweep"
threads="1 2"
repeats=3
batch=8
seq=256
steps=10
formats="none,norm,lora,full"
raw=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sweep) sweep=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --seq) seq=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --formats) formats=$2; shift 2 ;;
    --raw) raw=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
[ -x "$sweep" ] || { echo "compare.sh: $sweep: not an executable (build first, or pass --sweep)" >&2; exit 2; }
out=${raw:-$(mktemp)}
: > "$out"
for t in $threads; do
  for r in $(seq 1 "$repeats"); do
    echo "compare.sh: threads $t, repeat $r/$repeats" >&2
    # OpenBLAS starts one thread per core at load; capping it keeps idle helpers from spinning
    OPENBLAS_NUM_THREADS=$t "$sweep" bench --json --format "$formats" --threads "$t" --batch "$batch" \
      --seq "$seq" --steps "$steps" >> "$out"
    OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t /usr/bin/python3 "$root/bench/torch_peer.py" --json \
      --format "$formats" --threads "$t" --batch "$batch" --seq "$seq" --steps "$steps" >> "$out"
  done
done
/usr/bin/python3 - "$out" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def med(sel, key):
    v = [r[key] for r in rows if sel(r) and r.get(key) is not None]
    return statistics.median(v) if v else None
def fmt(x, spec):
    return "-" if x is None else format(x, spec)
threads = sorted({r["threads"] for r in rows})
formats = list(dict.fromkeys(r["format"] for r in rows))
n = max(1, len([r for r in rows if r["engine"] == "sweep"]) // max(1, len(threads) * len(formats)))
b, s = rows[0]["batch"], rows[0]["seq"]
print(f"Medians of {n} alternating runs per figure; batch {b} x {s}; tokens/s; GFLOP/s by the engine's FLOP count.\n")
print("| threads | format | engine train tok/s | torch train tok/s | train ratio | engine eval tok/s | torch eval tok/s "
      "| eval ratio | engine GFLOP/s | sgemm GFLOP/s | % of sgemm | torch GFLOP/s | engine peak MiB | torch peak MiB |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for t in threads:
    for f in formats:
        e = lambda r: r["engine"] == "sweep" and r["threads"] == t and r["format"] == f
        p = lambda r: r["engine"].startswith("torch") and r["threads"] == t and r["format"] == f
        et, pt = med(e, "train_tok_s"), med(p, "train_tok_s")
        ee, pe = med(e, "eval_tok_s"), med(p, "eval_tok_s")
        eg, sg, pg = med(e, "gflops"), med(e, "sgemm_gflops"), med(p, "gflops")
        ratio = lambda a, c: None if a is None or c is None else f"{a / c:.2f}x"
        pct = None if eg is None or not sg else 100 * eg / sg
        print(f"| {t} | {f} | {fmt(et, '.0f')} | {fmt(pt, '.0f')} | {ratio(et, pt) or '-'} | {fmt(ee, '.0f')} "
              f"| {fmt(pe, '.0f')} | {ratio(ee, pe) or '-'} | {fmt(eg, '.1f')} | {fmt(sg, '.1f')} | {fmt(pct, '.0f')}% "
              f"| {fmt(pg, '.1f')} | {fmt(med(e, 'peak_rss_mib'), '.0f')} | {fmt(med(p, 'peak_rss_mib'), '.0f')} |")

print("\nPer CPU-second (tokens / median process CPU time of a step):\n")
print("| threads | format | engine train tok/cpu-s | torch train tok/cpu-s | train ratio | engine eval tok/cpu-s "
      "| torch eval tok/cpu-s | eval ratio | engine GFLOP/cpu-s |")
print("|---|---|---|---|---|---|---|---|---|")
for t in threads:
    for f in formats:
        e = lambda r: r["engine"] == "sweep" and r["threads"] == t and r["format"] == f
        p = lambda r: r["engine"].startswith("torch") and r["threads"] == t and r["format"] == f
        tok = b * s
        inv = lambda x: None if not x else tok / x
        et, pt = inv(med(e, "step_cpu_seconds")), inv(med(p, "step_cpu_seconds"))
        ee, pe = inv(med(e, "eval_cpu_seconds")), inv(med(p, "eval_cpu_seconds"))
        fl, sc = med(e, "train_flops") or med(e, "eval_flops"), med(e, "step_cpu_seconds") or med(e, "eval_cpu_seconds")
        print(f"| {t} | {f} | {fmt(et, '.0f')} | {fmt(pt, '.0f')} | {ratio(et, pt) or '-'} | {fmt(ee, '.0f')} "
              f"| {fmt(pe, '.0f')} | {ratio(ee, pe) or '-'} | {fmt(fl / sc / 1e9 if fl and sc else None, '.1f')} |")
EOF
[ -n "$raw" ] || rm -f "$out"
