#!/usr/bin/python3
"""`sweep pretrain` on the tiny config and the synthetic general mix of tests/mpi/common.py: the same
command gives the same bits; a run split into pieces (--stop-after: a checkpoint, exit 75, rerun) gives
the bits of an unbroken run; both at fp32 and bf16 and for --ternary-qat (fp32, bf16, int8), from scratch
and from an fp base (--init). A checkpoint made by other settings is refused; bad options exit 2 with
one line. The QAT record states that the QAT forward and the written ternary file agree, and its
starting-weights rows equal the fp run's own rows for the same files.

usage: test_pretrain.py SWEEP WORKDIR"""
import math
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
import common  # noqa: E402

sweep, work = sys.argv[1], sys.argv[2]
if os.path.exists(work):
    shutil.rmtree(work)
os.makedirs(work)
common.make_data(work)
data = os.path.join(work, "data")
TOK = os.path.join(work, "tok.bpe")
BASE = ["pretrain", "--data", data, "--config", "tiny", "--vocab", "300", "--steps", "12", "--batch", "4",
        "--seq", "12", "--warmup", "2", "--threads", "1", "--checkpoint-every", "0", "--eval-tokens", "400"]
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL " + what)


def run(args, out):
    return subprocess.run([sweep] + BASE + args + ["-o", out], capture_output=True, text=True, timeout=300)


def read(path):
    with open(path, "rb") as f:
        return f.read()


# one tokenizer for every run, so that runs differ only in what is tested
r = run([], os.path.join(work, "first"))
check(r.returncode == 0, "first pretrain: exit %d: %s" % (r.returncode, r.stderr[-500:]))
shutil.copy(os.path.join(work, "first", "tokenizer.bpe"), TOK)

MODES = {
    "fp32": ([], ["base.sweep", "base-ternary.sweep"]),
    "bf16": (["--precision", "bf16"], ["base.sweep", "base-ternary.sweep"]),
    "qat": (["--ternary-qat"], ["base-qat-latent.sweep", "base-ternary-qat.sweep"]),
    "qat-bf16": (["--ternary-qat", "--precision", "bf16"], ["base-qat-latent.sweep", "base-ternary-qat.sweep"]),
    "qat-int8": (["--ternary-qat", "--precision", "int8"], ["base-qat-latent.sweep", "base-ternary-qat.sweep"]),
    "qat-init": (["--ternary-qat", "--precision", "bf16", "--init", os.path.join(work, "fp32-a", "base.sweep")],
                 ["base-qat-latent.sweep", "base-ternary-qat.sweep"]),
}
outputs = {}
for mode, (flags, files) in MODES.items():
    args = flags + ["--tokenizer", TOK]
    a, b, p = (os.path.join(work, "%s-%s" % (mode, x)) for x in ("a", "b", "pieces"))
    for out in (a, b):
        r = run(args, out)
        check(r.returncode == 0, "%s: exit %d: %s" % (mode, r.returncode, r.stderr[-500:]))
    # three pieces of 5 + 5 + 2 steps, the middle one also checkpointing every 2 steps on its way
    codes = []
    for extra in (["--stop-after", "5"], ["--stop-after", "5", "--checkpoint-every", "2"], ["--stop-after", "5"]):
        r = run(args + extra, p)
        codes.append(r.returncode)
    check(codes == [75, 75, 0], "%s: pieces exited %s, expected [75, 75, 0]" % (mode, codes))
    check(not os.path.exists(os.path.join(p, "checkpoint.opt")), "%s: checkpoint left after the last piece" % mode)
    for f in files:
        fa, fb, fp = (os.path.join(d, f) for d in (a, b, p))
        if not all(os.path.exists(x) for x in (fa, fb, fp)):
            check(False, "%s: %s missing" % (mode, f))
            continue
        check(read(fa) == read(fb), "%s: %s differs between two runs of the same command" % (mode, f))
        check(read(fa) == read(fp), "%s: %s of the run in three pieces differs from the unbroken run's" % (mode, f))
    outputs[mode] = [read(os.path.join(a, f)) for f in files if os.path.exists(os.path.join(a, f))]
    rec = open(os.path.join(a, "RECORD.md")).read() if os.path.exists(os.path.join(a, "RECORD.md")) else ""
    check("| model | perplexity | bits per byte | file bytes |" in rec, "%s: no bits-per-byte table in RECORD.md" % mode)
    precision = flags[flags.index("--precision") + 1] if "--precision" in flags else "fp32"
    check("weight products in %s" % precision in rec, "%s: RECORD.md does not name precision %s" % (mode, precision))
    if mode.startswith("qat"):
        check("give identical perplexities" in rec, "%s: RECORD.md: QAT forward and ternary file differ" % mode)

# the modes differ from each other (the flags reach the engine)
check(outputs["fp32"][0] != outputs["bf16"][0], "bf16 pretraining gave fp32's bits")
check(outputs["qat"][0] != outputs["fp32"][0], "--ternary-qat gave plain pretraining's bits")
check(outputs["qat-bf16"][0] != outputs["qat-int8"][0], "int8 QAT gave bf16 QAT's bits")

# bits per byte in the record follow from its perplexity, predicted tokens and bytes
rec = open(os.path.join(work, "fp32-a", "RECORD.md")).read()
m = re.search(r"\((\d+) tokens of .*?, (\d+) bytes\)", rec)
rows = re.findall(r"^\| (base\.sweep \(f32\)|base-ternary\.sweep[^|]*) \| ([\d.]+) \| ([\d.]+) \|", rec, re.M)
check(m and len(rows) == 2, "fp32 RECORD.md: eval line or table rows not found")
if m and rows:
    npred, nbytes = int(m.group(1)), int(m.group(2))
    for name, ppl, bpb in rows:
        want = math.log(float(ppl)) * npred / nbytes / math.log(2)
        check(abs(want - float(bpb)) < 2e-3, "%s: bits per byte %s, expected %.4f from its perplexity" % (name, bpb, want))

# --init: the QAT record's starting rows are the fp run's own rows for those weights
qrec = open(os.path.join(work, "qat-init-a", "RECORD.md")).read()
fp_rows = dict((n.split(" ")[0], p) for n, p, _ in rows)
m1 = re.search(r"\| \S+base\.sweep \(the starting weights, f32\) \| ([\d.]+) \|", qrec)
m2 = re.search(r"\| its post-training ternary quantisation[^|]* \| ([\d.]+) \|", qrec)
check(m1 and m1.group(1) == fp_rows.get("base.sweep"),
      "QAT --init: starting weights' ppl %s, the fp record's %s" % (m1 and m1.group(1), fp_rows.get("base.sweep")))
check(m2 and m2.group(1) == fp_rows.get("base-ternary.sweep"),
      "QAT --init: post-training ternary ppl %s, the fp record's %s" % (m2 and m2.group(1), fp_rows.get("base-ternary.sweep")))

# a checkpoint made by other settings is refused, naming the file
p = os.path.join(work, "mismatch")
r1 = run(["--precision", "bf16", "--stop-after", "3", "--tokenizer", TOK], p)
r2 = run(["--tokenizer", TOK], p)
lines = [x for x in r2.stderr.splitlines() if x.startswith("sweep pretrain:")]   # after the progress lines
check(r1.returncode == 75 and r2.returncode == 2 and len(lines) == 1 and "checkpoint.opt" in lines[0],
      "resuming a bf16 checkpoint at fp32: exits %d, %d, stderr %r" % (r1.returncode, r2.returncode, r2.stderr[-300:]))

# bad options: exit 2, one line naming the option or file
for args, word in ((["--precision", "int8"], "--precision"), (["--precision", "fp16"], "--precision"),
                   (["--init", os.path.join(work, "nope.sweep")], "nope.sweep"), (["--stop-after", "0"], "--stop-after"),
                   (["--max-minutes", "-1"], "--max-minutes")):
    r = run(args + ["--tokenizer", TOK], os.path.join(work, "bad"))
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 2 and len(lines) == 1 and word in lines[0],
          "%s: exit %d, stderr %r (expected 2 and one line naming %s)" % (" ".join(args), r.returncode, r.stderr[-300:], word))

print("pretrain.cli: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
