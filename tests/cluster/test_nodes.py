"""Many nodes, on the virtual cluster (scripts/vcluster.sh, 3 nodes): the ranks span the nodes, the
base is staged and verified per node and shared by the node's ranks, and 3 nodes x 2 ranks give the
same file, bit for bit, as one rank on one machine.

- sweep-rankcheck across n1:2,n2:2,n3:2: 6 ranks, each once, a world of 6, hosts n1, n2 and n3, the
  allreduce 21.
- `sweep run --stage-base /dev/shm/sweep` on 3 x 2 ranks: exit 0; the results file's host column names
  n1, n2 and n3; each node's own /dev/shm (its mount namespace) holds exactly one staged copy and the
  machine's /dev/shm none; both ranks of each node map that copy, and their summed Pss over it
  (/proc/PID/smaps) is at most one base, not one per rank; the file equals `-np 1` bit for bit.
- Each node verifies its own copy: one byte of a tensor changed in n2's staged copy only (same size,
  so it is not copied again) makes the next run refuse with exit 2 and a checksum message.
"""
import glob
import os
import re
import sys

import h5py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vc  # noqa: E402
from vc import c  # noqa: E402

sweep, tool, rankcheck, work = sys.argv[1:5]
vc.up(3)
c.make_world(sweep, work)
# 7 jobs of about a second: the ranks live long enough to be looked at
spec = c.write_spec(work, train={"steps": c.steps_for(sweep, work, 1.0), "batch": 4, "seq": 12}, seeds=1)
HOSTS = "n1:2,n2:2,n3:2"

# 1. The ranks span the nodes.
r = vc.run(HOSTS, [rankcheck], work, timeout=60)
lines = [l.split() for l in r.stdout.splitlines() if l.startswith("rankcheck ")]
c.check(r.returncode == 0 and len(lines) == 6, "rankcheck: 6 ranks answer (exit %d)\n%s" % (r.returncode, r.stderr[-800:]))
c.check(sorted(int(l[1]) for l in lines) == list(range(6)) and all(l[2] == "6" and l[4] == "21" for l in lines),
        "rankcheck: ranks 0..5 once each, a world of 6, allreduce 21: %s" % lines)
c.check(sorted(set(l[3] for l in lines)) == ["n1", "n2", "n3"], "rankcheck: hosts n1, n2, n3: %s" % lines)

# 2. One rank on one machine: the reference.
ref = c.run(1, sweep, ["spec.json", "-o", "ref/results.h5", "-q"], work)
c.check(ref.returncode == 0, "-np 1: exit %d %s" % (ref.returncode, ref.stderr[-800:]))

# 3. 3 nodes x 2 ranks, staged per node; Pss sampled while the ranks run.
base_size = os.path.getsize(os.path.join(work, "base", "base.sweep"))
p = vc.start(HOSTS, [sweep, "run", "spec.json", "-o", "out/results.h5", "-q", "--stage-base", "/dev/shm/sweep"], work)
seen = {}   # node -> (ranks mapping the staged file, summed Pss in kB, staged paths)
mapped_once = set()


def sample():
    for node in ("n1", "n2", "n3"):
        if node in seen:
            continue
        ranks, pss, paths = 0, 0, set()
        for pid in vc.sweep_ranks(node):
            try:
                with open("/proc/%d/smaps" % pid) as f:
                    smaps = f.read().splitlines()
            except OSError:
                continue
            cur, mapped = None, False
            for line in smaps:
                fields = line.split()
                if fields and re.match(r"^[0-9a-f]+-[0-9a-f]+$", fields[0]):   # a mapping's first line
                    cur = fields[5] if len(fields) >= 6 and fields[5].startswith("/dev/shm/sweep/") else None
                    if cur:
                        mapped = True
                        paths.add((" ".join(fields[5:]), fields[3], fields[4]))   # path, device, inode
                elif cur and fields and fields[0] == "Pss:":
                    pss += int(fields[1])
            ranks += mapped
        # Recorded at the second look with both ranks mapping: at the first, one rank may have mapped
        # the file between the reads of the two smaps, and the first read's share was too large.
        if ranks == 2 and node in mapped_once:
            seen[node] = (ranks, pss, paths)
        elif ranks == 2:
            mapped_once.add(node)
    return len(seen) == 3 or p.poll() is not None


vc.wait_until(sample, 120, every=0.02)
out, err = p.communicate(timeout=180)
c.check(p.returncode == 0, "3 x 2 ranks: exit %d\n%s" % (p.returncode, err[-1500:]))
c.log("staged copies mapped per node (ranks, summed Pss kB, paths): %s; base %d kB" % (seen, base_size // 1024))
c.check(sorted(seen) == ["n1", "n2", "n3"], "both ranks of every node seen mapping the staged base: %s" % sorted(seen))
for node, (ranks, pss, paths) in sorted(seen.items()):
    c.check(len(paths) == 1, "%s: its ranks map one staged copy (one path, device and inode): %s" % (node, paths))
    # Shared pages are split between their mappers: one copy shared sums to at most its size; a
    # copy per rank would sum to up to two.
    c.check(0 < pss <= base_size / 1024 * 1.02 + 8, "%s: summed Pss of its ranks over the base %d kB <= one base (%d kB)"
            % (node, pss, base_size // 1024))
for node in ("n1", "n2", "n3"):
    ls = vc.vc("exec", node, "ls", "/dev/shm/sweep", check=False).stdout.split()
    c.check(len(ls) == 1 and ls[0].endswith("-base.sweep"), "%s: one staged copy in its own /dev/shm: %s" % (node, ls))
c.check(not glob.glob("/dev/shm/sweep/*-base.sweep"), "nothing staged in the machine's own /dev/shm")
if os.path.exists(os.path.join(work, "out/results.h5")):
    with h5py.File(os.path.join(work, "out/results.h5"), "r") as f:
        hosts = sorted(set(h.decode() if isinstance(h, bytes) else h for h in f["host"][:]))
    c.check(hosts == ["n1", "n2", "n3"], "the results file's host column names n1, n2, n3: %s" % hosts)
rc, msg = c.compare(tool, os.path.join(work, "ref/results.h5"), os.path.join(work, "out/results.h5"))
c.check(rc == 0, "3 nodes x 2 ranks equal -np 1 on one node bit for bit: %s" % msg)

# 4. Each node verifies its own copy: spoil n2's.
staged = vc.vc("exec", "n2", "sh", "-c", "ls /dev/shm/sweep/*-base.sweep", check=False).stdout.split()
if c.check(len(staged) == 1, "n2's staged copy found: %s" % staged):
    off = base_size - 4096 // 2   # inside the last tensor, the header untouched
    vc.vc("exec", "n2", "python3", "-c",
          "f=open(%r,'r+b'); f.seek(%d); b=f.read(1); f.seek(%d); f.write(bytes([b[0]^0xff])); f.close()"
          % (staged[0], off, off))
    r = vc.run(HOSTS, [sweep, "run", "spec.json", "-o", "spoiled/results.h5", "-q", "--stage-base", "/dev/shm/sweep"],
               work, timeout=120)
    lines = c.sweep_lines(r.stderr)
    c.check(r.returncode == 2 and any("checksum" in l for l in lines),
            "a spoiled copy on n2 only is refused (exit 2, a checksum line): exit %d %s" % (r.returncode, lines))
c.finish("cluster.nodes")
