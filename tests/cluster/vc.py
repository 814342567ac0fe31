"""The virtual cluster of scripts/vcluster.sh for the cluster tests (tests/cluster/test_*.py): brings
it up (or exits 77 with the reason when namespaces cannot be made here), always takes it down when the
test ends, and runs mpirun across its nodes. The tests' worlds (text, tiny base, spec) come from
tests/mpi/common.py.

Usage of each test: /usr/bin/python3 test_X.py SWEEP RESULTS_TOOL RANKCHECK WORKDIR
"""
import atexit
import fcntl
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
VCLUSTER = os.path.join(REPO, "scripts", "vcluster.sh")
sys.path.insert(0, os.path.join(REPO, "tests", "mpi"))
import common as c  # noqa: E402,F401


def vc(*args, check=True, timeout=120):
    r = subprocess.run(["bash", VCLUSTER] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise SystemExit("vcluster.sh %s: %s" % (" ".join(map(str, args)), (r.stdout + r.stderr).strip()))
    return r


def down(*_):
    vc("down", check=False)


LOCK = "/run/sweep-vcluster.lock"
_held = []


def lock():
    """One cluster test at a time on this machine, whatever checkout or ctest runs it (ctest's
    RESOURCE_LOCK holds within one ctest only): the nodes are machine-wide. Held until the test exits."""
    if _held:
        return
    f = open(LOCK, "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        c.log("waiting for another cluster test (%s)" % LOCK)
        fcntl.flock(f, fcntl.LOCK_EX)
    _held.append(f)


def up(n=3):
    """The cluster, or exit 77 (skip) with the one line vcluster.sh gave."""
    if os.geteuid() != 0:
        print("SKIP: the virtual cluster needs root (namespaces)", flush=True)
        sys.exit(77)
    lock()
    down()   # a fresh cluster: nothing staged or left running by an earlier test
    r = vc("up", "-n", n, check=False)
    if r.returncode != 0:
        print("SKIP: %s" % (r.stdout + r.stderr).strip(), flush=True)
        sys.exit(77)
    atexit.register(down)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))   # ctest's timeout: atexit still runs
    c.log(r.stdout.strip())


def mpirun_cmd(hosts, args):
    """`vcluster.sh mpirun --host HOSTS ARGS` (e.g. hosts "n1:2,n2:2,n3:2")."""
    return ["bash", VCLUSTER, "mpirun", "--host", hosts] + list(args)


def run(hosts, args, cwd, env=None, timeout=180):
    e = dict(c.ENV)
    e.pop("OMPI_MCA_rmaps_base_oversubscribe", None)
    if env:
        e.update(env)
    p = subprocess.Popen(mpirun_cmd(hosts, args), cwd=cwd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        c.kill_group(p)
        out, err = p.communicate()
        err += "\n[test: killed at the timeout of %d s]" % timeout
        return subprocess.CompletedProcess(p.args, -999, out, err)
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def start(hosts, args, cwd, env=None):
    e = dict(c.ENV)
    if env:
        e.update(env)
    return subprocess.Popen(mpirun_cmd(hosts, args), cwd=cwd, env=e, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def node_pids(node):
    """Pids inside NODE: those in its sleeper's UTS namespace (as `vcluster.sh pids`, without a shell)."""
    with open("/run/sweep-vcluster/%s.pid" % node) as f:
        sleeper = int(f.read())
    ns = os.readlink("/proc/%d/ns/uts" % sleeper)
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != sleeper:
            try:
                if os.readlink("/proc/%s/ns/uts" % d) == ns:
                    out.append(int(d))
            except OSError:
                pass
    return out


def sweep_ranks(node):
    """Pids of the sweep rank processes inside NODE (job children, whose parent is a rank, excluded)."""
    out = []
    for pid in node_pids(node):
        try:
            if os.path.basename(os.readlink("/proc/%d/exe" % pid)) != "sweep":
                continue
            with open("/proc/%d/stat" % pid) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if os.path.basename(os.readlink("/proc/%d/exe" % ppid)) == "sweep":
                continue
            out.append(pid)
        except OSError:
            continue
    return out


def wait_until(cond, timeout, every=0.1):
    t = time.time()
    while time.time() - t < timeout:
        if cond():
            return True
        time.sleep(every)
    return False
