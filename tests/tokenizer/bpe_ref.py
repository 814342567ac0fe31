"""A second, independent implementation of byte-level BPE, in pure Python, written from the
descriptions of GPT-2's encoder.py and Hugging Face `tokenizers` (BPE model, ByteLevel and Split
pre-tokenizers, added tokens). It shares no code with engine/tokenizer*.c: the pre-tokenizer regexes
are hand-written scanners over Unicode categories (no regex engine), merges use GPT-2's
"merge every occurrence of the best pair" loop, and training recounts every pair at every step.

Slow by design; used only by check_tokenizer.py on small inputs.
"""
import json
import unicodedata

GPT2_REGEX = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_REGEX = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
                r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")
QWEN2_REGEX = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
               r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")

# Unicode White_Space (what \s means to Hugging Face's Oniguruma regexes)
_WHITE = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {chr(c) for c in range(0x2000, 0x200B)}


def is_space(c):
    return c in _WHITE


def is_letter(c):
    return unicodedata.category(c)[0] == "L"


def is_number(c):
    return unicodedata.category(c)[0] == "N"


def is_other(c):
    return not (is_space(c) or is_letter(c) or is_number(c))


def _run(s, i, pred):
    while i < len(s) and pred(s[i]):
        i += 1
    return i


def _contraction(s, i, caseless):
    if s[i] != "'":
        return None
    for suf in ("s", "t", "re", "ve", "m", "ll", "d"):
        part = s[i + 1:i + 1 + len(suf)]
        if len(part) == len(suf) and all(c == x or (caseless and c == x.upper()) for c, x in zip(part, suf)):
            return i + 1 + len(suf)
    return None


def _space_lookahead(s, i):
    r"""\s+(?!\S), else \s+, at i (s[i] is white space)."""
    j = _run(s, i, is_space)
    if j == len(s):
        return j
    if j - 1 > i:
        return j - 1  # leave the last space to the word that follows
    return j


def _match_gpt2(s, i):
    e = _contraction(s, i, False)
    if e is not None:
        return e
    k = i + 1 if s[i] == " " else i
    for pred in (is_letter, is_number, is_other):
        if k < len(s) and pred(s[k]):
            return _run(s, k, pred)
    return _space_lookahead(s, i)


def _match_llama3(s, i, digits):
    n = len(s)
    e = _contraction(s, i, True)
    if e is not None:
        return e
    c = s[i]
    if c not in "\r\n" and not is_letter(c) and not is_number(c) and i + 1 < n and is_letter(s[i + 1]):
        return _run(s, i + 1, is_letter)
    if is_letter(c):
        return _run(s, i, is_letter)
    if is_number(c):
        return min(_run(s, i, is_number), i + digits)
    k = i + 1 if c == " " else i
    if k < n and is_other(s[k]):
        return _run(s, _run(s, k, is_other), lambda x: x in "\r\n")
    # \s*[\r\n]+ : ends just after the last line break of the white-space run
    j = _run(s, i, is_space)
    last = max((p for p in range(i, j) if s[p] in "\r\n"), default=None)
    if last is not None:
        return last + 1
    return _space_lookahead(s, i)


def split_pieces(text, kind):
    """Pieces of `text` (str) under one of the three pre-tokenizer regexes."""
    out, i = [], 0
    while i < len(text):
        if kind == "gpt2":
            j = _match_gpt2(text, i)
        elif kind == "llama3":
            j = _match_llama3(text, i, 3)
        elif kind == "qwen2":
            j = _match_llama3(text, i, 1)
        else:
            raise ValueError(kind)
        assert j > i, (kind, text[i:i + 10])
        out.append(text[i:j])
        i = j
    return out


def regex_kind(pattern):
    for kind, rx in (("gpt2", GPT2_REGEX), ("llama3", LLAMA3_REGEX), ("qwen2", QWEN2_REGEX)):
        if pattern == rx:
            return kind
    raise ValueError("the reference knows only the GPT-2, Llama 3 and Qwen2 patterns")


def bytes_to_unicode():
    """GPT-2's table: printable Latin-1 bytes stand for themselves, the rest move to 256 + n."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


BYTE_CHAR = bytes_to_unicode()


def to_byte_level(s):
    return "".join(BYTE_CHAR[b] for b in s.encode("utf-8"))


def bpe(symbols, ranks):
    """GPT-2's bpe(): merge all occurrences of the lowest-ranked pair until none is left."""
    word = list(symbols)
    while len(word) > 1:
        pairs = set(zip(word, word[1:]))
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        out, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                out.append(word[i] + word[i + 1])
                i += 2
            else:
                out.append(word[i])
                i += 1
        word = out
    return word


class HfReference:
    """Encodes like Hugging Face `tokenizers` with add_special_tokens=False."""

    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            js = json.load(f)
        model = js["model"]
        assert model.get("type", "BPE") == "BPE"
        self.vocab = model["vocab"]
        self.ignore_merges = bool(model.get("ignore_merges", False))
        self.ranks = {}
        for r, m in enumerate(model["merges"]):
            a, b = m.split(" ") if isinstance(m, str) else m
            self.ranks[(a, b)] = r
        self.added = sorted(((t["content"], t["id"]) for t in js.get("added_tokens") or []), key=lambda x: -len(x[0]))
        self.steps = []  # ("prefix",) or ("split", kind)
        self._pre(js["pre_tokenizer"])
        norm = js.get("normalizer")
        assert norm is None or norm == {"type": "NFC"}
        self.nfc = norm is not None

    def _pre(self, pt):
        if pt["type"] == "Sequence":
            for p in pt["pretokenizers"]:
                self._pre(p)
        elif pt["type"] == "ByteLevel":
            if pt.get("add_prefix_space", True):
                self.steps.append(("prefix",))
            if pt.get("use_regex", True):
                self.steps.append(("split", "gpt2"))
        elif pt["type"] == "Split":
            assert pt["behavior"] == "Isolated"
            self.steps.append(("split", regex_kind(pt["pattern"]["Regex"])))
        else:
            raise ValueError(pt["type"])

    def _segments(self, text):
        """Leftmost-longest split on added tokens: yields str segments and int ids."""
        i = start = 0
        while i < len(text):
            hit = next(((c, t) for c, t in self.added if text.startswith(c, i)), None)
            if hit:
                if i > start:
                    yield text[start:i]
                yield hit[1]
                i += len(hit[0])
                start = i
            else:
                i += 1
        if start < len(text):
            yield text[start:]

    def _pieces(self, seg):
        pieces = [unicodedata.normalize("NFC", seg) if self.nfc else seg]
        for step in self.steps:
            if step[0] == "prefix":
                pieces = [p if p.startswith(" ") else " " + p for p in pieces]
            else:
                pieces = [q for p in pieces for q in split_pieces(p, step[1])]
        return pieces

    def encode(self, text):
        ids = []
        for seg in self._segments(text):
            if isinstance(seg, int):
                ids.append(seg)
                continue
            for piece in self._pieces(seg):
                word = to_byte_level(piece)
                if self.ignore_merges and word in self.vocab:
                    ids.append(self.vocab[word])
                    continue
                ids.extend(self.vocab[s] for s in bpe(list(word), self.ranks))
        return ids


def train(texts, vocab_size, kind, specials=()):
    """Naive BPE training: recount all pairs after every merge. Returns merges as id pairs
    (token 256 + r is merge r), with the fixed tie rule: highest count, then the smaller pair."""
    words = {}
    for text in texts:
        for seg in _split_specials(text, specials):
            for p in split_pieces(seg, kind):
                w = tuple(p.encode("utf-8"))
                words[w] = words.get(w, 0) + 1
    words = [[list(w), c] for w, c in words.items()]
    merges = []
    while 256 + len(merges) + len(specials) < vocab_size:
        counts = {}
        for w, c in words:
            for pair in zip(w, w[1:]):
                counts[pair] = counts.get(pair, 0) + c
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        new = 256 + len(merges)
        merges.append(best)
        for item in words:
            w, out, i = item[0], [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            item[0] = out
    return merges


def _split_specials(text, specials):
    if not specials:
        yield text
        return
    i = start = 0
    longest = sorted(specials, key=len, reverse=True)
    while i < len(text):
        hit = next((s for s in longest if text.startswith(s, i)), None)
        if hit:
            if i > start:
                yield text[start:i]
            i += len(hit)
            start = i
        else:
            i += 1
    if start < len(text):
        yield text[start:]
