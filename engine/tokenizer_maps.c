// The tokenizer's hash maps: byte strings -> int arrays (StrMap) and merge pairs -> rank and id (PairMap;
// its lookup, pairmap_find, is inline in tokenizer_impl.h for the merge loop).
#include "engine/tokenizer_impl.h"
#include "engine/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
