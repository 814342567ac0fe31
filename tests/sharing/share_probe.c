// Four processes map one base file: each child opens the model itself (the parent never maps it),
// verifies every tensor (touching every page) and runs a forward pass; then the parent reads
// /proc/PID/smaps and smaps_rollup of each child. Expected: the mapping is resident in full, its Pss
// is size/4 in each child (the page cache pages are shared four ways), it has no private pages, and
// no child holds anonymous memory anywhere near a copy of the base.
//
// usage: share_probe DIR   (writes DIR/base-f32.sweep and DIR/base-ternary.sweep of the default config)
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "engine/model.h"
#include "engine/modelfile.h"
#include "engine/util.h"
#include "tests/unit/testlib.h"

#define NPROC 4

typedef struct { long rss, pss, private_clean, private_dirty, shared_clean; } MapStats;

// Sums the fields of every VMA of `path` in /proc/pid/smaps (kB).
static int mapping_stats(pid_t pid, const char *path, MapStats *s) {
    char fn[64], line[4096];
    snprintf(fn, sizeof fn, "/proc/%d/smaps", (int)pid);
    FILE *f = fopen(fn, "r");
    if (!f) return -1;
    memset(s, 0, sizeof *s);
    int in = 0, found = 0;
    while (fgets(line, sizeof line, f)) {
        char key[64];
        long v;
        if (sscanf(line, "%63[^:]: %ld kB", key, &v) == 2 && !strchr(key, ' ')) {
            if (!in) continue;
            if (!strcmp(key, "Rss")) s->rss += v;
            else if (!strcmp(key, "Pss")) s->pss += v;
            else if (!strcmp(key, "Private_Clean")) s->private_clean += v;
            else if (!strcmp(key, "Private_Dirty")) s->private_dirty += v;
            else if (!strcmp(key, "Shared_Clean")) s->shared_clean += v;
        } else {   // a VMA header line: "start-end perms offset dev inode   pathname"
            size_t n = strlen(line);
            if (n && line[n - 1] == '\n') line[--n] = 0;
            in = n >= strlen(path) && !strcmp(line + n - strlen(path), path);
            found |= in;
        }
    }
    fclose(f);
    return found ? 0 : -1;
}

static long rollup(pid_t pid, const char *field) {
    char fn[64], line[512];
    snprintf(fn, sizeof fn, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(fn, "r");
    if (!f) return -1;
    long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl) && line[fl] == ':') { v = atol(line + fl + 1); break; }
    fclose(f);
    return v;
}

static _Noreturn void child(const char *path, int ready_fd, int go_fd) {
    long anon_before = rollup(getpid(), "Anonymous");   // what fork and the libraries brought along
    char err[1024];
    ModelFile mf;
    if (model_open(&mf, path, 0, err, sizeof err)) { fprintf(stderr, "child: %s\n", err); _exit(2); }
    if (model_verify(&mf, err, sizeof err)) { fprintf(stderr, "child: %s\n", err); _exit(2); }
    enum { T = 32 };
    int tokens[T], targets[T];
    for (int t = 0; t < T; t++) { tokens[t] = (t * 131) % mf.w.cfg.vocab; targets[t] = (t * 131 + 7) % mf.w.cfg.vocab; }
    Acts *a = acts_create(&mf.w.cfg, 1, T);
    double loss = model_forward(&mf.w, NULL, a, tokens, targets, 1, T);
    if (!(loss > 0)) { fprintf(stderr, "child: forward loss %g\n", loss); _exit(3); }
    long delta = rollup(getpid(), "Anonymous") - anon_before;
    char c;
    if (write(ready_fd, &delta, sizeof delta) != sizeof delta) _exit(3);
    if (read(go_fd, &c, 1) < 0) _exit(3);   // hold the mapping until the parent has looked
    acts_free(a);
    model_close(&mf);
    _exit(0);
}

static void probe(const char *path, const char *label) {
    char *abs = realpath(path, NULL);
    if (!abs) { CHECK(0, "%s: realpath: %s", path, strerror(errno)); return; }
    size_t size;
    free(read_whole_file(path, &size));   // the file's bytes now sit in the page cache
    int ready[2], go[2];
    if (pipe(ready) || pipe(go)) { CHECK(0, "pipe"); return; }
    pid_t pid[NPROC];
    for (int i = 0; i < NPROC; i++) {
        pid[i] = fork();
        if (pid[i] == 0) { close(ready[0]); close(go[1]); child(abs, ready[1], go[0]); }
    }
    close(ready[1]);
    close(go[0]);
    int n_ready = 0;
    long grown[NPROC];   // each child's growth of anonymous memory while mapping and running the model
    while (n_ready < NPROC && read(ready[0], &grown[n_ready], sizeof grown[0]) == sizeof grown[0]) n_ready++;
    CHECK(n_ready == NPROC, "%s: %d of %d children mapped the model and ran a forward pass", label, n_ready, NPROC);
    long size_kb = (long)(size / 1024);
    for (int i = 0; i < NPROC && n_ready == NPROC; i++) {
        MapStats s;
        int ok = mapping_stats(pid[i], abs, &s) == 0;
        CHECK(ok, "%s: child %d: no mapping of %s in smaps", label, i, abs);
        if (!ok) continue;
        long anon = rollup(pid[i], "Anonymous"), pss_total = rollup(pid[i], "Pss");
        // children report in the order they got ready, not by index: take the largest growth
        long grew = 0;
        for (int j = 0; j < NPROC; j++) grew = grown[j] > grew ? grown[j] : grew;
        printf("%s child %d: file %ld kB; mapping Rss %ld kB, Pss %ld kB (size/4 = %ld), Shared_Clean %ld, "
               "Private %ld kB; process Pss %ld kB, Anonymous %ld kB (grew by at most %ld kB)\n", label, i, size_kb, s.rss,
               s.pss, size_kb / NPROC, s.shared_clean, s.private_clean + s.private_dirty, pss_total, anon, grew);
        CHECK(s.rss >= size_kb * 98 / 100, "%s child %d: mapping resident in full (Rss %ld of %ld kB)", label, i, s.rss, size_kb);
        CHECK(labs(s.pss - size_kb / NPROC) <= size_kb / NPROC / 20 + 8,
              "%s child %d: mapping Pss %ld kB, expected size/%d = %ld kB", label, i, s.pss, NPROC, size_kb / NPROC);
        CHECK(s.private_clean + s.private_dirty == 0, "%s child %d: %ld kB of the mapping are private", label, i,
              s.private_clean + s.private_dirty);
        CHECK(anon >= 0 && grew < size_kb / 2, "%s child %d: anonymous memory grew by %ld kB: no private copy of the %ld kB base",
              label, i, grew, size_kb);
    }
    if (write(go[1], (char[NPROC]){ 0 }, NPROC) != NPROC) CHECK(0, "release children");
    close(go[1]);
    close(ready[0]);
    for (int i = 0; i < NPROC; i++) {
        int st;
        waitpid(pid[i], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child %d exit status %d", label, i, st);
    }
    free(abs);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: share_probe DIR\n"); return 2; }
    char cmd[PATH_MAX + 16], f32[PATH_MAX], tern[PATH_MAX];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", argv[1]);
    if (system(cmd)) return 2;
    snprintf(f32, sizeof f32, "%s/base-f32.sweep", argv[1]);
    snprintf(tern, sizeof tern, "%s/base-ternary.sweep", argv[1]);
    ModelConfig c;
    config_default(&c);
    real *block = xmalloc(sizeof(real) * config_n_params(&c));
    weights_init_random(block, &c, 1);
    Weights w;
    weights_carve(&w, &c, block);
    ModelWriteOptions o;
    model_write_options_default(&o);
    char err[1024];
    CHECK(model_write(f32, &w, &o, err, sizeof err) == 0, "write f32: %s", err);
    o.matrix_dtype = MAT_TERNARY;
    o.embed_dtype = MAT_BF16;
    CHECK(model_write(tern, &w, &o, err, sizeof err) == 0, "write ternary: %s", err);
    free(block);
    probe(f32, "f32");
    probe(tern, "ternary");
    return tl_finish("share_probe");
}
