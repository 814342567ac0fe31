"""Compute precision per job, end to end on the tiny base:
- a spec listing precisions fp32 and bf16 gives the same file bit for bit at -np 1 and -np 2;
- the per-job table names each job's precision, as the format variant's label does, and its backend
  (the precision's library and this machine's CPU);
- every bf16 job's numbers differ from its fp32 twin's (the setting reached the job process), by less
  than a few percent (it only rounds the inputs of the weight products);
- `sweep run --precision bf16` on a spec that names no precision runs the jobs of the spec's bf16
  variants (same ids, same numbers bit for bit); resuming it without the flag is refused with one
  line (exit 2, the journal untouched), with the flag it has nothing left to do."""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

# bf16 rounds each product input to 8 significant bits (relative error <= 2^-8); over 30 steps on the
# tiny base the losses and perplexities move by well under 1%: 5% is "within a few percent".
TOLERANCE = 0.05

sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)
formats = {"none": {}, "norm": {"lr": 1e-2}, "lora": {"rank": 2, "alpha": 4, "lr": 1e-3}}
common = dict(users=["alba", "brisk"], seeds=1, formats=formats,
              eval={"users": "own", "slices": 1, "general": True, "tokens": 200})
c.write_spec(work, name="listed.json", train={"steps": 30, "batch": 2, "seq": 12, "precision": ["fp32", "bf16"]},
             **common)
c.write_spec(work, name="plain.json", train={"steps": 30, "batch": 2, "seq": 12}, **common)
ids = c.plan_ids(sweep, "listed.json", work)
c.log("plan: %d jobs" % len(ids))


def strings(f, name):
    return [x.decode() if isinstance(x, bytes) else x for x in f[name][:]]


outs = {}
for np_ in (1, 2):
    out = "out/np%d.h5" % np_
    r = c.run(np_, sweep, ["listed.json", "-o", out, "-q"], work)
    if c.check(r.returncode == 0, "-np %d: exit %d\n%s" % (np_, r.returncode, r.stderr[-2000:])):
        outs[np_] = os.path.join(work, out)

if len(outs) == 2:
    rc, msg = c.compare(tool, outs[1], outs[2])
    c.check(rc == 0, "-np 1 and -np 2 give identical results: %s" % msg)
    with h5py.File(outs[1], "r") as f:
        fmt, prec, user = strings(f, "job_format"), strings(f, "precision"), strings(f, "job_train_user")
        status = strings(f, "status")
        c.check(strings(f, "job") == ids and all(s == "ok" for s in status), "every planned job ran ok: %s" % status)
        c.check(all(p == fm.split("precision=")[1].rstrip("]") for fm, p in zip(fmt, prec)) and
                sorted(set(prec)) == ["bf16", "fp32"], "the precision column names each job's: %s" % list(zip(fmt, prec)))
        c.check("precision" in f.attrs["deterministic_variables"].split(), "precision is a deterministic variable")
        # what computed each job: its precision's library first, then this machine's CPU
        backend = strings(f, "backend")
        lib = [b.split(", ")[0] for b in backend]
        c.check(all(l == "openblas" for l, p in zip(lib, prec) if p == "fp32") and
                all(l in ("onednn", "openblas-emulated") for l, p in zip(lib, prec) if p == "bf16"),
                "the backend column names each job's library: %s" % sorted(set(zip(prec, backend))))
        models = [ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")]
        c.check(not models or all(b.split(", ")[1] == models[0] for b in backend),
                "the backend column names the CPU %s: %s" % (models[:1], sorted(set(backend))))
        c.check("backend" not in f.attrs["deterministic_variables"].split(), "backend is not a deterministic variable")
        loss = f["final_loss"][:]
        formats_axis = strings(f, "format")
        ppl = f["ppl"][:]
        for k in range(len(fmt)):
            if prec[k] != "bf16":
                continue
            twin = [i for i in range(len(fmt)) if prec[i] == "fp32" and user[i] == user[k] and
                    fmt[i] == fmt[k].replace("bf16", "fp32")]
            if not c.check(len(twin) == 1, "job %s has one fp32 twin" % ids[k]):
                continue
            t = twin[0]
            if not fmt[k].startswith("none"):
                rel = abs(loss[k] - loss[t]) / loss[t]
                c.check(loss[k] != loss[t] and rel < TOLERANCE,
                        "%s/%s final loss bf16 %.6f vs fp32 %.6f (%.3f%%)" % (fmt[k], user[k], loss[k], loss[t], 100 * rel))
            # the job's cells: every eval text it scored, on its own format index
            a = ppl[:, :, formats_axis.index(fmt[k])]
            b = ppl[:, :, formats_axis.index(fmt[t])]
            both = np.isfinite(a) & np.isfinite(b)
            rel = np.abs(a[both] - b[both]) / b[both]
            c.check(both.any() and (rel > 0).all() and (rel < TOLERANCE).all(),
                    "%s/%s perplexities differ from fp32 by (0, %g): %s" % (fmt[k], user[k], TOLERANCE, rel))

# the command-line flag: the jobs of the listed spec's bf16 variants, bit for bit
flag_out = os.path.join(work, "out", "flag.h5")
r = c.run(2, sweep, ["plain.json", "-o", "out/flag.h5", "--precision", "bf16", "-q"], work)
if c.check(r.returncode == 0, "--precision bf16: exit %d\n%s" % (r.returncode, r.stderr[-2000:])) and 1 in outs:
    with h5py.File(flag_out, "r") as f, h5py.File(outs[1], "r") as g:
        fid, gid = strings(f, "job"), strings(g, "job")
        c.check(set(strings(f, "precision")) == {"bf16"}, "--precision bf16: every job at bf16")
        c.check(set(fid) <= set(gid) and len(fid) == len(gid) // 2,
                "--precision bf16 gives the ids of the listed spec's bf16 jobs")
        same = all(f["final_loss"][i].tobytes() == g["final_loss"][gid.index(j)].tobytes() for i, j in enumerate(fid)
                   if j in gid)
        c.check(same, "--precision bf16 gives the bf16 variants' final losses bit for bit")

    def snapshot():
        with open(flag_out, "rb") as a, open(flag_out + ".journal", "rb") as b:
            return a.read(), b.read()

    before = snapshot()
    r = c.run(2, sweep, ["plain.json", "-o", "out/flag.h5"], work, env={"OMPI_MCA_odls_base_sigkill_timeout": "0"})
    lines = c.sweep_lines(r.stderr)
    c.check(r.returncode == 2 and len(lines) == 1 and "--precision" in lines[0] and "journal" in lines[0],
            "resuming without the flag is refused, one line (%d): %s" % (r.returncode, lines))
    c.check(snapshot() == before, "the refused run leaves the journal and the file as they were")
    r = c.run(2, sweep, ["plain.json", "-o", "out/flag.h5", "--precision", "bf16"], work)
    n = len(ids) // 2
    c.check(r.returncode == 0 and "%d jobs (%d already done)" % (n, n) in r.stderr,
            "resuming with the same flag has nothing to do: %s" % c.sweep_lines(r.stderr)[:2])

r = c.run(1, sweep, ["plain.json", "--precision", "bf61"], work)
lines = c.sweep_lines(r.stderr)
c.check(r.returncode == 2 and lines == ["sweep run: --precision: unknown precision bf61 (did you mean bf16?)"],
        "a bad --precision: exit 2, one line (%d): %s" % (r.returncode, lines))

c.finish("mpi.precision")
