// Our own tokenizer file format (.bpe): save and load; tokenizer_open reads either format.
//
// .bpe grammar (text, one item per line, '\n' line ends):
//   sweep-bpe 1
//   split <llama3|gpt2|qwen2>
//   merges <N>
//   specials <M>
//   N lines "<left> <right>": merge r joins tokens left and right (both < 256 + r) into token 256 + r
//   M lines "<hex>": the bytes of special token 256 + N + m, as lowercase or uppercase hex
// Tokens 0..255 are the single bytes. The vocab size is 256 + N + M.
#include "engine/tokenizer_impl.h"
#include "engine/util.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// Our .bpe format

int tokenizer_save(const Tokenizer *t, const char *path, char *err, size_t errlen) {
    if (!t->own) {
        errf(err, errlen, "%s: only tokenizers trained by sweep can be saved as .bpe "
                 "(this one came from a Hugging Face file)", path);
        return -1;
    }
    size_t plen = strlen(path);
    char *tmp = xmalloc(plen + 16);
    snprintf(tmp, plen + 16, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        errf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    fprintf(f, "sweep-bpe 1\nsplit %s\nmerges %d\nspecials %d\n", t->split_name, t->n_merges, t->n_added);
    for (int r = 0; r < t->n_merges; r++) fprintf(f, "%d %d\n", t->merge_left[r], t->merge_right[r]);
    for (int id = 256 + t->n_merges; id < t->n_vocab; id++) {
        for (int i = 0; i < t->tok_len[id]; i++) fprintf(f, "%02x", (unsigned char)t->blob[t->tok_off[id] + i]);
        fputc('\n', f);
    }
    int bad = ferror(f);
    bad |= fflush(f) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path)) {
        errf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

typedef struct {
    const char *name, *p, *end;
    int line;
    char *err; size_t errlen;
} LineReader;

// Next line without its '\n' into *s/*n; 0 at the end of the data.
static int next_line(LineReader *r, const char **s, size_t *n) {
    if (r->p >= r->end) return 0;
    const char *nl = memchr(r->p, '\n', r->end - r->p);
    const char *e = nl ? nl : r->end;
    *s = r->p;
    *n = e - r->p;
    r->p = nl ? nl + 1 : r->end;
    r->line++;
    return 1;
}

// A decimal integer in [0, max] at *s (advanced past it); -1 if malformed.
static long parse_uint(const char **s, const char *end, long max) {
    const char *p = *s;
    long v = 0;
    if (p >= end || *p < '0' || *p > '9') return -1;
    if (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9') return -1; // no leading zeros
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > max) return -1;
    }
    *s = p;
    return v;
}

// "<keyword> <uint>" on one whole line
static long header_number(LineReader *r, const char *keyword, long max) {
    const char *s;
    size_t n, k = strlen(keyword);
    if (!next_line(r, &s, &n)) {
        errf(r->err, r->errlen, "%s:%d: file ends before the '%s' line", r->name, r->line + 1, keyword);
        return -1;
    }
    const char *end = s + n, *p = s + k + 1;
    long v;
    if (n <= k + 1 || memcmp(s, keyword, k) || s[k] != ' ' || (v = parse_uint(&p, end, max)) < 0 || p != end) {
        errf(r->err, r->errlen, "%s:%d: expected '%s <number 0..%ld>'", r->name, r->line, keyword, max);
        return -1;
    }
    return v;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

Tokenizer *tokenizer_load_mem(const char *name, const char *data, size_t len, char *err, size_t errlen) {
    LineReader r = { name, data, data + len, 0, err, errlen };
    const char *s;
    size_t n;
    if (!next_line(&r, &s, &n) || n < 10 || memcmp(s, "sweep-bpe ", 10)) {
        errf(err, errlen, "%s:1: not a sweep tokenizer (the first line must be 'sweep-bpe 1')", name);
        return NULL;
    }
    if (n != 11 || s[10] != '1') {
        errf(err, errlen, "%s:1: unsupported version '%.*s' (this build reads version 1)", name,
                 (int)(n - 10 > 20 ? 20 : n - 10), s + 10);
        return NULL;
    }
    if (!next_line(&r, &s, &n) || n < 6 || memcmp(s, "split ", 6)) {
        errf(err, errlen, "%s:2: expected 'split <llama3|gpt2|qwen2>'", name);
        return NULL;
    }
    char split[16];
    if (n - 6 >= sizeof split || (memcpy(split, s + 6, n - 6), split[n - 6] = 0, !tok_split_regex(split))) {
        errf(err, errlen, "%s:2: unknown split '%.*s' (expected llama3, gpt2 or qwen2)", name,
                 (int)(n - 6 > 32 ? 32 : n - 6), s + 6);
        return NULL;
    }
    long n_merges = header_number(&r, "merges", 1 << 24);
    if (n_merges < 0) return NULL;
    long n_special = header_number(&r, "specials", 1 << 16);
    if (n_special < 0) return NULL;

    Tokenizer *t = tok_new_bytes(split);
    for (long m = 0; m < n_merges; m++) {
        if (!next_line(&r, &s, &n)) {
            errf(err, errlen, "%s:%d: file ends after %ld of %ld merges", name, r.line + 1, m, n_merges);
            goto fail;
        }
        const char *p = s, *end = s + n;
        long a = parse_uint(&p, end, 255 + m), b = -1;
        if (a >= 0 && p < end && *p == ' ') { p++; b = parse_uint(&p, end, 255 + m); }
        if (a < 0 || b < 0 || p != end) {
            errf(err, errlen, "%s:%d: merge %ld: expected '<left> <right>' with ids below %ld", name, r.line,
                     m, 256 + m);
            goto fail;
        }
        if (pairmap_find(&t->merges, (int)a, (int)b) >= 0) {
            errf(err, errlen, "%s:%d: merge %ld: pair %ld %ld appears twice", name, r.line, m, a, b);
            goto fail;
        }
        int la = t->tok_len[a], lb = t->tok_len[b], id = (int)(256 + m);
        char *buf = xmalloc(la + lb);
        memcpy(buf, t->blob + t->tok_off[a], la);
        memcpy(buf + la, t->blob + t->tok_off[b], lb);
        tok_set_token(t, id, buf, la + lb);
        free(buf);
        tok_add_merge(t, (int)a, (int)b, id);
    }
    for (long k = 0; k < n_special; k++) {
        if (!next_line(&r, &s, &n)) {
            errf(err, errlen, "%s:%d: file ends after %ld of %ld specials", name, r.line + 1, k, n_special);
            goto fail;
        }
        if (n == 0 || n % 2 || n > 512) {
            errf(err, errlen, "%s:%d: special %ld: expected 2 to 512 hex digits", name, r.line, k);
            goto fail;
        }
        char buf[256];
        for (size_t i = 0; i < n / 2; i++) {
            int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                errf(err, errlen, "%s:%d: special %ld: '%c%c' is not a hex byte", name, r.line, k, s[2 * i],
                         s[2 * i + 1]);
                goto fail;
            }
            buf[i] = (char)(hi * 16 + lo);
        }
        buf[n / 2] = 0;
        for (int j = 0; j < t->n_added; j++)
            if (t->added[j].len == (int)(n / 2) && !memcmp(t->added[j].text, buf, n / 2)) {
                errf(err, errlen, "%s:%d: special %ld repeats special %d", name, r.line, k, j);
                goto fail;
            }
        int id = (int)(256 + n_merges + k);
        tok_set_token(t, id, buf, (int)(n / 2));
        tok_add_added(t, id, buf, (int)(n / 2), 0, 0);
    }
    if (next_line(&r, &s, &n)) {
        errf(err, errlen, "%s:%d: unexpected data after the last special token", name, r.line);
        goto fail;
    }
    const char *re = tok_split_regex(split);
    if (tok_add_split(t, re, strlen(re), PRE_SPLIT_ISOLATED, err, errlen)) goto fail;
    tok_finish(t);
    return t;
fail:
    tokenizer_free(t);
    return NULL;
}

static char *read_or_err(const char *path, size_t *len, char *err, size_t errlen) {
    char *data = read_whole_file(path, len);
    if (!data) errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    return data;
}

Tokenizer *tokenizer_open(const char *path, char *err, size_t errlen) {
    size_t len;
    char *data = read_or_err(path, &len, err, errlen);
    if (!data) return NULL;
    size_t i = 0;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r')) i++;
    Tokenizer *t = i < len && data[i] == '{' ? tokenizer_load_hf_mem(path, data, len, err, errlen)
                                            : tokenizer_load_mem(path, data, len, err, errlen);
    free(data);
    return t;
}
