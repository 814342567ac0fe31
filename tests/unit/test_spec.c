// Specs: the bundled protocols expand to the grids DESIGN.md defines, ids are stable and move with
// every field that determines a result (and only those), list-valued hyperparameters expand, the
// relative-path rule holds, the scheduler simulation matches a schedule worked by hand, and every
// bad spec in tests/spec/ gives its expected one-line message.
//
// `test_spec --fixtures DIR` writes the small fixture tree the bad specs refer to (tests/spec/run.sh).
#define _GNU_SOURCE
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine/model.h"
#include "engine/modelfile.h"
#include "engine/util.h"
#include "sweeps/spec.h"
#include "testlib.h"

static char root[1024];   // the source tree

static void find_root(void) {
    const char *data = getenv("SWEEP_TEST_DATA");   // tests/data, set by ctest
    if (data) { snprintf(root, sizeof root, "%s/../..", data); return; }
    snprintf(root, sizeof root, "%s", __FILE__);
    char *cut = strstr(root, "/tests/unit/test_spec.c");
    if (cut) *cut = 0;
}

static void write_file(const char *dir, const char *rel, const char *text) {
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
static void write_model(const char *dir, const char *rel, unsigned seed) {
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

static void copy_file(const char *dir, const char *from, const char *to) {
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

static void make_fixtures(const char *dir) {
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
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(p);
}

static void rm_tree(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static int parse_text(const char *text, const char *path, SpecFiles files, Plan *p, char *err) {
    return spec_parse(text, strlen(text), path, files, p, err, 1024);
}

static int find_axis(const Plan *p, int ax, const char *label) {
    for (int i = 0; i < p->axis[ax].n; i++) if (!strcmp(p->axis[ax].labels[i], label)) return i;
    return -1;
}

// ---------------------------------------------------------------- bundled protocols

static void check_bundled(const char *name, int jobs, long cells, int bases, int conds, int formats, int users,
                          int seeds, int evals) {
    char path[1200], err[1024];
    snprintf(path, sizeof path, "%s/sweeps/%s.json", root, name);
    Plan p;
    int rc = spec_load(path, SPEC_FILES_IGNORED, &p, err, sizeof err);
    CHECK(rc == 0, "%s: %s", name, err);
    if (rc) return;
    CHECK(p.n_jobs == jobs, "%s: %d jobs, expected %d", name, p.n_jobs, jobs);
    CHECK(plan_n_cells(&p) == cells, "%s: %ld cells, expected %ld", name, plan_n_cells(&p), cells);
    int want[AX_COUNT] = { bases, conds, formats, users, seeds, evals };
    for (int a = 0; a < AX_COUNT; a++)
        CHECK(p.axis[a].n == want[a], "%s: axis %s has %d, expected %d", name, axis_names[a], p.axis[a].n, want[a]);
    CHECK(!strcmp(p.protocol, name), "%s: protocol %s", name, p.protocol);
    // the seeds' training values wherever the protocol trains (the demo is not a protocol)
    for (int f = 0; f < p.axis[AX_FORMAT].n && strcmp(name, "demo"); f++) {
        const FormatVariant *v = &p.formats[f];
        if (v->format == FMT_NONE) continue;
        CHECK(v->train.lr == 5e-5 && v->train.steps == 100 && v->train.beta1 == 0.9 && v->train.beta2 == 0.95 &&
              v->train.weight_decay == 0, "%s: %s does not train with the seeds' values", name, v->label);
        if (v->format == FMT_LORA) CHECK(v->lora.rank == 4 && v->lora.targets == LORA_ALL, "%s: lora is not r4 on all", name);
    }
    int costless = 0, shared = 0;
    for (int j = 0; j < p.n_jobs; j++) {
        costless += !(p.jobs[j].est_flops > 0);
        for (int k = j + 1; k < p.n_jobs; k++) shared += !strcmp(p.jobs[j].id, p.jobs[k].id);
    }
    CHECK(costless == 0, "%s: %d jobs without a cost", name, costless);
    CHECK(shared == 0, "%s: %d pairs of jobs share an id", name, shared);
    plan_free(&p);
}

static void test_bundled(void) {
    int own3 = 3, general = 1;
    // Bet 37: 1 user x {none, norm, lora, full} x 1 seed x 3 slices; none is one job and sees every slice
    check_bundled("bet37", 1 + 3 * 1 * 1, (1 + 3) * own3, 1, 1, 4, 1, 1, 3);
    // Bet 46: 1 user x {norm, full} x 5 seeds x 3 slices
    check_bundled("bet46", 2 * 5, 2 * 5 * own3, 1, 1, 2, 1, 5, 3);
    // Bet 49: 3 users x {norm, lora, full}; own slices and general text
    check_bundled("bet49", 3 * 3, 3 * 3 * (own3 + general), 1, 1, 3, 3, 1, 3 * 3 + general);
    // Bet 52: ternary base x 3 users x {none, norm}; the base sees all 9 slices
    check_bundled("bet52", 1 + 3, 3 * 3 + 3 * own3, 1, 1, 2, 3, 1, 9);
    // Bet 60: 3 users x norm x {real, random}
    check_bundled("bet60", 3 * 2, 3 * 2 * own3, 1, 2, 1, 3, 1, 9);
    // Bet 61: 3 users x norm, every adapter on every user's 3 slices
    check_bundled("bet61", 3, 3 * (3 * 3), 1, 1, 1, 3, 1, 9);
    // 1B+: 2 bases x (none + 10 users x 3 seeds x (norm real + norm random + lora + full)),
    // every job on all 10 x 3 slices + general
    int per_base = 1 + 10 * 3 * (2 + 1 + 1);
    check_bundled("protocol-1b", 2 * per_base, 2L * per_base * (10 * 3 + general), 2, 2, 4, 10, 3, 10 * 3 + general);
    // demo: 3 users x {none, norm, lora} x 1 seed, all slices + general
    check_bundled("demo", 1 + 3 * 2, (1 + 3 * 2) * (3 * 3 + general), 1, 1, 3, 3, 1, 3 * 3 + general);
}

// ---------------------------------------------------------------- grid details

static const char *spec_base =
    "{\"bases\": {\"fp\": \"base.sweep\"}, \"users\": [\"alice\", \"bob\"], \"seeds\": 2, "
    "\"conditions\": [\"real\", \"random\"], \"formats\": {\"none\": {}, \"norm\": {}, \"lora\": {}}}";

static void test_grid_shape(void) {
    Plan p;
    char err[1024];
    int rc = parse_text(spec_base, "x/s.json", SPEC_FILES_IGNORED, &p, err);
    CHECK(rc == 0, "%s", err);
    if (rc) return;
    // none: one job per base; norm and lora: 2 conditions x 2 users x 2 seeds
    CHECK(p.n_jobs == 1 + 2 * (2 * 2 * 2), "jobs %d", p.n_jobs);
    CHECK(p.axis[AX_EVAL_TEXT].n == 2 * 3 + 1, "eval texts %d", p.axis[AX_EVAL_TEXT].n);
    int none = find_axis(&p, AX_FORMAT, "none");
    int n_none = 0;
    for (int j = 0; j < p.n_jobs; j++) {
        const Job *jb = &p.jobs[j];
        if (jb->ax[AX_FORMAT] == none) {
            n_none++;
            CHECK(jb->ax[AX_CONDITION] == 0 && jb->ax[AX_TRAIN_USER] == 0 && jb->ax[AX_SEED] == 0, "none not at index 0");
            CHECK(jb->n_eval == p.axis[AX_EVAL_TEXT].n, "none evaluates %d texts", jb->n_eval);
            double ev = 0;   // no training: the cost is evaluation alone
            for (int k = 0; k < jb->n_eval; k++)   // no files, no eval.tokens: split sizes / 4 bytes per token
                ev += plan_eval_flops(&p.bases[0].cfg, p.evals[jb->eval[k]].user < 0 ? 65536 / 4 : 12288 / 4);
            CHECK(tl_relerr(jb->est_flops, ev, 1) < 1e-12, "none costs %g, expected %g", jb->est_flops, ev);
        } else {
            CHECK(jb->n_eval == 3 + 1, "own slices + general, got %d", jb->n_eval);
            const UserEntry *u = &p.users[jb->ax[AX_TRAIN_USER]];
            for (int k = 0; k < 3; k++) CHECK(jb->eval[k] == u->eval_index[k], "own slice %d", k);
            CHECK(p.evals[jb->eval[3]].user == -1, "last is general");
        }
    }
    CHECK(n_none == 1, "%d none jobs", n_none);
    // costs: training is steps x (forward + backward) at batch x seq, evaluation windows of the context
    int norm = find_axis(&p, AX_FORMAT, "norm");
    ModelConfig cfg;
    config_default(&cfg);
    const FormatVariant *fv = &p.formats[norm];
    double want = 100 * (model_forward_flops(&cfg, 8, 256) + model_backward_flops(&cfg, FMT_NORM, NULL, 8, 256));
    CHECK(tl_relerr(plan_train_flops(&cfg, fv), want, 1) < 1e-12, "train flops");
    // 999 predicted tokens: three full windows of 256 and one of 231
    double ev = 3 * model_forward_flops(&cfg, 1, 256) + model_forward_flops(&cfg, 1, 999 - 3 * 256);
    CHECK(tl_relerr(plan_eval_flops(&cfg, 1000), ev, 1) < 1e-12, "eval flops of 1000 tokens");
    CHECK(plan_eval_flops(&cfg, 1) == 0, "one token predicts nothing");
    plan_free(&p);
}

static void test_lists(void) {
    Plan p;
    char err[1024];
    const char *s = "{\"users\": [\"alice\"], \"formats\": {\"norm\": {\"steps\": [10, 20], \"lr\": [5e-5, 1e-3]}, "
                    "\"lora\": {\"rank\": [4, 16]}}, \"train\": {\"lr\": 2e-4}}";
    int rc = parse_text(s, "s.json", SPEC_FILES_IGNORED, &p, err);
    CHECK(rc == 0, "%s", err);
    if (rc) return;
    const char *labels[] = { "norm[steps=10,lr=5e-05]", "norm[steps=10,lr=0.001]", "norm[steps=20,lr=5e-05]",
                             "norm[steps=20,lr=0.001]", "lora[rank=4]", "lora[rank=16]" };
    CHECK(p.axis[AX_FORMAT].n == 6, "variants %d", p.axis[AX_FORMAT].n);
    for (int i = 0; i < 6 && i < p.axis[AX_FORMAT].n; i++)
        CHECK(!strcmp(p.axis[AX_FORMAT].labels[i], labels[i]), "label %d: %s, expected %s", i,
              p.axis[AX_FORMAT].labels[i], labels[i]);
    if (p.axis[AX_FORMAT].n == 6) {
        CHECK(p.formats[1].train.steps == 10 && p.formats[1].train.lr == 1e-3, "norm variant 1 values");
        CHECK(p.formats[2].train.steps == 20 && p.formats[2].train.lr == 5e-5, "norm variant 2 values");
        CHECK(p.formats[5].lora.rank == 16 && p.formats[5].train.lr == 2e-4, "lora takes train's lr, its own rank");
        CHECK(p.formats[4].lora.alpha == 8 && p.formats[4].train.batch == 8 && p.formats[4].train.seq == 256,
              "defaults");
    }
    CHECK(p.n_jobs == 6, "jobs %d", p.n_jobs);
    plan_free(&p);
    // a list in "train" multiplies every trained format but not the base
    s = "{\"users\": [\"alice\"], \"formats\": {\"none\": {}, \"norm\": {}, \"full\": {\"batch\": 4}}, "
        "\"train\": {\"lr\": [1e-4, 1e-3], \"cosine\": [false, true]}}";
    rc = parse_text(s, "s.json", SPEC_FILES_IGNORED, &p, err);
    CHECK(rc == 0, "%s", err);
    if (rc) return;
    CHECK(p.axis[AX_FORMAT].n == 1 + 4 + 4, "variants %d", p.axis[AX_FORMAT].n);
    CHECK(find_axis(&p, AX_FORMAT, "full[lr=0.001,cosine=true]") >= 0, "bool label");
    int f = find_axis(&p, AX_FORMAT, "full[lr=0.0001,cosine=false]");
    CHECK(f >= 0 && p.formats[f].train.batch == 4 && p.formats[f].train.cosine == 0, "override beside a list");
    plan_free(&p);
}

// ---------------------------------------------------------------- ids

static void ids_of(const char *spec, SpecFiles files, char ids[][17], int *n) {
    Plan p;
    char err[1024];
    *n = 0;
    if (parse_text(spec, "s.json", files, &p, err)) { CHECK(0, "%s", err); return; }
    for (int j = 0; j < p.n_jobs && j < 64; j++) strcpy(ids[j], p.jobs[j].id);
    *n = p.n_jobs;
    plan_free(&p);
}

static const char *one_job = "{\"bases\": {\"fp\": \"base.sweep\"}, \"tokenizer\": \"tok.bpe\", \"users\": [\"alice\"], "
                             "\"formats\": {\"lora\": {\"lr\": 5e-5, \"rank\": 4}}, \"seeds\": [7], \"eval\": {\"tokens\": 256}}";

static void check_id_moves(const char *from, const char *to, int should_move, SpecFiles files) {
    char a[64][17], b[64][17];
    int na, nb;
    ids_of(one_job, files, a, &na);
    char spec[2048];
    snprintf(spec, sizeof spec, "%s", one_job);
    char *at = strstr(spec, from);
    if (!at) { CHECK(0, "test bug: %s not in the spec", from); return; }
    char rest[2048];
    snprintf(rest, sizeof rest, "%s", at + strlen(from));
    snprintf(at, sizeof spec - (at - spec), "%s%s", to, rest);
    ids_of(spec, files, b, &nb);
    CHECK(na == 1 && nb == 1, "one job each (%d, %d) for %s -> %s", na, nb, from, to);
    if (na == 1 && nb == 1)
        CHECK(!strcmp(a[0], b[0]) == !should_move, "%s -> %s: id %s -> %s should %s", from, to, a[0], b[0],
              should_move ? "change" : "stay");
}

static void test_ids(void) {
    char a[64][17], b[64][17];
    int na, nb;
    ids_of(spec_base, SPEC_FILES_IGNORED, a, &na);
    ids_of(spec_base, SPEC_FILES_IGNORED, b, &nb);
    CHECK(na == nb && na > 0, "same jobs twice");
    for (int j = 0; j < na && j < nb; j++) CHECK(!strcmp(a[j], b[j]), "job %d: %s then %s", j, a[j], b[j]);
    for (int j = 0; j < na; j++) {
        CHECK(strlen(a[j]) == 16 && strspn(a[j], "0123456789abcdef") == 16, "id %s is 16 hex digits", a[j]);
        for (int k = j + 1; k < na; k++) CHECK(strcmp(a[j], a[k]), "jobs %d and %d share id %s", j, k, a[j]);
    }
    // every field that determines a result moves the id
    check_id_moves("\"base.sweep\"", "\"other.sweep\"", 1, SPEC_FILES_IGNORED);
    check_id_moves("\"tok.bpe\"", "\"other.bpe\"", 1, SPEC_FILES_IGNORED);
    check_id_moves("[\"alice\"]", "[\"bob\"]", 1, SPEC_FILES_IGNORED);
    check_id_moves("\"lr\": 5e-5", "\"lr\": 6e-5", 1, SPEC_FILES_IGNORED);
    check_id_moves("\"rank\": 4", "\"rank\": 8", 1, SPEC_FILES_IGNORED);
    check_id_moves("\"rank\": 4", "\"rank\": 4, \"targets\": [\"q\", \"v\"]", 1, SPEC_FILES_IGNORED);
    check_id_moves("\"rank\": 4", "\"rank\": 4, \"alpha\": 4", 1, SPEC_FILES_IGNORED);
    check_id_moves("\"rank\": 4", "\"rank\": 4, \"steps\": 99", 1, SPEC_FILES_IGNORED);
    check_id_moves("\"rank\": 4", "\"rank\": 4, \"betas\": [0.9, 0.999]", 1, SPEC_FILES_IGNORED);
    check_id_moves("\"rank\": 4", "\"rank\": 4, \"warmup\": 1", 1, SPEC_FILES_IGNORED);
    check_id_moves("[7]", "[8]", 1, SPEC_FILES_IGNORED);
    check_id_moves("\"seeds\"", "\"conditions\": [\"random\"], \"seeds\"", 1, SPEC_FILES_IGNORED);
    check_id_moves("\"tokens\": 256", "\"tokens\": 512", 1, SPEC_FILES_IGNORED);
    check_id_moves("\"lora\": {", "\"lora2\": {\"format\": \"lora\", ", 0,
                   SPEC_FILES_IGNORED);   // a label is not a result
    // ...and what only adds cells does not
    check_id_moves("\"tokens\": 256", "\"tokens\": 256, \"general\": false", 0, SPEC_FILES_IGNORED);
    check_id_moves("\"tokens\": 256", "\"tokens\": 256, \"users\": \"all\"", 0, SPEC_FILES_IGNORED);
    check_id_moves("\"lr\": 5e-5", "\"lr\": 0.00005", 0, SPEC_FILES_IGNORED);
    check_id_moves("{\"bases\"", "{\"protocol\": \"custom\", \"max_attempts\": 3, \"bases\"", 0, SPEC_FILES_IGNORED);
}

// ids follow file contents, not paths; random jobs ignore the corpus
static void test_ids_contents(const char *fix) {
    char cwd[1024];
    if (!getcwd(cwd, sizeof cwd) || chdir(fix)) { CHECK(0, "chdir %s", fix); return; }
    const char *s = "{\"bases\": {\"fp\": \"base.sweep\"}, \"tokenizer\": \"tok.bpe\", \"users\": [\"alice\"], \"data\": \"data\", "
                    "\"conditions\": [\"real\", \"random\"], \"formats\": {\"norm\": {}}}";
    char a[64][17], b[64][17], c[64][17];
    int na, nb, nc;
    ids_of(s, SPEC_FILES_REQUIRED, a, &na);
    // base.sweep and base-copy.sweep have the same bytes: the same jobs
    const char *copy = "{\"bases\": {\"fp\": \"base-copy.sweep\"}, \"tokenizer\": \"tok.bpe\", \"users\": [\"alice\"], \"data\": \"data\", "
                       "\"conditions\": [\"real\", \"random\"], \"formats\": {\"norm\": {}}}";
    ids_of(copy, SPEC_FILES_REQUIRED, b, &nb);
    CHECK(na == 2 && nb == 2 && !strcmp(a[0], b[0]) && !strcmp(a[1], b[1]), "a copied base keeps its jobs");
    write_file(fix, "data/users/alice/train.txt", "alice's earlier text, revised\n");
    ids_of(s, SPEC_FILES_REQUIRED, c, &nc);
    CHECK(nc == 2 && strcmp(a[0], c[0]), "real job moves with its corpus");
    CHECK(nc == 2 && !strcmp(a[1], c[1]), "random job does not read the corpus");
    write_file(fix, "data/users/alice/train.txt", "alice's earlier text\n");
    write_model(fix, "base-copy.sweep", 2);
    ids_of(copy, SPEC_FILES_REQUIRED, b, &nb);
    CHECK(nb == 2 && strcmp(a[0], b[0]) && strcmp(a[1], b[1]), "another base, other jobs");
    copy_file(fix, "base.sweep", "base-copy.sweep");
    if (chdir(cwd)) CHECK(0, "chdir back");
}

// ---------------------------------------------------------------- users and paths

static void test_users_and_paths(const char *fix) {
    Plan p;
    char err[1024], cwd[1024];
    if (!getcwd(cwd, sizeof cwd) || chdir(fix)) { CHECK(0, "chdir %s", fix); return; }
    // relative paths: the spec's directory first, then the current directory
    write_file(fix, "sub/.keep", "");   // makes sub/
    write_model(fix, "sub/near.sweep", 4);
    write_file(fix, "sub/s.json", "{\"bases\": {\"near\": \"near.sweep\", \"far\": \"base.sweep\"}, \"data\": \"data\", "
                                  "\"users\": [\"programmer\", \"novelist\", {\"name\": \"carol\", \"train\": \"docs/a.txt\", "
                                  "\"eval\": [\"docs/b.txt\"]}, {\"name\": \"dan\", \"files\": [\"docs/b.txt\", \"docs/a.txt\"]}, "
                                  "{\"name\": \"erin\", \"dir\": \"docs\"}], \"output\": \"out/r.h5\", "
                                  "\"formats\": {\"norm\": {}}, \"eval\": {\"users\": [\"alice\"]}}");
    int rc = spec_load("sub/s.json", SPEC_FILES_REQUIRED, &p, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "sub/s.json: eval.users[0]: alice is not one of the spec's users"),
          "an eval user must be a user of the spec: %s", rc ? err : "accepted");
    if (!rc) plan_free(&p);
    write_file(fix, "sub/s.json", "{\"bases\": {\"near\": \"near.sweep\", \"far\": \"base.sweep\"}, \"data\": \"data\", "
                                  "\"users\": [\"programmer\", \"novelist\", {\"name\": \"carol\", \"train\": \"docs/a.txt\", "
                                  "\"eval\": [\"docs/b.txt\"]}, {\"name\": \"dan\", \"files\": [\"docs/b.txt\", \"docs/a.txt\"]}, "
                                  "{\"name\": \"erin\", \"dir\": \"docs\"}], \"output\": \"out/r.h5\", "
                                  "\"formats\": {\"norm\": {}}, \"eval\": {\"users\": [\"novelist\", \"carol\"]}}");
    rc = spec_load("sub/s.json", SPEC_FILES_REQUIRED, &p, err, sizeof err);
    CHECK(rc == 0, "sub/s.json: %s", err);
    if (!rc) {
        CHECK(!strcmp(p.bases[0].path, "sub/near.sweep"), "near base: %s", p.bases[0].path);
        CHECK(!strcmp(p.bases[1].path, "base.sweep"), "far base falls back to the cwd: %s", p.bases[1].path);
        CHECK(p.bases[0].cfg.n_layers == 1 && p.bases[0].cfg.vocab == 256, "shape from the model file");
        CHECK(!strcmp(p.users[0].name, "cpython") && !strcmp(p.users[0].alias, "programmer"), "alias kept");
        CHECK(!strcmp(p.users[1].name, "austen") && !strcmp(p.users[1].alias, "novelist"), "alias kept");
        CHECK(!strcmp(p.users[0].train_path, "data/users/cpython/train.txt"), "built-in: %s", p.users[0].train_path);
        CHECK(!strcmp(p.users[2].train_path, "docs/a.txt") && p.users[2].n_eval == 1 && p.users[2].n_sources == 0,
              "explicit train + eval");
        CHECK(!strcmp(p.evals[p.users[2].eval_index[0]].label, "carol/eval-1"), "eval label");
        CHECK(p.users[3].n_sources == 2 && !p.users[3].source_is_dir && !strcmp(p.users[3].sources[0], "docs/b.txt"),
              "files kept in the spec's order");
        CHECK(!strcmp(p.users[3].train_path, "out/r.users/dan/train.txt"), "split beside the output: %s",
              p.users[3].train_path);
        CHECK(p.users[4].n_sources == 1 && p.users[4].source_is_dir && p.users[4].n_eval == 3, "dir user");
        // eval.users list: own slices, the listed users' slices, general
        int j0 = 0;   // cpython's job
        CHECK(p.jobs[j0].n_eval == 3 + 3 + 1 + 1, "cpython's job: own 3 + austen 3 + carol 1 + general, got %d",
              p.jobs[j0].n_eval);
        CHECK(p.split_eval_bytes > 0, "split size");
        plan_free(&p);
    }
    if (chdir(cwd)) CHECK(0, "chdir back");
}

// custom users' documents are split where the plan says, before any job, without moving ids
static void test_split_users(const char *fix) {
    char cwd[1024], text[4096];
    if (!getcwd(cwd, sizeof cwd) || chdir(fix)) { CHECK(0, "chdir %s", fix); return; }
    for (int d = 0; d < 3; d++) {
        int k = 0;
        for (int line = 0; line < 60; line++)
            k += snprintf(text + k, sizeof text - k, "document %d, line %d: some words of this author\n", d, line);
        char rel[64];
        snprintf(rel, sizeof rel, "raw/doc-%d.txt", d);
        write_file(fix, rel, text);
    }
    const char *s = "{\"bases\": {\"fp\": \"base.sweep\"}, \"data\": \"data\", \"output\": \"out/r.h5\", "
                    "\"users\": [{\"name\": \"dan\", \"files\": [\"raw/doc-1.txt\", \"raw/doc-0.txt\"]}, "
                    "{\"name\": \"erin\", \"dir\": \"raw\"}], \"formats\": {\"norm\": {}}, "
                    "\"eval\": {\"slices\": 2, \"slice_bytes\": 512, \"general\": false}}";
    Plan p;
    char err[1024];
    int rc = parse_text(s, "s.json", SPEC_FILES_REQUIRED, &p, err);
    CHECK(rc == 0, "%s", err);
    if (!rc) {
        char before[2][17];
        strcpy(before[0], p.jobs[0].id);
        strcpy(before[1], p.jobs[1].id);
        int status;
        rc = spec_split_users(&p, &status, err, sizeof err);
        CHECK(rc == 0 && status == 0, "split: %s", err);
        for (int u = 0; u < 2; u++) {
            struct stat st;
            CHECK(stat(p.users[u].train_path, &st) == 0 && st.st_size > 0, "%s", p.users[u].train_path);
            for (int k = 0; k < p.users[u].n_eval; k++) {
                const char *e = p.evals[p.users[u].eval_index[k]].path;
                CHECK(stat(e, &st) == 0 && st.st_size > 0 && st.st_size <= 512, "%s", e);
            }
        }
        CHECK(!strcmp(p.users[0].train_path, "out/r.users/dan/train.txt"), "%s", p.users[0].train_path);
        plan_free(&p);
        rc = parse_text(s, "s.json", SPEC_FILES_REQUIRED, &p, err);
        CHECK(rc == 0 && !strcmp(p.jobs[0].id, before[0]) && !strcmp(p.jobs[1].id, before[1]),
              "ids are the same after the split");
        if (!rc) plan_free(&p);
    }
    // too little text for the slices: the split's message names the user, status 2
    s = "{\"bases\": {\"fp\": \"base.sweep\"}, \"output\": \"out/t.h5\", "
        "\"users\": [{\"name\": \"tiny\", \"files\": [\"docs/a.txt\"]}], \"formats\": {\"norm\": {}}, "
        "\"eval\": {\"general\": false}}";
    rc = parse_text(s, "s.json", SPEC_FILES_REQUIRED, &p, err);
    CHECK(rc == 0, "%s", err);
    if (!rc) {
        int status;
        rc = spec_split_users(&p, &status, err, sizeof err);
        CHECK(rc == -1 && status == 2 && strstr(err, "tiny"), "too little text: rc %d status %d: %s", rc, status, err);
        plan_free(&p);
    }
    if (chdir(cwd)) CHECK(0, "chdir back");
}

// ---------------------------------------------------------------- bad specs

static void test_bad_specs(const char *fix) {
    char dir[1200], cwd[1024];
    snprintf(dir, sizeof dir, "%s/tests/spec", root);
    DIR *d = opendir(dir);
    CHECK(d != NULL, "%s", dir);
    if (!d || !getcwd(cwd, sizeof cwd)) return;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json")) continue;
        char src[2400], want_path[2400];
        snprintf(src, sizeof src, "%s/%s", dir, e->d_name);
        snprintf(want_path, sizeof want_path, "%s/%.*s.err", dir, (int)(len - 5), e->d_name);
        size_t tl = 0, wl = 0;
        char *text = read_whole_file(src, &tl), *want = read_whole_file(want_path, &wl);
        CHECK(text && want, "%s and its .err", e->d_name);
        if (text && want) {
            while (wl && want[wl - 1] == '\n') want[--wl] = 0;
            write_file(fix, e->d_name, text);
            if (chdir(fix) == 0) {
                Plan p;
                char err[1024];
                int rc = spec_load(e->d_name, SPEC_FILES_REQUIRED, &p, err, sizeof err);
                CHECK(rc == -1, "%s: accepted", e->d_name);
                CHECK(rc == 0 || !strcmp(err, want), "%s:\n  got      %s\n  expected %s", e->d_name, err, want);
                CHECK(rc == 0 || !strchr(err, '\n'), "%s: one line", e->d_name);
                if (rc == 0) plan_free(&p);
                if (chdir(cwd)) CHECK(0, "chdir back");
            }
            n++;
        }
        free(text);
        free(want);
    }
    closedir(d);
    CHECK(n >= 20, "only %d bad specs", n);
}

// ---------------------------------------------------------------- scheduler simulation

static void test_simulate(void) {
    // costs 3, 3, 2, 2, 2 on two ranks, longest first to the earliest free rank (lowest on ties):
    // r0: 3 then 2 (t=5) then 2 (t=7); r1: 3 then 2 (t=5). Wall 7.
    Plan p;
    memset(&p, 0, sizeof p);
    double cost[5] = { 2, 3, 2, 3, 2 };
    Job jobs[5];
    memset(jobs, 0, sizeof jobs);
    for (int j = 0; j < 5; j++) { jobs[j].est_flops = cost[j]; snprintf(jobs[j].id, 17, "%016d", j); }
    p.jobs = jobs;
    p.n_jobs = 5;
    int rank[5];
    double start[5];
    double wall = plan_simulate(&p, 2, 1.0, rank, start);
    CHECK(wall == 7, "wall %g", wall);
    CHECK(rank[1] == 0 && start[1] == 0 && rank[3] == 1 && start[3] == 0, "the 3s start at once");
    CHECK(rank[0] == 0 && start[0] == 3 && rank[2] == 1 && start[2] == 3, "then the 2s by id");
    CHECK(rank[4] == 0 && start[4] == 5, "the last 2 on rank 0 at 5");
    CHECK(plan_simulate(&p, 1, 2.0, NULL, NULL) == 6, "one rank at 2 flop/s: 12/2");
    CHECK(plan_simulate(&p, 8, 1.0, NULL, NULL) == 3, "more ranks than jobs: the longest job");
    int order[5];
    plan_longest_first(&p, order);
    CHECK(order[0] == 1 && order[1] == 3 && order[2] == 0 && order[3] == 2 && order[4] == 4, "order");
}

static void test_edit_distance(void) {
    CHECK(spec_edit_distance("rnak", "rank") == 1, "transposition");
    CHECK(spec_edit_distance("lr", "lr") == 0, "same");
    CHECK(spec_edit_distance("sed", "seeds") == 2, "two insertions");
    CHECK(spec_edit_distance("", "abc") == 3, "empty");
    CHECK(spec_edit_distance("kitten", "sitting") == 3, "classic");
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--fixtures")) { make_fixtures(argv[2]); return 0; }
    find_root();
    char fix[] = "/tmp/test_spec.XXXXXX";
    if (!mkdtemp(fix)) { perror("mkdtemp"); return 3; }
    make_fixtures(fix);
    test_edit_distance();
    test_bundled();
    test_grid_shape();
    test_lists();
    test_ids();
    test_ids_contents(fix);
    test_users_and_paths(fix);
    test_split_users(fix);
    test_bad_specs(fix);
    test_simulate();
    rm_tree(fix);
    return tl_finish("test_spec");
}
