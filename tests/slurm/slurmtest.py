"""Shared pieces of the Slurm tests (tests/slurm/test_*.py): a running single-node Slurm, sbatch and
waiting on jobs, and reading what a sweep left behind (journal, HDF5 file) with the standard library
and h5py.

Usage of each test: /usr/bin/python3 test_X.py SWEEP SWEEP_RANKCHECK WORKDIR
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time

import h5py
import numpy as np

import world

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLURM_DIR = os.path.join(REPO, "slurm")

failures = []
passes = [0]


def check(cond, what):
    if cond:
        passes[0] += 1
    else:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr, flush=True)
    return cond


def finish(name):
    print("%s: %d passed, %d failed" % (name, passes[0], len(failures)), flush=True)
    sys.exit(1 if failures else 0)


def log(*a):
    print(*a, flush=True)


def setup(argv):
    """Parses the arguments, starts Slurm, makes WORKDIR empty; returns (sweep, rankcheck, workdir, env)."""
    if len(argv) != 4:
        raise SystemExit("usage: test_X.py SWEEP SWEEP_RANKCHECK WORKDIR")
    sweep, rankcheck, work = (os.path.abspath(a) for a in argv[1:])
    r = subprocess.run(["bash", os.path.join(REPO, "scripts", "start-slurm.sh")], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr, file=sys.stderr)
        raise SystemExit("cannot start Slurm (scripts/start-slurm.sh; needs root)")
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    # sbatch passes the submitting environment to the job (--export=ALL, the default).
    env = dict(os.environ, SWEEP=sweep, SWEEP_RANKCHECK=rankcheck, OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    for k in list(env):
        if k.startswith("SLURM_") or k.startswith("SWEEP_LAUNCH"):
            del env[k]
    return sweep, rankcheck, work, env


def make_world(sweep, root, env, seeds, steps):
    world.make_data(root)
    world.make_base(sweep, root, env)
    os.makedirs(os.path.join(root, "out"), exist_ok=True)
    return world.write_spec(root, seeds, steps)


def steps_for(sweep, root, env, seconds):
    """Training steps that make one job of world.write_spec's sweep take about SECONDS on this machine
    now (the machine is shared: sized by the clock, not by a constant). After make_world: one 400-step
    norm job in ROOT/calibrate, timed by its own seconds column (training and evaluation)."""
    spec = json.load(open(os.path.join(root, "spec.json")))
    spec.update(users=spec["users"][:1], formats={"norm": spec["formats"]["norm"]}, seeds=1,
                train=dict(spec["train"], steps=400), output="calibrate/results.h5")
    path = os.path.join(root, "calibrate.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    r = subprocess.run([sweep, "run", path, "-q"], cwd=root, env=env, capture_output=True, text=True, timeout=240)
    if r.returncode != 0:
        raise SystemExit("calibration run failed: %s" % r.stderr[-1000:])
    with h5py.File(os.path.join(root, "calibrate", "results.h5"), "r") as f:
        per_step = max(float(f["seconds"][0]) / 400, 1e-6)
    return max(50, min(50000, int(seconds / per_step)))


# ---------------------------------------------------------------------------------------------------
# Slurm jobs

def sbatch(script, args, cwd, env, options=()):
    """Submits slurm/SCRIPT with ARGS from CWD; the job's log is CWD/log-JOBID.out. Returns the job id."""
    cmd = ["sbatch", "--parsable", "--output=log-%j.out", "--time=10"] + list(options) + \
          [os.path.join(SLURM_DIR, script)] + list(args)
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SystemExit("sbatch failed: %s %s" % (r.stdout, r.stderr))
    job = r.stdout.strip().split(";")[0]
    log("submitted job %s: %s" % (job, " ".join(cmd[1:])))
    return job


def job_info(job):
    """scontrol show job as a dict (JobState, Restarts, ExitCode, ...); {} when Slurm no longer knows it."""
    r = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return {}
    info = {}
    for field in r.stdout.split():
        if "=" in field:
            k, v = field.split("=", 1)
            info.setdefault(k, v)
    return info


FINAL_STATES = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
                "DEADLINE", "PREEMPTED")


def wait_job(job, timeout, until=None):
    """Polls the job until it ends (or until(info) is true); cancels it at the timeout. Returns the info."""
    t0 = time.time()
    last = None
    while True:
        info = job_info(job)
        state = info.get("JobState", "?")
        seen = (state, info.get("Restarts"))
        if seen != last:
            log("%6.1f s: job %s %s, restarts %s" % (time.time() - t0, job, state, info.get("Restarts")))
            last = seen
        if until and until(info):
            return info
        if state in FINAL_STATES:
            return info
        if time.time() - t0 > timeout:
            subprocess.run(["scancel", job])
            check(False, "job %s did not end within %d s (state %s); cancelled" % (job, timeout, state))
            return info
        time.sleep(0.25)


def job_log(cwd, job):
    try:
        with open(os.path.join(cwd, "log-%s.out" % job), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def check_no_script_errors(text, what):
    """bash reports its own errors in a script as 'FILE: line N: ...'."""
    errors = [l for l in text.splitlines() if re.search(r"(sweep-job\.sh|\.sbatch|slurm_script): line \d+:", l)]
    check(not errors, "%s: no errors from the scripts themselves: %s" % (what, errors))


# ---------------------------------------------------------------------------------------------------
# What a sweep leaves behind

def journal_ids(path):
    """Job ids of the result records of a journal, in order, repeats kept. Framing from results/journal.h:
    u32 magic "SWJR" | u32 type | u64 payload length | u64 checksum | payload; a result payload starts
    with the job id as u32 length + bytes. A torn final record is ignored, as the reader does."""
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except FileNotFoundError:
        return []
    ids, off = [], 0
    while off + 24 <= len(buf):
        magic, rtype, n = struct.unpack_from("<4sIQ", buf, off)
        if magic != b"SWJR" or off + 24 + n > len(buf):
            break
        if 2 <= rtype <= 5:   # results: 5 adds the largest parameter change to 4, 4 peak and start to 3, 3 the backend to 2
            (k,) = struct.unpack_from("<I", buf, off + 24)
            ids.append(buf[off + 28:off + 28 + k].decode())
        off += 24 + n
    return ids


def expected_jobs(seeds):
    """(format, user, seed) of every job of world.write_spec: `none` once, then norm and lora per user and seed."""
    users = sorted(world.USERS)
    jobs = [("none", users[0], 0)]
    for fmt in ("norm", "lora"):
        for u in users:
            for s in range(seeds):
                jobs.append((fmt, u, s))
    return jobs


def text(values):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def check_results(path, spec_path, seeds):
    """The results file of world.write_spec's sweep: every job present once and ok, each with a cell on
    every eval text, NaN everywhere else, ppl = exp(nll)."""
    if not check(os.path.exists(path), "results file %s exists" % path):
        return
    with h5py.File(path, "r") as f:
        want = expected_jobs(seeds)
        ids = text(f["job"][:])
        check(len(ids) == len(want) and len(set(ids)) == len(ids),
              "%d distinct job ids (got %d, %d distinct)" % (len(want), len(ids), len(set(ids))))
        got = sorted(zip(text(f["job_format"][:]), text(f["job_train_user"][:]), [int(s) for s in f["job_seed"][:]]))
        check(got == sorted(want), "the jobs are the spec's (format, user, seed): got %s" % got)
        status = text(f["status"][:])
        check(status == ["ok"] * len(want), "every job ok: %s" % status)
        with open(spec_path) as s:
            check(f.attrs["spec"] == s.read(), "the file carries the spec text")
        evals = text(f["eval_text"][:])
        users = sorted(world.USERS)
        check(evals == ["%s/eval-%d" % (u, k) for u in users for k in (1, 2)] + ["general"],
              "eval texts: %s" % evals)
        ppl, nll = f["ppl"][:], f["nll"][:]
        formats, train_users = text(f["format"][:]), text(f["train_user"][:])
        seeds_axis = [int(s) for s in f["seed"][:]]
        finite = np.isfinite(ppl)
        check(int(finite.sum()) == len(want) * len(evals),
              "%d cells (jobs x eval texts), the rest NaN: %d finite" % (len(want) * len(evals), finite.sum()))
        for fmt, u, s in want:
            cells = ppl[0, 0, formats.index(fmt), train_users.index(u), seeds_axis.index(s), :]
            if not check(np.all(np.isfinite(cells)) and np.all(cells > 1), "job %s/%s/%d: a ppl > 1 on each eval text: %s"
                         % (fmt, u, s, cells)):
                break
        check(np.allclose(ppl[finite], np.exp(nll[finite]), rtol=1e-12, atol=0), "ppl = exp(nll) in every cell")
        return f["rank"][:].tolist(), text(f["host"][:])


def compare_results(a, b):
    """The variables a sweep's spec determines (the file's deterministic_variables), its axes, job ids
    and kept adapters, bit for bit. Returns a list of differences."""
    diffs = []
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        names = fa.attrs["deterministic_variables"].split()
        if fb.attrs["deterministic_variables"].split() != names:
            diffs.append("deterministic_variables differ")
        for axis in ("base", "condition", "format", "train_user", "seed", "eval_text", "job", "step"):
            names.append(axis)
        for name in names:
            if name == "adapters":
                continue
            if name not in fa or name not in fb:
                diffs.append("%s missing" % name)
                continue
            x, y = fa[name][:], fb[name][:]
            if x.dtype.kind == "f":
                same = x.shape == y.shape and np.array_equal(x.view(np.uint8), y.view(np.uint8))
            else:
                same = x.shape == y.shape and np.array_equal(x, y)
            if not same:
                diffs.append(name)
        ka, kb = sorted(fa["adapters"].keys()), sorted(fb["adapters"].keys())
        if ka != kb:
            diffs.append("kept adapters: %d vs %d" % (len(ka), len(kb)))
        else:
            for k in ka:
                if not np.array_equal(fa["adapters"][k][:].view(np.uint8), fb["adapters"][k][:].view(np.uint8)):
                    diffs.append("adapter %s" % k)
    return diffs
