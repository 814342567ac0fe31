#define _GNU_SOURCE   // memmem
// The split rule (sweeps/split.c): train strictly before every eval slice, slices of the asked size cut at
// line boundaries, the held-out marker, the order of files, determinism, and every bad-input error.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine/util.h"
#include "sweeps/split.h"
#include "testlib.h"

static char root[256];

static void write_file(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(3); }
    fwrite(data, 1, n, f);
    fclose(f);
}

// Numbered, unique lines: any line found in two outputs proves an overlap.
static char *numbered_lines(const char *tag, int first, int count, size_t *len) {
    size_t cap = (size_t)count * 64 + 1, n = 0;
    char *s = xmalloc(cap);
    for (int i = 0; i < count; i++)
        n += snprintf(s + n, cap - n, "%s line %06d: the quick brown fox %d\n", tag, first + i, (first + i) % 97);
    *len = n;
    return s;
}

static char *slurp(const char *dir, const char *name, size_t *len) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    char *s = read_whole_file(p, len);
    if (!s) { *len = 0; return xcalloc(1, 1); }
    return s;
}

static void check_slices(const char *outdir, const char *joined, size_t joined_len, int k, long B,
                         long train_expect, const char *what) {
    size_t tl;
    char *train = slurp(outdir, "train.txt", &tl);
    if (train_expect >= 0) CHECK((long)tl == train_expect, "%s: train %zu bytes, expected %ld", what, tl, train_expect);
    CHECK(tl > 0 && memcmp(train, joined, tl) == 0, "%s: train is not the start of the joined text", what);
    size_t pos = tl;           // every slice must lie after train and after the slice before it
    for (int s = 1; s <= k; s++) {
        char name[32];
        snprintf(name, sizeof name, "eval-%d.txt", s);
        size_t el;
        char *ev = slurp(outdir, name, &el);
        CHECK(el > 0 && (long)el <= B && (long)el >= B / 2, "%s: %s is %zu bytes for B=%ld", what, name, el, B);
        CHECK(el > 0 && ev[el - 1] == '\n', "%s: %s does not end at a line end", what, name);
        const char *at = el ? memmem(joined + pos, joined_len - pos, ev, el) : NULL;
        CHECK(at != NULL, "%s: %s is not a piece of the text after the previous output", what, name);
        if (at) {
            CHECK(at == joined || at[-1] == '\n', "%s: %s does not start at a line start", what, name);
            pos = (size_t)(at - joined) + el;
        }
        // no line of the slice occurs in train
        char *line = ev;
        int leaked = 0;
        while (line < ev + el) {
            char *nl = memchr(line, '\n', ev + el - line);
            size_t ll = nl ? (size_t)(nl - line) + 1 : (size_t)(ev + el - line);
            if (ll > 8 && memmem(train, tl, line, ll)) leaked++;
            line += ll;
        }
        CHECK(leaked == 0, "%s: %d lines of %s are also in train", what, leaked, name);
        free(ev);
    }
    free(train);
}

static void test_sha256(void) {
    // FIPS 180-2 appendix B test vectors
    char h[65];
    sha256_hex("abc", 3, h);
    CHECK(!strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "sha256(abc) = %s", h);
    sha256_hex("", 0, h);
    CHECK(!strcmp(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "sha256('') = %s", h);
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(m, strlen(m), h);
    CHECK(!strcmp(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "sha256(448 bits) = %s", h);
    char *a = xmalloc(1000000);
    memset(a, 'a', 1000000);
    sha256_hex(a, 1000000, h);
    CHECK(!strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "sha256(a x 1e6) = %s", h);
    free(a);
    // lengths around the padding boundary (55, 56, 64 bytes) against sha256sum, an independent implementation
    for (int n = 55; n <= 65; n++) {
        char path[512], cmd[700], want[65] = { 0 };
        char buf[80];
        for (int i = 0; i < n; i++) buf[i] = (char)('a' + i % 26);
        snprintf(path, sizeof path, "%s/pad-%d", root, n);
        write_file(path, buf, n);
        snprintf(cmd, sizeof cmd, "sha256sum %s", path);
        FILE *p = popen(cmd, "r");
        if (!p || fscanf(p, "%64s", want) != 1) { if (p) pclose(p); continue; }
        pclose(p);
        sha256_hex(buf, n, h);
        CHECK(!strcmp(h, want), "sha256 of %d bytes: %s, sha256sum says %s", n, h, want);
    }
}

// The tail rule on a custom user given as a list of files, in scrambled order.
static void test_tail_rule(void) {
    char dir[300], out[300];
    snprintf(dir, sizeof dir, "%s/tail", root);
    snprintf(out, sizeof out, "%s/tail-out", root);
    mkdir(dir, 0777);
    const int n_docs = 5;
    char paths[5][400];
    const char *list[5];
    size_t joined_len = 0;
    char *joined = xmalloc(1 << 20);
    for (int d = 0; d < n_docs; d++) {
        size_t n;
        char tag[16];
        snprintf(tag, sizeof tag, "doc%d", d);
        char *t = numbered_lines(tag, d * 1000, 300, &n);
        snprintf(paths[d], sizeof paths[d], "%s/part-%d.txt", dir, d);
        if (d == 3) n--;                          // one file without its final newline
        write_file(paths[d], t, n);
        memcpy(joined + joined_len, t, n);
        joined_len += n;
        if (d == 3) joined[joined_len++] = '\n';
        free(t);
    }
    int order[5] = { 3, 0, 4, 1, 2 };             // given out of order: the split sorts by path
    for (int i = 0; i < n_docs; i++) list[i] = paths[order[i]];
    char err[512] = "";
    long B = 4000;
    int rc = split_user("tailuser", list, n_docs, 3, B, out, err, sizeof err);
    CHECK(rc == SPLIT_OK, "split_user: rc %d: %s", rc, err);
    check_slices(out, joined, joined_len, 3, B, -1, "tail rule");
    // the slices are the tail: the last one ends at the end of the text
    size_t el;
    char *last = slurp(out, "eval-3.txt", &el);
    CHECK(el > 0 && el <= joined_len && !memcmp(joined + joined_len - el, last, el), "tail rule: eval-3 is not the end of the text");
    free(last);
    size_t tl;
    char *train = slurp(out, "train.txt", &tl);
    CHECK((long)(joined_len - tl) >= 3 * B && (long)(joined_len - tl) < 3 * B + B / 2,
          "tail rule: later text is %zu bytes for 3 x %ld", joined_len - tl, B);
    free(train);

    // determinism: a second split gives byte-identical files
    char out2[300];
    snprintf(out2, sizeof out2, "%s/tail-out2", root);
    SplitResult r1, r2;
    SplitInput in = { "tailuser", list, n_docs, -1, 3, B, 0, out2 };
    const char *sorted[5];
    for (int i = 0; i < n_docs; i++) sorted[i] = paths[i];
    in.files = sorted;
    rc = split_documents(&in, &r1, err, sizeof err);
    CHECK(rc == 0, "split_documents: %s", err);
    rc = split_documents(&in, &r2, err, sizeof err);
    CHECK(rc == 0 && r1.n_files == 4 && !memcmp(&r1, &r2, sizeof r1), "two splits differ");
    for (int i = 0; i < r1.n_files; i++) {
        size_t n;
        char *a = slurp(out, r1.file[i].name, &n), h[65];
        sha256_hex(a, n, h);
        CHECK(!strcmp(h, r1.file[i].sha256) && (long)n == r1.file[i].bytes,
              "%s: reported hash or size does not match the file split_user wrote", r1.file[i].name);
        free(a);
    }
    CHECK(r1.file[0].bytes + r1.later_bytes == r1.total_bytes && r1.total_bytes == (long)joined_len,
          "sizes: train %ld + later %ld != total %ld (joined %zu)", r1.file[0].bytes, r1.later_bytes, r1.total_bytes, joined_len);
    free(joined);
}

// The held-out marker: train is exactly the documents before the named one; the slices spread over the rest.
static void test_marker(void) {
    char dir[300], out[300], p[400];
    snprintf(dir, sizeof dir, "%s/marked", root);
    snprintf(out, sizeof out, "%s/marked-out", root);
    mkdir(dir, 0777);
    size_t joined_len = 0, train_len = 0;
    char *joined = xmalloc(1 << 20);
    for (int d = 1; d <= 6; d++) {
        size_t n;
        char tag[16];
        snprintf(tag, sizeof tag, "ch%d", d);
        char *t = numbered_lines(tag, d * 1000, 200, &n);
        snprintf(p, sizeof p, "%s/%04d.txt", dir, d);
        write_file(p, t, n);
        memcpy(joined + joined_len, t, n);
        joined_len += n;
        if (d < 5) train_len = joined_len;
        free(t);
    }
    snprintf(p, sizeof p, "%s/.heldout-from", dir);
    write_file(p, "0005.txt\n", 9);
    char err[512] = "";
    SplitResult r;
    long B = 2000;
    int rc = split_user_dir("marked", dir, 3, B, out, &r, err, sizeof err);
    CHECK(rc == SPLIT_OK, "split_user_dir: rc %d: %s", rc, err);
    CHECK(r.first_heldout == 4, "first_heldout %d, expected 4", r.first_heldout);
    check_slices(out, joined, joined_len, 3, B, (long)train_len, "marker");
    // evenly spread: the first slice starts the later text, the last one ends it
    size_t el;
    char *e1 = slurp(out, "eval-1.txt", &el);
    CHECK(el && !memcmp(e1, joined + train_len, el), "marker: eval-1 does not start at the first later document");
    free(e1);
    char *e3 = slurp(out, "eval-3.txt", &el);
    CHECK(el && !memcmp(e3, joined + joined_len - el, el), "marker: eval-3 does not end the text");
    free(e3);

    // a general split: one eval.txt
    char gout[300];
    snprintf(gout, sizeof gout, "%s/general-out", root);
    char p1[400], p2[400];
    snprintf(p1, sizeof p1, "%s/0001.txt", dir);
    snprintf(p2, sizeof p2, "%s/0002.txt", dir);
    const char *g[2] = { p1, p2 };
    SplitInput in = { "general", g, 2, -1, 1, 3000, 1, gout };
    rc = split_documents(&in, &r, err, sizeof err);
    CHECK(rc == 0 && r.n_files == 2 && !strcmp(r.file[1].name, "eval.txt"), "general split: rc %d %s", rc, err);
    snprintf(p, sizeof p, "%s/eval.txt", gout);
    CHECK(access(p, F_OK) == 0, "general split wrote no eval.txt");
    free(joined);
}

// A single line longer than a slice: cut at spaces, never inside a UTF-8 character.
static void test_long_lines(void) {
    char dir[300], out[300], p[400];
    snprintf(dir, sizeof dir, "%s/long", root);
    snprintf(out, sizeof out, "%s/long-out", root);
    mkdir(dir, 0777);
    size_t n = 0, cap = 200000;
    char *t = xmalloc(cap);
    for (int i = 0; n + 40 < cap - 2; i++) n += snprintf(t + n, cap - n, "w%d\xc3\xa9t\xc3\xa9 ", i);  // "wNété "
    t[n++] = '\n';
    snprintf(p, sizeof p, "%s/one.txt", dir);
    write_file(p, t, n);
    char err[512] = "";
    int rc = split_user_dir("longline", dir, 2, 5000, out, NULL, err, sizeof err);
    CHECK(rc == SPLIT_OK, "long line: rc %d: %s", rc, err);
    size_t el;
    char *ev = slurp(out, "eval-1.txt", &el);
    CHECK(el >= 2500 && el <= 5000, "long line: eval-1 is %zu bytes", el);
    CHECK(el && ev[el - 1] == ' ', "long line: eval-1 does not end after a space");
    free(ev);
    free(t);
}

static void expect_error(const char *what, int rc, const char *err, const char *must1, const char *must2) {
    CHECK(rc == SPLIT_BAD_INPUT, "%s: rc %d, expected %d (%s)", what, rc, SPLIT_BAD_INPUT, err);
    CHECK(strstr(err, must1) != NULL, "%s: message '%s' does not name '%s'", what, err, must1);
    if (must2) CHECK(strstr(err, must2) != NULL, "%s: message '%s' does not name '%s'", what, err, must2);
}

static void test_errors(void) {
    char dir[300], out[300], p[400], good[400], err[512];
    snprintf(dir, sizeof dir, "%s/bad", root);
    snprintf(out, sizeof out, "%s/bad-out", root);
    mkdir(dir, 0777);
    size_t n;
    char *t = numbered_lines("ok", 0, 400, &n);
    snprintf(good, sizeof good, "%s/good.txt", dir);
    write_file(good, t, n);

    snprintf(p, sizeof p, "%s/empty.txt", dir);
    write_file(p, "", 0);
    const char *l1[2] = { good, p };
    err[0] = 0;
    expect_error("empty file", split_user("alice", l1, 2, 3, 1000, out, err, sizeof err), err, "alice", "empty.txt");

    snprintf(p, sizeof p, "%s/binary.txt", dir);
    write_file(p, "text\0more text\n", 15);
    const char *l2[2] = { good, p };
    expect_error("binary file", split_user("bob", l2, 2, 3, 1000, out, err, sizeof err), err, "bob", "binary.txt");

    snprintf(p, sizeof p, "%s/latin1.txt", dir);
    write_file(p, "caf\xe9 au lait\n", 13);
    const char *l3[2] = { good, p };
    expect_error("invalid UTF-8", split_user("carol", l3, 2, 3, 1000, out, err, sizeof err), err, "carol", "latin1.txt");

    snprintf(p, sizeof p, "%s/missing.txt", dir);
    const char *l4[2] = { good, p };
    expect_error("missing file", split_user("dave", l4, 2, 3, 1000, out, err, sizeof err), err, "dave", "missing.txt");

    const char *l5[1] = { good };
    // 400 lines of ~45 bytes = ~18 KB: 3 slices of 4 KB need 24 KB
    expect_error("too little text", split_user("erin", l5, 1, 3, 4000, out, err, sizeof err), err, "erin", "too little");
    expect_error("no files", split_user("frank", l5, 0, 3, 1000, out, err, sizeof err), err, "frank", NULL);

    snprintf(p, sizeof p, "%s/none-such-dir", root);
    expect_error("missing directory", split_user_dir("grace", p, 3, 1000, out, NULL, err, sizeof err), err, "grace", "none-such-dir");

    // marker naming a file that is not there
    char mdir[300];
    snprintf(mdir, sizeof mdir, "%s/badmarker", root);
    mkdir(mdir, 0777);
    snprintf(p, sizeof p, "%s/0001.txt", mdir);
    write_file(p, t, n);
    snprintf(p, sizeof p, "%s/.heldout-from", mdir);
    write_file(p, "0009.txt\n", 9);
    expect_error("bad marker", split_user_dir("heidi", mdir, 3, 1000, out, NULL, err, sizeof err), err, "heidi", "0009.txt");

    // later text smaller than the slices
    snprintf(p, sizeof p, "%s/0002.txt", mdir);
    write_file(p, "short later text\n", 17);
    snprintf(p, sizeof p, "%s/.heldout-from", mdir);
    write_file(p, "0002.txt\n", 9);
    expect_error("later text too small", split_user_dir("ivan", mdir, 3, 1000, out, NULL, err, sizeof err), err, "ivan", "later text");

    snprintf(p, sizeof p, "%s/train.txt", out);
    CHECK(access(p, F_OK) != 0, "a failed split left %s behind", p);
    free(t);
}

int main(void) {
    snprintf(root, sizeof root, "/tmp/sweep-test-split-%ld", (long)getpid());
    mkdir(root, 0777);
    test_sha256();
    test_tail_rule();
    test_marker();
    test_long_lines();
    test_errors();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", root);
    return tl_finish("test_split");
}
