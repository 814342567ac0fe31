// Four processes map one base file: each child opens the model itself (the parent never maps it),
// verifies every tensor (touching every page) and runs a forward pass; then the parent reads
// /proc/PID/smaps and smaps_rollup of each child. Expected: the mapping is resident in full, its Pss
// is size/4 in each child (the page cache pages are shared four ways), it has no private pages, and
// no child holds anonymous memory anywhere near a copy of the base.
//
// Then the compute-ready forms (engine/matcache.h) at int8 on a ternary base and at bf16 on a ternary
// and an f32 base of a wider model (its forms far larger than its activations at 16 tokens): four
// processes open the model and its ready forms (the first makes the cache file, the others map it),
// each trains a norm adapter for a step and forks a child (as a rank forks a job) that does the same.
// Expected, read by the parent from /proc/PID/smaps_rollup once all eight hold their memory: no
// process's private memory (Private_Clean + Private_Dirty) grew by as much as a quarter of the forms'
// bytes, i.e. nobody holds a private copy of the converted weights, and no context cached any.
//
// An int4 base (engine/int4.h) has no compute-ready form: its products decode tiles from the mapped
// nibbles. The same four processes and forked jobs at bf16 and int8 on an int4 file of the wide model:
// no process's private memory grew by a quarter of what its matrices decoded (fp32, as mat_decode_rows
// gives them) would take, which a private bf16 copy (half of that) would exceed too, and no context
// cached any; and four processes map one int4 file of the default config as
// the f32 and ternary files above.
//
// usage: share_probe DIR   (writes DIR/base-f32.sweep, DIR/base-ternary.sweep and DIR/base-int4.sweep
// of the default config, DIR/wide-f32.sweep, DIR/wide-ternary.sweep and DIR/wide-int4.sweep, and the
// cache directories DIR/ready-*)
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "engine/adamw.h"
#include "engine/adapter.h"
#include "engine/matcache.h"
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

// ---- compute-ready forms shared per node ----------------------------------------------------

static long private_kb(pid_t pid) { return rollup(pid, "Private_Clean") + rollup(pid, "Private_Dirty"); }

typedef struct { pid_t grand; long priv0_self, priv0_grand, forms_kb, cached; } ReadyReport;

// One norm-adapter training step (forward and backward) of mf's weights in a fresh context at p;
// returns the bytes the context cached privately (0 when every form was read from the cache file).
static long norm_step(const ModelFile *mf, MatPrecision p) {
    enum { T = 16 };
    int tokens[T], targets[T];
    for (int t = 0; t < T; t++) { tokens[t] = (t * 131) % mf->w.cfg.vocab; targets[t] = (t * 131 + 7) % mf->w.cfg.vocab; }
    Weights w = mf->w;
    w.mc = mat_context_create(p);
    Adapter ad;
    LoraSpec no_lora = { 0, 0, 0 };
    if (adapter_init(&ad, FMT_NORM, &no_lora, &w, 1)) _exit(3);
    Weights eff;
    adapter_apply(&ad, &w, &eff);
    Acts *a = acts_create(&w.cfg, 1, T);
    adapter_zero_grad(&ad);
    double loss = model_forward(&eff, &ad, a, tokens, targets, 1, T);
    model_backward(&eff, &ad, a, tokens, targets, 1, T);
    if (!(loss > 0)) { fprintf(stderr, "norm step: loss %g\n", loss); _exit(3); }
    // activations, adapter and context stay held until the process exits: measured as a job holds them
    return (long)mat_cache_bytes(w.mc);
}

// Bytes of w's int4 matrices decoded to float: what a process would hold privately if products
// expanded them (the bound of the int4 probes, which have no forms to share).
static size_t int4_copy_bytes(const Weights *w) {
    size_t n = 0;
    const Mat *m[2] = { &w->embed, w->cfg.tied ? NULL : &w->head };
    for (int i = 0; i < 2; i++) if (m[i] && m[i]->type == MAT_INT4) n += (size_t)m[i]->rows * m[i]->cols * 4;
    for (int l = 0; l < w->cfg.n_layers; l++) {
        const LayerWeights *lw = &w->layer[l];
        const Mat *p[7] = { &lw->q, &lw->k, &lw->v, &lw->o, &lw->gate, &lw->up, &lw->down };
        for (int j = 0; j < 7; j++) if (p[j]->type == MAT_INT4) n += (size_t)p[j]->rows * p[j]->cols * 4;
    }
    return n;
}

static _Noreturn void ready_child(const char *path, const char *dir, MatPrecision p, int ready_fd, int go_fd) {
    ReadyReport r = { .priv0_self = private_kb(getpid()) };
    char err[1024];
    ModelFile mf;
    MatCache mc;
    if (model_open(&mf, path, MODEL_SKIP_CHECKSUMS, err, sizeof err) ||
        matcache_open(&mc, &mf, p, dir, err, sizeof err)) { fprintf(stderr, "child: %s\n", err); _exit(2); }
    r.forms_kb = (long)((matcache_forms_bytes(&mf.w, p) + int4_copy_bytes(&mf.w)) / 1024);
    r.cached = norm_step(&mf, p);
    int gready[2];
    if (pipe(gready)) _exit(3);
    r.grand = fork();
    if (r.grand == 0) {   // the job's forked child: maps nothing new, computes from the same pages
        long priv0 = private_kb(getpid());
        long cached = norm_step(&mf, p);
        long msg[2] = { priv0, cached };
        if (write(gready[1], msg, sizeof msg) != sizeof msg) _exit(3);
        char c;
        if (read(go_fd, &c, 1) < 0) _exit(3);
        _exit(0);
    }
    long msg[2];
    if (r.grand < 0 || read(gready[0], msg, sizeof msg) != sizeof msg) _exit(3);
    r.priv0_grand = msg[0];
    r.cached += msg[1];
    if (write(ready_fd, &r, sizeof r) != sizeof r) _exit(3);
    char c;
    if (read(go_fd, &c, 1) < 0) _exit(3);
    waitpid(r.grand, NULL, 0);
    matcache_close(&mc);
    model_close(&mf);
    _exit(0);
}

static void probe_ready(const char *path, const char *dir, MatPrecision p, const char *label) {
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    if (system(cmd)) { CHECK(0, "%s: %s", label, cmd); return; }
    int ready[2], go[2];
    if (pipe(ready) || pipe(go)) { CHECK(0, "pipe"); return; }
    pid_t pid[NPROC];
    for (int i = 0; i < NPROC; i++) {
        pid[i] = fork();
        if (pid[i] == 0) { close(ready[0]); close(go[1]); ready_child(path, dir, p, ready[1], go[0]); }
    }
    close(ready[1]);
    close(go[0]);
    ReadyReport r[NPROC];
    int n = 0;
    while (n < NPROC && read(ready[0], &r[n], sizeof r[0]) == sizeof r[0]) n++;
    CHECK(n == NPROC, "%s: %d of %d processes ran a step and forked a job that did too", label, n, NPROC);
    for (int i = 0; i < n; i++) {   // reports come in the order of readiness: each names its own child
        pid_t self = 0;
        for (int k = 0; k < NPROC; k++) {
            char fn[64];
            snprintf(fn, sizeof fn, "/proc/%d/task/%d/children", (int)pid[k], (int)pid[k]);
            FILE *f = fopen(fn, "r");
            long g = 0;
            if (f) { if (fscanf(f, "%ld", &g) != 1) g = 0; fclose(f); }
            if (g == r[i].grand) self = pid[k];
        }
        CHECK(self > 0, "%s: report %d: no process has child %d", label, i, (int)r[i].grand);
        if (!self) continue;
        long grew_self = private_kb(self) - r[i].priv0_self, grew_grand = private_kb(r[i].grand) - r[i].priv0_grand;
        printf("%s: process %d: private memory grew by %ld kB, its forked job's by %ld kB; the forms are %ld kB "
               "(bound: a quarter, %ld kB); privately cached %ld bytes\n", label, (int)self, grew_self, grew_grand,
               r[i].forms_kb, r[i].forms_kb / 4, r[i].cached);
        CHECK(r[i].forms_kb > 0, "%s: no forms to share: test blind", label);
        CHECK(grew_self < r[i].forms_kb / 4, "%s: process %d holds %ld kB private, a copy of the %ld kB forms?", label,
              (int)self, grew_self, r[i].forms_kb);
        CHECK(grew_grand < r[i].forms_kb / 4, "%s: forked job of %d holds %ld kB private, a copy of the %ld kB forms?",
              label, (int)self, grew_grand, r[i].forms_kb);
        CHECK(r[i].cached == 0, "%s: contexts cached %ld bytes of converted weights", label, r[i].cached);
    }
    if (write(go[1], (char[2 * NPROC]){ 0 }, 2 * NPROC) != 2 * NPROC) CHECK(0, "release children");
    close(go[1]);
    close(ready[0]);
    for (int i = 0; i < NPROC; i++) {
        int st;
        waitpid(pid[i], &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: process %d exit status %d", label, i, st);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: share_probe DIR\n"); return 2; }
    engine_set_threads(1);   // one thread per process, as a sweep's ranks: no thread pool to fork across
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
    char int4[PATH_MAX];
    snprintf(int4, sizeof int4, "%s/base-int4.sweep", argv[1]);
    o.matrix_dtype = MAT_INT4;
    CHECK(model_write(int4, &w, &o, err, sizeof err) == 0, "write int4: %s", err);
    free(block);
    probe(f32, "f32");
    probe(tern, "ternary");
    probe(int4, "int4");

    // wide: 4 layers of 512 x 2048 (16.8M matrix weights), vocab 2048, untied
    ModelConfig wc = c;
    wc.dim = 512, wc.n_layers = 4, wc.n_heads = 8, wc.n_kv_heads = 8, wc.ffn_dim = 2048, wc.vocab = 2048, wc.tied = 0;
    char wf32[PATH_MAX], wtern[PATH_MAX], dir[PATH_MAX];
    snprintf(wf32, sizeof wf32, "%s/wide-f32.sweep", argv[1]);
    snprintf(wtern, sizeof wtern, "%s/wide-ternary.sweep", argv[1]);
    block = xmalloc(sizeof(real) * config_n_params(&wc));
    weights_init_random(block, &wc, 2);
    weights_carve(&w, &wc, block);
    model_write_options_default(&o);
    CHECK(model_write(wf32, &w, &o, err, sizeof err) == 0, "write wide f32: %s", err);
    o.matrix_dtype = MAT_TERNARY;
    CHECK(model_write(wtern, &w, &o, err, sizeof err) == 0, "write wide ternary: %s", err);
    char wint4[PATH_MAX];
    snprintf(wint4, sizeof wint4, "%s/wide-int4.sweep", argv[1]);
    o.matrix_dtype = MAT_INT4;
    o.embed_dtype = o.head_dtype = MAT_BF16;
    CHECK(model_write(wint4, &w, &o, err, sizeof err) == 0, "write wide int4: %s", err);
    free(block);
    snprintf(dir, sizeof dir, "%s/ready-int8-ternary", argv[1]);
    probe_ready(wtern, dir, MAT_PREC_INT8, "ready int8 on ternary");
    snprintf(dir, sizeof dir, "%s/ready-bf16-ternary", argv[1]);
    probe_ready(wtern, dir, MAT_PREC_BF16, "ready bf16 on ternary");
    snprintf(dir, sizeof dir, "%s/ready-bf16-f32", argv[1]);
    probe_ready(wf32, dir, MAT_PREC_BF16, "ready bf16 on f32");
    snprintf(dir, sizeof dir, "%s/ready-bf16-int4", argv[1]);
    probe_ready(wint4, dir, MAT_PREC_BF16, "bf16 on int4 (tiles, no forms)");
    snprintf(dir, sizeof dir, "%s/ready-int8-int4", argv[1]);
    probe_ready(wint4, dir, MAT_PREC_INT8, "int8 on int4 (tiles, no forms)");
    return tl_finish("share_probe");
}
