// Pre-tokenization: the built-in split regexes, the pre-tokenizer's steps (regex splits that read \s as
// Hugging Face's Oniguruma does, a prefix space) and tok_pieces, which cuts a text into pieces and
// added tokens.
#include "engine/tokenizer_impl.h"
#include "engine/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char TOKENIZER_SPLIT_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char TOKENIZER_SPLIT_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char TOKENIZER_SPLIT_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const char *tok_split_regex(const char *name) {
    if (!strcmp(name, "llama3")) return TOKENIZER_SPLIT_LLAMA3;
    if (!strcmp(name, "gpt2")) return TOKENIZER_SPLIT_GPT2;
    if (!strcmp(name, "qwen2")) return TOKENIZER_SPLIT_QWEN2;
    return NULL;
}

// Unicode White_Space, which is what \s means to Oniguruma (the regex engine of Hugging Face
// `tokenizers`); PCRE2's \s also takes U+180E.
#define WHITE_SPACE_CLASS "\\t-\\r\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

// The pattern with \s and \S spelled out as White_Space classes (\S inside a [...] class is kept).
static char *spell_out_spaces(const char *re, size_t len, size_t *out_len) {
    size_t cap = len * 4 + 256, n = 0;
    char *out = xmalloc(cap);
    int in_class = 0;
#define EMIT(str) do { size_t l_ = strlen(str); if (n + l_ + 2 > cap) { cap = 2 * (n + l_) + 256; \
        out = realloc(out, cap); if (!out) { fprintf(stderr, "sweep: out of memory\n"); exit(3); } } \
        memcpy(out + n, str, l_); n += l_; } while (0)
    for (size_t i = 0; i < len;) {
        char c = re[i], one[3] = { c, 0, 0 };
        if (c == '\\' && i + 1 < len) {
            char d = re[i + 1];
            if (d == 's') EMIT(in_class ? WHITE_SPACE_CLASS : "[" WHITE_SPACE_CLASS "]");
            else if (d == 'S' && !in_class) EMIT("[^" WHITE_SPACE_CLASS "]");
            else { one[1] = d; EMIT(one); }
            i += 2;
            continue;
        }
        EMIT(one);
        i++;
        if (!in_class && c == '[') {
            in_class = 1;
            if (i < len && re[i] == '^') { EMIT("^"); i++; }
            if (i < len && re[i] == ']') { EMIT("]"); i++; } // a ']' first in a class is literal
        } else if (in_class && c == '[' && i < len && re[i] == ':') { // [:posix:] inside a class
            while (i < len && !(re[i] == ']' && re[i - 1] == ':')) { one[0] = re[i++]; one[1] = 0; EMIT(one); }
            if (i < len) { EMIT("]"); i++; }
        } else if (in_class && c == ']') {
            in_class = 0;
        }
    }
#undef EMIT
    *out_len = n;
    return out;
}

int tok_add_split(Tokenizer *t, const char *regex, size_t len, int kind, char *err, size_t errlen) {
    int code;
    PCRE2_SIZE at;
    size_t n;
    char *spelled = spell_out_spaces(regex, len, &n);
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)spelled, n, PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
                                   &code, &at, NULL);
    free(spelled);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        (void)at; // an offset into the spelled-out pattern would mislead
        errf(err, errlen, "regex does not compile: %s", (char *)msg);
        return -1;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); // without JIT (unsupported CPU) matching is slower, not wrong
    t->steps = realloc(t->steps, (t->n_steps + 1) * sizeof *t->steps);
    if (!t->steps) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
    PreStep *s = &t->steps[t->n_steps++];
    s->kind = kind;
    s->re = re;
    s->md = pcre2_match_data_create_from_pattern(re, NULL);
    return 0;
}

void tok_add_prefix_space(Tokenizer *t) {
    t->steps = realloc(t->steps, (t->n_steps + 1) * sizeof *t->steps);
    if (!t->steps) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
    t->steps[t->n_steps++] = (PreStep){ PRE_PREFIX_SPACE, NULL, NULL };
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenization

// Unicode White_Space at p (UTF-8); returns its length in bytes, or 0.
static int white_space_at(const unsigned char *p, size_t n) {
    if (n >= 1 && ((p[0] >= 9 && p[0] <= 13) || p[0] == ' ')) return 1;
    if (n >= 2 && p[0] == 0xC2 && (p[1] == 0x85 || p[1] == 0xA0)) return 2;
    if (n >= 3) {
        unsigned cp = ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
        if ((p[0] & 0xF0) != 0xE0 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
            cp == 0x205F || cp == 0x3000)
            return 3;
    }
    return 0;
}

// Length of the white space that ends at p[n] (whole UTF-8 characters, scanning backwards).
static size_t white_space_before(const unsigned char *p, size_t n) {
    size_t end = n;
    for (;;) {
        if (end >= 1 && white_space_at(p + end - 1, 1) == 1) end -= 1;
        else if (end >= 2 && white_space_at(p + end - 2, 2) == 2) end -= 2;
        else if (end >= 3 && white_space_at(p + end - 3, 3) == 3) end -= 3;
        else break;
    }
    return n - end;
}

static size_t utf8_len_at(const unsigned char *p, size_t n) {
    size_t l = p[0] < 0x80 ? 1 : p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC0 ? 2 : 1;
    return l > n ? n : l;
}

static void run_steps(Tokenizer *t, int step, const char *s, size_t n, const PieceSink *sink);

static void run_split(Tokenizer *t, int step, const char *s, size_t n, const PieceSink *sink) {
    PreStep *st = &t->steps[step];
    size_t pos = 0, gap = 0;
    while (pos < n) {
        int rc = pcre2_match(st->re, (PCRE2_SPTR)s, n, pos, 0, st->md, NULL);
        if (rc < 0) break; // no match (or a matching limit): the rest is one unmatched piece
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
        size_t a = ov[0], b = ov[1];
        if (b <= a) { // an empty match splits nothing: search again one character on
            pos = a + utf8_len_at((const unsigned char *)s + a, n - a);
            continue;
        }
        if (a > gap && st->kind != PRE_SPLIT_KEEP_MATCHES) run_steps(t, step + 1, s + gap, a - gap, sink);
        if (st->kind != PRE_SPLIT_REMOVED) run_steps(t, step + 1, s + a, b - a, sink);
        pos = gap = b;
    }
    if (gap < n && st->kind != PRE_SPLIT_KEEP_MATCHES) run_steps(t, step + 1, s + gap, n - gap, sink);
}

static void run_steps(Tokenizer *t, int step, const char *s, size_t n, const PieceSink *sink) {
    if (!n) return;
    if (step == t->n_steps) { sink->piece(sink->ctx, s, n); return; }
    if (t->steps[step].kind == PRE_PREFIX_SPACE) {
        if (s[0] == ' ') { run_steps(t, step + 1, s, n, sink); return; }
        char small[256], *buf = n + 1 <= sizeof small ? small : xmalloc(n + 1);
        buf[0] = ' ';
        memcpy(buf + 1, s, n);
        run_steps(t, step + 1, buf, n + 1, sink);
        if (buf != small) free(buf);
        return;
    }
    run_split(t, step, s, n, sink);
}

// The leftmost added token in s[from..n), longest first; *start/*end include lstrip/rstrip white space.
static int find_added(const Tokenizer *t, const char *s, size_t n, size_t from, size_t *start, size_t *end) {
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = from; i < n; i++) {
        int lo = t->added_start[u[i]], hi = t->added_start[u[i] + 1];
        for (int k = lo; k < hi; k++) {
            const AddedToken *a = &t->added[k];
            if ((size_t)a->len > n - i || memcmp(s + i, a->text, a->len)) continue;
            size_t st = i, en = i + a->len;
            if (a->lstrip) st -= white_space_before(u + from, i - from);
            if (a->rstrip) {
                int w;
                while (en < n && (w = white_space_at(u + en, n - en)) > 0) en += w;
            }
            *start = st;
            *end = en;
            return a->id;
        }
    }
    return -1;
}

void tok_pieces(Tokenizer *t, const char *text, size_t len, const PieceSink *sink) {
    size_t pos = 0;
    while (pos < len) {
        size_t a = len, b = len;
        int id = t->n_added ? find_added(t, text, len, pos, &a, &b) : -1;
        if (id < 0) a = b = len;
        size_t nn;
        char *normal = t->nfc && a > pos ? tok_nfc(text + pos, a - pos, &nn) : NULL;
        if (normal) run_steps(t, 0, normal, nn, sink);
        else run_steps(t, 0, text + pos, a - pos, sink);
        free(normal);
        if (id >= 0) sink->added(sink->ctx, id);
        pos = b;
    }
}
