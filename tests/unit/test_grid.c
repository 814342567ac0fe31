// The grid and job ids (sweeps/grid.c): a spec expands into the jobs and costs it asks for, listed
// hyperparameters expand into labelled variants, and job ids - the resume contract - are stable: the
// same spec gives the same ids, the hashed text of a job is the one recorded below, an id moves with
// every field that determines a result (and only those), and follows file contents, not paths.
#define _GNU_SOURCE
#include <unistd.h>
#include "spec_fixture.h"
#include "testlib.h"

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

// steer (Bet 58): the block set reaches the variant and moves the id; "last" is the default's id
static void test_steer(void) {
    const char *spec = "{\"bases\": {\"fp\": \"base.sweep\"}, \"users\": [\"alice\"], \"formats\": {\"steer\": {\"lr\": 1e-3}, "
                       "\"steer-low\": {\"format\": \"steer\", \"lr\": 1e-3, \"layers\": [0, 3]}}}";
    Plan p;
    char err[1024];
    int rc = parse_text(spec, "s.json", SPEC_FILES_IGNORED, &p, err);
    CHECK(rc == 0, "%s", err);
    if (rc) return;
    int a = find_axis(&p, AX_FORMAT, "steer"), b = find_axis(&p, AX_FORMAT, "steer-low");
    CHECK(a >= 0 && b >= 0 && p.formats[a].format == FMT_STEER && p.formats[b].format == FMT_STEER, "steer variants");
    if (a >= 0 && b >= 0) {
        CHECK(steer_layers_count(&p.formats[a].steer) == 0, "no layers: the empty set (the last block)");
        CHECK(steer_layers_count(&p.formats[b].steer) == 2 && steer_layers_lowest(&p.formats[b].steer) == 0 &&
              steer_layers_highest(&p.formats[b].steer) == 3, "layers [0, 3]");
        const char *ia = NULL, *ib = NULL;
        for (int j = 0; j < p.n_jobs; j++) {
            if (p.jobs[j].ax[AX_FORMAT] == a) ia = p.jobs[j].id;
            if (p.jobs[j].ax[AX_FORMAT] == b) ib = p.jobs[j].id;
        }
        CHECK(ia && ib && strcmp(ia, ib), "ids: last %s, [0, 3] %s", ia, ib);
        // cost: after the last block the backward is the head's input gradient alone (2 n dim vocab);
        // from block 0 up it crosses every block above, still less than norm's whole backward
        ModelConfig cfg;
        config_default(&cfg);
        double fwd = model_forward_flops(&cfg, 8, 256), n = 8.0 * 256;
        double last = plan_train_flops(&cfg, &p.formats[a]), low = plan_train_flops(&cfg, &p.formats[b]);
        CHECK(tl_relerr(last, 100 * (fwd + n * 2 * cfg.dim * cfg.vocab), 1) < 1e-12, "steer last costs %g", last);
        double norm = 100 * (fwd + model_backward_flops(&cfg, FMT_NORM, NULL, 8, 256));
        CHECK(low > last && low < norm, "steer [0, 3] costs %g: between last %g and norm %g", low, last, norm);
    }
    plan_free(&p);
    // "layers": "last" is the default: the same jobs, which the grid refuses to run twice
    const char *twice = "{\"bases\": {\"fp\": \"base.sweep\"}, \"users\": [\"alice\"], \"formats\": {\"steer\": {}, "
                        "\"steer-top\": {\"format\": \"steer\", \"layers\": \"last\"}}}";
    rc = parse_text(twice, "s.json", SPEC_FILES_IGNORED, &p, err);
    CHECK(rc == -1 && strstr(err, "formats.steer-top: trains exactly what steer trains"), "\"last\" twice: %s",
          rc ? err : "accepted");
    if (rc == 0) plan_free(&p);
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

// The canonical text of one_job's id, written out by hand from sweeps/grid.c's rule (files ignored:
// paths stand for contents). Results files of every earlier run key their jobs by such ids, so this
// text and its hash must not change; the hash below was also computed outside sweep (FNV-1a 64 in
// Python) and is the id `sweep plan` printed before the grid had its own file.
static void test_id_text(void) {
    const char *text = "sweep-job-v1\nbase=path:base.sweep\ntokenizer=path:tok.bpe\neval_tokens=256\nformat=lora\n"
                       "steps=100\nbatch=8\nseq=256\nlr=5.0000000000000002e-05\nbetas=0.90000000000000002,"
                       "0.94999999999999996\neps=1e-08\nweight_decay=0\ngrad_clip=0\nwarmup=0\ncosine=0\nmin_lr_frac=0\n"
                       "rank=4\nalpha=8\ntargets=127\ncondition=real\nuser=alice\n"
                       "corpus=path:fixtures/data/users/alice/train.txt\nseed=7\n";
    char want[17], ids[64][17];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)fnv1a64(text, strlen(text), FNV1A64_INIT));
    CHECK(!strcmp(want, "5d423f9ee1958f00"), "the canonical text hashes to %s", want);
    int n;
    ids_of(one_job, SPEC_FILES_IGNORED, ids, &n);
    CHECK(n == 1 && !strcmp(ids[0], want), "one_job's id %s, recorded %s", n ? ids[0] : "-", want);
}

int main(void) {
    find_root();
    char fix[] = "/tmp/test_grid.XXXXXX";
    if (!mkdtemp(fix)) { perror("mkdtemp"); return 3; }
    make_fixtures(fix);
    test_grid_shape();
    test_lists();
    test_ids();
    test_id_text();
    test_steer();
    test_ids_contents(fix);
    rm_tree(fix);
    return tl_finish("test_grid");
}
