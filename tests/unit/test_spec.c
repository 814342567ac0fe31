// Specs: the bundled protocols expand to the grids DESIGN.md defines, the relative-path rule holds,
// custom users' documents split without moving ids, the scheduler simulation matches a schedule worked
// by hand, and every bad spec in tests/spec/ gives its expected one-line message. The grid and job ids
// are tested beside them in test_grid.c.
//
// `test_spec --fixtures DIR` writes the small fixture tree the bad specs refer to (tests/spec/run.sh).
#define _GNU_SOURCE
#include <dirent.h>
#include <unistd.h>
#include "spec_fixture.h"
#include "testlib.h"

// ---------------------------------------------------------------- bundled protocols

static void check_bundled(const char *name, int jobs, long cells, int bases, int conds, int formats, int users,
                          int seeds, int evals) {
    char path[1200], err[1024];
    snprintf(path, sizeof path, "%s/sweeps/%s.json", root, name);
    Plan p;
    int rc = spec_load(path, SPEC_FILES_IGNORED, &p, err, sizeof err);
    CHECK(rc == 0, "%s: %s", name, err);
    if (rc) return;
    CHECK(!strncmp(p.output, SPEC_RUNS_DIR "/", strlen(SPEC_RUNS_DIR) + 1), "%s: output %s is not under %s/", name,
          p.output, SPEC_RUNS_DIR);
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
    // Bet 52: {ternary, int4} bases x 3 users x {none, norm}; each base sees all 9 slices
    check_bundled("bet52", 3 * (1 + 3), 3 * (3 * 3 + 3 * own3), 3, 1, 2, 3, 1, 9);
    // Bet 60: 3 users x norm x {real, random}
    check_bundled("bet60", 3 * 2, 3 * 2 * own3, 1, 2, 1, 3, 1, 9);
    // Bet 61: 3 users x norm, every adapter on every user's 3 slices
    check_bundled("bet61", 3, 3 * (3 * 3), 1, 1, 1, 3, 1, 9);
    // 1B+: 3 bases (fp, ternary, int4) x (none + 10 users x 3 seeds x (norm real + norm random + lora + full)),
    // every job on all 10 x 3 slices + general
    int per_base = 1 + 10 * 3 * (2 + 1 + 1);
    check_bundled("protocol-1b", 3 * per_base, 3L * per_base * (10 * 3 + general), 3, 2, 4, 10, 3, 10 * 3 + general);
    // demo: 3 users x {none, norm, lora} x 1 seed, all slices + general
    check_bundled("demo", 1 + 3 * 2, (1 + 3 * 2) * (3 * 3 + general), 1, 1, 3, 3, 1, 3 * 3 + general);
}

// ---------------------------------------------------------------- users and paths

static void test_users_and_paths(const char *fix) {
    Plan p;
    char err[1024], cwd[1024];
    if (!getcwd(cwd, sizeof cwd) || chdir(fix)) { CHECK(0, "chdir %s", fix); return; }
    // relative paths: the spec's directory first, then the current directory
    write_file(fix, "sub/.keep", "");   // makes sub/
    // documents with enough text for the split's checks (3 slices of 12,288 bytes and a train as large)
    static char longtext[48000];
    for (int f = 0; f < 2; f++) {
        int k = 0;
        for (int line = 0; k < (int)sizeof longtext - 100; line++)
            k += snprintf(longtext + k, sizeof longtext - k, "document %c, line %d: words of this author\n", 'a' + f, line);
        write_file(fix, f ? "long/b.txt" : "long/a.txt", longtext);
    }
    write_model(fix, "sub/near.sweep", 4);
    write_file(fix, "sub/s.json", "{\"bases\": {\"near\": \"near.sweep\", \"far\": \"base.sweep\"}, \"data\": \"data\", "
                                  "\"users\": [\"programmer\", \"novelist\", {\"name\": \"carol\", \"train\": \"docs/a.txt\", "
                                  "\"eval\": [\"docs/b.txt\"]}, {\"name\": \"dan\", \"files\": [\"long/b.txt\", \"long/a.txt\"]}, "
                                  "{\"name\": \"erin\", \"dir\": \"long\"}], \"output\": \"out/r.h5\", "
                                  "\"formats\": {\"norm\": {}}, \"eval\": {\"users\": [\"alice\"]}}");
    int rc = spec_load("sub/s.json", SPEC_FILES_REQUIRED, &p, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "sub/s.json: eval.users[0]: alice is not one of the spec's users"),
          "an eval user must be a user of the spec: %s", rc ? err : "accepted");
    if (!rc) plan_free(&p);
    write_file(fix, "sub/s.json", "{\"bases\": {\"near\": \"near.sweep\", \"far\": \"base.sweep\"}, \"data\": \"data\", "
                                  "\"users\": [\"programmer\", \"novelist\", {\"name\": \"carol\", \"train\": \"docs/a.txt\", "
                                  "\"eval\": [\"docs/b.txt\"]}, {\"name\": \"dan\", \"files\": [\"long/b.txt\", \"long/a.txt\"]}, "
                                  "{\"name\": \"erin\", \"dir\": \"long\"}], \"output\": \"out/r.h5\", "
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
        CHECK(p.users[3].n_sources == 2 && !p.users[3].source_is_dir && !strcmp(p.users[3].sources[0], "long/b.txt"),
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
    // too little text for the slices: the split's message names the user, status 2; when files must
    // exist (sweep plan) the parse runs the same check and refuses the spec
    s = "{\"bases\": {\"fp\": \"base.sweep\"}, \"output\": \"out/t.h5\", "
        "\"users\": [{\"name\": \"tiny\", \"files\": [\"docs/a.txt\"]}], \"formats\": {\"norm\": {}}, "
        "\"eval\": {\"general\": false}}";
    rc = parse_text(s, "s.json", SPEC_FILES_REQUIRED, &p, err);
    CHECK(rc == -1 && strstr(err, "s.json: users[0]: user tiny: too little text"), "plan refuses: %s", rc ? err : "ok");
    if (!rc) plan_free(&p);
    struct stat st;
    CHECK(stat("out/t.users", &st) != 0, "the check writes nothing");
    rc = parse_text(s, "s.json", SPEC_FILES_OPTIONAL, &p, err);
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

// Without "output", results go to runs/ under the spec's name; an explicit output is taken as given.
static void test_default_output(void) {
    Plan p;
    char err[1024];
    int rc = parse_text("{\"users\": [\"alice\"], \"formats\": {\"norm\": {}}}", "some/dir/my-spec.json",
                        SPEC_FILES_IGNORED, &p, err);
    CHECK(rc == 0 && !strcmp(p.output, "runs/my-spec.h5"), "default output: %s", rc ? err : p.output);
    if (!rc) plan_free(&p);
    rc = parse_text("{\"users\": [\"alice\"], \"formats\": {\"norm\": {}}, \"output\": \"results/old.h5\"}", "s.json",
                    SPEC_FILES_IGNORED, &p, err);
    CHECK(rc == 0 && !strcmp(p.output, "results/old.h5"), "explicit output kept: %s", rc ? err : p.output);
    if (!rc) plan_free(&p);
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
    test_default_output();
    test_users_and_paths(fix);
    test_split_users(fix);
    test_bad_specs(fix);
    test_simulate();
    rm_tree(fix);
    return tl_finish("test_spec");
}
