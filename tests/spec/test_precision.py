"""The spec field `precision` through `sweep plan --json`: its default, a value in `train` (which
reaches `none`), a format's own value over train's, a list (an axis), `--precision` in place of the
spec's default, and the job ids: a job at bf16 is another job than at fp32, while writing fp32 out, or
getting bf16 from the command line rather than the spec, changes nothing. Bad values are
tests/spec/precision_*.json (run.sh).

usage: /usr/bin/python3 test_precision.py SWEEP TEST_SPEC"""
import json
import os
import subprocess
import sys

import spectest

sweep, test_spec = sys.argv[1:3]
work = spectest.fixtures(test_spec, "spec_precision.")
check = spectest.Checks()


def plan(name, formats, train=None, extra=()):
    spec = {"bases": {"fp": "base.sweep"}, "tokenizer": "tok.bpe", "data": "data", "users": ["alice", "bob"],
            "formats": formats, "train": dict({"steps": 10}, **(train or {}))}
    with open(os.path.join(work, name + ".json"), "w") as f:
        json.dump(spec, f)
    r = subprocess.run([sweep, "plan", name + ".json", "--json"] + list(extra), cwd=work, capture_output=True,
                       text=True)
    if r.returncode != 0:
        check.fail("%s: exit %d: %s" % (name, r.returncode, r.stderr.strip()))
        return None
    return json.loads(r.stdout)


def by_format(p):
    """{format label: ([job ids], {precisions of its jobs}, the format axis entry's precision)}"""
    out = {}
    fmt = {f["label"]: f["precision"] for f in p["formats"]}
    for j in p["jobs"]:
        ids, precs, _ = out.setdefault(j["format"], ([], set(), fmt[j["format"]]))
        ids.append(j["id"])
        precs.add(j["precision"])
    return out


formats = {"none": {}, "norm": {"lr": 1e-2}, "lora": {"rank": 2}}
default = plan("default", formats)
explicit = plan("explicit", formats, {"precision": "fp32"})
bf16 = plan("bf16", formats, {"precision": "bf16"})
own = plan("own", dict(formats, norm={"lr": 1e-2, "precision": "bf16"}))
listed = plan("listed", formats, {"precision": ["fp32", "bf16"]})
flag = plan("flag", formats, extra=["--precision", "bf16"])
flag_own = plan("flag_own", dict(formats, norm={"lr": 1e-2, "precision": "fp32"}), extra=["--precision", "bf16"])
flag_fp32 = plan("flag_fp32", formats, {"precision": "int8"}, extra=["--precision", "fp32"])
dnnl = plan("dnnl", formats, {"precision": "fp32-dnnl"})

if all([default, explicit, bf16, own, listed, flag, flag_own, flag_fp32, dnnl]):
    d, b, o = by_format(default), by_format(bf16), by_format(own)
    check(all(v[1] == {"fp32"} and v[2] == "fp32" for v in d.values()), "default: every job and format at fp32: %s" % d)
    check([j["id"] for j in explicit["jobs"]] == [j["id"] for j in default["jobs"]],
          "writing \"precision\": \"fp32\" changes no id")
    check(all(v[1] == {"bf16"} and v[2] == "bf16" for v in b.values()),
          "train.precision bf16 reaches every format, none included: %s" % b)
    check(all(not set(b[f][0]) & set(d[f][0]) for f in d), "every job at bf16 has another id than at fp32")
    check(o["norm"][1] == {"bf16"} and o["lora"][1] == {"fp32"} and o["none"][1] == {"fp32"},
          "a format's own precision: norm bf16, the others fp32: %s" % o)
    check(o["norm"][0] == b["norm"][0] and o["lora"][0] == d["lora"][0] and o["none"][0] == d["none"][0],
          "a format's own precision moves its ids only")
    ll = by_format(listed)
    want = ["none[precision=fp32]", "none[precision=bf16]", "norm[precision=fp32]", "norm[precision=bf16]",
            "lora[precision=fp32]", "lora[precision=bf16]"]
    check([f["label"] for f in listed["formats"]] == want, "a list is an axis: %s" % [f["label"] for f in listed["formats"]])
    check(all(ll["%s[precision=%s]" % (f, p)][0] == (d if p == "fp32" else b)[f][0] for f in d for p in ("fp32", "bf16")),
          "listed variants have the ids of the same precision given as a scalar")
    check([j["id"] for j in flag["jobs"]] == [j["id"] for j in bf16["jobs"]],
          "--precision bf16 gives the jobs of train.precision bf16")
    fo = by_format(flag_own)
    check(fo["norm"][1] == {"fp32"} and fo["norm"][0] == d["norm"][0] and fo["lora"][0] == b["lora"][0] and
          fo["none"][0] == b["none"][0], "--precision replaces the default only: a format naming fp32 keeps it")
    check([j["id"] for j in flag_fp32["jobs"]] == [j["id"] for j in default["jobs"]],
          "--precision fp32 replaces train.precision int8")
    dn = by_format(dnnl)
    check(all(v[1] == {"fp32-dnnl"} for v in dn.values()) and all(not set(dn[f][0]) & set(d[f][0]) for f in d),
          "fp32-dnnl is allowed and is other jobs than fp32")

# the text output names each job's precision and each format's
r = subprocess.run([sweep, "plan", "own.json"], cwd=work, capture_output=True, text=True)
lines = r.stdout.splitlines()
fmt_line = [l for l in lines if l.strip().startswith("format ")]
check(r.returncode == 0 and fmt_line and "norm (bf16)" in fmt_line[0] and "lora (fp32)" in fmt_line[0],
      "text: the format axis shows precisions: %s" % fmt_line)
header = [l for l in lines if l.startswith("id ")]
col = header[0].split().index("precision") if header and "precision" in header[0].split() else -1
rows = [l.split() for l in lines if own and any(l.startswith(j["id"]) for j in own["jobs"])]
check(col > 0 and len(rows) == len(own["jobs"]) and
      [row[col] for row in rows] == [j["precision"] for j in own["jobs"]], "text: a precision column per job")

# a bad --precision: exit 2, one line with the nearest name, nothing on stdout
r = subprocess.run([sweep, "plan", "default.json", "--precision", "bf61"], cwd=work, capture_output=True, text=True)
check(r.returncode == 2 and r.stdout == "" and
      r.stderr == "sweep plan: --precision: unknown precision bf61 (did you mean bf16?)\n",
      "bad --precision: %d %r" % (r.returncode, r.stderr))
r = subprocess.run([sweep, "plan", "default.json", "--precision"], cwd=work, capture_output=True, text=True)
check(r.returncode == 2 and len(r.stderr.splitlines()) == 1, "--precision without a value: %r" % r.stderr)

subprocess.run(["rm", "-rf", work])
check.finish("spec_precision")
