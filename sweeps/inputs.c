// The files a spec names: path resolution and fingerprints (sweeps/inputs.h).
#include "sweeps/inputs.h"
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "engine/util.h"
#include "sweeps/split.h"

static int path_is_abs(const char *p) { return p[0] == '/'; }

// 1 regular file, 2 directory, 0 missing or other
int path_kind(const char *p) {
    struct stat st;
    if (stat(p, &st)) return 0;
    if (S_ISREG(st.st_mode)) return 1;
    if (S_ISDIR(st.st_mode)) return 2;
    return 0;
}

int path_join(char *out, const char *dir, const char *rel) {
    int n = (!dir[0] || !strcmp(dir, ".")) ? snprintf(out, PATHMAX, "%s", rel)
                                           : snprintf(out, PATHMAX, "%s/%s", dir, rel);
    return n < 0 || n >= PATHMAX ? -1 : 0;
}

// Relative input paths: the spec's directory first, then the current directory; the first that exists
// wins. Missing everywhere: an error when files are required, else the path as given (cwd-relative).
int input_resolve(SpecCtx *c, const char *jp, const char *given, int want_dir, char *out) {
    const char *what = want_dir ? "directory" : "file";
    if (strlen(given) >= PATHMAX) return spec_fail(c, jp, "path too long");
    if (c->files == SPEC_FILES_IGNORED || path_is_abs(given)) {
        snprintf(out, PATHMAX, "%s", given);
    } else {
        char cand[PATHMAX];
        if (path_join(cand, c->specdir, given)) return spec_fail(c, jp, "path too long");
        if (path_kind(cand)) snprintf(out, PATHMAX, "%s", cand);
        else snprintf(out, PATHMAX, "%s", given);
    }
    if (c->files == SPEC_FILES_IGNORED) return 0;
    int k = path_kind(out);
    if (k == (want_dir ? 2 : 1)) return 0;
    if (k) return spec_fail(c, jp, "%s: not a %s", out, what);
    if (c->files == SPEC_FILES_OPTIONAL) return 0;
    if (path_is_abs(given)) return spec_fail(c, jp, "%s: no such %s", given, what);
    return spec_fail(c, jp, "%s: no such %s (looked in %s/ and the current directory)", given, what,
                c->specdir);
}

// A derived input (data dir + fixed layout): must exist when files are required.
int input_check_derived(SpecCtx *c, const char *jp, const char *path, const char *advice) {
    if (c->files != SPEC_FILES_REQUIRED || path_kind(path) == 1) return 0;
    return spec_fail(c, jp, "%s: no such file%s", path, advice);
}

// A file's identity for job ids: its content, so that a moved or copied file keeps its jobs. Large
// files (model files) are hashed at head and tail: their header carries per-tensor checksums.
void input_fingerprint(SpecCtx *c, const char *path, char *out, size_t n) {
    struct stat st;
    FILE *f = NULL;
    if (c->files == SPEC_FILES_IGNORED || stat(path, &st) || !S_ISREG(st.st_mode) || !(f = fopen(path, "rb"))) {
        snprintf(out, n, "path:%s", path);
        return;
    }
    uint64_t h = FNV1A64_INIT;
    char *buf = xmalloc(1 << 16);
    long size = (long)st.st_size, half = FINGERPRINT_WHOLE / 2;
    long ranges[2][2] = { { 0, size <= FINGERPRINT_WHOLE ? size : half }, { size - half, size } };
    int nr = size <= FINGERPRINT_WHOLE ? 1 : 2;
    for (int r = 0; r < nr; r++) {
        if (fseek(f, ranges[r][0], SEEK_SET)) break;
        for (long left = ranges[r][1] - ranges[r][0]; left > 0;) {
            size_t got = fread(buf, 1, left < (1 << 16) ? (size_t)left : (1 << 16), f);
            if (!got) break;
            h = fnv1a64(buf, got, h);
            left -= (long)got;
        }
    }
    free(buf);
    fclose(f);
    snprintf(out, n, "fnv:%016llx:%ld", (unsigned long long)h, size);
}

int path_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// A custom user's directory: the regular files not starting with '.', by name, as the split reads them.
void input_fingerprint_dir(SpecCtx *c, const char *dir, char *out, size_t n) {
    DIR *d = c->files == SPEC_FILES_IGNORED ? NULL : opendir(dir);
    if (!d) { snprintf(out, n, "path:%s", dir); return; }
    int cap = 16, k = 0;
    char **names = xmalloc(cap * sizeof *names);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' && strcmp(e->d_name, SPLIT_HELDOUT_MARKER)) continue;
        if (k == cap) names = realloc(names, (cap *= 2) * sizeof *names);
        if (!names) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
        names[k++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, k, sizeof *names, path_cmp);
    uint64_t h = FNV1A64_INIT;
    for (int i = 0; i < k; i++) {
        char p[PATHMAX];
        Ident fp;
        if (path_join(p, dir, names[i]) == 0 && path_kind(p) == 1) {
            input_fingerprint(c, p, fp, sizeof fp);
            h = fnv1a64(names[i], strlen(names[i]) + 1, h);
            h = fnv1a64(fp, strlen(fp) + 1, h);
        }
        free(names[i]);
    }
    free(names);
    snprintf(out, n, "dir:%016llx", (unsigned long long)h);
}

long input_file_size(const char *path) {
    struct stat st;
    return stat(path, &st) || !S_ISREG(st.st_mode) ? -1 : (long)st.st_size;
}

void path_dirname(const char *path, char *out) {
    const char *slash = strrchr(path, '/');
    if (!slash) { snprintf(out, PATHMAX, "."); return; }
    if (slash == path) { snprintf(out, PATHMAX, "/"); return; }
    snprintf(out, PATHMAX, "%.*s", (int)(slash - path), path);
}
