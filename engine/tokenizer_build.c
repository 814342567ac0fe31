// A Tokenizer built up and taken apart: its tokens, merges and added tokens, the accessors, free.
#include "engine/tokenizer_impl.h"
#include "engine/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
