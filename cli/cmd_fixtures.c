// sweep fixtures: build the raw user corpora from Debian packages (fixtures/build_corpora.py, run with
// /usr/bin/python3), then cut every user's train.txt + eval slices and the general mix's train.txt +
// eval.txt (sweeps/split.c), and write DATA/manifest.json.
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "engine/util.h"
#include "sweeps/split.h"

static const char usage_text[] =
    "usage: sweep fixtures [--data DIR] [--cache DIR] [--users a,b] [--eval K] [--eval-bytes B]\n"
    "                      [--general-eval-bytes B] [--general-mb MB] [--offline] [--split-only]\n"
    "\n"
    "Builds the user corpora from Debian packages and splits them (see fixtures/README.md):\n"
    "  DATA/raw/<user>/NNNN.txt          ordered documents (fixtures/build_corpora.py, /usr/bin/python3)\n"
    "  DATA/users/<user>/train.txt       the earlier text\n"
    "  DATA/users/<user>/eval-1.txt ..   K held-out slices of at most B bytes from the later text\n"
    "  DATA/general/train.txt, eval.txt  the general mix\n"
    "  DATA/manifest.json                packages, licences, order, sizes and sha256 of every file\n"
    "\n"
    "  --data DIR             output root (default: <source>/fixtures/data)\n"
    "  --cache DIR            downloaded .deb files and their unpacked trees (default DATA/cache)\n"
    "  --users a,b            rebuild only these users' raw text (aliases and 'general' allowed); every\n"
    "                         user found under DATA/raw is split again either way\n"
    "  --eval K               eval slices per user (default 3)\n"
    "  --eval-bytes B         bytes per slice, cut at line boundaries (default 12288)\n"
    "  --general-eval-bytes B size of the general eval text (default 65536)\n"
    "  --general-mb MB        cap of the general mix (default 24)\n"
    "  --offline              use only packages already in the cache\n"
    "  --split-only           do not run the builder; split what DATA/raw holds\n"
    "\n"
    "The builder is found through $SWEEP_ROOT (the source tree) if set, else by walking up from the\n"
    "directory of this executable (/proc/self/exe) to the first one holding fixtures/build_corpora.py.\n"
    "The interpreter is $SWEEP_PYTHON, default /usr/bin/python3 (Debian's, standard library only).\n";

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

// The source tree: $SWEEP_ROOT, else the nearest ancestor of the executable's directory with the builder.
static int find_source_root(char *out, size_t n) {
    char probe[PATH_MAX + 64];
    const char *env = getenv("SWEEP_ROOT");
    if (env && *env) {
        snprintf(probe, sizeof probe, "%s/fixtures/build_corpora.py", env);
        if (!is_file(probe)) {
            fprintf(stderr, "sweep fixtures: SWEEP_ROOT=%s has no fixtures/build_corpora.py\n", env);
            return -1;
        }
        snprintf(out, n, "%s", env);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = 0;
        for (int up = 0; up < 5; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash || slash == exe) break;
            *slash = 0;
            snprintf(probe, sizeof probe, "%s/fixtures/build_corpora.py", exe);
            if (is_file(probe)) {
                snprintf(out, n, "%s", exe);
                return 0;
            }
        }
    }
    fprintf(stderr, "sweep fixtures: cannot find fixtures/build_corpora.py near this executable; set SWEEP_ROOT to the source tree\n");
    return -1;
}

static int run_builder(const char *root, const char *data, const char *cache, const char *users,
                       const char *general_mb, int offline) {
    char builder[PATH_MAX + 64];
    snprintf(builder, sizeof builder, "%s/fixtures/build_corpora.py", root);
    const char *python = getenv("SWEEP_PYTHON");
    if (!python || !*python) python = "/usr/bin/python3";
    const char *argv[16];
    int a = 0;
    argv[a++] = python;
    argv[a++] = builder;
    argv[a++] = "--data";
    argv[a++] = data;
    if (cache) { argv[a++] = "--cache"; argv[a++] = cache; }
    if (users) { argv[a++] = "--users"; argv[a++] = users; }
    if (general_mb) { argv[a++] = "--general-mb"; argv[a++] = general_mb; }
    if (offline) argv[a++] = "--offline";
    argv[a] = NULL;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) { fprintf(stderr, "sweep fixtures: fork: %s\n", strerror(errno)); return 3; }
    if (pid == 0) {
        execv(python, (char *const *)argv);
        fprintf(stderr, "sweep fixtures: cannot run %s: %s\n", python, strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) { fprintf(stderr, "sweep fixtures: waitpid: %s\n", strerror(errno)); return 3; }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 2) return 2;   // the builder already said which user
    if (WIFEXITED(status))
        fprintf(stderr, "sweep fixtures: %s %s failed (exit %d)\n", python, builder, WEXITSTATUS(status));
    else
        fprintf(stderr, "sweep fixtures: %s %s killed by signal %d\n", python, builder, WTERMSIG(status));
    return 3;
}

static cJSON *split_record(const SplitResult *r, int n_eval, long eval_bytes, const char *rule) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "rule", rule);
    cJSON_AddNumberToObject(o, "n_eval", n_eval);
    cJSON_AddNumberToObject(o, "eval_bytes", (double)eval_bytes);
    cJSON_AddNumberToObject(o, "total_bytes", (double)r->total_bytes);
    cJSON_AddNumberToObject(o, "later_bytes", (double)r->later_bytes);
    cJSON *files = cJSON_AddObjectToObject(o, "files");
    for (int i = 0; i < r->n_files; i++) {
        cJSON *f = cJSON_AddObjectToObject(files, r->file[i].name);
        cJSON_AddNumberToObject(f, "bytes", (double)r->file[i].bytes);
        cJSON_AddStringToObject(f, "sha256", r->file[i].sha256);
    }
    return o;
}

static int write_text_atomic(const char *path, const char *text) {
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return -1;
    int bad = fputs(text, f) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path)) { unlink(tmp); return -1; }
    return 0;
}

static void print_sizes(const char *name, const SplitResult *r) {
    printf("  %-9s train %8.3f MB", name, r->file[0].bytes / 1e6);
    for (int i = 1; i < r->n_files; i++) printf("  %s %5ld B", r->file[i].name, r->file[i].bytes);
    printf("\n");
}

int cmd_fixtures(int argc, char **argv) {
    const char *data = NULL, *cache = NULL, *users = NULL, *general_mb = NULL;
    int n_eval = SPLIT_DEFAULT_EVAL, offline = 0, split_only = 0;
    long eval_bytes = SPLIT_DEFAULT_EVAL_BYTES, general_eval_bytes = SPLIT_GENERAL_EVAL_BYTES;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char e[400];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(usage_text, stdout); return 0; }
        else if (!strcmp(a, "--offline")) offline = 1;
        else if (!strcmp(a, "--split-only")) split_only = 1;
        else if (!v) { fprintf(stderr, "sweep fixtures: %s needs a value (or is unknown)\n%s", a, usage_text); return 2; }
        else if (!strcmp(a, "--data")) { data = v; i++; }
        else if (!strcmp(a, "--cache")) { cache = v; i++; }
        else if (!strcmp(a, "--users")) { users = v; i++; }
        else if (!strcmp(a, "--general-mb")) {
            double mb;
            if (opt_real(a, v, 0.1, 1e5, 1, &mb, e, sizeof e)) return opt_bad("fixtures", e);
            general_mb = v; i++;
        } else if (!strcmp(a, "--eval")) {
            if (opt_int(a, v, 1, SPLIT_MAX_EVAL, &n_eval, e, sizeof e)) return opt_bad("fixtures", e);
            i++;
        } else if (!strcmp(a, "--eval-bytes") || !strcmp(a, "--general-eval-bytes")) {
            long b;
            if (opt_long(a, v, 64, 1L << 30, &b, e, sizeof e)) return opt_bad("fixtures", e);
            if (!strcmp(a, "--eval-bytes")) eval_bytes = b; else general_eval_bytes = b;
            i++;
        } else { fprintf(stderr, "sweep fixtures: unknown option %s\n%s", a, usage_text); return 2; }
    }

    char root[PATH_MAX], data_buf[PATH_MAX + 32];
    if (!data || !split_only) {
        if (find_source_root(root, sizeof root)) return 2;
        if (!data) { snprintf(data_buf, sizeof data_buf, "%s/fixtures/data", root); data = data_buf; }
    }
    double t0 = now_seconds();
    if (!split_only) {
        int rc = run_builder(root, data, cache, users, general_mb, offline);
        if (rc) return rc;
    }

    char path[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/raw/manifest.json", data);
    size_t len;
    char *text = read_whole_file(path, &len);
    if (!text) { fprintf(stderr, "sweep fixtures: cannot read %s: %s (run without --split-only)\n", path, strerror(errno)); return 2; }
    cJSON *manifest = cJSON_Parse(text);
    free(text);
    cJSON *musers = manifest ? cJSON_GetObjectItemCaseSensitive(manifest, "users") : NULL;
    if (!cJSON_IsObject(musers)) {
        fprintf(stderr, "sweep fixtures: %s: field 'users' missing or not an object\n", path);
        cJSON_Delete(manifest);
        return 2;
    }

    char rule[512], err[1024];
    int rc = 0;
    printf("splits (%d eval slices of <= %ld bytes; general eval <= %ld bytes):\n", n_eval, eval_bytes, general_eval_bytes);
    cJSON *u;
    cJSON_ArrayForEach(u, musers) {
        const char *name = u->string;
        char dir[PATH_MAX + 128], out[PATH_MAX + 128];
        snprintf(dir, sizeof dir, "%s/raw/%s", data, name);
        snprintf(out, sizeof out, "%s/users/%s", data, name);
        SplitResult r;
        rc = split_user_dir(name, dir, n_eval, eval_bytes, out, &r, err, sizeof err);
        if (rc) { fprintf(stderr, "sweep fixtures: %s\n", err); break; }
        cJSON *from = cJSON_GetObjectItemCaseSensitive(u, "heldout_from");
        if (cJSON_IsString(from))
            snprintf(rule, sizeof rule, "train: documents before %s; later text: %s on; %d slices of <= %ld bytes evenly spaced over it, cut at line boundaries",
                     from->valuestring, from->valuestring, n_eval, eval_bytes);
        else
            snprintf(rule, sizeof rule, "later text: the last %d x %ld bytes (from a line start); %d slices of <= %ld bytes, cut at line boundaries; train: everything before",
                     n_eval, eval_bytes, n_eval, eval_bytes);
        cJSON_DeleteItemFromObjectCaseSensitive(u, "split");
        cJSON_AddItemToObject(u, "split", split_record(&r, n_eval, eval_bytes, rule));
        print_sizes(name, &r);
    }
    cJSON *general = cJSON_GetObjectItemCaseSensitive(manifest, "general");
    snprintf(path, sizeof path, "%s/raw/general", data);
    if (!rc && cJSON_IsObject(general) && is_dir(path)) {
        char out[PATH_MAX + 128];
        snprintf(out, sizeof out, "%s/general", data);
        SplitResult r;
        rc = split_dir("general", path, 1, general_eval_bytes, 1, out, &r, err, sizeof err);
        if (rc) fprintf(stderr, "sweep fixtures: %s\n", err);
        else {
            snprintf(rule, sizeof rule, "eval.txt: the last %ld bytes (from a line start) of the interleaved chunks; train.txt: everything before", general_eval_bytes);
            cJSON_DeleteItemFromObjectCaseSensitive(general, "split");
            cJSON_AddItemToObject(general, "split", split_record(&r, 1, general_eval_bytes, rule));
            print_sizes("general", &r);
        }
    }
    // aliases as relative symlinks, so that users/programmer/train.txt resolves like users/cpython/train.txt
    cJSON *aliases = cJSON_GetObjectItemCaseSensitive(manifest, "aliases"), *al;
    cJSON_ArrayForEach(al, aliases) {
        if (rc || !cJSON_IsString(al) || !cJSON_GetObjectItemCaseSensitive(musers, al->valuestring)) continue;
        char link[PATH_MAX + 128];
        snprintf(link, sizeof link, "%s/users/%s", data, al->string);
        struct stat st;
        if (lstat(link, &st) == 0 && S_ISLNK(st.st_mode)) unlink(link);
        if (symlink(al->valuestring, link) && errno != EEXIST)
            fprintf(stderr, "sweep fixtures: cannot link %s -> %s: %s\n", link, al->valuestring, strerror(errno));
    }
    if (!rc) {
        char *json = cJSON_Print(manifest);
        snprintf(path, sizeof path, "%s/manifest.json", data);
        size_t n = strlen(json);
        char *with_nl = xmalloc(n + 2);
        memcpy(with_nl, json, n);
        memcpy(with_nl + n, "\n", 2);
        if (write_text_atomic(path, with_nl)) { fprintf(stderr, "sweep fixtures: cannot write %s: %s\n", path, strerror(errno)); rc = 3; }
        else printf("fixtures in %s (manifest.json), %.0f s\n", data, now_seconds() - t0);
        free(with_nl);
        free(json);
    }
    cJSON_Delete(manifest);
    return rc;
}
