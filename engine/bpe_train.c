// BPE training: pre-tokenize the corpus into pieces, count the distinct pieces ("words"), then
// merge the most frequent adjacent pair again and again. Pair counts are kept up to date
// incrementally (each pair knows the words it occurs in), and a max-heap with lazy re-insertion
// picks the next pair, so one merge costs the words it touches, not a pass over the corpus.
#include "engine/tokenizer_impl.h"
#include "engine/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int64_t count; int left, right; } HeapItem;

typedef struct {
    uint64_t *key; int *slot_idx; size_t cap;  // (left, right) -> pair index
    int n, capn;
    int *left, *right;
    int64_t *count;
    int **words; int *nwords, *capwords;       // words the pair occurs in (may repeat, may be stale)
    int *touched_at;                           // last merge that created this pair (for heap pushes)
} PairStats;

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) { fprintf(stderr, "sweep: out of memory (BPE training)\n"); exit(3); }
    return p;
}

static size_t ps_slot(uint64_t k, size_t cap) { return (size_t)((k * 0x9e3779b97f4a7c15ULL) >> 20) & (cap - 1); }

static void ps_grow_table(PairStats *ps) {
    size_t cap = ps->cap ? ps->cap * 2 : 1 << 16;
    uint64_t *key = xmalloc(cap * sizeof *key);
    int *idx = xmalloc(cap * sizeof *idx);
    for (size_t i = 0; i < cap; i++) key[i] = PAIR_EMPTY;
    for (size_t i = 0; i < ps->cap; i++) {
        if (ps->key[i] == PAIR_EMPTY) continue;
        size_t j = ps_slot(ps->key[i], cap);
        while (key[j] != PAIR_EMPTY) j = (j + 1) & (cap - 1);
        key[j] = ps->key[i];
        idx[j] = ps->slot_idx[i];
    }
    free(ps->key); free(ps->slot_idx);
    ps->key = key; ps->slot_idx = idx; ps->cap = cap;
}

static int ps_find(const PairStats *ps, int a, int b) {
    uint64_t k = PAIR_KEY(a, b);
    for (size_t j = ps_slot(k, ps->cap);; j = (j + 1) & (ps->cap - 1)) {
        if (ps->key[j] == k) return ps->slot_idx[j];
        if (ps->key[j] == PAIR_EMPTY) return -1;
    }
}

static int ps_get(PairStats *ps, int a, int b) {
    if ((size_t)(ps->n + 1) * 2 > ps->cap) ps_grow_table(ps);
    uint64_t k = PAIR_KEY(a, b);
    size_t j = ps_slot(k, ps->cap);
    for (; ps->key[j] != PAIR_EMPTY; j = (j + 1) & (ps->cap - 1))
        if (ps->key[j] == k) return ps->slot_idx[j];
    if (ps->n == ps->capn) {
        ps->capn = ps->capn ? ps->capn * 2 : 1 << 16;
        ps->left = xrealloc(ps->left, ps->capn * sizeof(int));
        ps->right = xrealloc(ps->right, ps->capn * sizeof(int));
        ps->count = xrealloc(ps->count, ps->capn * sizeof(int64_t));
        ps->words = xrealloc(ps->words, ps->capn * sizeof(int *));
        ps->nwords = xrealloc(ps->nwords, ps->capn * sizeof(int));
        ps->capwords = xrealloc(ps->capwords, ps->capn * sizeof(int));
        ps->touched_at = xrealloc(ps->touched_at, ps->capn * sizeof(int));
    }
    int i = ps->n++;
    ps->left[i] = a; ps->right[i] = b; ps->count[i] = 0;
    ps->words[i] = NULL; ps->nwords[i] = ps->capwords[i] = 0;
    ps->touched_at[i] = -1;
    ps->key[j] = k;
    ps->slot_idx[j] = i;
    return i;
}

static void ps_add_word(PairStats *ps, int p, int w) {
    if (ps->nwords[p] && ps->words[p][ps->nwords[p] - 1] == w) return;
    if (ps->nwords[p] == ps->capwords[p]) {
        ps->capwords[p] = ps->capwords[p] ? ps->capwords[p] * 2 : 4;
        ps->words[p] = xrealloc(ps->words[p], ps->capwords[p] * sizeof(int));
    }
    ps->words[p][ps->nwords[p]++] = w;
}

static void ps_free(PairStats *ps) {
    for (int i = 0; i < ps->n; i++) free(ps->words[i]);
    free(ps->key); free(ps->slot_idx); free(ps->left); free(ps->right); free(ps->count);
    free(ps->words); free(ps->nwords); free(ps->capwords); free(ps->touched_at);
}

// Max-heap: larger count first, then the smaller (left, right): the fixed tie rule.
static int item_before(const HeapItem *x, const HeapItem *y) {
    if (x->count != y->count) return x->count > y->count;
    if (x->left != y->left) return x->left < y->left;
    return x->right < y->right;
}

typedef struct { HeapItem *h; long n, cap; } Heap;

static void heap_push(Heap *hp, HeapItem it) {
    if (hp->n == hp->cap) {
        hp->cap = hp->cap ? hp->cap * 2 : 1 << 16;
        hp->h = xrealloc(hp->h, hp->cap * sizeof *hp->h);
    }
    long i = hp->n++;
    hp->h[i] = it;
    while (i > 0) {
        long p = (i - 1) / 2;
        if (!item_before(&hp->h[i], &hp->h[p])) break;
        HeapItem t = hp->h[i]; hp->h[i] = hp->h[p]; hp->h[p] = t;
        i = p;
    }
}

static HeapItem heap_pop(Heap *hp) {
    HeapItem top = hp->h[0];
    hp->h[0] = hp->h[--hp->n];
    for (long i = 0;;) {
        long l = 2 * i + 1, r = l + 1, m = i;
        if (l < hp->n && item_before(&hp->h[l], &hp->h[m])) m = l;
        if (r < hp->n && item_before(&hp->h[r], &hp->h[m])) m = r;
        if (m == i) break;
        HeapItem t = hp->h[i]; hp->h[i] = hp->h[m]; hp->h[m] = t;
        i = m;
    }
    return top;
}

typedef struct {
    StrMap words;        // piece bytes -> word index
    int64_t *count; long n, cap;
    long total;
} WordCounter;

static void count_piece(void *ctx, const char *p, size_t n) {
    WordCounter *wc = ctx;
    const int *v;
    wc->total++;
    if (strmap_get(&wc->words, p, n, &v, NULL) >= 0) { wc->count[v[0]]++; return; }
    if (wc->n == wc->cap) {
        wc->cap = wc->cap ? wc->cap * 2 : 1 << 16;
        wc->count = xrealloc(wc->count, wc->cap * sizeof *wc->count);
    }
    int idx = (int)wc->n++;
    wc->count[idx] = 1;
    strmap_put(&wc->words, p, n, &idx, 1);
}

static void skip_added(void *ctx, int id) { (void)ctx; (void)id; }

// pair (a, b) changes by delta in word w; pairs containing the new token are remembered for the heap
static void pair_delta(PairStats *ps, int a, int b, int64_t delta, int w, int merge, int *touched, int *ntouched) {
    int p = delta > 0 ? ps_get(ps, a, b) : ps_find(ps, a, b);
    if (p < 0) return; // cannot happen: a pair that loses count was counted before
    ps->count[p] += delta;
    if (delta > 0) {
        ps_add_word(ps, p, w);
        if (ps->touched_at[p] != merge) { ps->touched_at[p] = merge; touched[(*ntouched)++] = p; }
    }
}

Tokenizer *tokenizer_train(const char *const *texts, const size_t *lens, int n_texts, const BpeTrainOptions *opt,
                           BpeTrainStats *stats, char *err, size_t errlen) {
    const char *split = opt->split ? opt->split : "llama3";
    const char *regex = tok_split_regex(split);
    if (!regex) {
        errf(err, errlen, "split '%s' is not one of llama3, gpt2, qwen2", split);
        return NULL;
    }
    if (opt->n_special < 0 || opt->vocab < 256 + opt->n_special || opt->vocab > (1 << 24)) {
        errf(err, errlen, "vocab %d must be between 256 + %d specials and %d", opt->vocab, opt->n_special,
                 1 << 24);
        return NULL;
    }
    for (int k = 0; k < opt->n_special; k++) {
        size_t n = strlen(opt->special[k]);
        if (n == 0 || n > 256) {
            errf(err, errlen, "special token %d must be 1 to 256 bytes long", k);
            return NULL;
        }
        for (int j = 0; j < k; j++)
            if (!strcmp(opt->special[j], opt->special[k])) {
                errf(err, errlen, "special token '%s' is given twice", opt->special[k]);
                return NULL;
            }
    }
    int target = opt->vocab - 256 - opt->n_special;

    // The tokenizer under construction: bytes, split, specials (ids fixed at the end).
    Tokenizer *t = tok_new_bytes(split);
    if (tok_add_split(t, regex, strlen(regex), PRE_SPLIT_ISOLATED, err, errlen)) { tokenizer_free(t); return NULL; }
    for (int k = 0; k < opt->n_special; k++)
        tok_add_added(t, k, opt->special[k], (int)strlen(opt->special[k]), 0, 0);
    tok_finish(t);

    double t0 = now_seconds();
    WordCounter wc = { 0 };
    PieceSink sink = { count_piece, skip_added, &wc };
    for (int i = 0; i < n_texts; i++) tok_pieces(t, texts[i], lens[i], &sink);
    double t1 = now_seconds();
    if (opt->verbose)
        fprintf(stderr, "tokenize train: %ld pieces, %ld distinct, split in %.2f s\n", wc.total, wc.n, t1 - t0);

    // Words as symbol arrays, in first-seen order.
    long n_words = wc.n;
    long *off = xmalloc((n_words + 1) * sizeof *off);
    int *len = xmalloc((n_words + 1) * sizeof *len);
    for (size_t j = 0; j < wc.words.cap; j++) {
        const StrEntry *e = &wc.words.e[j];
        if (!e->h) continue;
        int w = wc.words.vals[e->val_off];
        off[w] = (long)e->key_off; // keys are stored in first-seen order, so offsets line up
        len[w] = (int)e->key_len;
    }
    int *sym = xmalloc((wc.words.nkeys + 1) * sizeof *sym);
    for (size_t i = 0; i < wc.words.nkeys; i++) sym[i] = (unsigned char)wc.words.keys[i];
    strmap_free(&wc.words);

    PairStats ps = { 0 };
    ps_grow_table(&ps);
    for (long w = 0; w < n_words; w++) {
        const int *s = sym + off[w];
        for (int i = 0; i + 1 < len[w]; i++) {
            int p = ps_get(&ps, s[i], s[i + 1]);
            ps.count[p] += wc.count[w];
            ps_add_word(&ps, p, (int)w);
        }
    }
    Heap heap = { 0 };
    for (int p = 0; p < ps.n; p++) heap_push(&heap, (HeapItem){ ps.count[p], ps.left[p], ps.right[p] });

    int *touched = NULL;
    long touched_cap = 0;
    int merges = 0;
    while (merges < target && heap.n) {
        HeapItem top = heap_pop(&heap);
        int p = ps_find(&ps, top.left, top.right);
        int64_t c = ps.count[p];
        if (c <= 0) continue;
        if (c != top.count) { top.count = c; heap_push(&heap, top); continue; } // stale: counts only fall
        int a = top.left, b = top.right, id = 256 + merges;
        int la = t->tok_len[a], lb = t->tok_len[b];
        char *buf = xmalloc(la + lb);
        memcpy(buf, t->blob + t->tok_off[a], la);
        memcpy(buf + la, t->blob + t->tok_off[b], lb);
        tok_set_token(t, id, buf, la + lb);
        free(buf);
        tok_add_merge(t, a, b, id);

        int *list = ps.words[p], nlist = ps.nwords[p];
        ps.words[p] = NULL; ps.nwords[p] = ps.capwords[p] = 0; // no new (a, b) can appear: detach the list
        int ntouched = 0;
        for (int k = 0; k < nlist; k++) {
            int w = list[k];
            int *s = sym + off[w], L = len[w], j = 0;
            int64_t f = wc.count[w];
            // worst case each site creates two new pairs
            if (ntouched + 2 * L > touched_cap) {
                touched_cap = (ntouched + 2 * L) * 2 + 1024;
                touched = xrealloc(touched, touched_cap * sizeof *touched);
            }
            // In place, left to right; the left neighbour is the current (maybe just merged) symbol,
            // so overlapping sites such as "a b a b" adjust each pair count exactly once.
            for (int i = 0; i < L;) {
                if (i + 1 < L && s[i] == a && s[i + 1] == b) {
                    if (j > 0) {
                        pair_delta(&ps, s[j - 1], a, -f, w, merges, touched, &ntouched);
                        pair_delta(&ps, s[j - 1], id, f, w, merges, touched, &ntouched);
                    }
                    if (i + 2 < L) {
                        pair_delta(&ps, b, s[i + 2], -f, w, merges, touched, &ntouched);
                        pair_delta(&ps, id, s[i + 2], f, w, merges, touched, &ntouched);
                    }
                    ps.count[p] -= f;
                    s[j++] = id;
                    i += 2;
                } else {
                    s[j++] = s[i++];
                }
            }
            len[w] = j;
        }
        free(list);
        for (int k = 0; k < ntouched; k++) {
            int q = touched[k];
            if (ps.count[q] > 0) heap_push(&heap, (HeapItem){ ps.count[q], ps.left[q], ps.right[q] });
        }
        merges++;
        if (opt->verbose && merges % 1000 == 0)
            fprintf(stderr, "tokenize train: %d/%d merges, %.1f s\n", merges, target, now_seconds() - t1);
    }
    double t2 = now_seconds();

    // Specials take the ids after the merges.
    for (int k = 0; k < t->n_added; k++) {
        AddedToken *ad = &t->added[k];
        int sid = 256 + merges;
        for (int j = 0; j < opt->n_special; j++)
            if ((size_t)ad->len == strlen(opt->special[j]) && !memcmp(ad->text, opt->special[j], ad->len)) sid += j;
        ad->id = sid;
    }
    for (int k = 0; k < opt->n_special; k++)
        tok_set_token(t, 256 + merges + k, opt->special[k], (int)strlen(opt->special[k]));

    if (stats) {
        stats->seconds_split = t1 - t0;
        stats->seconds_merge = t2 - t1;
        stats->words = wc.total;
        stats->unique_words = n_words;
        stats->merges = merges;
    }
    if (opt->verbose && merges < target)
        fprintf(stderr, "tokenize train: the corpus ran out of pairs after %d merges (vocab %d)\n", merges,
                t->n_vocab);
    free(touched);
    free(heap.h);
    ps_free(&ps);
    free(sym); free(off); free(len);
    free(wc.count);
    strmap_clear(&t->cache);
    return t;
}
