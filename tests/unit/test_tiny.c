// Tiny generated fixtures (fixtures/tiny.c): deterministic, the asked size, plain text, styles that a
// character-bigram model can tell apart (own train predicts own eval best), and a complete fixture tree.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine/util.h"
#include "sweeps/split.h"
#include "fixtures/tiny.h"
#include "testlib.h"

static char *slurp(const char *root, const char *rel, size_t *len) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    char *s = read_whole_file(p, len);
    if (!s) { *len = 0; return xcalloc(1, 1); }
    return s;
}

// Cross-entropy in bits per character of `text` under an add-one bigram model of `train`.
static double bigram_bits(const char *train, size_t tn, const char *text, size_t n) {
    double *pair = xcalloc(256 * 256, sizeof(double)), *row = xcalloc(256, sizeof(double));
    for (size_t i = 1; i < tn; i++) {
        pair[(unsigned char)train[i - 1] * 256 + (unsigned char)train[i]] += 1;
        row[(unsigned char)train[i - 1]] += 1;
    }
    double bits = 0;
    for (size_t i = 1; i < n; i++) {
        unsigned a = (unsigned char)text[i - 1], b = (unsigned char)text[i];
        bits -= log2((pair[a * 256 + b] + 1) / (row[a] + 256));
    }
    free(pair);
    free(row);
    return bits / (double)(n > 1 ? n - 1 : 1);
}

static double fraction_of(const char *s, size_t n, const char *set) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) if (s[i] && strchr(set, s[i])) k++;
    return n ? (double)k / n : 0;
}

static void test_text(void) {
    for (int style = 0; style <= TINY_MIX; style++) {
        size_t n1, n2, n3;
        char *a = tiny_text(style, 42, 3000, &n1), *b = tiny_text(style, 42, 3000, &n2), *c = tiny_text(style, 43, 3000, &n3);
        CHECK(n1 == n2 && !memcmp(a, b, n1), "style %d: same seed, different text", style);
        CHECK(n1 != n3 || memcmp(a, c, n1), "style %d: seeds 42 and 43 give the same text", style);
        CHECK(n1 >= 3000 && n1 < 3000 + 1024, "style %d: %zu bytes for 3000 asked", style, n1);
        CHECK(n1 == strlen(a) && a[n1 - 1] == '\n', "style %d: not NUL-terminated whole lines", style);
        int bad = 0;
        for (size_t i = 0; i < n1; i++) if (!((a[i] >= 32 && a[i] < 127) || a[i] == '\n')) bad++;
        CHECK(bad == 0, "style %d: %d bytes that are not printable ASCII or newline", style, bad);
        free(a); free(b); free(c);
    }
    CHECK(tiny_style_of("programmer") == TINY_CODE && tiny_style_of("novelist") == TINY_PROSE &&
          tiny_style_of("scientist") == TINY_LIST && tiny_style_of("general") == TINY_MIX && tiny_style_of("x") == -1,
          "tiny_style_of mapping");

    // each style has its own signature: code its brackets and underscores, lists their digits, prose its letters
    size_t n[3];
    char *t[3];
    for (int s = 0; s < 3; s++) t[s] = tiny_text(s, 7, 8000, &n[s]);
    double code[3], digits[3], letters[3];
    for (int s = 0; s < 3; s++) {
        code[s] = fraction_of(t[s], n[s], "()_=[]");
        digits[s] = fraction_of(t[s], n[s], "0123456789");
        letters[s] = fraction_of(t[s], n[s], "abcdefghijklmnopqrstuvwxyz ");
    }
    CHECK(code[TINY_CODE] > 2 * code[TINY_PROSE] && code[TINY_CODE] > 2 * code[TINY_LIST],
          "code-like punctuation: code %.3f prose %.3f list %.3f", code[0], code[1], code[2]);
    CHECK(digits[TINY_LIST] > 2 * digits[TINY_PROSE] && digits[TINY_LIST] > 2 * digits[TINY_CODE],
          "digits: code %.3f prose %.3f list %.3f", digits[0], digits[1], digits[2]);
    CHECK(letters[TINY_PROSE] > letters[TINY_CODE] && letters[TINY_PROSE] > letters[TINY_LIST],
          "letters: code %.3f prose %.3f list %.3f", letters[0], letters[1], letters[2]);
    for (int s = 0; s < 3; s++) free(t[s]);
}

static void test_tree(void) {
    char root[256], root2[256], err[512] = "";
    snprintf(root, sizeof root, "/tmp/sweep-test-tiny-%ld", (long)getpid());
    snprintf(root2, sizeof root2, "%s-again", root);
    int rc = tiny_write_fixtures(root, 1, 3, 0, 0, err, sizeof err);
    CHECK(rc == 0, "tiny_write_fixtures: %s", err);
    rc = tiny_write_fixtures(root2, 1, 3, 0, 0, err, sizeof err);
    CHECK(rc == 0, "tiny_write_fixtures (again): %s", err);

    const char *files[] = { "train.txt", "eval-1.txt", "eval-2.txt", "eval-3.txt" };
    char *train[TINY_N_USERS], *eval1[TINY_N_USERS];
    size_t tn[TINY_N_USERS], en[TINY_N_USERS];
    for (int u = 0; u < TINY_N_USERS; u++) {
        for (int f = 0; f < 4; f++) {
            char rel[128];
            snprintf(rel, sizeof rel, "users/%s/%s", tiny_user_names[u], files[f]);
            size_t n1, n2;
            char *a = slurp(root, rel, &n1), *b = slurp(root2, rel, &n2);
            CHECK(n1 > 0, "%s missing or empty", rel);
            CHECK(n1 == n2 && !memcmp(a, b, n1), "%s differs between two builds from one seed", rel);
            if (f == 0) CHECK(n1 >= 4 * 2048 && n1 < 4 * 3072, "%s: %zu bytes, expected about 4 x 2048", rel, n1);
            else CHECK(n1 >= 256 && n1 <= 512, "%s: %zu bytes, expected <= 512", rel, n1);
            if (f == 0) { train[u] = a; tn[u] = n1; }
            else if (f == 1) { eval1[u] = a; en[u] = n1; }
            else free(a);
            free(b);
        }
    }
    size_t gt, ge;
    char *g1 = slurp(root, "general/train.txt", &gt), *g2 = slurp(root, "general/eval.txt", &ge);
    CHECK(gt > 4096 && ge > 0 && ge <= 1024, "general: train %zu, eval %zu bytes", gt, ge);
    free(g1); free(g2);

    // the styles are distinct: each user's train predicts its own eval-1 better than any other user's train
    for (int e = 0; e < TINY_N_USERS; e++) {
        double own = bigram_bits(train[e], tn[e], eval1[e], en[e]);
        for (int t = 0; t < TINY_N_USERS; t++) {
            if (t == e) continue;
            double other = bigram_bits(train[t], tn[t], eval1[e], en[e]);
            CHECK(own < other, "eval of %s: own train %.3f bits/char, %s's train %.3f", tiny_user_names[e], own,
                  tiny_user_names[t], other);
        }
    }
    for (int u = 0; u < TINY_N_USERS; u++) { free(train[u]); free(eval1[u]); }

    // too many slices for the later text: an error naming the user, not a crash
    char root3[300];
    snprintf(root3, sizeof root3, "%s-small", root);
    rc = tiny_write_fixtures(root3, 1, 16, 0, 512, err, sizeof err);
    CHECK(rc == SPLIT_BAD_INPUT && strstr(err, "programmer"), "16 slices of 512 in 4 KB: rc %d, '%s'", rc, err);

    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s %s", root, root2, root3);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", root);
}

int main(void) {
    test_text();
    test_tree();
    return tl_finish("test_tiny");
}
