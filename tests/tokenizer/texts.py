"""Test texts shared by check_tokenizer.py and check_hf_real.py: edge cases of the pre-tokenizer
regexes and a deterministic mixed-script corpus."""
import random


def corpus(seed, n_chars):
    """Mixed text: English with contractions, code, numbers, several scripts, odd white space."""
    rnd = random.Random(seed)
    words = ("the of and to in is it that was for on are with as I his they be at one have this from or had by "
             "word but what some we can out other were all there when up use your how said an each she which do "
             "their time if will way about many then them write would like so these her long make thing see him "
             "two has look more day could go come did number sound no most people my over know water than call "
             "café naïve résumé über straße Ελληνικά καλημέρα русский язык 日本語 東京 한국어 עברית مرحبا").split()
    glue = [" ", " ", " ", " ", ", ", ". ", "\n", "  ", "\t", "'s ", "'t ", "'re ", "'LL ", " - ", "\n\n", "; ",
            ": ", "!\n", "?", " (", ") ", " \"", "\" ", "\r\n", "\u00a0", " 12", " 2024", " 3.14", " 1234567 ",
            "x = f(y) + 1\n", "    return a[i]\n", " 😀 ", "e\u0301", " #", "...", " $5"]
    out = []
    size = 0
    while size < n_chars:
        w = rnd.choice(words)
        if rnd.random() < 0.1:
            w = w.capitalize()
        g = rnd.choice(glue)
        out.append(w + g)
        size += len(w) + len(g)
    return "".join(out)


EDGE_TEXTS = [
    "", "Hello world", " leading space", "trailing space ", "  two  spaces  ", "   ", "\n", " \n ",
    "\n\n\nnewlines\r\n\r\nwindows\r\n", "tabs\tand\t\ttabs\t", "a \t\n b",
    "I'm you're he's we've they'll I'd can't DON'T You'Re IT'S 'tis 's", "rock'n'roll o'clock ''",
    "1 12 123 1234 12345 123456789 3.14159 1,000,000 ٣٤٥٦ ²³ Ⅻ x2y33z444",
    "naïve café résumé Ελληνικά русский 日本語のテキスト 한국어 עברית مرحبا",
    "e\u0301 a\u0308bc \u0301start", "😀 👍🏽 family 👨\u200d👩\u200d👧 ok",
    "a\u00a0b\u3000c\u2003d x\u2028y \u0085z", "d  \u180e\u180ex \x1c\x1dy\x1f z \u180e \u200b\ufeff w", "!!! ??? ... --- ((x)) {\"json\": [1, 2]}",
    "def f(x):\n    return x**2\n\n\nclass A:\n\tpass\n", "end with newline\n", "  \n\n  x",
    "before<|endoftext|>after", "<|endoftext|><|endoftext|>", "<|endoftext", "x <|begin_of_text|> y",
    "<|reserved_special_token_0|>z <|end_of_text|>", "the quick brown fox wonderful wonderfully",
    "a" * 500, "ab" * 300, " " * 1000 + "x", "\n" * 50 + "y",
]


def long_random(seed):
    rnd = random.Random(seed)
    return "".join(rnd.choice("aeiou bcdt\n") for _ in range(3000))


def nfc_stress(seed):
    """Characters that decompose, reorder and compose: accents, stacked marks, Hangul, singletons."""
    rnd = random.Random(seed)
    pool = ("aeoAEOuUnNcC\u00e9\u00c5\u1e69\u01d5\u212b\u2126\u0344\u0958\uf900\u1100\u1161\u11a8"
            "\uac00\uac01\u0b47\u0b3e\u0300\u0301\u0308\u0323\u0327\u0307\u031b\u0345\u05b0\u0e38 ")
    return "".join(rnd.choice(pool) for _ in range(4000))


def all_code_points(seed):
    """Every assigned code point (of this Python's Unicode) once, shuffled into short runs between
    spaces, tabs, newlines, digits and contractions: every category the regexes and NFC can meet."""
    import unicodedata
    rnd = random.Random(seed)
    cps = [c for c in range(0x20, 0x110000) if unicodedata.category(chr(c)) not in ("Cs", "Co", "Cn")]
    rnd.shuffle(cps)
    out, i = [], 0
    while i < len(cps):
        k = rnd.randint(1, 7)
        out.append("".join(map(chr, cps[i:i + k])))
        out.append(rnd.choice([" ", "  ", "\n", " ", "\t", "", " 12", "'s "]))
        i += k
    return "".join(out)
