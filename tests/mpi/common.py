"""Shared pieces of the MPI integration tests (tests/mpi/test_*.py).

Every test builds its own world in a temporary directory: deterministic generated text for a few
users and a general mix, a tiny base pretrained on it with `sweep pretrain`, and a spec. It then
drives `mpirun ... sweep run` with subprocess and reads the results with h5py and results_tool
(tests/mpi/results_tool.c: h5_compare_results and a journal lister).

Usage of each test: /usr/bin/python3 test_X.py SWEEP RESULTS_TOOL WORKDIR
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

MPIRUN = shutil.which("mpirun") or "mpirun"
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OMPI_MCA_rmaps_base_oversubscribe="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
ENV.pop("SWEEP_TEST_FAULT", None)

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


# ---------------------------------------------------------------------------------------------------
# Text: each user writes from its own syllables and habits, so adapters have something to learn;
# the general mix draws from all of them. random.Random(seed) is the same on every machine.

USER_STYLES = {
    "alba":  ("ka lo mi ne ru ta so", "."),
    "brisk": ("def ret urn self if else for", ":"),
    "corvo": ("ux zy qo vex pli dra mun", ";"),
    "delia": ("the and of to in was her", ","),
}


def user_text(name, seed, nbytes):
    syl, punct = USER_STYLES[name]
    syl = syl.split()
    rng = random.Random("%s/%d" % (name, seed))
    out, size = [], 0
    while size < nbytes:
        words = []
        for _ in range(rng.randint(4, 12)):
            words.append("".join(rng.choice(syl) for _ in range(rng.randint(1, 3))))
        line = " ".join(words) + punct + "\n"
        out.append(line)
        size += len(line)
    return "".join(out)[:nbytes]


def general_text(seed, nbytes):
    names = sorted(USER_STYLES)
    rng = random.Random("general/%d" % seed)
    parts, size = [], 0
    k = 0
    while size < nbytes:
        t = user_text(names[rng.randrange(len(names))], seed * 1000 + k, 600)
        parts.append(t)
        size += len(t)
        k += 1
    return "".join(parts)[:nbytes]


def make_data(root, users=("alba", "brisk", "corvo"), train_bytes=6000, eval_bytes=1500, slices=2):
    data = os.path.join(root, "data")
    os.makedirs(os.path.join(data, "general"), exist_ok=True)
    with open(os.path.join(data, "general", "train.txt"), "w") as f:
        f.write(general_text(1, 60000))
    with open(os.path.join(data, "general", "eval.txt"), "w") as f:
        f.write(general_text(2, 2000))
    for i, u in enumerate(users):
        d = os.path.join(data, "users", u)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "train.txt"), "w") as f:
            f.write(user_text(u, 10 + i, train_bytes))
        for s in range(1, slices + 1):
            with open(os.path.join(d, "eval-%d.txt" % s), "w") as f:
                f.write(user_text(u, 100 + 10 * i + s, eval_bytes))
    return data


def make_base(sweep, root):
    """A tiny base (dim 16, 2 layers, vocab 300) and its ternary copy, pretrained in about a second."""
    base = os.path.join(root, "base")
    if os.path.exists(os.path.join(base, "base.sweep")):
        return base
    r = subprocess.run([sweep, "pretrain", "--data", os.path.join(root, "data"), "-o", base, "--config", "tiny",
                        "--vocab", "300", "--steps", "20", "--batch", "4", "--seq", "12", "--warmup", "2",
                        "--threads", "1", "--checkpoint-every", "0", "--eval-tokens", "500"],
                       env=ENV, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        print(r.stdout, r.stderr, file=sys.stderr)
        raise SystemExit("cannot pretrain the tiny base")
    return base


def make_world(sweep, root, **data_kw):
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    make_data(root, **data_kw)
    make_base(sweep, root)


def write_spec(root, name="spec.json", **fields):
    spec = {
        "protocol": "custom",
        "output": "out/results.h5",
        "bases": {"fp": "base/base.sweep"},
        "tokenizer": "base/tokenizer.bpe",
        "data": "data",
        "users": ["alba", "brisk", "corvo"],
        "formats": {"none": {}, "norm": {"lr": 1e-2}, "lora": {"rank": 2, "alpha": 4, "lr": 1e-3}},
        "train": {"steps": 10, "batch": 2, "seq": 12},
        "seeds": 2,
        "eval": {"users": "all", "slices": 2, "general": True, "tokens": 200},
        "max_attempts": 2,
    }
    for k, v in fields.items():
        if v is None:
            spec.pop(k, None)
        else:
            spec[k] = v
    path = os.path.join(root, name)
    with open(path, "w") as f:
        json.dump(spec, f, indent=1)
    return path


def steps_for(sweep, root, seconds):
    """Training steps (batch 4 x 12 tokens) that take about `seconds` per job on this machine now: the
    machine is shared, and tests that must catch jobs in flight size them by the clock, not by a constant.
    Measured once per world with a 1000-step job."""
    cal = os.path.join(root, "calibration.json")
    if not os.path.exists(cal):
        write_spec(root, name="calibrate.json", users=["alba"], formats={"norm": {"lr": 1e-2}},
                   train={"steps": 1000, "batch": 4, "seq": 12}, seeds=1,
                   eval={"users": "own", "slices": 1, "general": False, "tokens": 50})
        r = run(1, sweep, ["calibrate.json", "-o", "calibrate/results.h5", "-q"], root)
        if r.returncode != 0:
            raise SystemExit("calibration run failed: " + r.stderr[-1000:])
        per_step = max(read_jobs(os.path.join(root, "calibrate/results.h5"))["seconds"][0] / 1000, 1e-5)
        with open(cal, "w") as f:
            json.dump({"seconds_per_step": per_step}, f)
    with open(cal) as f:
        per_step = json.load(f)["seconds_per_step"]
    return max(50, min(200000, int(seconds / per_step)))


# ---------------------------------------------------------------------------------------------------
# Running

def mpirun_cmd(np_, sweep, args):
    return [MPIRUN, "-np", str(np_), "--oversubscribe", "--bind-to", "none", sweep, "run"] + list(args)


def run(np_, sweep, args, cwd, env=None, timeout=240):
    """Runs a sweep to its end; never hangs the test (the process group is killed at the timeout)."""
    e = dict(ENV)
    if env:
        e.update(env)
    p = subprocess.Popen(mpirun_cmd(np_, sweep, args), cwd=cwd, env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(p)
        out, err = p.communicate()
        err += "\n[test: killed at the timeout of %d s]" % timeout
        return subprocess.CompletedProcess(p.args, -999, out, err)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def start(np_, sweep, args, cwd, env=None):
    e = dict(ENV)
    if env:
        e.update(env)
    return subprocess.Popen(mpirun_cmd(np_, sweep, args), cwd=cwd, env=e, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def kill_group(p, sig=signal.SIGKILL):
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass


def session_pids(sid):
    """Pids in a session: mpirun started with start_new_session=True, its ranks (each in a process group
    of its own) and their job processes."""
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.getsid(int(d)) == sid:
                    pids.append(int(d))
            except OSError:
                pass
    return pids


def kill_session(p):
    """Kills every process of a run at once (what a lost node or a cancelled allocation does). Killing
    mpirun's group alone leaves the ranks running until they notice: long enough to finish a sweep of
    short jobs."""
    for pid in session_pids(p.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def processes_of_group(pgid):
    """Pids whose process group is pgid (from /proc), to check nothing of a killed run survives."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        if int(fields[2]) == pgid:
            out.append(int(d))
    return out


def sweep_processes_in(cwd_prefix):
    """Pids of live `sweep` processes (ranks or job children) whose working directory is under a path."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
            state = s[s.rindex(")") + 2:].split()[0]
            if state == "Z":
                continue
            exe = os.readlink("/proc/%s/exe" % d)
            cwd = os.readlink("/proc/%s/cwd" % d)
        except OSError:
            continue
        if os.path.basename(exe) == "sweep" and cwd.startswith(cwd_prefix):
            out.append(int(d))
    return out


def wait_gone(cwd_prefix, timeout=20):
    t = time.time()
    while time.time() - t < timeout:
        if not sweep_processes_in(cwd_prefix):
            return True
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------------------------------------------
# Results

def compare(tool, a, b):
    """0 equal, 1 different (message), 2 error: h5_compare_results, bit for bit."""
    r = subprocess.run([tool, "compare", a, b], capture_output=True, text=True, timeout=120)
    return r.returncode, (r.stdout + r.stderr).strip()


def read_jobs(path):
    with h5py.File(path, "r") as f:
        def strings(name):
            return [x.decode() if isinstance(x, bytes) else x for x in f[name][:]]
        return {"id": strings("job"), "status": strings("status"), "message": strings("message"),
                "attempts": f["attempts"][:].tolist(), "rank": f["rank"][:].tolist(),
                "seconds": f["seconds"][:].tolist()}


def read_grid(path):
    """A results file's axes, per-job columns and metric arrays (layout: results/h5write.h), and the ids
    of the kept adapters."""
    with h5py.File(path, "r") as f:
        def strings(name):
            return [x.decode() if isinstance(x, bytes) else x for x in f[name][()]]
        return {"format": strings("format"), "train_user": strings("train_user"), "eval_text": strings("eval_text"),
                "seed": list(f["seed"][()]), "job": strings("job"), "job_format": strings("job_format"),
                "job_train_user": strings("job_train_user"), "job_seed": list(f["job_seed"][()]),
                "ppl": f["ppl"][()], "nll": f["nll"][()],
                "adapters": set(f["adapters"].keys()) if "adapters" in f else set()}


def job_of(grid, fmt, user, seed):
    """The id of the job of that format, training user and seed in read_grid's grid."""
    return next(j for j, f, u, s in zip(grid["job"], grid["job_format"], grid["job_train_user"], grid["job_seed"])
                if f == fmt and u == user and s == seed)


def journal_records(tool, path):
    """Every result record of a journal in file order, as (id, status, attempts), and the torn bytes."""
    r = subprocess.run([tool, "journal", path], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise SystemExit("results_tool journal: " + r.stderr)
    lines = r.stdout.splitlines()
    recs = [(a, b, int(c)) for a, b, c in (l.split() for l in lines[:-1])]
    return recs, int(lines[-1].split()[-1])


def plan_ids(sweep, spec, cwd):
    r = subprocess.run([sweep, "plan", spec, "--json"], cwd=cwd, env=ENV, capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise SystemExit("sweep plan failed: " + r.stderr)
    return [j["id"] for j in json.loads(r.stdout)["jobs"]]


def sweep_lines(stderr):
    """The lines the sweep itself printed (mpirun adds its own banners around a non-zero exit)."""
    return [l for l in stderr.splitlines() if l.startswith("sweep")]


def kill_after_records(tool, sweep, work, args, journal, n):
    """Starts `sweep run ARGS` at -np 2 in work, kills every process of it once the journal holds n result
    records (or it ended), waits until its ranks are gone and logs which; returns the records then."""
    def records():
        try:
            return len(journal_records(tool, journal)[0]) if os.path.exists(journal) else 0
        except SystemExit:
            return 0
    p = start(2, sweep, args, work)
    t0 = time.time()
    while records() < n and p.poll() is None and time.time() - t0 < 120:
        time.sleep(0.05)
    killed = p.poll() is None
    kill_session(p)
    p.communicate()
    wait_gone(work)
    got = records()
    log("killed with %d records (%s)" % (got, "mid-sweep" if killed else "it had finished"))
    return got


def killed_and_resumed(tool, sweep, work, n_records, **fields):
    """A spec of the given fields (3 seeds, jobs of about 0.5 s: long.json) run to its end, and run again
    killed once n_records results are journalled (checked to be mid-sweep), then resumed: returns the
    two results files for the caller to compare."""
    write_spec(work, name="long.json", seeds=3, train={"steps": steps_for(sweep, work, 0.5), "batch": 4, "seq": 12},
               **fields)
    ref, out = os.path.join(work, "out", "long-ref.h5"), os.path.join(work, "out", "long.h5")
    r = run(2, sweep, ["long.json", "-o", ref, "-q"], work)
    check(r.returncode == 0, "long.json uninterrupted: exit %d\n%s" % (r.returncode, r.stderr[-1500:]))
    got = kill_after_records(tool, sweep, work, ["long.json", "-o", out, "-q", "--flush-every", "0.2"],
                             out + ".journal", n_records)
    check(0 < got < len(plan_ids(sweep, os.path.join(work, "long.json"), work)), "killed mid-sweep: %d records" % got)
    r = run(2, sweep, ["long.json", "-o", out, "-q"], work)
    check(r.returncode == 0, "long.json resumed: exit %d\n%s" % (r.returncode, r.stderr[-1500:]))
    return ref, out
