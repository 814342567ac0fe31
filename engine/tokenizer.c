// Byte-level BPE: encode, decode, and our own .bpe file format.
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

const char TOKENIZER_SPLIT_GPT2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char TOKENIZER_SPLIT_LLAMA3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char TOKENIZER_SPLIT_QWEN2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// Pieces longer than this are not cached: they rarely repeat and would crowd the cache out.
#define CACHE_MAX_PIECE 64
#define CACHE_MAX_ENTRIES (1u << 20)

const char *tok_split_regex(const char *name) {
    if (!strcmp(name, "llama3")) return TOKENIZER_SPLIT_LLAMA3;
    if (!strcmp(name, "gpt2")) return TOKENIZER_SPLIT_GPT2;
    if (!strcmp(name, "qwen2")) return TOKENIZER_SPLIT_QWEN2;
    return NULL;
}

// ---------------------------------------------------------------------------------------------
// StrMap

static uint64_t str_hash(const char *p, size_t n) {
    uint64_t h = fnv1a64(p, n, FNV1A64_INIT);
    return h ? h : 1;
}

static void strmap_grow(StrMap *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    StrEntry *e = xcalloc(cap, sizeof *e);
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->e[i].h) continue;
        size_t j = m->e[i].h & (cap - 1);
        while (e[j].h) j = (j + 1) & (cap - 1);
        e[j] = m->e[i];
    }
    free(m->e);
    m->e = e;
    m->cap = cap;
}

long strmap_get(const StrMap *m, const char *key, size_t klen, const int **vals, uint32_t *nvals) {
    if (!m->cap) return -1;
    uint64_t h = str_hash(key, klen);
    for (size_t j = h & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        const StrEntry *e = &m->e[j];
        if (!e->h) return -1;
        if (e->h == h && e->key_len == klen && !memcmp(m->keys + e->key_off, key, klen)) {
            if (vals) *vals = m->vals + e->val_off;
            if (nvals) *nvals = e->val_len;
            return (long)j;
        }
    }
}

long strmap_put(StrMap *m, const char *key, size_t klen, const int *vals, uint32_t nvals) {
    if ((m->n + 1) * 2 > m->cap) strmap_grow(m);
    if (m->nkeys + klen > m->capkeys) {
        m->capkeys = (m->nkeys + klen) * 2 + 4096;
        m->keys = realloc(m->keys, m->capkeys);
        if (!m->keys) { fprintf(stderr, "sweep: out of memory (tokenizer keys)\n"); exit(3); }
    }
    if (m->nvals + nvals > m->capvals) {
        m->capvals = (m->nvals + nvals) * 2 + 1024;
        m->vals = realloc(m->vals, m->capvals * sizeof *m->vals);
        if (!m->vals) { fprintf(stderr, "sweep: out of memory (tokenizer values)\n"); exit(3); }
    }
    uint64_t h = str_hash(key, klen);
    size_t j = h & (m->cap - 1);
    while (m->e[j].h) j = (j + 1) & (m->cap - 1);
    StrEntry *e = &m->e[j];
    e->h = h;
    e->key_off = m->nkeys; e->key_len = (uint32_t)klen;
    e->val_off = m->nvals; e->val_len = nvals;
    if (klen) memcpy(m->keys + m->nkeys, key, klen);
    if (nvals) memcpy(m->vals + m->nvals, vals, nvals * sizeof *vals);
    m->nkeys += klen;
    m->nvals += nvals;
    m->n++;
    return (long)j;
}

void strmap_clear(StrMap *m) {
    if (m->e) memset(m->e, 0, m->cap * sizeof *m->e);
    m->n = m->nkeys = m->nvals = 0;
}

void strmap_free(StrMap *m) {
    free(m->e); free(m->keys); free(m->vals);
    memset(m, 0, sizeof *m);
}

// ---------------------------------------------------------------------------------------------
// PairMap

static size_t pair_slot(uint64_t key, size_t cap) {
    uint64_t h = key * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 20) & (cap - 1);
}

static void pairmap_grow(PairMap *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint64_t *key = xmalloc(cap * sizeof *key);
    int *rank = xmalloc(cap * sizeof *rank), *id = xmalloc(cap * sizeof *id);
    for (size_t i = 0; i < cap; i++) key[i] = PAIR_EMPTY;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->key[i] == PAIR_EMPTY) continue;
        size_t j = pair_slot(m->key[i], cap);
        while (key[j] != PAIR_EMPTY) j = (j + 1) & (cap - 1);
        key[j] = m->key[i]; rank[j] = m->rank[i]; id[j] = m->id[i];
    }
    free(m->key); free(m->rank); free(m->id);
    m->key = key; m->rank = rank; m->id = id; m->cap = cap;
}

long pairmap_find(const PairMap *m, int a, int b) {
    if (!m->cap) return -1;
    uint64_t k = PAIR_KEY(a, b);
    for (size_t j = pair_slot(k, m->cap);; j = (j + 1) & (m->cap - 1)) {
        if (m->key[j] == k) return (long)j;
        if (m->key[j] == PAIR_EMPTY) return -1;
    }
}

void pairmap_put(PairMap *m, int a, int b, int rank, int id) {
    if ((m->n + 1) * 2 > m->cap) pairmap_grow(m);
    uint64_t k = PAIR_KEY(a, b);
    size_t j = pair_slot(k, m->cap);
    while (m->key[j] != PAIR_EMPTY && m->key[j] != k) j = (j + 1) & (m->cap - 1);
    if (m->key[j] == PAIR_EMPTY) m->n++;
    m->key[j] = k; m->rank[j] = rank; m->id[j] = id;
}

void pairmap_free(PairMap *m) {
    free(m->key); free(m->rank); free(m->id);
    memset(m, 0, sizeof *m);
}

// ---------------------------------------------------------------------------------------------
// Building

Tokenizer *tok_new(void) {
    Tokenizer *t = xcalloc(1, sizeof *t);
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    return t;
}

Tokenizer *tok_new_bytes(const char *split) {
    Tokenizer *t = tok_new();
    t->own = 1;
    snprintf(t->split_name, sizeof t->split_name, "%s", split);
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        tok_set_token(t, b, &c, 1);
        t->byte_id[b] = b;
    }
    return t;
}

void tok_set_token(Tokenizer *t, int id, const char *bytes, int len) {
    if (id >= t->tok_cap) {
        int cap = t->tok_cap ? t->tok_cap : 256;
        while (cap <= id) cap *= 2;
        t->tok_off = realloc(t->tok_off, (size_t)cap * sizeof *t->tok_off);
        t->tok_len = realloc(t->tok_len, (size_t)cap * sizeof *t->tok_len);
        if (!t->tok_off || !t->tok_len) { fprintf(stderr, "sweep: out of memory (vocab)\n"); exit(3); }
        for (int i = t->tok_cap; i < cap; i++) { t->tok_off[i] = 0; t->tok_len[i] = -1; }
        t->tok_cap = cap;
    }
    if (id >= t->n_vocab) t->n_vocab = id + 1;
    if (t->blob_len + (size_t)len > t->blob_cap) {
        t->blob_cap = (t->blob_len + len) * 2 + 4096;
        t->blob = realloc(t->blob, t->blob_cap);
        if (!t->blob) { fprintf(stderr, "sweep: out of memory (vocab)\n"); exit(3); }
    }
    memcpy(t->blob + t->blob_len, bytes, len);
    t->tok_off[id] = t->blob_len;
    t->tok_len[id] = len;
    t->blob_len += len;
}

void tok_add_merge(Tokenizer *t, int left, int right, int id) {
    if (t->n_merges == t->merges_cap) {
        t->merges_cap = t->merges_cap ? t->merges_cap * 2 : 1024;
        t->merge_left = realloc(t->merge_left, t->merges_cap * sizeof(int));
        t->merge_right = realloc(t->merge_right, t->merges_cap * sizeof(int));
        t->merge_id = realloc(t->merge_id, t->merges_cap * sizeof(int));
        if (!t->merge_left || !t->merge_right || !t->merge_id) {
            fprintf(stderr, "sweep: out of memory (merges)\n");
            exit(3);
        }
    }
    t->merge_left[t->n_merges] = left;
    t->merge_right[t->n_merges] = right;
    t->merge_id[t->n_merges] = id;
    pairmap_put(&t->merges, left, right, t->n_merges, id);
    t->n_merges++;
}

void tok_add_added(Tokenizer *t, int id, const char *text, int len, int lstrip, int rstrip) {
    if ((t->n_added & (t->n_added - 1)) == 0) { // at 0, 1, 2, 4, ...: double
        t->added = realloc(t->added, (t->n_added ? 2 * t->n_added : 1) * sizeof *t->added);
        if (!t->added) { fprintf(stderr, "sweep: out of memory (added tokens)\n"); exit(3); }
    }
    AddedToken *a = &t->added[t->n_added++];
    a->id = id;
    a->text = xmalloc(len + 1);
    memcpy(a->text, text, len);
    a->text[len] = 0;
    a->len = len;
    a->lstrip = lstrip;
    a->rstrip = rstrip;
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

static int added_cmp(const void *pa, const void *pb) {
    const AddedToken *a = pa, *b = pb;
    unsigned ca = (unsigned char)a->text[0], cb = (unsigned char)b->text[0];
    if (ca != cb) return ca < cb ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return memcmp(a->text, b->text, a->len);
}

void tok_finish(Tokenizer *t) {
    if (t->n_added) qsort(t->added, t->n_added, sizeof *t->added, added_cmp);
    int k = 0;
    for (int c = 0; c <= 256; c++) {
        while (k < t->n_added && (unsigned char)t->added[k].text[0] < c) k++;
        t->added_start[c] = k;
    }
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

// ---------------------------------------------------------------------------------------------
// Merging one piece

typedef struct { int rank, left, right, lid, rid; } MergeCand;

static int cand_less(const MergeCand *x, const MergeCand *y) {
    return x->rank != y->rank ? x->rank < y->rank : x->left < y->left;
}

static void heap_push(MergeCand *h, int *n, MergeCand c) {
    int i = (*n)++;
    h[i] = c;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!cand_less(&h[i], &h[p])) break;
        MergeCand tmp = h[i]; h[i] = h[p]; h[p] = tmp;
        i = p;
    }
}

static MergeCand heap_pop(MergeCand *h, int *n) {
    MergeCand top = h[0];
    h[0] = h[--*n];
    for (int i = 0;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && cand_less(&h[l], &h[m])) m = l;
        if (r < *n && cand_less(&h[r], &h[m])) m = r;
        if (m == i) break;
        MergeCand tmp = h[i]; h[i] = h[m]; h[m] = tmp;
        i = m;
    }
    return top;
}

// Applies merges to ids[0..n) in place, lowest rank first and leftmost first; returns the new length.
static long merge_piece(const Tokenizer *t, int *ids, long n) {
    if (n < 2 || !t->n_merges) return n;
    if (n <= 48) { // short pieces (nearly all): rescanning is cheaper than a heap
        for (;;) {
            int best = -1, best_rank = 0, best_id = 0;
            for (long i = 0; i + 1 < n; i++) {
                long j = pairmap_find(&t->merges, ids[i], ids[i + 1]);
                if (j >= 0 && (best < 0 || t->merges.rank[j] < best_rank)) {
                    best = (int)i; best_rank = t->merges.rank[j]; best_id = t->merges.id[j];
                }
            }
            if (best < 0) return n;
            ids[best] = best_id;
            memmove(ids + best + 1, ids + best + 2, (n - best - 2) * sizeof *ids);
            n--;
        }
    }
    // long pieces: a heap of candidate merges over a linked list of symbols, O(n log n)
    int *prev = xmalloc(n * sizeof *prev), *next = xmalloc(n * sizeof *next);
    MergeCand *heap = xmalloc((size_t)(3 * n) * sizeof *heap);
    int nheap = 0, cap = (int)(3 * n);
    for (long i = 0; i < n; i++) { prev[i] = (int)i - 1; next[i] = i + 1 < n ? (int)i + 1 : -1; }
    for (long i = 0; i + 1 < n; i++) {
        long j = pairmap_find(&t->merges, ids[i], ids[i + 1]);
        if (j >= 0) heap_push(heap, &nheap, (MergeCand){ t->merges.rank[j], (int)i, (int)i + 1, ids[i], ids[i + 1] });
    }
    while (nheap) {
        MergeCand c = heap_pop(heap, &nheap);
        if (next[c.left] != c.right || ids[c.left] != c.lid || ids[c.right] != c.rid) continue; // stale
        long j = pairmap_find(&t->merges, c.lid, c.rid);
        ids[c.left] = t->merges.id[j];
        int r = next[c.right];
        next[c.left] = r;
        if (r >= 0) prev[r] = c.left;
        next[c.right] = -2; // dead
        if (nheap + 2 > cap) {
            cap *= 2;
            heap = realloc(heap, (size_t)cap * sizeof *heap);
            if (!heap) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
        }
        int p = prev[c.left];
        if (p >= 0 && (j = pairmap_find(&t->merges, ids[p], ids[c.left])) >= 0)
            heap_push(heap, &nheap, (MergeCand){ t->merges.rank[j], p, c.left, ids[p], ids[c.left] });
        if (r >= 0 && (j = pairmap_find(&t->merges, ids[c.left], ids[r])) >= 0)
            heap_push(heap, &nheap, (MergeCand){ t->merges.rank[j], c.left, r, ids[c.left], ids[r] });
    }
    long m = 0;
    for (int i = 0; i >= 0; i = next[i]) ids[m++] = ids[i];
    free(prev); free(next); free(heap);
    return m;
}

// ---------------------------------------------------------------------------------------------
// Encode / decode

typedef struct { Tokenizer *t; int *out; long n, cap; int *scratch; long scratch_cap; } EncodeCtx;

static void out_reserve(EncodeCtx *c, long more) {
    if (c->n + more <= c->cap) return;
    c->cap = (c->n + more) * 2 + 1024;
    c->out = realloc(c->out, (size_t)c->cap * sizeof *c->out);
    if (!c->out) { fprintf(stderr, "sweep: out of memory (tokens)\n"); exit(3); }
}

static void encode_added(void *ctx, int id) {
    EncodeCtx *c = ctx;
    out_reserve(c, 1);
    c->out[c->n++] = id;
}

static void encode_piece(void *ctx, const char *p, size_t n) {
    EncodeCtx *c = ctx;
    Tokenizer *t = c->t;
    const int *vals;
    uint32_t nv;
    int cacheable = n <= CACHE_MAX_PIECE;
    if (cacheable && strmap_get(&t->cache, p, n, &vals, &nv) >= 0) {
        out_reserve(c, nv);
        memcpy(c->out + c->n, vals, nv * sizeof *vals);
        c->n += nv;
        return;
    }
    if (t->ignore_merges && strmap_get(&t->vocab, p, n, &vals, &nv) >= 0) {
        encode_added(c, vals[0]);
        return;
    }
    if ((long)n > c->scratch_cap) {
        c->scratch_cap = (long)n * 2;
        free(c->scratch);
        c->scratch = xmalloc((size_t)c->scratch_cap * sizeof *c->scratch);
    }
    for (size_t i = 0; i < n; i++) c->scratch[i] = t->byte_id[(unsigned char)p[i]];
    long m = merge_piece(t, c->scratch, (long)n);
    out_reserve(c, m);
    memcpy(c->out + c->n, c->scratch, m * sizeof *c->scratch);
    c->n += m;
    if (cacheable) {
        if (t->cache.n >= CACHE_MAX_ENTRIES) strmap_clear(&t->cache);
        strmap_put(&t->cache, p, n, c->scratch, (uint32_t)m);
    }
}

int tokenizer_encode(Tokenizer *t, const char *bytes, size_t len, int **out, long *n) {
    EncodeCtx c = { .t = t };
    PieceSink sink = { encode_piece, encode_added, &c };
    tok_pieces(t, bytes, len, &sink);
    free(c.scratch);
    *out = c.out ? c.out : xmalloc(sizeof(int));
    *n = c.n;
    return 0;
}

char *tokenizer_decode(const Tokenizer *t, const int *ids, long n, size_t *len, char *err, size_t errlen) {
    size_t total = 0;
    for (long i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab || t->tok_len[ids[i]] < 0) {
            errf(err, errlen, "token %ld: id %d is not in the vocabulary (size %d)", i, ids[i], t->n_vocab);
            return NULL;
        }
        total += t->tok_len[ids[i]];
    }
    char *buf = xmalloc(total + 1), *p = buf;
    for (long i = 0; i < n; i++) {
        memcpy(p, t->blob + t->tok_off[ids[i]], t->tok_len[ids[i]]);
        p += t->tok_len[ids[i]];
    }
    *p = 0;
    if (len) *len = total;
    return buf;
}

// ---------------------------------------------------------------------------------------------
// Accessors

int tokenizer_vocab_size(const Tokenizer *t) { return t->n_vocab; }
int tokenizer_n_merges(const Tokenizer *t) { return t->n_merges; }
int tokenizer_n_added(const Tokenizer *t) { return t->n_added; }

int tokenizer_merge(const Tokenizer *t, int rank, int *left, int *right) {
    if (rank < 0 || rank >= t->n_merges) return -1;
    *left = t->merge_left[rank];
    *right = t->merge_right[rank];
    return t->merge_id[rank];
}
const char *tokenizer_describe(const Tokenizer *t) { return t->describe ? t->describe : t->split_name; }

const char *tokenizer_token(const Tokenizer *t, int id, int *len) {
    if (id < 0 || id >= t->n_vocab || t->tok_len[id] < 0) return NULL;
    if (len) *len = t->tok_len[id];
    return t->blob + t->tok_off[id];
}

int tokenizer_added_id(const Tokenizer *t, const char *text) {
    size_t n = strlen(text);
    for (int k = 0; k < t->n_added; k++)
        if ((size_t)t->added[k].len == n && !memcmp(t->added[k].text, text, n)) return t->added[k].id;
    return -1;
}

void tokenizer_free(Tokenizer *t) {
    if (!t) return;
    free(t->blob); free(t->tok_off); free(t->tok_len);
    free(t->merge_left); free(t->merge_right); free(t->merge_id);
    pairmap_free(&t->merges);
    strmap_free(&t->vocab);
    strmap_free(&t->cache);
    for (int k = 0; k < t->n_added; k++) free(t->added[k].text);
    free(t->added);
    for (int s = 0; s < t->n_steps; s++) {
        if (t->steps[s].md) pcre2_match_data_free(t->steps[s].md);
        if (t->steps[s].re) pcre2_code_free(t->steps[s].re);
    }
    free(t->steps);
    free(t->describe);
    free(t);
}

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
