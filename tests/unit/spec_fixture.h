// The spec tests' fixture tree and helpers, shared by test_spec.c (parsing, users, bad specs) and
// test_grid.c (the grid and job ids). Header-only: each tests/unit/test_*.c is its own program.
#pragma once
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "engine/model.h"
#include "engine/modelfile.h"
#include "engine/util.h"
#include "sweeps/spec.h"

static char root[1024];   // the source tree

static inline void find_root(void) {
    const char *data = getenv("SWEEP_TEST_DATA");   // tests/data, set by ctest
    if (data) { snprintf(root, sizeof root, "%s/../..", data); return; }
    snprintf(root, sizeof root, "%s", __FILE__);
    char *cut = strstr(root, "/tests/unit/");
    if (cut) *cut = 0;
}

static inline void write_file(const char *dir, const char *rel, const char *text) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *s = path + strlen(dir) + 1; (s = strchr(s, '/')); s++) { *s = 0; mkdir(path, 0755); *s = '/'; }
    FILE *f = fopen(path, "w");
    if (!f) { perror(path); exit(3); }
    fputs(text, f);
    fclose(f);
}

// The tree the bad specs and the path tests use: a base, a tokenizer, a fixtures data dir with three
// built-in-style users and general text, and raw documents for custom users.
// A small model file shaped like the default base where specs look (width 256, context 256) but one
// layer and a small vocabulary, so that it is quick to write.
static inline void write_model(const char *dir, const char *rel, unsigned seed) {
    ModelConfig c;
    config_default(&c);
    c.n_layers = 1;
    c.ffn_dim = 256;
    c.vocab = 256;
    real *block = xmalloc(sizeof(real) * config_n_params(&c));
    weights_init_random(block, &c, seed);
    Weights w;
    weights_carve(&w, &c, block);
    ModelWriteOptions o;
    model_write_options_default(&o);
    char path[2048], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    if (model_write(path, &w, &o, err, sizeof err)) { fprintf(stderr, "%s\n", err); exit(3); }
    free(block);
}

static inline void copy_file(const char *dir, const char *from, const char *to) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, from);
    size_t n;
    char *bytes = read_whole_file(path, &n);
    if (!bytes) { perror(path); exit(3); }
    snprintf(path, sizeof path, "%s/%s", dir, to);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n || fclose(f)) { perror(path); exit(3); }
    free(bytes);
}

static inline void make_fixtures(const char *dir) {
    mkdir(dir, 0755);
    write_model(dir, "base.sweep", 1);
    copy_file(dir, "base.sweep", "base-copy.sweep");
    write_file(dir, "tok.bpe", "tokenizer stand-in\n");
    const char *users[] = { "alice", "bob", "cpython", "austen" };
    for (int u = 0; u < 4; u++) {
        char rel[256], text[256];
        snprintf(rel, sizeof rel, "data/users/%s/train.txt", users[u]);
        snprintf(text, sizeof text, "%s's earlier text\n", users[u]);
        write_file(dir, rel, text);
        for (int k = 1; k <= 3; k++) {
            snprintf(rel, sizeof rel, "data/users/%s/eval-%d.txt", users[u], k);
            snprintf(text, sizeof text, "%s's later text %d\n", users[u], k);
            write_file(dir, rel, text);
        }
    }
    write_file(dir, "data/general/eval.txt", "general text\n");
    write_file(dir, "docs/a.txt", "document a\n");
    write_file(dir, "docs/b.txt", "document b\n");
    write_file(dir, "latin/latin1.txt", "caf\xe9 au lait, in ISO 8859-1\n");   // not UTF-8
}

static inline int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(p);
}

static inline void rm_tree(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static inline int parse_text(const char *text, const char *path, SpecFiles files, Plan *p, char *err) {
    return spec_parse(text, strlen(text), path, files, p, err, 1024);
}

static inline int find_axis(const Plan *p, int ax, const char *label) {
    for (int i = 0; i < p->axis[ax].n; i++) if (!strcmp(p->axis[ax].labels[i], label)) return i;
    return -1;
}

