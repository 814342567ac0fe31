// Inside of the tokenizer, shared by tokenizer.c (encode, decode), tokenizer_build.c, tokenizer_maps.c,
// tokenizer_pretok.c, tokenizer_bpefile.c (.bpe files), tokenizer_nfc.c, bpe_train.c and hf_tokenizer.c.
// Not for use outside these files.
#pragma once
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdarg.h>
#include "engine/tokenizer.h"

// Byte string -> small int array, with keys and values in arenas (vocab lookup, encode cache, word counts).
typedef struct { uint64_t h; size_t key_off, val_off; uint32_t key_len, val_len; } StrEntry;
typedef struct {
    StrEntry *e; size_t cap, n;
    char *keys; size_t nkeys, capkeys;
    int *vals; size_t nvals, capvals;
} StrMap;
// Returns the entry index or -1; *vals/*nvals receive the value when found.
long strmap_get(const StrMap *m, const char *key, size_t klen, const int **vals, uint32_t *nvals);
// Inserts a key known to be absent; returns its entry index.
long strmap_put(StrMap *m, const char *key, size_t klen, const int *vals, uint32_t nvals);
void strmap_clear(StrMap *m);
void strmap_free(StrMap *m);

// (left id, right id) -> (rank, result id)
typedef struct { uint64_t *key; int *rank, *id; size_t cap, n; } PairMap;
#define PAIR_KEY(a, b) (((uint64_t)(uint32_t)(a) << 32) | (uint32_t)(b))
#define PAIR_EMPTY UINT64_MAX
void pairmap_put(PairMap *m, int a, int b, int rank, int id);

static inline size_t pair_slot(uint64_t key, size_t cap) {
    uint64_t h = key * 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 20) & (cap - 1);
}

// index of the pair or -1 (inline: the merge loop calls it for every adjacent pair)
static inline long pairmap_find(const PairMap *m, int a, int b) {
    if (!m->cap) return -1;
    uint64_t k = PAIR_KEY(a, b);
    for (size_t j = pair_slot(k, m->cap);; j = (j + 1) & (m->cap - 1)) {
        if (m->key[j] == k) return (long)j;
        if (m->key[j] == PAIR_EMPTY) return -1;
    }
}
void pairmap_free(PairMap *m);

enum { PRE_SPLIT_ISOLATED = 1, PRE_SPLIT_REMOVED, PRE_SPLIT_KEEP_MATCHES, PRE_PREFIX_SPACE };
typedef struct { int kind; pcre2_code *re; pcre2_match_data *md; } PreStep;

typedef struct { int id; char *text; int len; int lstrip, rstrip; } AddedToken;

struct Tokenizer {
    int n_vocab;
    char *blob; size_t blob_len, blob_cap;
    size_t *tok_off; int *tok_len;            // tok_len < 0: no token with this id
    int tok_cap;
    int byte_id[256];                         // token of each single byte
    int n_merges, merges_cap;
    int *merge_left, *merge_right, *merge_id; // by rank
    PairMap merges;
    int ignore_merges;                        // Hugging Face: a piece found whole in the vocab is one token
    StrMap vocab;                             // bytes -> id (Hugging Face files, for ignore_merges)
    AddedToken *added; int n_added;           // sorted by first byte, then longest first
    int added_start[257];                     // added tokens starting with byte c: [added_start[c], added_start[c+1])
    int nfc;                                  // Hugging Face normalizer NFC (Qwen2): applied between added tokens
    PreStep *steps; int n_steps;
    int own;                                  // a .bpe tokenizer: bytes 0..255, merge r -> 256 + r, then specials
    char split_name[16];
    char *describe;
    StrMap cache;                             // piece bytes -> ids
};

Tokenizer *tok_new(void);
// Our own format's start: ids 0..255 are the 256 bytes, tokens owned, the pre-split regex named split.
Tokenizer *tok_new_bytes(const char *split);
// Copies the bytes; grows the vocab to id + 1.
void tok_set_token(Tokenizer *t, int id, const char *bytes, int len);
void tok_add_merge(Tokenizer *t, int left, int right, int id);
void tok_add_added(Tokenizer *t, int id, const char *text, int len, int lstrip, int rstrip);
// Compiles a regex (UTF, UCP, invalid UTF allowed, JIT); returns -1 with the PCRE2 message in err.
int tok_add_split(Tokenizer *t, const char *regex, size_t len, int kind, char *err, size_t errlen);
void tok_add_prefix_space(Tokenizer *t);
// Indexes the added tokens; call once everything is in.
void tok_finish(Tokenizer *t);
// The regex of a built-in split name, or NULL.
const char *tok_split_regex(const char *name);

// Calls piece() for every pre-tokenized piece and added() for every added token, in text order.
typedef struct {
    void (*piece)(void *ctx, const char *p, size_t n);
    void (*added)(void *ctx, int id);
    void *ctx;
} PieceSink;
void tok_pieces(Tokenizer *t, const char *text, size_t len, const PieceSink *sink);

// NFC of s (invalid UTF-8 bytes kept as they are): malloc'ed, or NULL when s is NFC already.
char *tok_nfc(const char *s, size_t n, size_t *out_len);

