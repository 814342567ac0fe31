"""`sweep train` without MPI, on the tiny base the MPI tests pretrain (tests/mpi/common.py):
a run lowers the loss and beats the base on the user's held-out text; the adapter it writes gives, through
`sweep eval --adapter`, the perplexity it printed; the same seed gives the same output bit for bit and
another seed another one; the random condition needs no text; bad inputs exit 2 with one line naming the
file or option, and write nothing.

Usage: /usr/bin/python3 test_cli.py SWEEP WORKDIR
"""
import json
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi"))
import common as c  # noqa: E402

sweep, work = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
c.make_world(sweep, work)

BASE = "base/base.sweep"
TRAIN = "data/users/alba/train.txt"
OWN = "data/users/alba/eval-1.txt"
OTHER = "data/users/corvo/eval-1.txt"
TIMING = ("seconds", "train_seconds", "eval_seconds", "tokens_per_second", "adapter")


def run(args, timeout=120):
    return subprocess.run([sweep] + list(args), cwd=work, env=c.ENV, capture_output=True, text=True,
                          timeout=timeout)


def train(*args):
    return run(["train", BASE] + list(args))


def train_json(*args):
    r = train(*(list(args) + ["--json"]))
    if not c.check(r.returncode == 0, "train %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr[-800:])):
        return None
    return json.loads(r.stdout)


def eval_ppl(*args):
    """The perplexity string `sweep eval` prints (%.4f), and its predicted-token count."""
    r = run(["eval", BASE] + list(args))
    m = re.search(r": ppl (\S+)  \(nll \S+ per token, (\d+) predicted", r.stdout)
    c.check(r.returncode == 0 and m, "sweep eval %s: exit %d: %s%s" % (args, r.returncode, r.stdout, r.stderr))
    return (m.group(1), int(m.group(2))) if m else (None, None)


def without_timing(j):
    return {k: v for k, v in j.items() if k not in TIMING}


def mean(xs):
    return sum(xs) / len(xs)


# ---- a run trains, prints its progress, and lowers the loss -----------------------------------------
learn = ["--text", TRAIN, "--format", "norm", "--lr", "3e-2", "--steps", "200", "--batch", "4",
         "--eval", OWN, "--eval", OTHER, "--eval-tokens", "500"]
r = train(*(learn + ["--print-every", "50", "-o", "norm.swad"]))
c.check(r.returncode == 0, "norm run: exit %d: %s" % (r.returncode, r.stderr))
steps = re.findall(r"^step +(\d+)/200  loss (\S+)", r.stdout, re.M)
c.check([s for s, _ in steps] == ["50", "100", "150", "200"], "a loss line every 50 steps: %s" % steps)
printed_ppl = dict(re.findall(r"^eval (\S+): ppl (\S+)", r.stdout, re.M))
c.check(sorted(printed_ppl) == sorted([OWN, OTHER]), "a perplexity line per eval text: %s" % printed_ppl)
final = re.search(r"^final loss (\S+) after 200 steps: 9600 tokens", r.stdout, re.M)
c.check(final is not None, "the final line gives the loss and 200 x 4 x 12 tokens:\n" + r.stdout)
c.check(os.path.exists(os.path.join(work, "norm.swad")), "-o writes the adapter")
change = re.search(r"^largest parameter change (\S+) \((\S+)\) from its initial value; steps x lr = (\S+)$", r.stdout, re.M)
c.check(change is not None and change.group(3) == "%.6g" % (200 * 3e-2),
        "the summary prints the largest parameter change beside steps x lr:\n" + r.stdout)

j = train_json(*(learn + ["-o", "norm-json.swad"]))
if j:
    curve = j["loss_curve"]
    c.check(len(curve) == 200 and j["steps_done"] == 200 and not j["diverged"], "200 steps, no divergence")
    c.check(mean(curve[:10]) - mean(curve[-10:]) > 0.3,
            "training lowers the loss: first 10 steps %.4f, last 10 %.4f" % (mean(curve[:10]), mean(curve[-10:])))
    c.check(final and final.group(1) == "%.6f" % j["final_loss"] and steps and steps[-1][1] == final.group(1),
            "the printed run and the --json run end on the same loss (%s, %r)" % (final and final.group(1),
                                                                                  j["final_loss"]))
    for ev in j["evals"]:
        c.check(printed_ppl.get(ev["text"]) == "%.4f" % ev["ppl"],
                "%s: --json ppl %r prints as the text run's %s" % (ev["text"], ev["ppl"], printed_ppl.get(ev["text"])))
    c.check(j["tokens"] == 200 * 4 * 12 and j["train"]["seq"] == 12,
            "--seq defaults to the tiny base's context 12: %s tokens" % j["tokens"])
    c.check(open(os.path.join(work, "norm.swad"), "rb").read() == open(os.path.join(work, "norm-json.swad"), "rb").read(),
            "the printed and the --json runs write the same adapter")
    c.check(change and change.group(1) == "%.6g" % j["max_param_change"] and change.group(2) == j["max_param_tensor"] and
            0 < j["max_param_change"] <= 200 * 3e-2 * 1.01,
            "the printed largest change is --json's max_param_change %r (%s), within Adam's steps x lr" %
            (j.get("max_param_change"), j.get("max_param_tensor")))
    # the base alone, measured by another command on the same 501 tokens
    base_ppl, n_pred = eval_ppl(OWN, "--max-tokens", "501")
    own = j["evals"][0]
    c.check(own["tokens"] == 500 and n_pred == 500, "--eval-tokens 500 scores 500 tokens (%s)" % own["tokens"])
    c.check(base_ppl is not None and own["ppl"] < 0.8 * float(base_ppl),
            "the adapter beats the base on the user's held-out text: %.4f vs %s" % (own["ppl"], base_ppl))

# ---- the saved adapter, read by sweep eval, gives the perplexity train printed ----------------------
for fmt, extra in (("norm", []), ("lora", ["--rank", "2", "--alpha", "4", "--lr", "1e-2", "--targets", "q,v,down"]),
                   ("full", ["--lr", "3e-3"]), ("steer", ["--lr", "1e-2"]),
                   ("steer", ["--lr", "1e-2", "--layers", "0,1"])):
    out = "%s-eval.swad" % fmt
    j = train_json("--text", TRAIN, "--format", fmt, "--steps", "40", "--batch", "4", "--seed", "3",
                   "--eval", OWN, "--eval", OTHER, "-o", out, *extra)
    if not j:
        continue
    for ev in j["evals"]:
        got, n_pred = eval_ppl(ev["text"], "--adapter", out)
        c.check(got == "%.4f" % ev["ppl"] and n_pred == ev["tokens"],
                "%s: sweep eval --adapter gives %s on %s, train printed %.4f" % (fmt, got, ev["text"], ev["ppl"]))
    if fmt == "lora":
        # config_tiny: dim 16, 2 layers, 2 KV heads of 4 (v: 16 -> 8), FFN 24; rank r adds r * (in + out)
        c.check(j["lora"]["targets"] == ["q", "v", "down"] and j["trainable"] == 2 * 2 * ((16 + 16) + (16 + 8) + (24 + 16)),
                "lora on q,v,down at rank 2 of the tiny base: %s scalars" % j["trainable"])
    if fmt == "steer":
        # one vector of dim 16 per steered block; the default is the last of the tiny base's 2 blocks
        want = "0,1" if "--layers" in extra else "1"
        c.check(j["steer"]["layers"] == want and j["trainable"] == 16 * len(want.split(",")) and
                j["adapter_bytes_fp16"] == 2 * j["trainable"],
                "steer %s: %s scalars after blocks %s" % (want, j["trainable"], j["steer"]["layers"]))
    # the unused adapter changes something: without it the same texts give the base's perplexity
    base_ppl, _ = eval_ppl(j["evals"][0]["text"])
    c.check(base_ppl != "%.4f" % j["evals"][0]["ppl"], "%s: the adapter is not the base (%s)" % (fmt, base_ppl))

# ---- evaluation-time variants through sweep eval: noise 0 is the identity, int8 is a small change -------
def eval_line(*args):
    r = run(["eval", BASE, OWN, "--adapter", "steer-eval.swad"] + list(args))
    c.check(r.returncode == 0, "sweep eval %s: exit %d: %s" % (args, r.returncode, r.stderr))
    m = re.search(r": ppl (\S+)  \(nll (\S+) per token.*\)$", r.stdout.strip())
    return (m.group(1), m.group(2), r.stdout) if m else (None, None, r.stdout)


plain, zero, noisy = eval_line(), eval_line("--noise", "0"), eval_line("--noise", "0.1", "--noise-seed", "3")
c.check(plain[0] and zero[:2] == plain[:2], "noise 0 prints the plain perplexity: %s vs %s" % (zero[:2], plain[:2]))
c.check(noisy[0] and noisy[:2] != plain[:2], "noise 0.1 changes the perplexity: %s" % (noisy[:2],))
c.check(eval_line("--noise", "0.1", "--noise-seed", "3")[:2] == noisy[:2], "the noise seed decides the draws")
q8 = eval_line("--adapter-quant", "int8")
# steer after blocks 0 and 1 of dim 16: 32 int8 values and two float32 scales
c.check(q8[0] and q8[:2] != plain[:2] and "adapter int8 per tensor, 40 bytes" in q8[2],
        "int8 round trip: %s" % q8[2].strip())
c.check(abs(float(q8[1]) - float(plain[1])) < 1e-3, "int8 moves the nll by little: %s vs %s" % (q8[1], plain[1]))
for args, names in ((["--adapter-quant", "int8"], "--adapter"), (["--adapter", "steer-eval.swad", "--adapter-quant", "int2"],
                    "--adapter-quant"), (["--noise", "-1"], "--noise")):
    r = run(["eval", BASE, OWN] + args)
    c.check(r.returncode == 2 and names in r.stderr and len(r.stderr.strip().splitlines()) == 1,
            "eval %s: exit %d, %s" % (args, r.returncode, r.stderr))

# ---- the same seed gives the same output bit for bit; another seed another one ----------------------
for fmt, extra in (("lora", ["--rank", "2", "--alpha", "4", "--lr", "1e-2"]), ("full", ["--lr", "3e-3"])):
    args = ["--text", TRAIN, "--format", fmt, "--steps", "30", "--batch", "2", "--eval", OWN, *extra]
    a = train_json(*(args + ["--seed", "11", "-o", "a.swad"]))
    b = train_json(*(args + ["--seed", "11", "-o", "b.swad"]))
    d = train_json(*(args + ["--seed", "12", "-o", "d.swad"]))
    if a and b and d:
        c.check(without_timing(a) == without_timing(b), "%s: seed 11 twice gives the same JSON" % fmt)
        ba, bb, bd = (open(os.path.join(work, x), "rb").read() for x in ("a.swad", "b.swad", "d.swad"))
        c.check(ba == bb, "%s: seed 11 twice writes the same adapter bytes" % fmt)
        c.check(a["loss_curve"] != d["loss_curve"] and ba != bd, "%s: seed 12 trains otherwise" % fmt)

# ---- the random condition: no text needed, its corpus from the seed ---------------------------------
rargs = ["--format", "norm", "--condition", "random", "--lr", "3e-2", "--steps", "20", "--batch", "2", "--eval", OWN]
ra = train_json(*(rargs + ["--seed", "4"]))
rb = train_json(*(rargs + ["--seed", "4"]))
rc_ = train_json(*(rargs + ["--seed", "5"]))
real = train_json(*(rargs[:2] + rargs[4:] + ["--text", TRAIN, "--seed", "4"]))
if ra and rb and rc_ and real:
    c.check(ra["condition"] == "random" and ra["text"] is None and ra["train_tokens_available"] == 20 * 2 * 13,
            "random: steps x batch x (seq + 1) tokens, no text: %s" % ra["train_tokens_available"])
    c.check(without_timing(ra) == without_timing(rb), "random: the same seed gives the same run")
    c.check(ra["loss_curve"] != rc_["loss_curve"], "random: another seed, another corpus")
    c.check(ra["loss_curve"] != real["loss_curve"], "random and real train on different tokens")

# ---- -o is probed before training without touching other files: an OUT.tmp of the user's survives ----
keep, keep_tmp = os.path.join(work, "keep.swad"), os.path.join(work, "keep.swad.tmp")
with open(keep_tmp, "w") as f:
    f.write("not sweep's\n")
before = set(os.listdir(work))
p = subprocess.Popen([sweep, "train", BASE, "--text", TRAIN, "--format", "norm", "--steps", "1000000", "-o", "keep.swad"],
                     cwd=work, env=c.ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
first = p.stdout.readline()   # printed once every input and -o are checked, as training starts
p.send_signal(signal.SIGKILL)
p.communicate()
c.check(first.startswith("sweep train: norm on "), "the long run started: %r" % first)
c.check(open(keep_tmp).read() == "not sweep's\n", "an existing OUT.tmp survives the -o check")
c.check(set(os.listdir(work)) == before, "the -o check leaves no file behind: %s" % (set(os.listdir(work)) ^ before))
os.makedirs(os.path.join(work, "outdir"), exist_ok=True)

# ---- --help ------------------------------------------------------------------------------------------
r = run(["train", "--help"])
c.check(r.returncode == 0 and r.stdout.startswith("usage: sweep train"), "--help: exit %d" % r.returncode)

# ---- bad input: exit 2, one line naming the file or the option, nothing written ----------------------
with open(os.path.join(work, "short.txt"), "w") as f:
    f.write("ka lo")
open(os.path.join(work, "empty.txt"), "w").close()
with open(os.path.join(work, BASE), "rb") as f:
    head = f.read(3000)
with open(os.path.join(work, "cut.sweep"), "wb") as f:
    f.write(head)
ok = ["--text", TRAIN, "--format", "norm"]
cases = [
    ([], "no base"),
    (["nope.sweep"] + ok, "nope.sweep"),
    ([TRAIN] + ok, TRAIN),
    (["cut.sweep"] + ok, "cut.sweep"),
    (["base"] + ok, "base"),
    ([BASE, BASE] + ok, "one base"),
    ([BASE, "--text", "missing.txt", "--format", "norm"], "missing.txt"),
    ([BASE] + ok + ["--eval", "missing-eval.txt"], "missing-eval.txt"),
    ([BASE] + ok + ["--eval", "empty.txt"], "empty.txt"),
    ([BASE, "--text", "short.txt", "--format", "norm"], "short.txt"),
    ([BASE, "--text", TRAIN, "--format", "bogus"], "--format"),
    ([BASE, "--text", TRAIN, "--format", "none"], "--format"),
    ([BASE, "--text", TRAIN], "--format"),
    ([BASE, "--format", "norm"], "--text"),
    ([BASE] + ok + ["--lr", "-1"], "--lr"),
    ([BASE] + ok + ["--lr", "fast"], "--lr"),
    ([BASE] + ok + ["--lr"], "--lr"),
    ([BASE] + ok + ["--steps", "0"], "--steps"),
    ([BASE] + ok + ["--batch", "1.5"], "--batch"),
    ([BASE] + ok + ["--seq", "13"], "--seq"),
    ([BASE] + ok + ["--warmup", "300", "--steps", "10"], "--warmup"),
    ([BASE] + ok + ["--rank", "2"], "--rank"),
    ([BASE, "--text", TRAIN, "--format", "lora", "--rank", "100"], "--rank"),
    ([BASE, "--text", TRAIN, "--format", "lora", "--targets", "q,z"], "--targets"),
    ([BASE] + ok + ["--layers", "1"], "--layers"),
    ([BASE, "--text", TRAIN, "--format", "steer", "--layers", "2"], "--layers"),
    ([BASE, "--text", TRAIN, "--format", "steer", "--layers", "0,x"], "--layers"),
    ([BASE] + ok + ["--betas", "0.9"], "--betas"),
    ([BASE] + ok + ["--seed", "-1"], "--seed"),
    ([BASE] + ok + ["--condition", "sideways"], "--condition"),
    ([BASE] + ok + ["--precision", "fp8"], "--precision"),
    ([BASE] + ok + ["--eval-tokens", "1"], "--eval-tokens"),
    ([BASE] + ok + ["--threads", "0"], "--threads"),
    ([BASE] + ok + ["--tokenizer", "missing.bpe"], "missing.bpe"),
    ([BASE] + ok + ["--tokenizer", TRAIN], TRAIN),
    ([BASE] + ok + ["--bogus"], "--bogus"),
    ([BASE] + ok + ["-o", "no/such/dir/x.swad"], "no/such/dir/x.swad"),
    ([BASE] + ok + ["-o", "./base/../" + BASE], BASE),
    ([BASE] + ok + ["--eval", OWN, "-o", OWN], OWN),
    ([BASE] + ok + ["-o", "base/tokenizer.bpe"], "tokenizer.bpe"),
    ([BASE] + ok + ["-o", "outdir"], "outdir is a directory"),
]
for args, names in cases:
    r = run(["train", "-o", "bad.swad"] + args)   # a later -o wins
    lines = r.stderr.strip().splitlines()
    c.check(r.returncode == 2 and len(lines) == 1 and lines[0].startswith("sweep train: ") and names in lines[0]
            and not r.stdout,
            "%s: exit %d, want 2 and one line naming %s:\n%s%s" % (" ".join(args), r.returncode, names, r.stderr,
                                                                  r.stdout))
c.check(not os.path.exists(os.path.join(work, "bad.swad")), "bad input writes no adapter")
r = run(["eval", BASE, OWN])
c.check(r.returncode == 0, "-o naming an input left the inputs alone: %s" % r.stderr)

c.finish("train.cli")
