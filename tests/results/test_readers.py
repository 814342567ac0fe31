"""The results file opens with h5py, pandas and xarray (engine h5netcdf) without glue.

Usage: /usr/bin/python3 test_readers.py MAKE_RESULTS WORKDIR

Runs MAKE_RESULTS (tests/results/make_results.c) to write the fixture sweep's file, then checks it
against the fixture rule, restated here from tests/results/fixture_plan.h rather than read from the
file: coordinates come back as labels, every asked cell holds its value, every other cell is NaN.
"""
import math
import os
import shutil
import struct
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pandas as pd
import xarray as xr

warnings.simplefilter("ignore", DeprecationWarning)

BASES = ["fp", "ternary"]
CONDS = ["real", "random"]
FORMATS = ["none", "norm", "lora"]
USERS = ["austen", "programmer"]
SEEDS = [0, 7]
EVALS = ["austen/eval-1", "austen/eval-2", "programmer/eval-1", "general"]
TEXT_NUMBER = {"austen/eval-1": 0, "austen/eval-2": 1, "programmer/eval-1": 2, "general": 3, "poet/eval-1": 4}
STEPS = 5

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def fnv1a64(s):
    h = 0xCBF29CE484222325
    for byte in s.encode():
        h ^= byte
        h = (h * 0x100000001B3) % (1 << 64)
    return "%016x" % h


def jobs():
    """(b, c, f, u, s, evals) in plan order, by the fixture rule."""
    out = []
    for b in range(2):
        for c in range(2):
            for f in range(3):
                for u in range(2):
                    for s in range(2):
                        if f == 0 and (c, u, s) != (0, 0, 0):
                            continue
                        if f == 2 and c != 0:
                            continue
                        own = [e for e in EVALS if e.startswith(USERS[u] + "/") or e == "general"]
                        out.append((b, c, f, u, s, EVALS if f == 0 else own))
    return out


def fnv1a64_bytes(data, h=0xCBF29CE484222325):
    for byte in data:
        h ^= byte
        h = (h * 0x100000001B3) % (1 << 64)
    return h


def backend_of(b, c, f, u, s, k):
    """make_results gives job k the timing noise 0.01 k; the fixture's CPU follows it as host does."""
    if status_of(b, c, f, u, s) == "pending":
        return ""
    return "%s, cpu%d" % ("onednn" if f == 2 else "openblas", int(0.01 * k * 7) % 3)


def param_of(b, c, f, u, s):
    """(max_param_change, max_param_tensor) by the fixture rule; None for pending."""
    st = status_of(b, c, f, u, s)
    if st == "pending":
        return None
    if f == 0 or st == "error":
        return 0.0, ""
    if st == "diverged":
        return float("nan"), "model.layers.0.mlp.down_proj.lora_A.weight"
    code = b + 10 * c + 100 * f + 1000 * u + 2 * s
    return 0.001 * (1 + code), "model.norm.weight" if f == 1 else "model.layers.1.self_attn.q_proj.lora_B.weight"


def strip_backends(src, dst, backends, keep_backend=False, tensors=None, only_param=False):
    """A journal as written before the parameter change: each result record (type 5) made a type 4
    record without its last two fields (f64 max_param_change, the tensor name: u32 length and bytes,
    given per job id by tensors); unless only_param, as written before the peak field, a type 3 record
    without the next two (u64 peak_rss_bytes, f64 started) too; and unless keep_backend, as written
    before the backend field, a type 2 record without the backend string (u32 length and bytes) too;
    lengths and checksums redone."""
    data, out, off, cut = open(src, "rb").read(), bytearray(), 0, 0
    while off < len(data):
        magic, rtype, n = struct.unpack_from("<IIQ", data, off)
        payload = data[off + 24:off + 24 + n]
        if rtype == 5:
            jid = payload[4:4 + struct.unpack_from("<I", payload, 0)[0]].decode()
            tail = tensors[jid].encode()
            tail = struct.pack("<I", len(tail)) + tail
            if not payload.endswith(tail):
                return -1
            rtype, payload = 4, payload[:-len(tail) - 8]
            if only_param:
                cut += 1
        if rtype == 4 and not only_param:
            rtype, payload = 3, payload[:-16]
            if keep_backend:
                cut += 1
        if rtype == 3 and not keep_backend:
            rtype = 2
            jid = payload[4:4 + struct.unpack_from("<I", payload, 0)[0]].decode()
            tail = backends[jid].encode()
            tail = struct.pack("<I", len(tail)) + tail
            if not payload.endswith(tail):
                return -1
            payload = payload[:-len(tail)]
            cut += 1
        head = struct.pack("<IIQ", magic, rtype, len(payload))
        out += head + struct.pack("<Q", fnv1a64_bytes(payload, fnv1a64_bytes(head))) + payload
        off += 24 + n
    open(dst, "wb").write(out)
    return cut


def read_backends(make, path):
    r = subprocess.run([make, "--backends", path], capture_output=True, text=True)
    check(r.returncode == 0, "make_results --backends %s: %s" % (path, r.stderr))
    return {line.split("\t")[0]: line.split("\t")[1] for line in r.stdout.splitlines()}


def read_peaks(make, path):
    """id -> (peak_rss_bytes, started) as h5_read_results reads them."""
    r = subprocess.run([make, "--backends", path], capture_output=True, text=True)
    check(r.returncode == 0, "make_results --backends %s: %s" % (path, r.stderr))
    return {x[0]: (int(x[2]), float(x[3])) for x in (line.split("\t") for line in r.stdout.splitlines())}


def check_backends(make, work, path, plan, ids):
    """The backend column names what computed each job; it reads back through h5_read_results, also
    from journals and files written before it existed, and h5_compare_results ignores it."""
    want = {jid: backend_of(*j[:5], k) for k, (j, jid) in enumerate(zip(plan, ids))}
    tensors = {jid: (param_of(*j[:5]) or (0, ""))[1] for j, jid in zip(plan, ids)}
    with h5py.File(path, "r") as f:
        col = [x.decode() for x in f["backend"][()]]
        check(f["backend"].dims[0][0].name == "/job", "backend is a column over job")
    check(col == [want[j] for j in ids], "backend column: %s" % col)
    check(read_backends(make, path) == want, "h5_read_results reads the backend column")

    # a journal from before the field: every result record still reads, with backend ""
    old = os.path.join(work, "old-journal.h5")
    n = strip_backends(path + ".journal", old + ".journal", want, tensors=tensors)
    check(n == len(plan) - 1, "stripped the backend of %d records, want %d" % (n, len(plan) - 1))
    r = subprocess.run([make, "--rebuild", old], capture_output=True, text=True)
    check(r.returncode == 0, "a journal without backends rebuilds: %s" % r.stderr)
    check(set(read_backends(make, old).values()) == {""}, "records without the field give backend \"\"")
    # the largest parameter change is compared: a journal from before it differs there, and only there
    noparam = os.path.join(work, "noparam-journal.h5")
    n = strip_backends(path + ".journal", noparam + ".journal", want, tensors=tensors, only_param=True)
    check(n == len(plan) - 1, "stripped the parameter change of %d records, want %d" % (n, len(plan) - 1))
    r = subprocess.run([make, "--rebuild", noparam], capture_output=True, text=True)
    check(r.returncode == 0, "a journal without parameter changes (type 4 records) rebuilds: %s" % r.stderr)
    with h5py.File(noparam, "r") as f:
        check(all(math.isnan(x) for x in f["max_param_change"][:]) and
              set(x.decode() for x in f["max_param_tensor"][:]) == {""},
              "records without the field give max_param_change NaN and tensor \"\" (not recorded)")
    r = subprocess.run([make, "--compare", path, noparam], capture_output=True, text=True)
    check(r.returncode == 1 and "max_param_change" in r.stdout + r.stderr,
          "max_param_change is compared: %s%s" % (r.stdout, r.stderr))
    r = subprocess.run([make, "--compare", noparam, old], capture_output=True, text=True)
    check(r.returncode == 0, "backends are not compared, everything else is equal: %s%s" % (r.stdout, r.stderr))

    # the largest parameter change: a float64 and a string column over job, by the fixture rule
    with h5py.File(path, "r") as f:
        mc, mt = list(f["max_param_change"][:]), [x.decode() for x in f["max_param_tensor"][:]]
        check(f["max_param_change"].dims[0][0].name == "/job" and f["max_param_tensor"].dims[0][0].name == "/job",
              "max_param_change and max_param_tensor are columns over job")
        check("max_param_change" in f.attrs["deterministic_variables"].split(), "max_param_change is deterministic")
    rule = [param_of(*j[:5]) or (float("nan"), "") for j in plan]
    check(all((math.isnan(a) and math.isnan(w[0])) or a == w[0] for a, w in zip(mc, rule)),
          "max_param_change column: %s" % mc[:6])
    check(mt == [w[1] for w in rule], "max_param_tensor column: %s" % mt[:6])

    # peaks and start times: written per job, read back, absent (0) in records from before them
    with h5py.File(path, "r") as f:
        peak, started = list(f["peak_rss_bytes"][:]), list(f["started"][:])
    done = [k for k, j in enumerate(plan) if status_of(*j[:5]) != "pending"]
    check([peak[k] for k in done] == [(k + 1) << 20 for k in done] and
          all(peak[k] == 0 and math.isnan(started[k]) for k in range(len(plan)) if k not in done),
          "peak_rss_bytes column: (k + 1) MiB per job, 0 pending: %s" % peak)
    check(all(abs(started[k] - (1.7e9 + k + 0.01 * k)) < 1e-3 for k in done), "started column: %s" % started[:4])
    back = read_peaks(make, path)
    check(all(back[ids[k]][0] == peak[k] for k in range(len(plan))), "h5_read_results reads peak_rss_bytes")
    mid = os.path.join(work, "mid-journal.h5")
    n = strip_backends(path + ".journal", mid + ".journal", want, keep_backend=True, tensors=tensors)
    check(n == len(plan) - 1, "stripped the peak of %d records, want %d" % (n, len(plan) - 1))
    r = subprocess.run([make, "--rebuild", mid], capture_output=True, text=True)
    check(r.returncode == 0, "a journal without peaks rebuilds: %s" % r.stderr)
    check(read_backends(make, mid) == want, "records without the peak keep their backend")
    check({p for p, _ in read_peaks(make, mid).values()} == {0}, "records without the field give peak 0")

    # a file from before the column
    stripped = os.path.join(work, "old-file.h5")
    shutil.copyfile(path, stripped)
    with h5py.File(stripped, "r+") as f:
        del f["backend"]
    check(set(read_backends(make, stripped).values()) == {""}, "a file without the column reads backend \"\"")


def job_id(b, c, f, u, s):
    return fnv1a64("%s|%s|%s|%s|%d" % (BASES[b], CONDS[c], FORMATS[f], USERS[u], SEEDS[s]))


def status_of(b, c, f, u, s):
    if (b, c, f, u, s) == (1, 1, 1, 1, 1):
        return "pending"
    if (b, c, f, u, s) == (1, 0, 2, 1, 1):
        return "diverged"
    if (b, c, f, u, s) == (0, 1, 1, 0, 0):
        return "error"
    return "ok"


def ppl_of(b, c, f, u, s, text):
    return 1 + b + 10 * c + 100 * f + 1000 * u + 0.5 * s + 0.01 * TEXT_NUMBER[text]


VARIANTS = ["identity", "int8", "noise=0.1"]


def check_variants(make, work, plain):
    """eval.variants: the variant is a dimension of the metrics with its own coordinate; the identity
    equals /ppl, variant v is the identity + 0.001 v (make_results --variants), NaN where /ppl is; the
    bytes are a (job, variant) table; and everything the file without variants has is unchanged."""
    path = os.path.join(work, "variants.h5")
    subprocess.run([make, "--variants", path], check=True)
    ds = xr.open_dataset(path, engine="h5netcdf")
    dims = ("base", "condition", "format", "train_user", "seed", "eval_text", "variant")
    check("variant" in ds.coords and list(ds["variant"].values) == VARIANTS,
          "variant coordinate: %s" % (ds["variant"].values if "variant" in ds.coords else "missing"))
    for name in ("variant_ppl", "variant_nll", "variant_n_tokens"):
        check(name in ds and ds[name].dims == dims, "%s dims %s" % (name, ds[name].dims if name in ds else "missing"))
    ppl, vp = ds["ppl"].values, ds["variant_ppl"].values
    check(np.array_equal(vp[..., 0], ppl, equal_nan=True), "variant identity equals ppl")
    for v in range(1, len(VARIANTS)):
        sel = ds["variant_ppl"].sel(variant=VARIANTS[v]).values
        check(np.array_equal(np.isnan(sel), np.isnan(ppl)), "variant %s: cells where ppl has them" % VARIANTS[v])
        ok = ~np.isnan(ppl)
        check(ok.any() and np.array_equal(sel[ok], ppl[ok] + 0.001 * v), "variant %s values" % VARIANTS[v])
        check(np.array_equal(ds["variant_n_tokens"].values[..., v], ds["n_tokens"].values, equal_nan=True),
              "variant %s n_tokens" % VARIANTS[v])
        check(np.allclose(ds["variant_nll"].values[..., v][ok], np.log(sel[ok])), "variant %s nll" % VARIANTS[v])
    b = ds["variant_adapter_bytes"]
    check(b.dims == ("job", "variant"), "variant_adapter_bytes dims %s" % (b.dims,))
    fmt = [FORMATS.index(x) for x in ds["job_format"].values]
    status = list(ds["status"].values)
    want = np.array([[int(ds["adapter_bytes"].values[k]) if status[k] == "ok" else 0] +
                     [1000 * v + fmt[k] if status[k] == "ok" else 0 for v in range(1, len(VARIANTS))]
                     for k in range(len(fmt))])
    check(np.array_equal(b.values, want), "variant_adapter_bytes: %s, want %s" % (b.values.tolist(), want.tolist()))
    # every dataset of the plain file is in this one, with the same values
    with h5py.File(plain, "r") as a, h5py.File(path, "r") as f:
        for name in a:
            if isinstance(a[name], h5py.Dataset) and name not in ("backend", "host", "message"):
                x, y = a[name][()], f[name][()]
                same = np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" else np.array_equal(x, y)
                check(same, "dataset %s differs with variants" % name)


def main():
    make, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "fixture.h5")
    subprocess.run([make, path], check=True)
    check(not os.path.exists(path + ".tmp"), "a .tmp file was left behind")
    plan = jobs()
    ids = [job_id(*j[:5]) for j in plan]

    # --- xarray, root group, engine h5netcdf
    ds = xr.open_dataset(path, engine="h5netcdf")
    for name, labels in [("base", BASES), ("condition", CONDS), ("format", FORMATS), ("train_user", USERS),
                         ("eval_text", EVALS)]:
        check(name in ds.coords and list(ds[name].values) == labels, "xarray coordinate %s: %s" % (name, ds[name].values if name in ds.coords else "missing"))
        check(all(isinstance(v, str) for v in ds[name].values), "coordinate %s labels are not str" % name)
    check(list(ds["seed"].values) == SEEDS, "seed coordinate %s" % ds["seed"].values)
    check(list(ds["job"].values) == ids, "job coordinate is not the job ids in plan order")
    check(ds["ppl"].dims == ("base", "condition", "format", "train_user", "seed", "eval_text"), "ppl dims %s" % (ds["ppl"].dims,))
    check("adapters" not in ds.variables, "adapters leaked into the root view")

    asked = set()
    bad = 0
    for (b, c, f, u, s, evals) in plan:
        if status_of(b, c, f, u, s) != "ok":
            continue
        for e in evals:
            asked.add((b, c, f, u, s, EVALS.index(e)))
            sel = dict(base=BASES[b], condition=CONDS[c], format=FORMATS[f], train_user=USERS[u], seed=SEEDS[s], eval_text=e)
            want = ppl_of(b, c, f, u, s, e)
            p = float(ds["ppl"].sel(**sel))
            n = float(ds["nll"].sel(**sel))
            t = float(ds["n_tokens"].sel(**sel))
            if p != want or n != math.log(want) or t != 100 + 10 * TEXT_NUMBER[e]:
                bad += 1
    check(bad == 0, "%d asked cells have the wrong value" % bad)
    ppl = ds["ppl"].values
    nan_ok = all(math.isnan(ppl[idx]) == (idx not in asked) for idx in np.ndindex(ppl.shape))
    check(nan_ok, "NaN exactly where no cell was asked or recorded")
    check(int(np.isfinite(ppl).sum()) == len(asked), "finite cells %d, asked %d" % (np.isfinite(ppl).sum(), len(asked)))
    # a researcher's one-liner: norm against none on the fp base, real condition, seed 0, austen's text
    ratio = ds["ppl"].sel(base="fp", condition="real", seed=0, train_user="austen", eval_text="austen/eval-1")
    check(float(ratio.sel(format="norm") / ratio.sel(format="none")) == ppl_of(0, 0, 1, 0, 0, "austen/eval-1") / ppl_of(0, 0, 0, 0, 0, "austen/eval-1"),
          "selection by labels")

    # loss curves over (job, step), NaN padded
    check(ds["loss"].dims == ("job", "step") and list(ds["step"].values) == list(range(1, STEPS + 1)), "loss dims")
    curves_ok = True
    for (b, c, f, u, s, _), jid in zip(plan, ids):
        row = ds["loss"].sel(job=jid).values
        st = status_of(b, c, f, u, s)
        n = 0 if f == 0 or st in ("error", "pending") else 3 if st == "diverged" else STEPS
        code = b + 10 * c + 100 * f + 1000 * u + 2 * s
        want = [np.float32(3 + 0.001 * code - 0.25 * k) for k in range(n)]
        curves_ok &= list(row[:n]) == want and bool(np.all(np.isnan(row[n:])))
    check(curves_ok, "loss curves")

    # --- pandas: the job table, from xarray and from h5py columns
    cols = ["job_base", "job_condition", "job_format", "job_train_user", "job_seed", "status", "attempts", "seconds",
            "tokens", "final_loss", "adapter_bytes", "adapter_bytes_fp16", "rank", "host", "message"]
    df = ds[cols].to_dataframe()
    check(len(df) == len(plan) and list(df.index) == ids, "job table rows")
    want_status = [status_of(*j[:5]) for j in plan]
    check(list(df["status"]) == want_status, "statuses %s" % list(df["status"]))
    check(list(df["job_format"]) == [FORMATS[j[2]] for j in plan], "job_format column")
    check(list(df["job_seed"]) == [SEEDS[j[4]] for j in plan], "job_seed column")
    check(list(ds["precision"].values) == ["bf16" if j[2] == 2 else "fp32" for j in plan],
          "precision column (the fixture's lora is bf16)")
    check(df.loc[df.status == "error", "attempts"].tolist() == [2], "attempts of the failed job")
    check(df.loc[df.status == "error", "message"].tolist() == ["injected error in caf\u00e9 ?"],
          "message (UTF-8 kept, the invalid byte replaced): %s" % df.loc[df.status == "error", "message"].tolist())
    check(math.isnan(df.loc[df.status == "pending", "seconds"].iloc[0]), "pending job's seconds are NaN")
    check(df.loc[df.job_format == "norm", "adapter_bytes"].max() == 48, "norm adapter bytes")
    summary = df.groupby("status").size().to_dict()
    check(summary == {"ok": len(plan) - 3, "diverged": 1, "error": 1, "pending": 1}, "status counts %s" % summary)
    ds.close()

    with h5py.File(path, "r") as f:
        frame = pd.DataFrame({c: f[c][()] for c in cols})
        check(len(frame) == len(plan), "pandas from h5py columns")
        check([s.decode() for s in frame["status"]] == want_status, "h5py status column")
        # --- h5py: dimension scales, attributes, adapters
        check([f["ppl"].dims[i][0].name for i in range(6)] ==
              ["/base", "/condition", "/format", "/train_user", "/seed", "/eval_text"], "ppl dimension scales")
        check(f.attrs["spec_hash"] == fnv1a64('{"fixture": true, "users": 2}'), "spec_hash attribute")
        check(list(f.attrs["base_hashes"]) == ["00112233aabbccdd", "ffeeddccbbaa9988"], "base_hashes attribute")
        check(f.attrs["protocol"] == "custom" and f.attrs["created_by"] == "make_results", "root attributes")
        check(str(f.attrs["tool_version"]).startswith("0."), "tool_version %s" % f.attrs["tool_version"])
        kept = 0
        for (b, c, fm, u, s, _), jid in zip(plan, ids):
            has = jid in f["adapters"]
            expect = fm > 0 and status_of(b, c, fm, u, s) == "ok"
            check(has == expect, "adapter of %s present: %s" % (jid, has))
            if has:
                a = f["adapters"][jid]
                code = b + 10 * c + 100 * fm + 1000 * u + 2 * s
                n = 12 if fm == 1 else 40
                check(list(a.attrs["shape"]) == ([3, 4] if fm == 1 else [40]), "adapter shape")
                check(a.attrs["format"] == FORMATS[fm], "adapter format attribute")
                check(np.array_equal(a[()], np.array([i / 2 + code for i in range(n)], dtype=np.float32)), "adapter values")
                kept += 1
        check(kept > 0, "no adapters kept")

    check_backends(make, work, path, plan, ids)
    check(not any(k.startswith("variant") for k in ds.variables), "a spec without eval.variants writes no variant datasets")
    check_variants(make, work, path)

    print("test_readers: %d failed" % len(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
