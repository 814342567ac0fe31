"""`sweep tokenize` against the pure-Python reference in bpe_ref.py:
  - Hugging Face parity: tokenizer.json files in the GPT-2, Llama 3 and Qwen2 layouts (merges learnt
    by the reference trainer, ids deliberately not in byte order, orphan vocab entries for Llama 3's
    ignore_merges, special tokens), encoded by `sweep tokenize encode` and by the reference;
  - training parity: `sweep tokenize train` learns the same merges, in the same order, as the naive
    reference trainer, for each split;
  - round trips of arbitrary bytes through encode/decode, and exit status 2 with the file named on bad input.

usage: /usr/bin/python3 check_tokenizer.py SWEEP_BINARY WORK_DIR
"""
import json
import os
import random
import struct
import subprocess
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe_ref  # noqa: E402
from texts import EDGE_TEXTS, corpus, long_random, nfc_stress  # noqa: E402

SWEEP, WORK = sys.argv[1], sys.argv[2]
os.makedirs(WORK, exist_ok=True)
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL", what, file=sys.stderr)


def run(*args):
    return subprocess.run([SWEEP, "tokenize", *args], capture_output=True)


def write(name, data):
    path = os.path.join(WORK, name)
    with open(path, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def sweep_encode(tok, text_path):
    out = text_path + ".ids"
    r = run("encode", tok, text_path, "-o", out)
    if r.returncode != 0:
        return None, r.stderr.decode(errors="replace")
    with open(out, "rb") as f:
        raw = f.read()
    return list(struct.unpack("<%di" % (len(raw) // 4), raw)), ""


def byte_level_tokenizer(merges, layout, path):
    """tokenizer.json for merges given as byte-id pairs (token 256 + r = merge r)."""
    b2u = bpe_ref.BYTE_CHAR
    tok_bytes = [bytes([b]) for b in range(256)]
    for a, b in merges:
        tok_bytes.append(tok_bytes[a] + tok_bytes[b])

    def s(i):
        return "".join(b2u[x] for x in tok_bytes[i])

    vocab = {}
    for b in b2u:  # GPT-2's id order: printable bytes first
        vocab[b2u[b]] = len(vocab)
    for i in range(256, len(tok_bytes)):
        vocab.setdefault(s(i), len(vocab))
    added = []
    if layout == "gpt2" or layout == "gpt2-prefix":
        added.append({"id": len(vocab), "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": True, "special": True})
        vocab["<|endoftext|>"] = len(vocab)
    if layout in ("llama3", "qwen2"):
        for orphan in (" wonderful", "    ", "1234"):  # whole words with no merge path: ignore_merges finds them
            vocab.setdefault(bpe_ref.to_byte_level(orphan), len(vocab))
        base = len(vocab) + 7  # a gap in the ids
        for k, content in enumerate(["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                                     "<|endoftext|>"]):
            added.append({"id": base + k, "content": content, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True})
    merge_list = [[s(a), s(b)] if layout != "gpt2" else s(a) + " " + s(b) for a, b in merges]
    model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
             "ignore_merges": layout in ("llama3", "qwen2"), "vocab": vocab, "merges": merge_list}
    byte_level = {"type": "ByteLevel", "add_prefix_space": layout == "gpt2-prefix", "trim_offsets": True,
                  "use_regex": True}
    if layout in ("llama3", "qwen2"):
        rx = bpe_ref.LLAMA3_REGEX if layout == "llama3" else bpe_ref.QWEN2_REGEX
        pre = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": rx}, "behavior": "Isolated", "invert": False},
            dict(byte_level, use_regex=False)]}
    else:
        pre = byte_level
    js = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
          "normalizer": {"type": "NFC"} if layout == "qwen2" else None,
          "pre_tokenizer": pre, "post_processor": {"type": "ByteLevel", "add_prefix_space": True,
                                                   "trim_offsets": False, "use_regex": True},
          "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
          "model": model}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(js, f, ensure_ascii=False, indent=1)
    return path


def nfc_check():
    """NFC alone: decode(encode(x)) of an NFC tokenizer is NFC(x) (Python's unicodedata, Unicode %s)."""
    tok = os.path.join(WORK, "tokenizer-qwen2.json")
    for k in range(4):
        text = nfc_stress(100 + k) if k < 3 else EDGE_TEXTS[15] + EDGE_TEXTS[16] + EDGE_TEXTS[14]
        p = write("nfc-%d.txt" % k, text)
        ids, err = sweep_encode(tok, p)
        r = run("decode", tok, p + ".ids")
        check(r.returncode == 0 and r.stdout.decode() == unicodedata.normalize("NFC", text),
              "NFC of stress text %d (%s)" % (k, err))


def hf_parity():
    text = corpus(1, 30000)
    for layout, split in (("gpt2", "gpt2"), ("gpt2-prefix", "gpt2"), ("llama3", "llama3"), ("qwen2", "qwen2")):
        merges = bpe_ref.train([text], 256 + 300, split)
        path = byte_level_tokenizer(merges, layout, os.path.join(WORK, "tokenizer-%s.json" % layout))
        ref = bpe_ref.HfReference(path)
        texts = EDGE_TEXTS + [long_random(7), nfc_stress(8), corpus(2, 20000)]
        paths = [write("hf-%s-%d.txt" % (layout, i), t) for i, t in enumerate(texts)]
        r = run("encode", path, *paths)  # one line of ids per file
        lines = r.stdout.decode().split("\n")
        check(r.returncode == 0 and len(lines) == len(texts) + 1, "encode %s: %s" % (layout, r.stderr.decode()))
        bad = []
        for i, t in enumerate(texts):
            ids = [int(x) for x in lines[i].split()] if i < len(lines) else None
            want = ref.encode(t)
            if ids != want:
                bad.append(i)
                if len(bad) <= 3:
                    print("  %s text %d %r:\n    sweep %s\n    ref   %s" % (layout, i, t[:60], ids and ids[:40],
                                                                       want[:40]), file=sys.stderr)
        check(not bad, "HF parity %s: %d of %d texts differ %s" % (layout, len(bad), len(texts), bad[:10]))
        # decode gives the text back (the vocab's byte-level strings undone)
        p = write("hf-%s-rt.txt" % layout, texts[-1])
        sweep_encode(path, p)
        r = run("decode", path, p + ".ids")
        want = (" " if layout == "gpt2-prefix" else "") + texts[-1]  # the prefix space stays, as in HF
        if layout == "qwen2":
            want = unicodedata.normalize("NFC", want)
        check(r.returncode == 0 and r.stdout == want.encode(), "HF decode round trip %s" % layout)


def training_parity():
    text = corpus(3, 25000) + "<|endoftext|>" + corpus(4, 5000)
    path = write("train.txt", text)
    for split in ("llama3", "gpt2", "qwen2"):
        out = os.path.join(WORK, "train-%s.bpe" % split)
        r = run("train", path, "--vocab", "700", "-o", out, "--split", split, "--special", "<|endoftext|>", "-q")
        check(r.returncode == 0, "train %s: %s" % (split, r.stderr.decode(errors="replace")))
        if r.returncode:
            continue
        with open(out) as f:
            lines = f.read().split("\n")
        n = int(lines[2].split()[1])
        got = [tuple(map(int, l.split())) for l in lines[4:4 + n]]
        want = bpe_ref.train([text], 700, split, specials=["<|endoftext|>"])
        first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
        check(got == want, "training %s: %d vs %d merges, first difference at %s" % (split, len(got), len(want), first))
        check(lines[4 + n] == "<|endoftext|>".encode().hex(), "special token line")
        # the trained tokenizer encodes its own corpus to the reference's ids
        ids, _ = sweep_encode(out, path)
        ranks = {tuple(m): 256 + r for r, m in enumerate(want)}
        ref_ids = []
        for seg in text.split("<|endoftext|>"):
            for p in bpe_ref.split_pieces(seg, split):
                word = list(p.encode("utf-8"))
                while True:  # merge the lowest-ranked pair everywhere, as GPT-2 does
                    pairs = [(ranks[(x, y)], (x, y)) for x, y in zip(word, word[1:]) if (x, y) in ranks]
                    if not pairs:
                        break
                    new, (x, y) = min(pairs)
                    merged, i = [], 0
                    while i < len(word):
                        if i + 1 < len(word) and (word[i], word[i + 1]) == (x, y):
                            merged.append(new)
                            i += 2
                        else:
                            merged.append(word[i])
                            i += 1
                    word = merged
                ref_ids.extend(word)
            ref_ids.append(256 + len(want))
        ref_ids.pop()
        check(ids == ref_ids, "encoding with the trained %s tokenizer matches the reference" % split)


def round_trips():
    tok = os.path.join(WORK, "train-llama3.bpe")
    rnd = random.Random(5)
    for k in range(5):
        data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 20000)))
        if k == 1:
            data = b"\x00" * 100 + b"\xff\xfe" + "é日".encode()[:-1] + b" text\x00 \xc3"
        p = write("rt-%d.bin" % k, data)
        ids, err = sweep_encode(tok, p)
        r = run("decode", tok, p + ".ids", "-o", p + ".out")
        with open(p + ".out", "rb") as f:
            back = f.read()
        check(ids is not None and r.returncode == 0 and back == data, "byte round trip %d (%d bytes)" % (k, len(data)))
    r = run("encode", tok, write("small.txt", "hi there"))
    check(r.returncode == 0 and r.stdout.strip() and all(x.isdigit() for x in r.stdout.split()),
          "encode without -o prints ids")
    r = run("info", tok)
    check(r.returncode == 0 and b"vocab:       700" in r.stdout, "info shows the vocab")


def bad_inputs():
    good = os.path.join(WORK, "train-llama3.bpe")
    text = write("bad-text.txt", "hello")
    cases = [
        (["encode", write("bad1.bpe", "sweep-bpe 1\nsplit llama3\nmerges 2\nspecials 0\n97 98\n"), text],
         "bad1.bpe:6"),
        (["encode", write("bad2.bpe", "sweep-bpe 9\n"), text], "bad2.bpe:1"),
        (["info", write("bad3.json", '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},\n "x": }')],
         "bad3.json:2"),
        (["info", write("bad4.json", '{"model": {"type": "WordPiece", "vocab": {"a": 0}}}')],
         "bad4.json: model.type"),
        (["info", write("bad5.json", json.dumps({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                                                 "pre_tokenizer": {"type": "ByteLevel"}}))],
         "bad5.json: model.vocab: no token for byte 0x00"),
        (["info", os.path.join(WORK, "does-not-exist.json")], "does-not-exist.json: cannot read"),
        (["decode", good, write("bad6.ids", b"\x01\x00\x00")], "bad6.ids: 3 bytes"),
        (["decode", good, write("bad7.ids", struct.pack("<2i", 5, 70000))], "bad7.ids: token 1: id 70000"),
        (["train", text, "--vocab", "12x", "-o", os.path.join(WORK, "x.bpe")], "--vocab: '12x' is not an integer"),
        (["train", text, "--vocab", "300", "-o", os.path.join(WORK, "x.bpe"), "--split", "bert"], "split 'bert'"),
        (["frobnicate"], "'frobnicate' is not a tokenize command"),
    ]
    for args, want in cases:
        r = run(*args)
        err = r.stderr.decode(errors="replace")
        check(r.returncode == 2 and want in err and err.count("\n") <= 2,
              "%s: want exit 2 and '%s', got %d '%s'" % (" ".join(args[:1]), want, r.returncode, err.strip()))


hf_parity()
nfc_check()
training_parity()
round_trips()
bad_inputs()
print("check_tokenizer: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
