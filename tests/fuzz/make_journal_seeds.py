"""Seeds for fuzz_journal (and fuzz_runstate) made by a real small run, not by hand.

  /usr/bin/python3 tests/fuzz/make_journal_seeds.py SWEEP RESULTS_TOOL OUTDIR WORKDIR   writes the seeds
  /usr/bin/python3 tests/fuzz/make_journal_seeds.py --check RESULTS_TOOL DIR            checks committed ones

Two tiny sweeps on the tiny base tests/mpi/common.py builds: one with eval.variants (int8, noise: cells
labelled EVAL@VARIANT and the @VARIANT bytes cells), one with eval.combos (combination jobs with their
mean adapters; over all users and over a named group) where one input job is made to fail
(SWEEP_TEST_FAULT), so the combinations over all users are recorded failed with a message naming it. From each journal (result records written as type 5, results/journal.h)
come, derived by dropping the trailing fields each older type lacks and re-framing with a fresh
checksum: the same journal with every result record as type 4 (no parameter change), 3 (no peak or
start time) and 2 (no backend); a torn copy (the last record cut in half); and single type-5 result
payloads, the input result_decode reads (every result record's: trained, variant, failed and
combination jobs). The run
state file of each sweep seeds fuzz_runstate. Every journal written is read back with journal_parse
(results_tool journal), which must find the same jobs.

OUTDIR/journal/*.journal, *.payload and OUTDIR/runstate/*.state; scripts/test.sh copies tests/fuzz/seeds
into the corpora. --check: the journals parse, hold record types 2 to 5, variant cells and failed records.
"""
import os
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
import common as c  # noqa: E402

MAGIC = b"SWJR"
HEADER, RESULT_PARAM = 1, 5


def fnv1a64(data, h=0xcbf29ce484222325):
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def records(buf):
    """(type, payload) of each well-formed record (results/journal.h framing)."""
    out, off = [], 0
    while off + 24 <= len(buf):
        magic, typ, n, _ = struct.unpack_from("<4sIQQ", buf, off)
        if magic != MAGIC or off + 24 + n > len(buf):
            break
        out.append((typ, buf[off + 24:off + 24 + n]))
        off += 24 + n
    return out


def frame(typ, payload):
    head = MAGIC + struct.pack("<IQ", typ, len(payload))
    return head + struct.pack("<Q", fnv1a64(payload, fnv1a64(head))) + payload


def drop_str(p):
    """p without its trailing length-prefixed string (u32 n, n bytes without a NUL: the smallest n that fits)."""
    for n in range(0, min(len(p) - 4, 4096) + 1):
        if struct.unpack_from("<I", p, len(p) - n - 4)[0] == n and b"\0" not in p[len(p) - n:]:
            return p[:len(p) - n - 4]
    raise SystemExit("make_journal_seeds: no trailing string in a record")


def older(payload, typ):
    """A type-5 result payload as a record of type typ (4, 3 or 2) holds it."""
    p = drop_str(payload)[:-8]          # 4: no tensor name, no change (f64)
    if typ <= 3:
        p = p[:-16]                     # 3: no peak (u64), no start time (f64)
    if typ <= 2:
        p = drop_str(p)                 # 2: no backend
    return p


def journal_jobs(tool, path):
    r = subprocess.run([tool, "journal", path], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SystemExit("results_tool journal %s: %s" % (path, r.stderr.strip()))
    return r.stdout.splitlines()[-1].split()[3]   # distinct job ids


def check(tool, d):
    jd = os.path.join(d, "journal")
    types, variant_cells, failed = set(), False, False
    for name in sorted(os.listdir(jd)):
        p = os.path.join(jd, name)
        buf = open(p, "rb").read()
        if name.endswith(".journal"):
            journal_jobs(tool, p)   # parses (a torn tail is no error)
            for typ, payload in records(buf):
                types.add(typ)
                variant_cells |= typ == RESULT_PARAM and b"@int8" in payload
                failed |= typ == RESULT_PARAM and b"SWEEP_TEST_FAULT" in payload
    want = {1, 2, 3, 4, 5}
    ok = want <= types and variant_cells and failed and os.listdir(os.path.join(d, "runstate"))
    print("fuzz seeds in %s: record types %s, variant cells %s, failed records %s: %s" %
          (d, sorted(types), variant_cells, failed, "ok" if ok else "MISSING"))
    return 0 if ok else 1


def main():
    if sys.argv[1] == "--check":
        return check(sys.argv[2], sys.argv[3])
    sweep, tool, outdir, work = (os.path.abspath(a) for a in sys.argv[1:5])
    c.make_world(sweep, work)
    train = {"steps": 4, "batch": 2, "seq": 12}
    ev = {"users": "own", "slices": 1, "general": False, "tokens": 40}
    c.write_spec(work, name="variants.json", users=["alba", "brisk"], formats={"none": {}, "norm": {"lr": 1e-2}},
                 train=train, seeds=1, eval=dict(ev, variants=["int8", {"noise": [0.1]}]))
    c.write_spec(work, name="combos.json", formats={"norm": {"lr": 1e-2}}, train=train, seeds=1,
                 eval=dict(ev, combos=[{"average": "norm"},
                                       {"average": "norm", "groups": {"bc": ["brisk", "corvo"]}, "label": "norm+bc"}]),
                 max_attempts=1)
    ids = c.plan_ids(sweep, os.path.join(work, "combos.json"), work)
    fault = {"SWEEP_TEST_FAULT": "error:" + ids[0]}   # alba's norm job: the "all" combinations fail, bc's run
    jdir, sdir = os.path.join(outdir, "journal"), os.path.join(outdir, "runstate")
    for d in (jdir, sdir):
        os.makedirs(d, exist_ok=True)
    for name, env in (("variants", None), ("combos", fault)):
        out = "out-%s/results.h5" % name
        r = c.run(1, sweep, ["%s.json" % name, "-o", out, "-q"], work, env=env)
        if name == "variants" and r.returncode != 0:
            raise SystemExit("sweep run %s: exit %d\n%s" % (name, r.returncode, r.stderr[-2000:]))
        src = os.path.join(work, out + ".journal")
        buf = open(src, "rb").read()
        recs = records(buf)
        jobs = journal_jobs(tool, src)
        written = {}
        written["%s.journal" % name] = buf
        for typ in (4, 3, 2):
            written["%s-type%d.journal" % (name, typ)] = b"".join(
                frame(typ, older(p, typ)) if t == RESULT_PARAM else frame(t, p) for t, p in recs)
        last = len(frame(*recs[-1]))
        written["%s-torn.journal" % name] = buf[:len(buf) - last // 2]
        # every result payload: trained, variant, failed and combination jobs' records
        for k, p in enumerate(p for t, p in recs if t == RESULT_PARAM):
            written["%s-result%d.payload" % (name, k)] = p
        for fn, data in written.items():
            path = os.path.join(jdir, fn)
            with open(path, "wb") as f:
                f.write(data)
            if fn.endswith(".journal") and "torn" not in fn and journal_jobs(tool, path) != jobs:
                raise SystemExit("%s: journal_parse finds other jobs than in %s" % (path, src))
        shutil.copy(os.path.join(work, out + ".state"), os.path.join(sdir, "%s.state" % name))
    return check(tool, outdir)


if __name__ == "__main__":
    sys.exit(main())
