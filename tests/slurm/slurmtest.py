"""Shared pieces of the Slurm tests (tests/slurm/test_*.py, and tests/cluster/test_slurm.py on the
virtual nodes): a running single-node Slurm, sbatch and waiting on jobs, the checks every requeue test
makes, and reading what a sweep left behind (the HDF5 file with h5py; the journal and the bit-for-bit
comparison through results_tool, as the MPI tests do: tests/mpi/common.py owns those and check/log).

Usage of each test: /usr/bin/python3 test_X.py SWEEP SWEEP_RANKCHECK RESULTS_TOOL WORKDIR
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

import world

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLURM_DIR = os.path.join(REPO, "slurm")
sys.path.insert(0, os.path.join(REPO, "tests", "mpi"))
from common import check, compare, finish, journal_records, log, steps_for  # noqa: E402,F401
from common import make_world as make_mpi_world  # noqa: E402

# Words before every Slurm command: none for the machine's own Slurm; tests/cluster/test_slurm.py
# sets ["bash", ".../vcluster.sh", "exec", "n1"] to reach the virtual cluster's.
SLURM_PREFIX = []


def slurm(*cmd, cwd=None, env=None, timeout=30):
    return subprocess.run(SLURM_PREFIX + list(cmd), cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def setup(argv):
    """Parses the arguments, starts Slurm, makes WORKDIR empty; returns (sweep, rankcheck, tool, workdir, env)."""
    if len(argv) != 5:
        raise SystemExit("usage: test_X.py SWEEP SWEEP_RANKCHECK RESULTS_TOOL WORKDIR")
    sweep, rankcheck, tool, work = (os.path.abspath(a) for a in argv[1:])
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
    return sweep, rankcheck, tool, work, env


def make_world(sweep, root, seeds, steps):
    """ROOT afresh with the MPI tests' text and tiny base, an empty out/, and world.write_spec's spec."""
    make_mpi_world(sweep, root)
    os.makedirs(os.path.join(root, "out"))
    return world.write_spec(root, seeds, steps)


# ---------------------------------------------------------------------------------------------------
# Slurm jobs

def sbatch(script, args, cwd, env, options=()):
    """Submits slurm/SCRIPT with ARGS from CWD; the job's log is CWD/log-JOBID.out. Returns the job id."""
    cmd = ["sbatch", "--parsable", "--output=log-%j.out", "--time=10"] + list(options) + \
          [os.path.join(SLURM_DIR, script)] + list(args)
    r = slurm(*cmd, cwd=cwd, env=env, timeout=60)
    if r.returncode != 0:
        raise SystemExit("sbatch failed: %s %s" % (r.stdout, r.stderr))
    job = r.stdout.strip().split(";")[0]
    log("submitted job %s: %s" % (job, " ".join(cmd[1:])))
    return job


def job_info(job):
    """scontrol show job as a dict (JobState, Restarts, ExitCode, ...); {} when Slurm no longer knows it."""
    r = slurm("scontrol", "show", "job", "-o", job)
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
            slurm("scancel", job)
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

def journal_ids(tool, path):
    """Job ids of the result records of a journal, in order, repeats kept (results_tool journal; a torn
    final record is left out, as the reader does). [] while there is no journal or it cannot be read."""
    try:
        return [r[0] for r in journal_records(tool, path)[0]] if os.path.exists(path) else []
    except SystemExit:
        return []


def job_sweeps(sweep, job):
    """Pids of a Slurm job's sweep processes on this machine, the virtual nodes' included (ranks and
    their job children): the sweep binary, with SLURM_JOB_ID=job in the environment."""
    exe, tag, pids = os.path.realpath(sweep), b"SLURM_JOB_ID=%s\0" % job.encode(), []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.path.realpath("/proc/%s/exe" % p) != exe:
                continue
            with open("/proc/%s/environ" % p, "rb") as f:
                if tag in f.read():
                    pids.append(int(p))
        except OSError:
            pass
    return pids


def signal_all(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def note_start(starts_at, info):
    """Records Slurm's StartTime of the job's allocation in starts_at, by its restart count."""
    if info.get("JobState") == "RUNNING" and info.get("StartTime", "Unknown") != "Unknown":
        starts_at.setdefault(int(info.get("Restarts", "0")), info["StartTime"])


def warned(work, job):
    return "SIGUSR1 received" in job_log(work, job)


def hold_when(sweep, tool, work, job, journal, n, starts_at, timeout=200):
    """A sweep too slow for its walltime on any machine: once the job's journal holds N results, stops
    (SIGSTOP) every sweep process of the job, on every node, and returns their pids; the caller lets
    them go (SIGCONT) when the warning has come. Returns an empty set when the warning or the end of
    the job came first. The journal and the log are polled often (cheap), Slurm every 2 s (slow under
    load), noting each allocation's start in starts_at."""
    held, state, t0, last_asked = set(), "PENDING", time.time(), 0.0
    while time.time() - t0 < timeout and not warned(work, job):
        if time.time() - last_asked > 2:
            info = job_info(job)
            note_start(starts_at, info)
            state, last_asked = info.get("JobState", state), time.time()
            if state not in ("PENDING", "RUNNING", "CONFIGURING"):
                break
        if len(journal_ids(tool, journal)) >= n:
            # Stop until no new process appears: a rank may fork a job between listing and stopping.
            while True:
                new = set(job_sweeps(sweep, job)) - held
                if not new:
                    break
                signal_all(new, signal.SIGSTOP)
                held |= new
            break
        time.sleep(0.05)
    return held


def allocation_watcher(job, starts_at, extend_minutes):
    """An until= for wait_job: notes each allocation's start and, once the time limit has requeued the
    job, gives later allocations EXTEND_MINUTES (under load start-up alone can take a minute, and every
    allocation would end at its own warning)."""
    extended = []

    def until(info):
        note_start(starts_at, info)
        if not extended and int(info.get("Restarts", "0")) >= 1:
            r = slurm("scontrol", "update", "JobId=%s" % job, "TimeLimit=%d" % extend_minutes)
            check(r.returncode == 0, "later allocations get a %d-minute limit: %s" % (extend_minutes, r.stderr.strip()))
            extended.append(True)
        return False
    return until


def check_time_limit_requeues(text, job, starts_at, restarts, limit_min, warn_s):
    """Each requeue in the log followed a warning that came when the time limit sends it: slurmctld
    checks limits every 30 s, so WARN_S to WARN_S + 30 s before the limit, i.e. limit - warn_s - 30 to
    limit - warn_s after Slurm started that allocation (up to the rank check's length later in the
    log: bash runs the trap when the probe returns); sweep then stopped with work left; only the last
    allocation was not requeued, and none ran into the limit itself."""
    stamp = lambda s, fmt: time.mktime(time.strptime(s, fmt))
    starts = [m.start() for m in re.finditer(r"sweep-job: \S+ \S+: job %s start \d+" % job, text)]
    check(len(starts) == restarts + 1, "one wrapper start per allocation: %d starts, %d restarts" % (len(starts), restarts))
    check(sorted(starts_at) == list(range(restarts + 1)), "Slurm's start time of every allocation seen: %s" % starts_at)
    warned_allocs = 0
    lo, hi = limit_min * 60 - warn_s - 30, limit_min * 60 - warn_s
    for k, pos in enumerate(starts):
        part = text[pos:starts[k + 1] if k + 1 < len(starts) else len(text)]
        w = re.search(r"sweep-job: (\S+ \S+): SIGUSR1 received", part)
        if "requeueing job %s" % job in part:
            if check(w is not None, "allocation %d: a warning before the requeue" % (k + 1)) and k in starts_at:
                after = stamp(w.group(1), "%Y-%m-%d %H:%M:%S") - stamp(starts_at[k], "%Y-%m-%dT%H:%M:%S")
                check(lo - 1 <= after <= hi + 40, "allocation %d: the warning came %.0f s after Slurm started it, "
                      "within [%d, %d] s as the time limit sends it" % (k + 1, after, lo, hi))
                warned_allocs += 1
            # 75 from sweep; a rank still in MPI start-up when the warning came dies of it (138, which the
            # wrapper counts as 75); or the warning came during the rank check and sweep never started.
            check(any(t in part for t in ("sweep exited with status 75", "(status 138): treating it as 75",
                                          "signalled before the sweep started")),
                  "allocation %d: sweep stopped with work left (exit 75), or was not started" % (k + 1))
        else:
            check(k == len(starts) - 1, "allocation %d: only the last one is not requeued" % (k + 1))
    check(warned_allocs == restarts, "every requeue followed a time-limit warning: %d of %d" % (warned_allocs, restarts))
    check("SIGTERM received" not in text, "no allocation ran into the time limit itself")


def resumed(text, n_jobs, ranks):
    """How many jobs each start of sweep in a job's log found already done."""
    return [int(k) for k in re.findall(r"sweep: %d jobs \((\d+) already done\), %d ranks" % (n_jobs, ranks), text)]


def check_final(tool, info, text, out, n_jobs, ref=None):
    """What every requeue test checks at the end: no bash errors in the log, COMPLETED with exit 0, the
    last start finished the sweep, every job once in the journal, and (given the uninterrupted run's
    results file REF) the same job ids and a file equal to it bit for bit (h5_compare_results)."""
    check_no_script_errors(text, "the job")
    check(info.get("JobState") == "COMPLETED" and info.get("ExitCode") == "0:0",
          "job completed with exit 0 in the end: %s %s" % (info.get("JobState"), info.get("ExitCode")))
    check(text.rstrip().endswith("sweep exited with status 0"), "the last start finished the sweep")
    ids = journal_ids(tool, out + ".journal")
    check(len(ids) == n_jobs and len(set(ids)) == n_jobs,
          "every job in the journal exactly once: %d records, %d distinct, %d jobs" % (len(ids), len(set(ids)), n_jobs))
    if ref is not None:
        check(set(ids) == set(journal_ids(tool, ref + ".journal")), "the same job ids as the uninterrupted run")
        if check(os.path.exists(out), "the results file exists"):
            rc, msg = compare(tool, ref, out)
            check(rc == 0, "the results equal the uninterrupted run's: %s" % msg)
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
