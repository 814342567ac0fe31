#!/usr/bin/python3
"""`sweep report` end to end: the verdict of every result file make_report_files writes (each derived
below from the protocol's criterion), all four output formats, --html, a results file written by
h5py rather than by sweep, and exit status 2 with one line for every kind of bad input.

usage: test_cli.py SWEEP MAKE_REPORT_FILES SWEEPS_DIR WORKDIR   (Debian's /usr/bin/python3: h5py, numpy)
"""
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import h5py
import numpy as np

sweep, make_files, sweeps_dir, work = sys.argv[1:5]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL", what, file=sys.stderr)


def report(*args):
    return subprocess.run([sweep, "report", *args], capture_output=True, text=True, timeout=120)


subprocess.run([make_files, work, sweeps_dir], check=True)

# (section, scope) -> (verdict, judged, provisional), from the criteria and the values in report_cases.h
expected = {
    # norm/full = 1.5, 0.5, 1.9: all < 2; norm 9216 B < 1% of full's 4,000,000 B
    "bet37.h5": {("bet37", "base fp: norm vs full"): ("STRICT", True, False)},
    # norm/full = 0.01 .. 0.15 over 15 configurations: all < 2
    "bet46.h5": {("bet46", "base fp: norm vs full"): ("STRICT", True, False)},
    # norm dominates for 2 users; the third's lora job is pending: 2 of 3 so far
    "bet49-partial.h5": {("bet49", "base fp: norm vs lora and full"): ("LENIENT", True, True)},
    # improvements 15% (exactly), 20%, 5%: 2 of 3 at >= 15%, not all at 30%
    "bet52.h5": {("bet52", "base ternary: norm over the base alone"): ("LENIENT", True, False),
                 ("bet52", "base int4: norm over the base alone"): ("LENIENT", True, False)},
    # random/real = 0.90, 0.99, 2.0: random beats real on 2 of 3
    "bet60.h5": {("bet60", "base fp: norm real vs random"): ("CATASTROPHIC", True, False)},
    # own 90, 80, 99 against 100 for every other adapter: the diagonal wins for all 3
    "bet61.h5": {("bet61", "base fp: norm"): ("STRICT", True, False)},
    # 6 of 10 users at a margin of exactly 5%; the ternary full jobs pending, one fp lora job diverged
    "protocol-1b-partial.h5": {
        ("confusion", "base fp: norm"): ("STRICT", True, False),
        ("confusion", "base ternary: norm"): ("STRICT", True, False),
        ("confusion", "base fp: lora"): ("none", True, True),
        ("confusion", "base ternary: full"): ("none", False, False),
        ("bet49", "base fp: norm vs lora and full"): ("STRICT", True, True),
        ("bet49", "base ternary: norm vs lora and full"): ("none", False, False),
        ("bet52", "base ternary: norm over the base alone"): ("STRICT", True, False),
        ("bet60", "base fp: norm real vs random"): ("STRICT", True, False),
        # the int4 base's jobs all finished
        ("confusion", "base int4: norm"): ("STRICT", True, False),
        ("bet52", "base int4: norm over the base alone"): ("STRICT", True, False),
    },
    "demo.h5": {},
    # report_cases.h: none and norm at fp32 and bf16, each against its own precision's base:
    # fp32 80/100 (20%: LENIENT), bf16 130/200 (35%: STRICT); against the other base STRICT and CATASTROPHIC
    "precision-bet52.h5": {
        ("bet52", "base ternary: norm[precision=fp32] over the base alone"): ("LENIENT", True, False),
        ("bet52", "base ternary: norm[precision=bf16] over the base alone"): ("STRICT", True, False),
    },
    # the base at fp32 only: bf16's 130 against it is no improvement for any user
    "precision-bet52-fallback.h5": {
        ("bet52", "base ternary: norm[precision=fp32] over the base alone"): ("LENIENT", True, False),
        ("bet52", "base ternary: norm[precision=bf16] over the base alone"): ("CATASTROPHIC", True, False),
    },
    # fp32 15/10 = 1.5 (STRICT); bf16 40/4 = 10, not > 10 (none); never norm at one precision vs full at the other
    "precision-bet37.h5": {
        ("bet37", "base fp: norm[precision=fp32] vs full[precision=fp32]"): ("STRICT", True, False),
        ("bet37", "base fp: norm[precision=bf16] vs full[precision=bf16]"): ("none", True, False),
    },
}

for name, want in expected.items():
    path = os.path.join(work, name)
    r = report(path, "--format", "json")
    check(r.returncode == 0, f"{name}: exit {r.returncode}: {r.stderr}")
    if r.returncode:
        continue
    doc = json.loads(r.stdout)
    got = {(v["section"], v["scope"]): (v["verdict"], v["judged"], v["provisional"]) for v in doc["verdicts"]}
    for key, val in want.items():
        check(got.get(key) == val, f"{name}: {key}: {got.get(key)}, expected {val}")
    if not want:
        check(not got, f"{name}: no verdicts expected, got {got}")
    check(doc["complete"] == ("partial" not in name), f"{name}: complete flag")
    # the other formats carry the same verdicts
    c = report(path, "--format", "csv")
    check(c.returncode == 0, f"{name}: csv exit {c.returncode}")
    rows = list(csv.reader(io.StringIO(c.stdout)))
    check(rows[0] == ["section", "table", "row", "column", "value"], f"{name}: csv header {rows[0]}")
    check(all(len(row) == 5 for row in rows), f"{name}: every csv row has 5 fields")
    csv_verdicts = {(row[0], row[2]): row[4] for row in rows[1:] if row[1] == "verdict" and row[3] == "verdict"}
    check(csv_verdicts == {k: v[0] for k, v in got.items()}, f"{name}: csv verdicts {csv_verdicts}")
    t = report(path)
    check(t.returncode == 0 and t.stdout.startswith("sweep report: "), f"{name}: text")
    for (section, scope), (verdict, judged, _) in got.items():
        line = f"[{section}] {scope}: {verdict if judged else 'none (cannot be judged)'}"
        check(line in t.stdout, f"{name}: text has '{line}'")
    m = report(path, "--format", "markdown")
    check(m.returncode == 0 and ("## Verdicts" in m.stdout) == bool(got) and "| --- |" in m.stdout, f"{name}: markdown")

# precision in every output format: each verdict's is the one its format's label names
for name in ("precision-bet52.h5", "precision-bet52-fallback.h5", "precision-bet37.h5"):
    path = os.path.join(work, name)
    r = report(path, "--format", "json")
    doc = json.loads(r.stdout) if r.returncode == 0 else {"verdicts": [], "precisions": []}
    check(doc.get("precisions") == ["fp32", "bf16"], f"{name}: precisions {doc.get('precisions')}")
    check(len(doc["verdicts"]) == 2 and all(v.get("precision") and f"precision={v['precision']}]" in v["scope"]
                                            for v in doc["verdicts"]), f"{name}: verdict precisions")
    rows = list(csv.reader(io.StringIO(report(path, "--format", "csv").stdout)))
    check(sorted(row[4] for row in rows if row[1] == "verdict" and row[3] == "precision") == ["bf16", "fp32"],
          f"{name}: csv precision rows")
    t = report(path).stdout
    check("precisions: fp32, bf16" in t and ", precision bf16\n" in t, f"{name}: text names the precisions")
    m = report(path, "--format", "markdown").stdout
    check("at precision bf16" in m and "| precision |" in m, f"{name}: markdown names the precisions")
t = report(os.path.join(work, "precision-bet52-fallback.h5")).stdout
check("has no base evaluated at bf16" in t, "fallback file: says bf16 is compared with the fp32 base")

# a file from before the per-job precision column: the same report as with every job at fp32
old = os.path.join(work, "bet52-old.h5")
shutil.copy(os.path.join(work, "bet52.h5"), old)
with h5py.File(old, "a") as f:
    del f["precision"]
a = json.loads(report(os.path.join(work, "bet52.h5"), "--format", "json").stdout)
r = report(old, "--format", "json")
check(r.returncode == 0, f"old file: exit {r.returncode}: {r.stderr}")
if r.returncode == 0:
    b = json.loads(r.stdout)
    check(b.get("precisions") == ["fp32"] and len(b["verdicts"]) >= 2
          and [v.get("precision") for v in b["verdicts"]] == ["fp32"] * len(a["verdicts"]),
          "old file: fp32 (one verdict per base)")
    a.pop("file"), b.pop("file")
    check(a == b, "old file reports as the same file with the column")

# the partial file names what is missing
t = report(os.path.join(work, "protocol-1b-partial.h5")).stdout
check("30 pending" in t and "1 diverged" in t and "the sweep is not finished" in t, "partial file: job counts")
check("ternary/full/cpython/seed 0 (pending)" in t, "partial file: names a pending job")
check("fp/lora/dickens/seed 1 (diverged)" in t, "partial file: names the diverged job")

# a protocol forced on a file that cannot answer it: reported, not an error
r = report(os.path.join(work, "bet60.h5"), "--protocol", "bet61", "--format", "json")
doc = json.loads(r.stdout) if r.returncode == 0 else {"verdicts": []}
check(r.returncode == 0 and doc["forced"] and doc["file_protocol"] == "bet60", "forced protocol recorded")
check([v["judged"] for v in doc["verdicts"]] == [False] and "own user's texts only" in doc["verdicts"][0]["words"],
      f"bet61 on an own-text file cannot be judged: {doc['verdicts']}")

# --html: one page, well-formed SVG plots
html = os.path.join(work, "html", "bet61")
r = report(os.path.join(work, "bet61.h5"), "--html", html)
check(r.returncode == 0, f"--html exit {r.returncode}: {r.stderr}")
svgs = sorted(f for f in os.listdir(html) if f.endswith(".svg")) if os.path.isdir(html) else []
check(svgs == ["confusion-fp-norm.svg", "loss-fp.svg", "pareto-fp.svg"], f"plots written: {svgs}")
for f in svgs:
    root = ET.parse(os.path.join(html, f)).getroot()
    check(root.tag == "{http://www.w3.org/2000/svg}svg", f"{f} is SVG")
page = open(os.path.join(html, "index.html"), encoding="utf-8").read() if os.path.isdir(html) else ""
check(page.count("<svg") == 3 and "STRICT" in page and "<table>" in page, "index.html inlines tables, verdicts, plots")

# a results file written by h5py, not by sweep: Bet 60's layout with two seeds and no spec
# (format kinds and text owners come from the labels). Paired random/real ratios per (seed, text):
# user a 1.6 everywhere, b 1.5 (exactly), c 1.2, 1.2, 1.2, 2.0 (median 1.2): 3 of 3 >= 1.1x, not all
# >= 1.5x, so LENIENT.
foreign = os.path.join(work, "h5py-bet60.h5")
users = ["a", "b", "c"]
texts = [f"{u}/eval-{k}" for u in users for k in (1, 2)]
random_ppl = {"a": [[160, 160], [160, 160]], "b": [[150, 150], [150, 150]], "c": [[120, 120], [120, 200]]}
st = h5py.string_dtype("utf-8")
with h5py.File(foreign, "w") as f:
    axes = {"base": ["fp"], "condition": ["real", "random"], "format": ["norm[lr=0.01]"], "train_user": users,
            "eval_text": texts}
    for k, v in axes.items():
        f.create_dataset(k, data=np.array(v, dtype=object), dtype=st).make_scale(k)
    f.create_dataset("seed", data=np.array([0, 1], dtype=np.uint64)).make_scale("seed")
    shape = (1, 2, 1, 3, 2, 6)
    ppl = np.full(shape, np.nan)
    jobs = []
    for c in range(2):
        for u, name in enumerate(users):
            for s in range(2):
                jobs.append((c, u, s))
                for k in range(2):
                    ppl[0, c, 0, u, s, 2 * u + k] = 100.0 if c == 0 else random_ppl[name][s][k]
    for metric, data in (("ppl", ppl), ("nll", np.log(ppl)), ("n_tokens", np.where(np.isnan(ppl), np.nan, 255.0))):
        ds = f.create_dataset(metric, data=data)
        for i, k in enumerate(["base", "condition", "format", "train_user", "seed", "eval_text"]):
            ds.dims[i].attach_scale(f[k])
    n = len(jobs)
    f.create_dataset("job", data=np.array([f"{i:016x}" for i in range(n)], dtype=object), dtype=st).make_scale("job")
    cols = {"job_base": ["fp"] * n, "job_condition": [axes["condition"][c] for c, _, _ in jobs],
            "job_format": ["norm[lr=0.01]"] * n, "job_train_user": [users[u] for _, u, _ in jobs],
            "status": ["ok"] * n, "host": ["h"] * n, "message": [""] * n}
    for k, v in cols.items():
        f.create_dataset(k, data=np.array(v, dtype=object), dtype=st)
    f.create_dataset("job_seed", data=np.array([s for _, _, s in jobs], dtype=np.uint64))
    for k, dt, v in (("attempts", np.int32, 1), ("rank", np.int32, 1), ("tokens", np.int64, 1600),
                     ("adapter_bytes", np.int64, 9216), ("adapter_bytes_fp16", np.int64, 4608),
                     ("seconds", np.float64, 2.0), ("final_loss", np.float64, 3.0)):
        f.create_dataset(k, data=np.full(n, v, dtype=dt))
    f.create_dataset("step", data=np.arange(1, 4, dtype=np.int32))
    f.create_dataset("loss", data=np.tile(np.array([5, 4, 3], dtype=np.float32), (n, 1)))
    for k, v in (("spec", ""), ("spec_hash", "0000000000000000"), ("protocol", "bet60"), ("tool_version", "h5py"),
                 ("created_by", "test_cli.py")):
        f.attrs[k] = v
    f.attrs.create("base_hashes", np.array(["ab"], dtype=object), dtype=st)
r = report(foreign, "--format", "json")
check(r.returncode == 0, f"h5py file: exit {r.returncode}: {r.stderr}")
if r.returncode == 0:
    doc = json.loads(r.stdout)
    got = [(v["scope"], v["verdict"], v["provisional"]) for v in doc["verdicts"]]
    check(got == [("base fp: norm[lr=0.01] real vs random", "LENIENT", False)], f"h5py file verdict {got}")
    notes = [n for s in doc["sections"] for n in s["notes"]]
    check(any("taken from the labels" in n for n in notes), "h5py file: says kinds came from labels")

# bad input: exit 2 and one line naming the file or option
with open(os.path.join(work, "text.h5"), "w") as f:
    f.write("not hdf5\n")
with h5py.File(os.path.join(work, "other.h5"), "w") as f:
    f.create_dataset("x", data=np.zeros(3))
open(os.path.join(work, "afile"), "w").close()
bet37 = os.path.join(work, "bet37.h5")
bad = [
    ([os.path.join(work, "missing.h5")], "missing.h5"),
    ([os.path.join(work, "text.h5")], "text.h5"),
    ([os.path.join(work, "other.h5")], "other.h5"),
    ([bet37, "--protocol", "bet99"], "--protocol"),
    ([bet37, "--format", "yaml"], "--format"),
    ([bet37, "--protocol"], "--protocol"),
    ([bet37, "--bogus"], "--bogus"),
    ([bet37, bet37], "one results file"),
    ([bet37, "--html", os.path.join(work, "afile", "sub")], "afile"),
    ([], "usage"),
]
for args, needle in bad:
    r = report(*args)
    lines = r.stderr.strip().splitlines()
    check(r.returncode == 2, f"{args}: exit {r.returncode}, expected 2")
    check(needle in r.stderr and (len(lines) == 1 or needle == "usage"), f"{args}: stderr {r.stderr!r}")
    check("Traceback" not in r.stderr and "HDF5-DIAG" not in r.stderr, f"{args}: no library noise")
r = report("--help")
check(r.returncode == 0 and "--protocol" in r.stdout, "--help")

print(f"test_cli: {len(failures)} failed")
sys.exit(1 if failures else 0)
