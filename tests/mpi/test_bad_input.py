"""Bad input: a missing or invalid spec, a missing or broken base or tokenizer, a missing user, a
corrupt journal, a journal in use by a running sweep, an unwritable output, a bad option: exit 2 and one
line from the sweep that names the file and the field, at any -np, and never a hang (each run has a
deadline). The line is counted among the lines starting with "sweep": mpirun adds its own banner
around any non-zero exit."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

sweep, tool, work = sys.argv[1:4]
c.make_world(sweep, work)
c.write_spec(work)
c.write_spec(work, name="lrr.json", formats={"norm": {"lrr": 1e-2}})
c.write_spec(work, name="nobase.json", bases={"fp": "base/nope.sweep"})
c.write_spec(work, name="junkbase.json", bases={"fp": "base/junk.sweep"})
c.write_spec(work, name="notok.json", tokenizer="base/nope.bpe")
c.write_spec(work, name="nouser.json", users=["alba", "zed"])
c.write_spec(work, name="noslice.json", eval={"users": "own", "slices": 3, "general": True})
with open(os.path.join(work, "base", "junk.sweep"), "wb") as f:
    f.write(b"SWEEPMDL" + bytes(200))
# custom users given as documents: too little text to split (bad input), and a split that cannot be
# written because a file stands where its directory goes (exit 3, not 2: the input is fine)
with open(os.path.join(work, "short.txt"), "w") as f:
    f.write("too little text\n")
with open(os.path.join(work, "long.txt"), "w") as f:
    f.write(c.user_text("alba", 5, 4000))
c.write_spec(work, name="shortdocs.json", users=[{"name": "shorty", "files": ["short.txt"]}])
c.write_spec(work, name="blocked.json", users=[{"name": "longa", "files": ["long.txt"]}], output="blocked/results.h5",
             eval={"users": "own", "slices": 2, "slice_bytes": 256, "general": False})
os.makedirs(os.path.join(work, "blocked"), exist_ok=True)
with open(os.path.join(work, "blocked", "results.users"), "w") as f:
    f.write("not a directory\n")
with open(os.path.join(work, "syntax.json"), "w") as f:
    f.write('{"users": ["alba"], "formats": {"norm": {}},,}')

# a finished sweep whose journal then gets a flipped byte in its middle
ok = c.run(1, sweep, ["spec.json", "-o", "good/results.h5", "-q"], work)
c.check(ok.returncode == 0, "the good spec runs: %s" % ok.stderr[-800:])
os.makedirs(os.path.join(work, "corrupt"), exist_ok=True)
with open(os.path.join(work, "good/results.h5.journal"), "rb") as f:
    j = bytearray(f.read())
j[len(j) // 2] ^= 0xFF
with open(os.path.join(work, "corrupt/results.h5.journal"), "wb") as f:
    f.write(j)

cases = [
    # (name, args, words the one line must hold, -np values)
    ("missing spec", ["nope.json"], ["nope.json"], (1, 4)),
    ("JSON syntax", ["syntax.json"], ["syntax.json"], (1,)),
    ("unknown field", ["lrr.json"], ["lrr.json", "formats.norm.lrr", "did you mean lr"], (2,)),
    ("missing base", ["nobase.json"], ["nobase.json", "bases.fp", "nope.sweep"], (1, 4)),
    ("not a model file", ["junkbase.json"], ["junkbase.json", "bases.fp", "junk.sweep"], (2,)),
    ("missing tokenizer", ["notok.json"], ["notok.json", "tokenizer", "nope.bpe"], (2,)),
    ("missing user", ["nouser.json"], ["nouser.json", "users.zed", "train.txt"], (2,)),
    ("documents too short", ["shortdocs.json"], ["shorty"], (2,)),
    ("missing eval slice", ["noslice.json"], ["noslice.json", "eval", "eval-3.txt"], (1,)),
    ("corrupt journal", ["spec.json", "-o", "corrupt/results.h5"], ["corrupt/results.h5.journal", "corrupt"], (2, 4)),
    ("unwritable output", ["spec.json", "-o", "/proc/none/results.h5"], ["/proc/none"], (1,)),
    ("bad option value", ["spec.json", "--grace", "soon"], ["--grace"], (4,)),
    ("unknown option", ["spec.json", "--gracee", "5"], ["--gracee"], (2,)),
]
# After a non-zero exit mpirun spends two seconds in SIGCONT/SIGTERM/SIGKILL rounds for ranks that are
# already gone (odls_base_sigkill_timeout); the status and the lines are the same without them.
quick = {"OMPI_MCA_odls_base_sigkill_timeout": "0"}
for name, args, words, nps in cases:
    for np_ in nps:
        t = time.time()
        r = c.run(np_, sweep, args, work, env=quick, timeout=90)
        lines = c.sweep_lines(r.stderr)
        what = "%s at -np %d" % (name, np_)
        c.check(r.returncode == 2, "%s: exit 2 (got %d)\n%s" % (what, r.returncode, r.stderr[-1500:]))
        c.check(len(lines) == 1 and all(w in lines[0] for w in words),
                "%s: one line naming %s: %s" % (what, words, lines))
        c.check(r.stdout == "", "%s: nothing on stdout: %r" % (what, r.stdout[:200]))
        c.log("%-20s -np %d: %.1f s: %s" % (name, np_, time.time() - t, lines[:1]))
c.check(not os.path.exists(os.path.join(work, "corrupt/results.h5")), "a corrupt journal is not turned into a file")

# the split's own status: a directory that cannot be made is not the user's text at fault
r = c.run(2, sweep, ["blocked.json"], work, env=quick, timeout=90)
lines = c.sweep_lines(r.stderr)
c.check(r.returncode == 3 and len(lines) == 1 and "longa" in lines[0] and "blocked/results.users" in lines[0],
        "an unwritable split: exit 3, one line naming the user and the directory (%d): %s" % (r.returncode, lines))

# A second sweep on the same output while the first runs: refused at once, the first one unharmed.
c.write_spec(work, name="slow.json", formats={"norm": {"lr": 1e-2}},
             train={"steps": c.steps_for(sweep, work, 6.0), "batch": 4, "seq": 12},
             seeds=1, eval={"users": "own", "slices": 1, "general": False})
first = c.start(1, sweep, ["slow.json", "-o", "busy/results.h5", "-q", "--grace", "0"], work)
journal = os.path.join(work, "busy/results.h5.journal")
t0 = time.time()
while not os.path.exists(journal) and time.time() - t0 < 60:
    time.sleep(0.05)
time.sleep(0.5)
second = c.run(2, sweep, ["slow.json", "-o", "busy/results.h5"], work, env=quick, timeout=60)
lines = c.sweep_lines(second.stderr)
c.check(second.returncode == 2 and len(lines) == 1 and "in use by another running sweep" in lines[0],
        "a second sweep on a busy journal: exit 2, one line (%d): %s" % (second.returncode, lines))
c.check(first.poll() is None, "the first sweep still runs")
first.send_signal(signal.SIGUSR1)
out, err = first.communicate(timeout=120)
c.check(first.returncode == 75, "the first sweep stops on SIGUSR1 as usual (%d): %s" % (first.returncode, err[-500:]))
c.finish("mpi.bad_input")
