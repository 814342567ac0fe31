"""Option values of every subcommand go through one parser (cli/options.c): a value that is not a whole
number or a number in the option's range exits 2 with exactly one line on stderr, "sweep CMD: OPT: ...",
naming the option and the value, and nothing on stdout. Includes the cases the old parsers let through
(sweep pretrain cast 2.5 to 2 and only refused negatives; sweep eval took an empty string as 0)."""
import subprocess
import sys

sweep = sys.argv[1]
cases = [
    # (arguments, option named)
    (["pretrain", "--steps", "2.5"], "--steps"),
    (["pretrain", "--vocab", "12"], "--vocab"),
    (["pretrain", "--lr", "0"], "--lr"),
    (["pretrain", "--threads", "1e3"], "--threads"),
    (["pretrain", "--checkpoint-every", "-1"], "--checkpoint-every"),
    (["eval", "m.sweep", "t.txt", "--seq", ""], "--seq"),
    (["eval", "m.sweep", "t.txt", "--batch", "0"], "--batch"),
    (["bench", "--threads", "two"], "--threads"),
    (["plan", "x.json", "--ranks", "0"], "--ranks"),
    (["plan", "x.json", "--gflops", "-1"], "--gflops"),
    (["import", "hf", "out.sweep", "--context", "0"], "--context"),
    (["fixtures", "--eval", "99"], "--eval"),
    (["fixtures", "--eval-bytes", "12k"], "--eval-bytes"),
    (["tokenize", "train", "t.txt", "-o", "x.bpe", "--vocab", "12x"], "--vocab"),
    (["train", "b.sweep", "--text", "t.txt", "--format", "norm", "--steps", "0"], "--steps"),
    (["train", "b.sweep", "--text", "t.txt", "--format", "norm", "--lr", "nan"], "--lr"),
    (["run", "x.json", "--grace", "soon"], "--grace"),
    (["run", "x.json", "--threads", "1.5"], "--threads"),
]
passed = failed = 0
for args, opt in cases:
    r = subprocess.run([sweep] + args, capture_output=True, text=True, timeout=60)
    lines = r.stderr.splitlines()
    value = args[args.index(opt) + 1]
    want = "sweep %s: %s: '%s' is not " % (args[0], opt, value)
    ok = r.returncode == 2 and r.stdout == "" and lines[:1] and lines[0].startswith(want)
    ok = ok and (len(lines) == 1 or args[0] == "tokenize")   # tokenize adds its "--help for usage" line
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL %s: exit %d, stderr %r (expected one line starting %r)" % (" ".join(args), r.returncode,
                                                                               r.stderr[:300], want))
print("cli.options: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
