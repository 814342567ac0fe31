// Byte-level BPE: encode (pre-tokenize, then merge each piece's bytes by rank, through a cache of
// pieces) and decode. The Tokenizer is built in tokenizer_build.c, pre-tokenizes in
// tokenizer_pretok.c and is read from and written to files in tokenizer_bpefile.c and hf_tokenizer.c.
#include "engine/tokenizer_impl.h"
#include "engine/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Pieces longer than this are not cached: they rarely repeat and would crowd the cache out.
#define CACHE_MAX_PIECE 64
#define CACHE_MAX_ENTRIES (1u << 20)

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
