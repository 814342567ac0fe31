"""Rank 0 stays light (issue #15 part 3): its work per result does not grow with the size of the sweep.
The sampled design (eval.others 3) on the tiny base at -np 2, with SMALL then LARGE users (the dense
metric datasets grow with users squared, the journal with users). From the run's closing lines:

- "rank 0: R results, X ms CPU each; F forks, S journal syncs, B rebuilds of the results file and U
  in-place updates writing C cells and T job rows ..., W wakeups": rank 0 forks once (its runner),
  fsyncs the journal at most about once a second (not per result), and rebuilds the results file
  once, at the start (a new sweep: no cells); every later write, --flush-every 0.5 apart and at the
  end, is an in-place update of what changed. Each result's cells and job row are written exactly
  once: C equals the cells in the final file (its non-NaN /ppl entries) and T the results, so a
  write that rewrote unchanged cells (or a whole file) fails it;
- the summary's scheduler CPU share times wall over results (rank 0's CPU per result, a figure of work
  rather than of speed) at LARGE users is within a factor of the figure at SMALL users (before the
  runner it grew with rank 0's memory: every fork copied its page tables and took copy-on-write faults).
Not a wall-time test: counts, and CPU seconds per result."""
import os
import re
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

sweep, tool, work = sys.argv[1:4]
SMALL, LARGE, K = 100, 600, 3
FACTOR, SLACK_MS = 2.5, 0.3   # CPU per result at LARGE <= FACTOR x at SMALL + SLACK_MS
c.make_world(sweep, work)
styles = sorted(c.USER_STYLES)


def sweep_of(n):
    users = []
    for i in range(n):
        d = os.path.join(work, "docs", "u%04d" % i)
        if not os.path.isdir(d):
            os.makedirs(d)
            with open(os.path.join(d, "doc.txt"), "w") as f:
                f.write(c.user_text(styles[i % len(styles)], 1000 + i, 900))
        users.append({"name": "u%04d" % i, "dir": "docs/u%04d" % i})
    name = "n%d.json" % n
    c.write_spec(work, name=name, users=users, formats={"none": {}, "norm": {"lr": 1e-2}},
                 train={"steps": 2, "batch": 1, "seq": 8}, seeds=1,
                 eval={"users": "own", "others": K, "slices": 1, "general": False, "tokens": 16, "slice_bytes": 256})
    out = os.path.join(work, "n%d" % n, "results.h5")
    r = c.run(2, sweep, [name, "-o", out, "--progress-every", "1000", "--flush-every", "0.5"], work, timeout=600)
    c.check(r.returncode == 0, "%d users: the sweep finishes: exit %d\n%s" % (n, r.returncode, r.stderr[-1500:]))
    m = re.search(r"finished: (\d+) of \d+ jobs done.* in ([0-9.]+) s;.*scheduler CPU ([0-9.]+)% of wall", r.stderr)
    k = re.search(r"rank 0: (\d+) results, [0-9.]+ ms CPU each; (\d+) forks, (\d+) journal syncs, (\d+) rebuilds "
                  r"of the results file and (\d+) in-place updates writing (\d+) cells and (\d+) job rows", r.stderr)
    if not c.check(m is not None, "%d users: the summary line: %s" % (n, c.sweep_lines(r.stderr)[-2:])):
        return None
    done, wall, share = int(m.group(1)), float(m.group(2)), float(m.group(3))
    per = 1e3 * share / 100 * wall / max(done, 1)
    c.log("%d users: %d results in %.1f s, scheduler CPU %.2f%% of wall = %.3f ms per result; %s"
          % (n, done, wall, share, per, k.group(0) if k else "no 'rank 0:' line"))
    if c.check(k is not None, "%d users: the 'rank 0:' line: %s" % (n, c.sweep_lines(r.stderr)[-2:])):
        results, forks, syncs, rebuilds, updates, cells, rows = (int(k.group(i)) for i in range(1, 8))
        c.check(results == done == n + 1, "%d users: %d results for %d jobs" % (n, results, n + 1))
        c.check(forks == 1, "%d users: rank 0 forked %d times (once: its runner)" % (n, forks))
        # once a second at most, plus one before each write of the results file (and one spare)
        c.check(syncs <= wall + 2 + rebuilds + updates and syncs < results / 2,
                "%d users: %d journal syncs for %d results in %.1f s (%d rebuilds, %d updates)"
                % (n, syncs, results, wall, rebuilds, updates))
        c.check(rebuilds == 1, "%d users: %d rebuilds of the results file (one: the start)" % (n, rebuilds))
        with h5py.File(out, "r") as f:
            in_file = int(np.count_nonzero(~np.isnan(f["ppl"][...])))
        c.log("%d users: %d in-place updates wrote %d cells and %d job rows; the file holds %d cells"
              % (n, updates, cells, rows, in_file))
        c.check(updates >= 2, "%d users: %d in-place updates (the end's and at least one before)" % (n, updates))
        c.check(cells == in_file and in_file > 0,
                "%d users: the updates wrote %d cells, the file holds %d: each cell once" % (n, cells, in_file))
        c.check(rows == results, "%d users: the updates wrote %d job rows for %d results" % (n, rows, results))
    return per


small = sweep_of(SMALL)
large = sweep_of(LARGE)
if small is not None and large is not None:
    c.check(large <= FACTOR * small + SLACK_MS,
            "rank 0's CPU per result at %d users (%.3f ms) within %.1fx that at %d users (%.3f ms) + %.1f ms"
            % (LARGE, large, FACTOR, SMALL, small, SLACK_MS))
c.finish("mpi.rank0")
