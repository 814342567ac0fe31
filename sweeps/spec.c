// Spec parsing, validation and grid expansion. One pass over the JSON in a fixed field order; the first
// problem found ends the parse with one line naming the spec file and the JSON path.
#include "sweeps/spec.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "engine/job.h"
#include "engine/modelfile.h"
#include "engine/util.h"
#include "fixtures/split.h"

#define PATHMAX 1024
#define MAX_LIST 64             // values in one hyperparameter list
#define MAX_VARIANTS 4096       // format variants after expansion
#define MAX_USERS 10000
#define MAX_SEEDS 100000
#define MAX_JOBS 200000L
#define MAX_CELLS 10000000L
#define FINGERPRINT_WHOLE (8L << 20)   // files up to this size are hashed whole, larger ones head + tail
#define BYTES_PER_TOKEN 4.0            // byte-level BPE on English text, for costs when eval.tokens is 0

typedef char Ident[PATHMAX + 64];   // "fnv:HASH:SIZE", or "path:PATH" when contents are not read

typedef struct {
    const char *file;           // spec path, for messages
    char specdir[PATHMAX];      // anchors relative input paths
    SpecFiles files;
    char *err;
    size_t errlen;
} Ctx;

static int fail(Ctx *c, const char *jp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(Ctx *c, const char *jp, const char *fmt, ...) {
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (jp && *jp) snprintf(c->err, c->errlen, "%s: %s: %s", c->file, jp, msg);
    else snprintf(c->err, c->errlen, "%s: %s", c->file, msg);
    for (char *s = c->err; *s; s++)   // names from the spec may hold control characters: one line, always
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
    return -1;
}

// ---------------------------------------------------------------- names and hints

int spec_edit_distance(const char *a, const char *b) {
    int n = (int)strlen(a), m = (int)strlen(b);
    if (n > 64 || m > 64) return 99;   // hints are for short field names only
    int d[65][65];
    for (int i = 0; i <= n; i++) d[i][0] = i;
    for (int j = 0; j <= m; j++) d[0][j] = j;
    for (int i = 1; i <= n; i++)
        for (int j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[n][m];
}

// The closest candidate within two edits (and not more edits than half its length), or NULL.
static const char *closest(const char *word, const char *const *cands, int n) {
    const char *best = NULL;
    int bestd = 3;
    for (int i = 0; i < n; i++) {
        int d = spec_edit_distance(word, cands[i]);
        if (d < bestd && 2 * d <= (int)strlen(cands[i])) { best = cands[i]; bestd = d; }
    }
    return best;
}

static void hint(char *out, size_t n, const char *word, const char *const *cands, int nc) {
    const char *h = closest(word, cands, nc);
    if (h) { snprintf(out, n, " (did you mean %s?)", h); return; }
    size_t k = (size_t)snprintf(out, n, " (expected one of:");
    for (int i = 0; i < nc && k < n; i++) k += (size_t)snprintf(out + k, n - k, "%s %s", i ? "," : "", cands[i]);
    if (k < n) snprintf(out + k, n - k, ")");
}

static int count_of(const char *const *list) { int n = 0; while (list[n]) n++; return n; }

static int in_list(const char *s, const char *const *list) {
    for (int i = 0; list[i]; i++) if (!strcmp(s, list[i])) return i;
    return -1;
}

// Labels become HDF5 coordinates and file names: keep them plain.
static int valid_name(const char *s) {
    if (!*s || strlen(s) > 63 || s[0] == '.' ) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.')) return 0;
    return 1;
}

// JSON paths for messages; a path too long for its buffer is cut, never overflowed (noinline: that
// cut is intended, and GCC's truncation warning would otherwise fire at every call site).
__attribute__((noinline)) static int jp_key(char *out, size_t n, const char *parent, const char *key) {
    return parent && *parent ? snprintf(out, n, "%s.%s", parent, key) : snprintf(out, n, "%s", key);
}

__attribute__((noinline)) static int jp_idx(char *out, size_t n, const char *parent, int i) { return snprintf(out, n, "%s[%d]", parent, i); }

// ---------------------------------------------------------------- typed values

static const char *type_name(const cJSON *it) {
    if (cJSON_IsNumber(it)) return "a number";
    if (cJSON_IsString(it)) return "a string";
    if (cJSON_IsBool(it)) return "a boolean";
    if (cJSON_IsNull(it)) return "null";
    if (cJSON_IsArray(it)) return "a list";
    if (cJSON_IsObject(it)) return "an object";
    return "an invalid value";
}

// Every field of an object must be known and appear once.
static int check_fields(Ctx *c, const cJSON *obj, const char *jp, const char *const *allowed) {
    if (!cJSON_IsObject(obj)) return fail(c, jp, "expected an object, got %s", type_name(obj));
    for (const cJSON *it = obj->child; it; it = it->next) {
        char p[256];
        jp_key(p, sizeof p, jp, it->string);
        for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
            if (!strcmp(prev->string, it->string)) return fail(c, p, "field given twice");
        if (in_list(it->string, allowed) < 0) {
            char h[400];
            hint(h, sizeof h, it->string, allowed, count_of(allowed));
            return fail(c, p, "unknown field%s", h);
        }
    }
    return 0;
}

static int get_string(Ctx *c, const cJSON *it, const char *jp, const char **out) {
    if (!cJSON_IsString(it)) return fail(c, jp, "expected a string, got %s", type_name(it));
    if (!it->valuestring[0]) return fail(c, jp, "empty string");
    *out = it->valuestring;
    return 0;
}

static int get_bool(Ctx *c, const cJSON *it, const char *jp, int *out) {
    if (!cJSON_IsBool(it)) return fail(c, jp, "expected true or false, got %s", type_name(it));
    *out = cJSON_IsTrue(it);
    return 0;
}

static int get_number(Ctx *c, const cJSON *it, const char *jp, double *out) {
    if (!cJSON_IsNumber(it)) return fail(c, jp, "expected a number, got %s", type_name(it));
    if (!isfinite(it->valuedouble)) return fail(c, jp, "number out of range");
    *out = it->valuedouble;
    return 0;
}

static int get_int(Ctx *c, const cJSON *it, const char *jp, double lo, double hi, long *out) {
    double v;
    if (get_number(c, it, jp, &v)) return -1;
    if (v != floor(v)) return fail(c, jp, "expected an integer, got %g", v);
    if (v < lo || v > hi) return fail(c, jp, "%.0f is out of range (%.0f to %.0f)", v, lo, hi);
    *out = (long)v;
    return 0;
}

static int get_real(Ctx *c, const cJSON *it, const char *jp, double lo, double hi, int lo_open, int hi_open,
                    double *out) {
    double v;
    if (get_number(c, it, jp, &v)) return -1;
    if (v < lo || (lo_open && v == lo) || v > hi || (hi_open && v == hi))
        return fail(c, jp, "%g is out of range (must be %s %g and %s %g)", v, lo_open ? ">" : ">=", lo,
                    hi_open ? "<" : "<=", hi);
    *out = v;
    return 0;
}

// ---------------------------------------------------------------- files

static int is_abs(const char *p) { return p[0] == '/'; }

// 1 regular file, 2 directory, 0 missing or other
static int file_kind(const char *p) {
    struct stat st;
    if (stat(p, &st)) return 0;
    if (S_ISREG(st.st_mode)) return 1;
    if (S_ISDIR(st.st_mode)) return 2;
    return 0;
}

static int join(char *out, const char *dir, const char *rel) {
    int n = (!dir[0] || !strcmp(dir, ".")) ? snprintf(out, PATHMAX, "%s", rel)
                                           : snprintf(out, PATHMAX, "%s/%s", dir, rel);
    return n < 0 || n >= PATHMAX ? -1 : 0;
}

// Relative input paths: the spec's directory first, then the current directory; the first that exists
// wins. Missing everywhere: an error when files are required, else the path as given (cwd-relative).
static int resolve_input(Ctx *c, const char *jp, const char *given, int want_dir, char *out) {
    const char *what = want_dir ? "directory" : "file";
    if (strlen(given) >= PATHMAX) return fail(c, jp, "path too long");
    if (c->files == SPEC_FILES_IGNORED || is_abs(given)) {
        snprintf(out, PATHMAX, "%s", given);
    } else {
        char cand[PATHMAX];
        if (join(cand, c->specdir, given)) return fail(c, jp, "path too long");
        if (file_kind(cand)) snprintf(out, PATHMAX, "%s", cand);
        else snprintf(out, PATHMAX, "%s", given);
    }
    if (c->files == SPEC_FILES_IGNORED) return 0;
    int k = file_kind(out);
    if (k == (want_dir ? 2 : 1)) return 0;
    if (k) return fail(c, jp, "%s: not a %s", out, what);
    if (c->files == SPEC_FILES_OPTIONAL) return 0;
    if (is_abs(given)) return fail(c, jp, "%s: no such %s", given, what);
    return fail(c, jp, "%s: no such %s (looked in %s/ and the current directory)", given, what,
                c->specdir);
}

// A derived input (data dir + fixed layout): must exist when files are required.
static int check_derived(Ctx *c, const char *jp, const char *path, const char *advice) {
    if (c->files != SPEC_FILES_REQUIRED || file_kind(path) == 1) return 0;
    return fail(c, jp, "%s: no such file%s", path, advice);
}

// A file's identity for job ids: its content, so that a moved or copied file keeps its jobs. Large
// files (model files) are hashed at head and tail: their header carries per-tensor checksums.
static void fingerprint(Ctx *c, const char *path, char *out, size_t n) {
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

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// A custom user's directory: the regular files not starting with '.', by name, as the split reads them.
static void fingerprint_dir(Ctx *c, const char *dir, char *out, size_t n) {
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
    qsort(names, k, sizeof *names, cmp_str);
    uint64_t h = FNV1A64_INIT;
    for (int i = 0; i < k; i++) {
        char p[PATHMAX];
        Ident fp;
        if (join(p, dir, names[i]) == 0 && file_kind(p) == 1) {
            fingerprint(c, p, fp, sizeof fp);
            h = fnv1a64(names[i], strlen(names[i]) + 1, h);
            h = fnv1a64(fp, strlen(fp) + 1, h);
        }
        free(names[i]);
    }
    free(names);
    snprintf(out, n, "dir:%016llx", (unsigned long long)h);
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) || !S_ISREG(st.st_mode) ? -1 : (long)st.st_size;
}

// ---------------------------------------------------------------- hyperparameters

enum { HP_STEPS, HP_BATCH, HP_SEQ, HP_LR, HP_EPS, HP_WD, HP_CLIP, HP_WARMUP, HP_COSINE, HP_MIN_LR,
       HP_RANK, HP_ALPHA, HP_PRECISION, HP_COUNT };

typedef enum { V_INT, V_REAL, V_BOOL, V_PRECISION } ValueKind;   // V_PRECISION: a name, held as its MatPrecision

static const struct {
    const char *name;
    ValueKind kind;
    double lo, hi;
    int lo_open;
    int lora_only;
    double def;     // the seeds' values (DESIGN.md); batch and seq are the default base's
} hp_def[HP_COUNT] = {
    { "steps",        V_INT,  1, 1e7,   0, 0, 100 },
    { "batch",        V_INT,  1, 65536, 0, 0, 8 },
    { "seq",          V_INT,  1, 1 << 20, 0, 0, 256 },
    { "lr",           V_REAL, 0, 10,    1, 0, 5e-5 },
    { "eps",          V_REAL, 0, 1,     1, 0, 1e-8 },
    { "weight_decay", V_REAL, 0, 1,     0, 0, 0 },
    { "grad_clip",    V_REAL, 0, 1e6,   0, 0, 0 },
    { "warmup",       V_INT,  0, 1e7,   0, 0, 0 },
    { "cosine",       V_BOOL, 0, 1,     0, 0, 0 },
    { "min_lr_frac",  V_REAL, 0, 1,     0, 0, 0 },
    { "rank",         V_INT,  1, 65536, 0, 1, 4 },
    { "alpha",        V_REAL, 0, 1e6,   1, 1, 8 },
    { "precision",    V_PRECISION, 0, 0, 0, 0, MAT_PREC_FP32 },
};

// fp32-dnnl is fp32 in another summation order: the floor against which the differences of bf16 and
// int8 can be judged.
static const char *const *const precision_names = mat_precision_names;

// The MatPrecision a name stands for, or -1 with a hint in hint_out.
static int precision_lookup(const char *s, char *hint_out, size_t n) {
    int k = in_list(s, precision_names);
    if (k < 0) hint(hint_out, n, s, precision_names, count_of(precision_names));
    return k;
}

int spec_precision_check(const char *s, char *err, size_t errlen) {
    char h[200];
    if (precision_lookup(s, h, sizeof h) >= 0) return 0;
    snprintf(err, errlen, "unknown precision %s%s", s, h);
    return -1;
}

static const char *const lora_target_names[LORA_N_TARGETS] = { "q", "k", "v", "o", "gate", "up", "down" };
static const char *const format_names[] = { "none", "norm", "lora", "full", NULL };
static const char *const condition_names[] = { "real", "random", NULL };

typedef struct {
    char key[64];                   // the label before any [field=value]
    char jp[96];                    // "formats.KEY", for messages
    AdapterFormat format;
    int n[HP_COUNT];
    double v[HP_COUNT][MAX_LIST];
    double beta1, beta2;
    unsigned targets;
    unsigned cond_mask;             // bit per condition (COND_REAL, COND_RANDOM)
    int first_variant, n_variants;  // in the format axis
} FormatBlock;

static int read_value(Ctx *c, const cJSON *it, const char *jp, int hp, double *out) {
    long iv;
    int b = 0;
    switch (hp_def[hp].kind) {
    case V_PRECISION: {
        if (!cJSON_IsString(it)) return fail(c, jp, "expected a precision such as \"bf16\", got %s", type_name(it));
        char h[200];
        int k = precision_lookup(it->valuestring, h, sizeof h);
        if (k < 0) return fail(c, jp, "unknown precision %s%s", it->valuestring, h);
        *out = k;
        return 0;
    }
    case V_INT:
        if (get_int(c, it, jp, hp_def[hp].lo, hp_def[hp].hi, &iv)) return -1;
        *out = (double)iv;
        return 0;
    case V_BOOL:
        if (get_bool(c, it, jp, &b)) return -1;
        *out = b;
        return 0;
    default:
        return get_real(c, it, jp, hp_def[hp].lo, hp_def[hp].hi, hp_def[hp].lo_open, 0, out);
    }
}

// A scalar, or a non-empty list of distinct scalars: the list adds an axis.
static int read_hp(Ctx *c, const cJSON *it, const char *jp, int hp, FormatBlock *fb) {
    if (!cJSON_IsArray(it)) {
        fb->n[hp] = 1;
        return read_value(c, it, jp, hp, &fb->v[hp][0]);
    }
    int n = cJSON_GetArraySize(it);
    if (n == 0) return fail(c, jp, "empty list");
    if (n > MAX_LIST) return fail(c, jp, "%d values: at most %d in one list", n, MAX_LIST);
    int i = 0;
    for (const cJSON *e = it->child; e; e = e->next, i++) {
        char p[160];
        jp_idx(p, sizeof p, jp, i);
        if (read_value(c, e, p, hp, &fb->v[hp][i])) return -1;
        for (int k = 0; k < i; k++) {
            if (fb->v[hp][k] != fb->v[hp][i]) continue;
            if (hp_def[hp].kind == V_PRECISION) return fail(c, p, "%s given twice", precision_names[(int)fb->v[hp][i]]);
            return fail(c, p, "duplicate value %g", fb->v[hp][i]);
        }
    }
    fb->n[hp] = n;
    return 0;
}

static int read_betas(Ctx *c, const cJSON *it, const char *jp, FormatBlock *fb) {
    if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 2)
        return fail(c, jp, "expected a list of two numbers [beta1, beta2], got %s",
                    cJSON_IsArray(it) ? "a list of another length" : type_name(it));
    char p[160];
    jp_idx(p, sizeof p, jp, 0);
    if (get_real(c, it->child, p, 0, 1, 0, 1, &fb->beta1)) return -1;
    jp_idx(p, sizeof p, jp, 1);
    return get_real(c, it->child->next, p, 0, 1, 0, 1, &fb->beta2);
}

static int read_targets(Ctx *c, const cJSON *it, const char *jp, unsigned *targets) {
    if (!cJSON_IsArray(it)) return fail(c, jp, "expected a list of projections, got %s", type_name(it));
    if (!it->child) return fail(c, jp, "empty list");
    unsigned bits = 0;
    int i = 0;
    for (const cJSON *e = it->child; e; e = e->next, i++) {
        char p[160];
        const char *s;
        jp_idx(p, sizeof p, jp, i);
        if (get_string(c, e, p, &s)) return -1;
        int k = 0;
        while (k < LORA_N_TARGETS && strcmp(s, lora_target_names[k])) k++;
        if (k == LORA_N_TARGETS) {
            char h[200];
            hint(h, sizeof h, s, lora_target_names, LORA_N_TARGETS);
            return fail(c, p, "unknown projection %s%s", s, h);
        }
        if (bits & (1u << k)) return fail(c, p, "%s given twice", s);
        bits |= 1u << k;
    }
    *targets = bits;
    return 0;
}

static int read_conditions(Ctx *c, const cJSON *it, const char *jp, unsigned allowed, unsigned *mask,
                           int *order, int *n_order) {
    if (!cJSON_IsArray(it)) return fail(c, jp, "expected a list such as [\"real\", \"random\"], got %s",
                                        type_name(it));
    if (!it->child) return fail(c, jp, "empty list");
    unsigned m = 0;
    int i = 0;
    for (const cJSON *e = it->child; e; e = e->next, i++) {
        char p[160], h[200];
        const char *s;
        jp_idx(p, sizeof p, jp, i);
        if (get_string(c, e, p, &s)) return -1;
        int k = in_list(s, condition_names);
        if (k < 0) {
            hint(h, sizeof h, s, condition_names, count_of(condition_names));
            return fail(c, p, "unknown condition %s%s", s, h);
        }
        if (m & (1u << k)) return fail(c, p, "%s given twice", s);
        if (!(allowed & (1u << k))) return fail(c, p, "%s is not in the spec's conditions", s);
        m |= 1u << k;
        if (order) order[(*n_order)++] = k;
    }
    *mask = m;
    return 0;
}

static const char *const train_fields[] = { "steps", "batch", "seq", "lr", "eps", "weight_decay", "grad_clip",
                                            "warmup", "cosine", "min_lr_frac", "betas", "precision", NULL };
static const char *const trained_format_fields[] = { "format", "conditions", "steps", "batch", "seq", "lr", "eps",
                                                     "weight_decay", "grad_clip", "warmup", "cosine",
                                                     "min_lr_frac", "betas", "precision", NULL };
static const char *const lora_format_fields[] = { "format", "conditions", "steps", "batch", "seq", "lr", "eps",
                                                  "weight_decay", "grad_clip", "warmup", "cosine", "min_lr_frac",
                                                  "betas", "rank", "alpha", "targets", "precision", NULL };
// the base is still evaluated, and evaluation runs at a precision too
static const char *const none_format_fields[] = { "format", "precision", NULL };

static int hp_index(const char *name) {
    for (int h = 0; h < HP_COUNT; h++) if (!strcmp(name, hp_def[h].name)) return h;
    return -1;
}

// The fields of "train" or of one format block, over what fb already holds.
static int read_train_fields(Ctx *c, const cJSON *obj, const char *jp, FormatBlock *fb, unsigned cond_allowed) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        char p[160];
        jp_key(p, sizeof p, jp, it->string);
        int h = hp_index(it->string);
        if (h >= 0) { if (read_hp(c, it, p, h, fb)) return -1; }
        else if (!strcmp(it->string, "betas")) { if (read_betas(c, it, p, fb)) return -1; }
        else if (!strcmp(it->string, "targets")) { if (read_targets(c, it, p, &fb->targets)) return -1; }
        else if (!strcmp(it->string, "conditions")) {
            if (read_conditions(c, it, p, cond_allowed, &fb->cond_mask, NULL, NULL)) return -1;
        }
    }
    return 0;
}

static void format_value(char *out, size_t n, int hp, double v) {
    if (hp_def[hp].kind == V_PRECISION) snprintf(out, n, "%s", precision_names[(int)v]);
    else if (hp_def[hp].kind == V_INT) snprintf(out, n, "%.0f", v);
    else if (hp_def[hp].kind == V_BOOL) snprintf(out, n, "%s", v ? "true" : "false");
    else snprintf(out, n, "%g", v);
}

// ---------------------------------------------------------------- the parse

typedef struct {
    Ctx c;
    cJSON *root;
    Plan *p;
    FormatBlock *blocks;
    int n_blocks;
    int cond_order[2], n_cond;
    unsigned cond_mask;
    char data_dir[PATHMAX];
    int data_resolved;
    Ident *base_id, *tok_id, *user_id;   // file identities that go into job ids
    double *eval_flops;             // [base][eval text]: the cost of one cell
    enum { EVAL_OWN, EVAL_ALL, EVAL_LIST } eval_mode;
    unsigned char *eval_users;      // EVAL_LIST: which users' slices every job evaluates
    int slices, general;
    char general_path[PATHMAX];
    const char *precision;          // replaces the spec's default precision when not NULL
} Parse;

static const char *const top_fields[] = { "protocol", "description", "output", "config", "bases", "tokenizer", "data",
                                          "users", "formats", "train", "seeds", "conditions", "eval",
                                          "max_attempts", NULL };
static const char *const protocol_names[] = { "bet37", "bet46", "bet49", "bet52", "bet60", "bet61", "protocol-1b",
                                              "demo", "custom", NULL };
static const char *const config_names[] = { "default", "1b", "tiny", NULL };
static const char *const base_fields[] = { "path", "config", "tokenizer", NULL };
static const char *const user_fields[] = { "name", "dir", "files", "train", "eval", NULL };
static const char *const eval_fields[] = { "users", "slices", "general", "tokens", "slice_bytes", NULL };
static const char *const alias_from[] = { "programmer", "novelist", "scientist", NULL };
static const char *const alias_to[] = { "cpython", "austen", "therneau", NULL };

static char *xstrdup(const char *s) {
    char *d = xmalloc(strlen(s) + 1);
    strcpy(d, s);
    return d;
}

static int read_config_name(Ctx *c, const cJSON *it, const char *jp, ModelConfig *cfg) {
    const char *s;
    if (get_string(c, it, jp, &s)) return -1;
    if (config_by_name(cfg, s)) {
        char h[200];
        hint(h, sizeof h, s, config_names, count_of(config_names));
        return fail(c, jp, "unknown model config %s%s", s, h);
    }
    return 0;
}

static int same_shape(const ModelConfig *a, const ModelConfig *b) {
    return a->dim == b->dim && a->n_layers == b->n_layers && a->n_heads == b->n_heads &&
           a->n_kv_heads == b->n_kv_heads && a->ffn_dim == b->ffn_dim && a->vocab == b->vocab &&
           a->context == b->context;
}

// A base that exists is a model file: its header gives the shape. A "config" the spec names for it
// only stands in while the file does not exist, so it must not disagree with the file.
static int base_config(Ctx *c, const char *jp, const cJSON *entry, const char *entry_jp, BaseEntry *b) {
    ModelFile mf;
    char err[768];
    if (model_open(&mf, b->path, MODEL_SKIP_CHECKSUMS, err, sizeof err)) return fail(c, jp, "%s", err);
    ModelConfig file = mf.w.cfg;
    model_close(&mf);
    const cJSON *named = cJSON_IsObject(entry) ? cJSON_GetObjectItemCaseSensitive(entry, "config") : NULL;
    if (named && !same_shape(&file, &b->cfg)) {
        char q[192];
        jp_key(q, sizeof q, entry_jp, "config");
        return fail(c, q, "%s is not the shape of %s (dim %d, %d layer%s, context %d): drop it or fix it",
                    named->valuestring, b->path, file.dim, file.n_layers, file.n_layers == 1 ? "" : "s", file.context);
    }
    b->cfg = file;
    return 0;
}

static int parse_bases(Parse *P, const ModelConfig *default_cfg, const char *default_tok) {
    Ctx *c = &P->c;
    Plan *p = P->p;
    const cJSON *bases = cJSON_GetObjectItemCaseSensitive(P->root, "bases");
    cJSON *fallback = NULL;
    if (!bases) bases = fallback = cJSON_Parse("{\"fp\": \"fixtures/base/base.sweep\"}");
    int rc = -1;
    if (!cJSON_IsObject(bases)) { fail(c, "bases", "expected an object {name: model file}, got %s", type_name(bases)); goto out; }
    int n = cJSON_GetArraySize(bases);
    if (n == 0) { fail(c, "bases", "no bases: name at least one model file"); goto out; }
    if (n > 64) { fail(c, "bases", "%d bases: at most 64", n); goto out; }
    p->bases = xcalloc(n, sizeof *p->bases);
    p->axis[AX_BASE].labels = xcalloc(n, sizeof(char *));
    P->base_id = xcalloc(n, sizeof *P->base_id);
    P->tok_id = xcalloc(n, sizeof *P->tok_id);
    int i = 0;
    for (const cJSON *it = bases->child; it; it = it->next, i++) {
        char jp[160];
        BaseEntry *b = &p->bases[i];
        jp_key(jp, sizeof jp, "bases", it->string);
        for (const cJSON *prev = bases->child; prev != it; prev = prev->next)
            if (!strcmp(prev->string, it->string)) { fail(c, jp, "field given twice"); goto out; }
        if (!valid_name(it->string)) {
            fail(c, jp, "a base name is letters, digits, '_', '-' or '.' (at most 63)");
            goto out;
        }
        snprintf(b->name, sizeof b->name, "%s", it->string);
        p->axis[AX_BASE].labels[i] = xstrdup(b->name);
        p->axis[AX_BASE].n = i + 1;
        b->cfg = *default_cfg;
        const char *path = NULL, *tok = default_tok;
        char sub[192];
        if (cJSON_IsString(it)) {
            if (get_string(c, it, jp, &path)) goto out;
            snprintf(sub, sizeof sub, "%s", jp);
        } else if (cJSON_IsObject(it)) {
            if (check_fields(c, it, jp, base_fields)) goto out;
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(it, "path");
            jp_key(sub, sizeof sub, jp, "path");
            if (!f) { fail(c, sub, "missing: the model file"); goto out; }
            if (get_string(c, f, sub, &path)) goto out;
            char q[192];
            if ((f = cJSON_GetObjectItemCaseSensitive(it, "config"))) {
                jp_key(q, sizeof q, jp, "config");
                if (read_config_name(c, f, q, &b->cfg)) goto out;
            }
            if ((f = cJSON_GetObjectItemCaseSensitive(it, "tokenizer"))) {
                jp_key(q, sizeof q, jp, "tokenizer");
                if (get_string(c, f, q, &tok)) goto out;
                char r[PATHMAX];
                if (resolve_input(c, q, tok, 0, r)) goto out;
                snprintf(b->tokenizer, sizeof b->tokenizer, "%s", r);
                tok = NULL;
            }
        } else {
            fail(c, jp, "expected a model file path or an object {path, config, tokenizer}, got %s", type_name(it));
            goto out;
        }
        if (resolve_input(c, sub, path, 0, b->path)) goto out;
        if (c->files != SPEC_FILES_IGNORED && file_kind(b->path) == 1 && base_config(c, sub, it, jp, b)) goto out;
        if (tok) snprintf(b->tokenizer, sizeof b->tokenizer, "%s", tok);   // already resolved
        fingerprint(c, b->path, P->base_id[i], sizeof P->base_id[i]);
        if (b->tokenizer[0]) fingerprint(c, b->tokenizer, P->tok_id[i], sizeof P->tok_id[i]);
        else snprintf(P->tok_id[i], sizeof P->tok_id[i], "model");
    }
    rc = 0;
out:
    cJSON_Delete(fallback);
    return rc;
}

// The data directory is needed only by built-in users and the general text.
static int data_dir(Parse *P, char *out) {
    Ctx *c = &P->c;
    if (!P->data_resolved) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(P->root, "data");
        const char *given = "fixtures/data";
        if (d && get_string(c, d, "data", &given)) return -1;
        if (resolve_input(c, "data", given, 1, P->data_dir)) {
            if (c->files == SPEC_FILES_REQUIRED && !file_kind(given))
                fail(c, "data", "%s: no such directory (looked in %s/ and the current directory; "
                     "`sweep fixtures` builds it)", given, c->specdir);
            return -1;
        }
        P->data_resolved = 1;
    }
    snprintf(out, PATHMAX, "%s", P->data_dir);
    return 0;
}

static int add_eval(Plan *p, int *cap, const char *label, const char *path, int user) {
    Axis *ax = &p->axis[AX_EVAL_TEXT];
    if (ax->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        p->evals = realloc(p->evals, *cap * sizeof *p->evals);
        ax->labels = realloc(ax->labels, *cap * sizeof(char *));
        if (!p->evals || !ax->labels) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
    }
    EvalEntry *e = &p->evals[ax->n];
    memset(e, 0, sizeof *e);
    snprintf(e->label, sizeof e->label, "%s", label);
    snprintf(e->path, sizeof e->path, "%s", path);
    e->user = user;
    ax->labels[ax->n] = xstrdup(label);
    return ax->n++;
}

static int parse_users(Parse *P) {
    Ctx *c = &P->c;
    Plan *p = P->p;
    const cJSON *users = cJSON_GetObjectItemCaseSensitive(P->root, "users");
    if (!users) return fail(c, "users", "missing: name at least one user");
    if (!cJSON_IsArray(users)) return fail(c, "users", "expected a list, got %s", type_name(users));
    int n = cJSON_GetArraySize(users);
    if (n == 0) return fail(c, "users", "empty list: name at least one user");
    if (n > MAX_USERS) return fail(c, "users", "%d users: at most %d", n, MAX_USERS);
    p->users = xcalloc(n, sizeof *p->users);
    p->axis[AX_TRAIN_USER].labels = xcalloc(n, sizeof(char *));
    P->user_id = xcalloc(n, sizeof *P->user_id);
    int ecap = 0, i = 0;
    char stem[PATHMAX];   // custom users' documents are split beside the output
    snprintf(stem, sizeof stem, "%s", p->output);
    size_t sl = strlen(stem);
    if (sl > 3 && !strcmp(stem + sl - 3, ".h5")) stem[sl - 3] = 0;
    for (const cJSON *it = users->child; it; it = it->next, i++) {
        char jp[64], sub[96];
        UserEntry *u = &p->users[i];
        jp_idx(jp, sizeof jp, "users", i);
        p->axis[AX_TRAIN_USER].n = i + 1;
        char userdir[PATHMAX];
        const cJSON *train = NULL, *evals = NULL;
        if (cJSON_IsString(it)) {
            const char *name;
            if (get_string(c, it, jp, &name)) return -1;
            int a = in_list(name, alias_from);
            if (a >= 0) { snprintf(u->alias, sizeof u->alias, "%s", name); name = alias_to[a]; }
            if (!valid_name(name) || !strcmp(name, "general"))
                return fail(c, jp, "'%s' is not a user name (letters, digits, '_', '-', '.'); a custom user "
                            "is an object {name, dir | files | train + eval}", name);
            snprintf(u->name, sizeof u->name, "%s", name);
            char dd[PATHMAX];
            if (data_dir(P, dd)) return -1;
            char rel[PATHMAX];
            snprintf(rel, sizeof rel, "users/%s", name);
            if (join(userdir, dd, rel)) return fail(c, jp, "path too long");
            if (c->files == SPEC_FILES_REQUIRED && file_kind(userdir) != 2) {
                // hint from the users the fixtures hold
                char hdir[PATHMAX], h[400] = "";
                const char *cands[256];
                int nc = 0;
                DIR *d = join(hdir, dd, "users") ? NULL : opendir(hdir);
                for (struct dirent *e; d && nc < 256 && (e = readdir(d));)
                    if (e->d_name[0] != '.') cands[nc++] = xstrdup(e->d_name);
                if (d) closedir(d);
                const char *best = closest(name, cands, nc);
                if (best) snprintf(h, sizeof h, " (did you mean %s?)", best);
                else snprintf(h, sizeof h, " (`sweep fixtures` builds the built-in users)");
                for (int k = 0; k < nc; k++) free((char *)cands[k]);
                return fail(c, jp, "no user %s in %s%s", name, dd, h);
            }
        } else if (cJSON_IsObject(it)) {
            if (check_fields(c, it, jp, user_fields)) return -1;
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
            const cJSON *dir = cJSON_GetObjectItemCaseSensitive(it, "dir");
            const cJSON *files = cJSON_GetObjectItemCaseSensitive(it, "files");
            train = cJSON_GetObjectItemCaseSensitive(it, "train");
            evals = cJSON_GetObjectItemCaseSensitive(it, "eval");
            const char *name;
            jp_key(sub, sizeof sub, jp, "name");
            if (!nm) return fail(c, sub, "missing");
            if (get_string(c, nm, sub, &name)) return -1;
            if (!valid_name(name) || !strcmp(name, "general"))
                return fail(c, sub, "'%s' is not a user name (letters, digits, '_', '-', '.', at most 63)", name);
            snprintf(u->name, sizeof u->name, "%s", name);
            if (!!dir + !!files + !!train != 1)
                return fail(c, jp, "give exactly one of dir (documents), files (documents) or train (+ eval)");
            if (evals && !train) { jp_key(sub, sizeof sub, jp, "eval"); return fail(c, sub, "only with train"); }
            if (train && !evals) { jp_key(sub, sizeof sub, jp, "eval"); return fail(c, sub, "missing: the held-out eval files"); }
            if (dir || files) {
                if (snprintf(userdir, sizeof userdir, "%s.users/%s", stem, name) >= (int)sizeof userdir)
                    return fail(c, "output", "path too long");
                if (dir) {
                    const char *d;
                    char r[PATHMAX];
                    jp_key(sub, sizeof sub, jp, "dir");
                    if (get_string(c, dir, sub, &d) || resolve_input(c, sub, d, 1, r)) return -1;
                    u->n_sources = 1;
                    u->sources = xcalloc(1, sizeof(char *));
                    u->sources[0] = xstrdup(r);
                    u->source_is_dir = 1;
                    fingerprint_dir(c, r, P->user_id[i], sizeof P->user_id[i]);
                } else {
                    jp_key(sub, sizeof sub, jp, "files");
                    if (!cJSON_IsArray(files)) return fail(c, sub, "expected a list of text files, got %s", type_name(files));
                    int nf = cJSON_GetArraySize(files);
                    if (nf == 0) return fail(c, sub, "empty list");
                    if (nf > 100000) return fail(c, sub, "%d files: at most 100000", nf);
                    u->sources = xcalloc(nf, sizeof(char *));
                    int k = 0;
                    for (const cJSON *f = files->child; f; f = f->next, k++) {
                        char q[128], r[PATHMAX];
                        const char *s;
                        jp_idx(q, sizeof q, sub, k);
                        if (get_string(c, f, q, &s) || resolve_input(c, q, s, 0, r)) return -1;
                        u->sources[k] = xstrdup(r);
                        u->n_sources = k + 1;
                    }
                    // the split orders documents by path, so the identity does too
                    char **sorted = xmalloc(nf * sizeof *sorted);
                    memcpy(sorted, u->sources, nf * sizeof *sorted);
                    qsort(sorted, nf, sizeof *sorted, cmp_str);
                    uint64_t h = FNV1A64_INIT;
                    int twice = -1;
                    for (k = 0; k < nf && twice < 0; k++) {
                        Ident fp;
                        if (k && !strcmp(sorted[k], sorted[k - 1])) twice = k;
                        fingerprint(c, sorted[k], fp, sizeof fp);
                        h = fnv1a64(fp, strlen(fp) + 1, h);
                    }
                    if (twice >= 0) {
                        int rc = fail(c, sub, "%s given twice", sorted[twice]);
                        free(sorted);
                        return rc;
                    }
                    free(sorted);
                    snprintf(P->user_id[i], sizeof P->user_id[i], "files:%016llx", (unsigned long long)h);
                }
            }
        } else {
            return fail(c, jp, "expected a user name or an object {name, dir | files | train + eval}, got %s",
                        type_name(it));
        }
        for (int k = 0; k < i; k++) {
            if (strcmp(p->users[k].name, u->name)) continue;
            const char *alias = u->alias[0] ? u->alias : p->users[k].alias;
            if (alias[0])
                return fail(c, jp, "duplicate user %s: users[%d] names it too (%s is an alias of %s)", u->name, k,
                            alias, u->name);
            return fail(c, jp, "duplicate user %s: users[%d] names it too", u->name, k);
        }
        p->axis[AX_TRAIN_USER].labels[i] = xstrdup(u->name);
        // training corpus and eval slices
        if (train) {
            const char *s;
            jp_key(sub, sizeof sub, jp, "train");
            if (get_string(c, train, sub, &s) || resolve_input(c, sub, s, 0, u->train_path)) return -1;
            fingerprint(c, u->train_path, P->user_id[i], sizeof P->user_id[i]);
            jp_key(sub, sizeof sub, jp, "eval");
            if (!cJSON_IsArray(evals)) return fail(c, sub, "expected a list of eval files, got %s", type_name(evals));
            int ne = cJSON_GetArraySize(evals);
            if (ne == 0) return fail(c, sub, "empty list");
            if (ne > SPLIT_MAX_EVAL) return fail(c, sub, "%d eval files: at most %d", ne, SPLIT_MAX_EVAL);
            u->eval_index = xcalloc(ne, sizeof(int));
            int k = 0;
            for (const cJSON *e = evals->child; e; e = e->next, k++) {
                char q[128], r[PATHMAX], label[96];
                jp_idx(q, sizeof q, sub, k);
                if (get_string(c, e, q, &s) || resolve_input(c, q, s, 0, r)) return -1;
                snprintf(label, sizeof label, "%s/eval-%d", u->name, k + 1);
                u->eval_index[k] = add_eval(p, &ecap, label, r, i);
                u->n_eval = k + 1;
            }
        } else {
            char rel[PATHMAX];
            if (join(u->train_path, userdir, "train.txt")) return fail(c, jp, "path too long");
            if (!u->n_sources) {
                if (check_derived(c, jp, u->train_path, " (the fixtures are incomplete: `sweep fixtures`)")) return -1;
                fingerprint(c, u->train_path, P->user_id[i], sizeof P->user_id[i]);
            }
            u->eval_index = xcalloc(P->slices, sizeof(int));
            for (int k = 0; k < P->slices; k++) {
                char path[PATHMAX], label[96];
                snprintf(rel, sizeof rel, "eval-%d.txt", k + 1);
                if (join(path, userdir, rel)) return fail(c, jp, "path too long");
                if (!u->n_sources && check_derived(c, jp, path, P->slices > SPLIT_DEFAULT_EVAL
                        ? " (eval.slices asks for more slices than the fixtures hold)" : " (the fixtures are incomplete)"))
                    return -1;
                snprintf(label, sizeof label, "%s/eval-%d", u->name, k + 1);
                u->eval_index[k] = add_eval(p, &ecap, label, path, i);
                u->n_eval = k + 1;
            }
            if (u->n_sources) {   // the split's parameters shape the training text too
                char extra[64];
                snprintf(extra, sizeof extra, ";split=%d,%ld", P->slices, p->split_eval_bytes);
                strncat(P->user_id[i], extra, sizeof P->user_id[i] - strlen(P->user_id[i]) - 1);
            }
        }
    }
    if (P->general) {
        if (!P->general_path[0]) {
            char dd[PATHMAX];
            if (data_dir(P, dd)) return -1;
            if (join(P->general_path, dd, "general/eval.txt")) return fail(c, "eval.general", "path too long");
            if (check_derived(c, "eval.general", P->general_path, " (`sweep fixtures` builds it)")) return -1;
        }
        add_eval(p, &ecap, "general", P->general_path, -1);
    }
    return 0;
}

static int parse_eval_scalars(Parse *P) {
    Ctx *c = &P->c;
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(P->root, "eval");
    P->slices = SPLIT_DEFAULT_EVAL;
    P->general = 1;
    P->p->split_eval_bytes = SPLIT_DEFAULT_EVAL_BYTES;
    if (!ev) return 0;
    if (check_fields(c, ev, "eval", eval_fields)) return -1;
    const cJSON *it;
    long v;
    if ((it = cJSON_GetObjectItemCaseSensitive(ev, "slices"))) {
        if (get_int(c, it, "eval.slices", 1, SPLIT_MAX_EVAL, &v)) return -1;
        P->slices = (int)v;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(ev, "tokens"))) {
        if (get_int(c, it, "eval.tokens", 0, 1e9, &v)) return -1;
        if (v == 1) return fail(c, "eval.tokens", "1 token predicts nothing: use 0 (all) or at least 2");
        P->p->eval_tokens = (int)v;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(ev, "slice_bytes"))) {
        if (get_int(c, it, "eval.slice_bytes", 256, 1e9, &v)) return -1;
        P->p->split_eval_bytes = v;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(ev, "general"))) {
        if (cJSON_IsString(it)) {
            const char *s;
            if (get_string(c, it, "eval.general", &s) || resolve_input(c, "eval.general", s, 0, P->general_path))
                return -1;
        } else if (!cJSON_IsBool(it)) {
            return fail(c, "eval.general", "expected true, false or a text file, got %s", type_name(it));
        } else {
            P->general = cJSON_IsTrue(it);
        }
    }
    return 0;
}

static int parse_eval_users(Parse *P) {
    Ctx *c = &P->c;
    Plan *p = P->p;
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(P->root, "eval");
    const cJSON *it = ev ? cJSON_GetObjectItemCaseSensitive(ev, "users") : NULL;
    P->eval_mode = EVAL_OWN;
    if (!it) return 0;
    if (cJSON_IsString(it)) {
        if (!strcmp(it->valuestring, "own")) return 0;
        if (!strcmp(it->valuestring, "all")) { P->eval_mode = EVAL_ALL; return 0; }
        return fail(c, "eval.users", "expected \"own\", \"all\" or a list of users, got \"%s\"", it->valuestring);
    }
    if (!cJSON_IsArray(it)) return fail(c, "eval.users", "expected \"own\", \"all\" or a list of users, got %s",
                                        type_name(it));
    if (!it->child) return fail(c, "eval.users", "empty list");
    int nu = p->axis[AX_TRAIN_USER].n;
    P->eval_mode = EVAL_LIST;
    P->eval_users = xcalloc(nu, 1);
    const char **names = xmalloc(nu * sizeof *names);
    for (int u = 0; u < nu; u++) names[u] = p->users[u].name;
    int k = 0, rc = 0;
    for (const cJSON *e = it->child; e && !rc; e = e->next, k++) {
        char q[64];
        const char *s;
        jp_idx(q, sizeof q, "eval.users", k);
        if ((rc = get_string(c, e, q, &s))) break;
        int a = in_list(s, alias_from);
        const char *canon = a >= 0 ? alias_to[a] : s;
        int u = 0;
        while (u < nu && strcmp(canon, names[u])) u++;
        if (u == nu) {
            const char *best = closest(s, names, nu);
            char h[120] = "";
            if (best) snprintf(h, sizeof h, " (did you mean %s?)", best);
            rc = fail(c, q, "%s is not one of the spec's users%s", s, h);
        } else if (P->eval_users[u]) {
            rc = fail(c, q, "%s given twice", s);
        } else {
            P->eval_users[u] = 1;
        }
    }
    free(names);
    return rc;
}

static int parse_seeds(Parse *P) {
    Ctx *c = &P->c;
    Plan *p = P->p;
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(P->root, "seeds");
    long v;
    if (!it || cJSON_IsNumber(it)) {
        long n = 1;
        if (it && get_int(c, it, "seeds", 1, MAX_SEEDS, &n)) return -1;
        p->seeds = xcalloc(n, sizeof *p->seeds);
        p->axis[AX_SEED].labels = xcalloc(n, sizeof(char *));
        for (long s = 0; s < n; s++) {
            char l[32];
            p->seeds[s] = (uint64_t)s;
            snprintf(l, sizeof l, "%ld", s);
            p->axis[AX_SEED].labels[s] = xstrdup(l);
            p->axis[AX_SEED].n = (int)s + 1;
        }
        return 0;
    }
    if (!cJSON_IsArray(it)) return fail(c, "seeds", "expected a count or a list of seeds, got %s", type_name(it));
    int n = cJSON_GetArraySize(it);
    if (n == 0) return fail(c, "seeds", "empty list");
    if (n > MAX_SEEDS) return fail(c, "seeds", "%d seeds: at most %d", n, MAX_SEEDS);
    p->seeds = xcalloc(n, sizeof *p->seeds);
    p->axis[AX_SEED].labels = xcalloc(n, sizeof(char *));
    int k = 0;
    for (const cJSON *e = it->child; e; e = e->next, k++) {
        char q[64], l[32];
        jp_idx(q, sizeof q, "seeds", k);
        if (get_int(c, e, q, 0, 9007199254740992.0, &v)) return -1;   // integers JSON numbers hold exactly
        for (int j = 0; j < k; j++) if (p->seeds[j] == (uint64_t)v) return fail(c, q, "seed %ld given twice", v);
        p->seeds[k] = (uint64_t)v;
        snprintf(l, sizeof l, "%ld", v);
        p->axis[AX_SEED].labels[k] = xstrdup(l);
        p->axis[AX_SEED].n = k + 1;
    }
    return 0;
}

static int parse_conditions(Parse *P) {
    Ctx *c = &P->c;
    Plan *p = P->p;
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(P->root, "conditions");
    if (!it) { P->cond_order[0] = COND_REAL; P->n_cond = 1; P->cond_mask = 1u << COND_REAL; }
    else if (read_conditions(c, it, "conditions", 3u, &P->cond_mask, P->cond_order, &P->n_cond)) return -1;
    p->axis[AX_CONDITION].labels = xcalloc(P->n_cond, sizeof(char *));
    p->conditions = xcalloc(P->n_cond, sizeof *p->conditions);
    for (int k = 0; k < P->n_cond; k++) {
        p->axis[AX_CONDITION].labels[k] = xstrdup(condition_names[P->cond_order[k]]);
        p->conditions[k] = (Condition)P->cond_order[k];
    }
    p->axis[AX_CONDITION].n = P->n_cond;
    return 0;
}

static void add_variant(Plan *p, int *cap, const FormatVariant *v) {
    Axis *ax = &p->axis[AX_FORMAT];
    if (ax->n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        p->formats = realloc(p->formats, *cap * sizeof *p->formats);
        ax->labels = realloc(ax->labels, *cap * sizeof(char *));
        if (!p->formats || !ax->labels) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
    }
    p->formats[ax->n] = *v;
    ax->labels[ax->n] = xstrdup(v->label);
    ax->n++;
}

// Where a training field of this block was given: the block's own, else train's, else the block.
static void field_path(const Parse *P, const FormatBlock *fb, const char *field, char *out, size_t n) {
    const cJSON *block = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(P->root, "formats"), fb->key);
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(P->root, "train");
    if (cJSON_GetObjectItemCaseSensitive(block, field)) jp_key(out, n, fb->jp, field);
    else if (cJSON_GetObjectItemCaseSensitive(train, field)) jp_key(out, n, "train", field);
    else snprintf(out, n, "%s", fb->jp);
}

// A random-condition job holds its whole corpus in memory: steps x batch x (seq + 1) tokens. Over the
// limit, the field raised most above its default is named.
static int check_random_corpus(Parse *P, const FormatBlock *fb, const TrainConfig *t, const char *variant) {
    if (!(fb->cond_mask & (1u << COND_RANDOM))) return 0;
    JobSpec js = { .train = *t };
    long n = job_random_corpus_length(&js);
    if (n <= JOB_MAX_RANDOM_TOKENS) return 0;
    double raised[3] = { t->steps / hp_def[HP_STEPS].def, t->batch / hp_def[HP_BATCH].def,
                         (t->seq + 1) / (hp_def[HP_SEQ].def + 1) };
    int most = raised[1] > raised[0] ? 1 : 0;
    if (raised[2] > raised[most]) most = 2;
    char jp[160];
    field_path(P, fb, hp_def[most == 0 ? HP_STEPS : most == 1 ? HP_BATCH : HP_SEQ].name, jp, sizeof jp);
    return fail(&P->c, jp, "%sthe random condition needs steps x batch x (seq + 1) = %d x %d x %d = %ld tokens in "
                "memory, more than %ld: lower steps, batch or seq, or train this format on real only", variant,
                t->steps, t->batch, t->seq + 1, n, JOB_MAX_RANDOM_TOKENS);
}

// Cartesian product of the listed fields, the first field varying slowest.
static int expand_block(Parse *P, FormatBlock *fb, int *cap) {
    Ctx *c = &P->c;
    Plan *p = P->p;
    long total = 1;
    for (int h = 0; h < HP_COUNT; h++) total *= fb->n[h];
    if (p->axis[AX_FORMAT].n + total > MAX_VARIANTS)
        return fail(c, fb->jp, "%ld variants: at most %d formats in all", total, MAX_VARIANTS);
    fb->first_variant = p->axis[AX_FORMAT].n;
    fb->n_variants = (int)total;
    int idx[HP_COUNT] = { 0 };
    for (long k = 0; k < total; k++) {
        double v[HP_COUNT];
        for (int h = 0; h < HP_COUNT; h++) v[h] = fb->v[h][idx[h]];
        FormatVariant fv;
        memset(&fv, 0, sizeof fv);
        fv.format = fb->format;
        fv.precision = (MatPrecision)v[HP_PRECISION];
        size_t len = (size_t)snprintf(fv.label, sizeof fv.label, "%s", fb->key);
        int listed = 0;
        for (int h = 0; h < HP_COUNT; h++) {
            if (fb->n[h] < 2) continue;
            char val[40];
            format_value(val, sizeof val, h, v[h]);
            len += (size_t)snprintf(fv.label + (len < sizeof fv.label ? len : sizeof fv.label - 1),
                                    len < sizeof fv.label ? sizeof fv.label - len : 1, "%s%s=%s",
                                    listed ? "," : "[", hp_def[h].name, val);
            listed = 1;
        }
        if (listed) len += (size_t)snprintf(fv.label + (len < sizeof fv.label ? len : sizeof fv.label - 1),
                                            len < sizeof fv.label ? sizeof fv.label - len : 1, "]");
        if (len >= sizeof fv.label) return fail(c, fb->jp, "the label of a variant is longer than 63 characters: "
                                                "use a shorter format name or fewer listed fields");
        for (int j = fb->first_variant; j < p->axis[AX_FORMAT].n; j++)
            if (!strcmp(p->formats[j].label, fv.label))
                return fail(c, fb->jp, "two listed values print alike as %s: make them differ in 6 significant digits",
                            fv.label);
        char variant[96] = "";   // names the variant in messages when a list made it
        if (listed) snprintf(variant, sizeof variant, "variant %s: ", fv.label);
        if (fb->format != FMT_NONE) {
            TrainConfig *t = &fv.train;
            t->steps = (int)v[HP_STEPS];
            t->batch = (int)v[HP_BATCH];
            t->seq = (int)v[HP_SEQ];
            t->lr = v[HP_LR];
            t->beta1 = fb->beta1;
            t->beta2 = fb->beta2;
            t->eps = v[HP_EPS];
            t->weight_decay = v[HP_WD];
            t->grad_clip = v[HP_CLIP];
            t->warmup = (int)v[HP_WARMUP];
            t->cosine = (int)v[HP_COSINE];
            t->min_lr_frac = v[HP_MIN_LR];
            if (t->warmup > t->steps)
                return fail(c, fb->jp, "%swarmup %d is longer than steps %d", variant, t->warmup, t->steps);
            for (int b = 0; b < p->axis[AX_BASE].n; b++)
                if (t->seq > p->bases[b].cfg.context)
                    return fail(c, fb->jp, "%sseq %d exceeds the context %d of base %s", variant, t->seq,
                                p->bases[b].cfg.context, p->bases[b].name);
            if (check_random_corpus(P, fb, t, variant)) return -1;
        }
        if (fb->format == FMT_LORA) {
            fv.lora.rank = (int)v[HP_RANK];
            fv.lora.alpha = v[HP_ALPHA];
            fv.lora.targets = fb->targets;
            for (int b = 0; b < p->axis[AX_BASE].n; b++)
                if (fv.lora.rank > p->bases[b].cfg.dim)
                    return fail(c, fb->jp, "%srank %d exceeds the width %d of base %s", variant, fv.lora.rank,
                                p->bases[b].cfg.dim, p->bases[b].name);
        }
        add_variant(p, cap, &fv);
        for (int h = HP_COUNT - 1; h >= 0; h--) {   // odometer
            if (++idx[h] < fb->n[h]) break;
            idx[h] = 0;
        }
    }
    return 0;
}

static int parse_formats(Parse *P) {
    Ctx *c = &P->c;
    FormatBlock tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    for (int h = 0; h < HP_COUNT; h++) { tmpl.n[h] = 1; tmpl.v[h][0] = hp_def[h].def; }
    tmpl.beta1 = 0.9;
    tmpl.beta2 = 0.95;
    tmpl.targets = LORA_ALL;
    tmpl.cond_mask = P->cond_mask;
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(P->root, "train");
    if (train && (check_fields(c, train, "train", train_fields) || read_train_fields(c, train, "train", &tmpl, 0)))
        return -1;
    if (P->precision) {   // sweep run --precision: the spec's default, whatever train says
        char h[200];
        int k = precision_lookup(P->precision, h, sizeof h);
        if (k < 0) return fail(c, "--precision", "unknown precision %s%s", P->precision, h);
        tmpl.n[HP_PRECISION] = 1;
        tmpl.v[HP_PRECISION][0] = k;
    }
    const cJSON *formats = cJSON_GetObjectItemCaseSensitive(P->root, "formats");
    if (!formats) return fail(c, "formats", "missing: name at least one format (none, norm, lora, full)");
    if (!cJSON_IsObject(formats)) return fail(c, "formats", "expected an object {format: hyperparameters}, got %s",
                                              type_name(formats));
    int n = cJSON_GetArraySize(formats);
    if (n == 0) return fail(c, "formats", "empty: name at least one format (none, norm, lora, full)");
    if (n > MAX_VARIANTS) return fail(c, "formats", "%d formats: at most %d", n, MAX_VARIANTS);
    P->blocks = xcalloc(n, sizeof *P->blocks);
    int cap = 0, i = 0;
    for (const cJSON *it = formats->child; it; it = it->next, i++) {
        FormatBlock *fb = &P->blocks[i];
        *fb = tmpl;
        P->n_blocks = i + 1;
        jp_key(fb->jp, sizeof fb->jp, "formats", it->string);
        for (const cJSON *prev = formats->child; prev != it; prev = prev->next)
            if (!strcmp(prev->string, it->string)) return fail(c, fb->jp, "field given twice");
        if (!cJSON_IsObject(it)) return fail(c, fb->jp, "expected an object of hyperparameters ({} for the defaults), got %s",
                                             type_name(it));
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(it, "format");
        const char *fname = it->string;
        char q[160];
        jp_key(q, sizeof q, fb->jp, "format");
        if (f && get_string(c, f, q, &fname)) return -1;
        int k = in_list(fname, format_names);
        if (k < 0) {
            char h[200];
            hint(h, sizeof h, fname, format_names, count_of(format_names));
            if (f) return fail(c, q, "unknown format %s%s", fname, h);
            return fail(c, fb->jp, "unknown format%s; a format of your own naming needs a \"format\" field", h);
        }
        fb->format = (AdapterFormat)k;
        if (!valid_name(it->string))
            return fail(c, fb->jp, "a format name is letters, digits, '_', '-' or '.' (at most 63)");
        snprintf(fb->key, sizeof fb->key, "%s", it->string);
        // a field that belongs to another format says so, rather than "unknown"
        for (const cJSON *e = it->child; e; e = e->next) {
            jp_key(q, sizeof q, fb->jp, e->string);
            int h = hp_index(e->string);
            int known = h >= 0 || !strcmp(e->string, "betas") || !strcmp(e->string, "targets") ||
                        !strcmp(e->string, "conditions");
            if (fb->format == FMT_NONE && known && h != HP_PRECISION)
                return fail(c, q, "none trains nothing and takes no hyperparameters (only precision)");
            if (fb->format != FMT_LORA && (!strcmp(e->string, "targets") || (h >= 0 && hp_def[h].lora_only)))
                return fail(c, q, "only lora formats take %s", e->string);
        }
        const char *const *allowed = fb->format == FMT_NONE ? none_format_fields
                                   : fb->format == FMT_LORA ? lora_format_fields : trained_format_fields;
        if (check_fields(c, it, fb->jp, allowed)) return -1;
        if (fb->format == FMT_NONE) {
            // train lists do not multiply the base, except precision: the base is evaluated at it
            for (int h = 0; h < HP_COUNT; h++) if (h != HP_PRECISION) fb->n[h] = 1;
            const cJSON *pr = cJSON_GetObjectItemCaseSensitive(it, "precision");
            jp_key(q, sizeof q, fb->jp, "precision");
            if (pr && read_hp(c, pr, q, HP_PRECISION, fb)) return -1;
        } else {
            if (fb->format != FMT_LORA) fb->n[HP_RANK] = fb->n[HP_ALPHA] = 1;
            if (read_train_fields(c, it, fb->jp, fb, P->cond_mask)) return -1;
        }
        if (expand_block(P, fb, &cap)) return -1;
    }
    return 0;
}

// Everything that determines a job's result, hashed as one canonical text (FNV-1a over the pieces in
// order is FNV-1a over their concatenation): a different text, a different id. The part a format
// variant on a base fixes is hashed once; each job continues from it.
static uint64_t hash_str(uint64_t h, const char *s) { return fnv1a64(s, strlen(s), h); }

static uint64_t variant_hash(Parse *P, int b, int f) {
    Plan *p = P->p;
    const FormatVariant *v = &p->formats[f];
    char buf[512];
    uint64_t h = hash_str(FNV1A64_INIT, "sweep-job-v1\nbase=");
    h = hash_str(h, P->base_id[b]);
    h = hash_str(h, "\ntokenizer=");
    h = hash_str(h, P->tok_id[b]);
    snprintf(buf, sizeof buf, "\neval_tokens=%d\nformat=%s\n", p->eval_tokens, format_names[v->format]);
    h = hash_str(h, buf);
    if (v->precision != MAT_PREC_FP32) {   // absent at fp32: ids from before the field existed still hold
        snprintf(buf, sizeof buf, "precision=%s\n", precision_names[v->precision]);
        h = hash_str(h, buf);
    }
    if (v->format == FMT_NONE) return h;
    const TrainConfig *t = &v->train;
    snprintf(buf, sizeof buf,
             "steps=%d\nbatch=%d\nseq=%d\nlr=%.17g\nbetas=%.17g,%.17g\neps=%.17g\nweight_decay=%.17g\n"
             "grad_clip=%.17g\nwarmup=%d\ncosine=%d\nmin_lr_frac=%.17g\n",
             t->steps, t->batch, t->seq, t->lr, t->beta1, t->beta2, t->eps, t->weight_decay, t->grad_clip,
             t->warmup, t->cosine, t->min_lr_frac);
    h = hash_str(h, buf);
    if (v->format == FMT_LORA) {
        snprintf(buf, sizeof buf, "rank=%d\nalpha=%.17g\ntargets=%u\n", v->lora.rank, v->lora.alpha, v->lora.targets);
        h = hash_str(h, buf);
    }
    return h;
}

static uint64_t job_hash(Parse *P, uint64_t h, const Job *j) {
    Plan *p = P->p;
    if (p->formats[j->ax[AX_FORMAT]].format == FMT_NONE) return h;
    int cond = P->cond_order[j->ax[AX_CONDITION]];
    char buf[64];
    snprintf(buf, sizeof buf, "condition=%s\nuser=", condition_names[cond]);
    h = hash_str(h, buf);
    h = hash_str(h, p->users[j->ax[AX_TRAIN_USER]].name);
    h = hash_str(h, "\ncorpus=");   // a random job never reads the corpus: the user it belongs to names it
    h = hash_str(h, cond == COND_REAL ? P->user_id[j->ax[AX_TRAIN_USER]] : "-");
    snprintf(buf, sizeof buf, "\nseed=%llu\n", (unsigned long long)j->seed);
    return hash_str(h, buf);
}

static long eval_tokens_of(Parse *P, int e) {
    Plan *p = P->p;
    if (p->eval_tokens) return p->eval_tokens;
    long size = P->c.files == SPEC_FILES_IGNORED ? -1 : file_size(p->evals[e].path);
    if (size < 0) size = p->evals[e].user < 0 ? SPLIT_GENERAL_EVAL_BYTES : p->split_eval_bytes;
    return (long)(size / BYTES_PER_TOKEN);
}

static int expand_jobs(Parse *P) {
    Ctx *c = &P->c;
    Plan *p = P->p;
    int nb = p->axis[AX_BASE].n, nc = p->axis[AX_CONDITION].n, nf = p->axis[AX_FORMAT].n;
    int nu = p->axis[AX_TRAIN_USER].n, ns = p->axis[AX_SEED].n, ne = p->axis[AX_EVAL_TEXT].n;
    // each job's eval texts
    int *own_n = xcalloc(nu, sizeof(int));
    int **own = xcalloc(nu, sizeof(int *));
    for (int u = 0; u < nu; u++) {
        own[u] = xmalloc((ne ? ne : 1) * sizeof(int));
        for (int e = 0; e < ne; e++) {
            int eu = p->evals[e].user;
            int take = eu < 0 || P->eval_mode == EVAL_ALL || eu == u || (P->eval_mode == EVAL_LIST && P->eval_users[eu]);
            if (take) own[u][own_n[u]++] = e;
        }
    }
    // count first: refuse a grid too large before allocating it
    double jobs = 0, cells = 0;
    for (int f = 0; f < nf; f++) {
        const FormatBlock *fb = P->blocks;
        while (!(f >= fb->first_variant && f < fb->first_variant + fb->n_variants)) fb++;
        if (p->formats[f].format == FMT_NONE) { jobs += nb; cells += (double)nb * ne; continue; }
        for (int ci = 0; ci < nc; ci++)
            if (fb->cond_mask & (1u << P->cond_order[ci]))
                for (int u = 0; u < nu; u++) { jobs += (double)nb * ns; cells += (double)nb * ns * own_n[u]; }
    }
    int rc = 0;
    if (jobs > MAX_JOBS) rc = fail(c, NULL, "the grid has %.0f jobs: at most %ld", jobs, MAX_JOBS);
    else if (cells > MAX_CELLS) rc = fail(c, NULL, "the grid has %.0f cells: at most %ld", cells, MAX_CELLS);
    if (rc) goto out;
    P->eval_flops = xcalloc((size_t)nb * (ne ? ne : 1), sizeof(double));
    for (int e = 0; e < ne; e++) {
        long tokens = eval_tokens_of(P, e);
        for (int b = 0; b < nb; b++) P->eval_flops[(size_t)b * ne + e] = plan_eval_flops(&p->bases[b].cfg, tokens);
    }
    p->jobs = xcalloc(jobs ? (size_t)jobs : 1, sizeof *p->jobs);
    for (int b = 0; b < nb; b++)
        for (int ci = 0; ci < nc; ci++)
            for (int f = 0; f < nf; f++) {
                const FormatBlock *fb = P->blocks;
                while (!(f >= fb->first_variant && f < fb->first_variant + fb->n_variants)) fb++;
                int none = p->formats[f].format == FMT_NONE;
                if (none ? ci != 0 : !(fb->cond_mask & (1u << P->cond_order[ci]))) continue;
                uint64_t vh = variant_hash(P, b, f);
                for (int u = 0; u < (none ? 1 : nu); u++)
                    for (int s = 0; s < (none ? 1 : ns); s++) {
                        Job *j = &p->jobs[p->n_jobs++];
                        j->ax[AX_BASE] = b;
                        j->ax[AX_CONDITION] = ci;
                        j->ax[AX_FORMAT] = f;
                        j->ax[AX_TRAIN_USER] = u;
                        j->ax[AX_SEED] = s;
                        j->seed = p->seeds[s];
                        j->n_eval = none ? ne : own_n[u];
                        j->eval = xmalloc((j->n_eval ? j->n_eval : 1) * sizeof(int));
                        for (int k = 0; k < j->n_eval; k++) j->eval[k] = none ? k : own[u][k];
                        const ModelConfig *cfg = &p->bases[b].cfg;
                        j->est_flops = plan_train_flops(cfg, &p->formats[f]);
                        for (int k = 0; k < j->n_eval; k++)
                            j->est_flops += P->eval_flops[(size_t)b * ne + j->eval[k]];
                        snprintf(j->id, sizeof j->id, "%016llx", (unsigned long long)job_hash(P, vh, j));
                    }
            }
out:
    for (int u = 0; u < nu; u++) free(own[u]);
    free(own);
    free(own_n);
    return rc;
}

// Identical jobs under two names would train the same adapter twice and collide in the results.
static const Plan *dup_plan;
static int by_id(const void *a, const void *b) {
    return strcmp(dup_plan->jobs[*(const int *)a].id, dup_plan->jobs[*(const int *)b].id);
}

static int check_unique_ids(Parse *P) {
    Plan *p = P->p;
    int *order = xmalloc((p->n_jobs ? p->n_jobs : 1) * sizeof(int));
    for (int k = 0; k < p->n_jobs; k++) order[k] = k;
    dup_plan = p;
    qsort(order, p->n_jobs, sizeof *order, by_id);
    dup_plan = NULL;
    int rc = 0;
    for (int k = 1; k < p->n_jobs; k++) {
        const Job *a = &p->jobs[order[k - 1]], *b = &p->jobs[order[k]];
        if (strcmp(a->id, b->id)) continue;
        const char *fa = p->formats[a->ax[AX_FORMAT]].label, *fb = p->formats[b->ax[AX_FORMAT]].label;
        if (strcmp(fa, fb)) {
            char jp[128];
            jp_key(jp, sizeof jp, "formats", fb);
            rc = fail(&P->c, jp, "trains exactly what %s trains (same format and hyperparameters)", fa);
        } else {
            rc = fail(&P->c, "bases", "%s and %s are the same model file", p->bases[a->ax[AX_BASE]].name,
                      p->bases[b->ax[AX_BASE]].name);
        }
        break;
    }
    free(order);
    return rc;
}

static void dirname_of(const char *path, char *out) {
    const char *slash = strrchr(path, '/');
    if (!slash) { snprintf(out, PATHMAX, "."); return; }
    if (slash == path) { snprintf(out, PATHMAX, "/"); return; }
    snprintf(out, PATHMAX, "%.*s", (int)(slash - path), path);
}

static void default_output(const char *spec_path, char *out) {
    const char *base = strrchr(spec_path, '/');
    base = base ? base + 1 : spec_path;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".json")) n -= 5;
    if (n > 200) n = 200;
    snprintf(out, PATHMAX, "%.*s.h5", (int)n, base);
}

static int parse_top(Parse *P) {
    Ctx *c = &P->c;
    Plan *p = P->p;
    cJSON *root = P->root;
    const cJSON *it;
    if (!cJSON_IsObject(root)) return fail(c, NULL, "the spec must be a JSON object, got %s", type_name(root));
    if (check_fields(c, root, "", top_fields)) return -1;
    const char *s;
    snprintf(p->protocol, sizeof p->protocol, "custom");
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "protocol"))) {
        if (get_string(c, it, "protocol", &s)) return -1;
        if (in_list(s, protocol_names) < 0) {
            char h[300];
            hint(h, sizeof h, s, protocol_names, count_of(protocol_names));
            return fail(c, "protocol", "unknown protocol %s%s", s, h);
        }
        snprintf(p->protocol, sizeof p->protocol, "%s", s);
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "description")) && get_string(c, it, "description", &s))
        return -1;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "output"))) {
        if (get_string(c, it, "output", &s)) return -1;
        if (strlen(s) >= PATHMAX - 64) return fail(c, "output", "path too long");
        snprintf(p->output, sizeof p->output, "%s", s);   // an output is relative to where sweep runs
    } else {
        default_output(c->file, p->output);
    }
    ModelConfig cfg;
    config_default(&cfg);
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "config")) && read_config_name(c, it, "config", &cfg)) return -1;
    char tok[PATHMAX] = "";
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "tokenizer"))) {
        if (get_string(c, it, "tokenizer", &s) || resolve_input(c, "tokenizer", s, 0, tok)) return -1;
    }
    if (parse_bases(P, &cfg, tok)) return -1;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "data"))) {
        if (get_string(c, it, "data", &s)) return -1;
    }
    if (parse_eval_scalars(P) || parse_users(P) || parse_eval_users(P)) return -1;
    if (parse_conditions(P) || parse_seeds(P) || parse_formats(P)) return -1;
    p->max_attempts = 2;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "max_attempts"))) {
        long v;
        if (get_int(c, it, "max_attempts", 1, 100, &v)) return -1;
        p->max_attempts = (int)v;
    }
    if (expand_jobs(P) || check_unique_ids(P)) return -1;
    return 0;
}

// "line L, column C" of a byte offset, for JSON syntax errors
static void where(const char *text, size_t off, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') { (*line)++; *col = 1; }
        else (*col)++;
    }
}

static int parse_with(const char *text, size_t len, const char *path, SpecFiles files, const char *precision,
                      Plan *p, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    Parse P;
    memset(&P, 0, sizeof P);
    P.precision = precision && precision[0] ? precision : NULL;
    P.c.file = path;
    P.c.files = files;
    P.c.err = err;
    P.c.errlen = errlen;
    P.p = p;
    dirname_of(path, P.c.specdir);
    if (err && errlen) err[0] = 0;
    int rc = -1;
    if (memchr(text, 0, len)) { fail(&P.c, NULL, "not a text file (NUL byte)"); goto out; }
    const char *end = NULL;
    P.root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (P.root && end) {   // cJSON's own check wants a NUL inside len: check the tail here
        while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) end++;
        if (end < text + len) { cJSON_Delete(P.root); P.root = NULL; }
    }
    if (!P.root) {
        int line, col;
        size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        where(text, off, &line, &col);
        fail(&P.c, NULL, "invalid JSON at line %d, column %d", line, col);
        goto out;
    }
    p->spec_text = xmalloc(len + 1);
    memcpy(p->spec_text, text, len);
    p->spec_text[len] = 0;
    snprintf(p->spec_hash, sizeof p->spec_hash, "%016llx", (unsigned long long)fnv1a64(text, len, FNV1A64_INIT));
    rc = parse_top(&P);
out:
    cJSON_Delete(P.root);
    free(P.blocks);
    free(P.base_id);
    free(P.tok_id);
    free(P.user_id);
    free(P.eval_flops);
    free(P.eval_users);
    if (rc) plan_free(p);
    return rc;
}

int spec_parse(const char *text, size_t len, const char *path, SpecFiles files, Plan *p, char *err,
               size_t errlen) {
    return parse_with(text, len, path, files, NULL, p, err, errlen);
}

int spec_load_precision(const char *path, SpecFiles files, const char *precision, Plan *p, char *err,
                        size_t errlen) {
    memset(p, 0, sizeof *p);
    size_t len = 0;
    char *text = read_whole_file(path, &len);
    if (!text) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    int rc = parse_with(text, len, path, files, precision, p, err, errlen);
    free(text);
    return rc;
}

int spec_load(const char *path, SpecFiles files, Plan *p, char *err, size_t errlen) {
    return spec_load_precision(path, files, NULL, p, err, errlen);
}

int spec_split_users(const Plan *p, int *status, char *err, size_t errlen) {
    *status = 0;
    for (int u = 0; u < p->axis[AX_TRAIN_USER].n; u++) {
        const UserEntry *e = &p->users[u];
        if (!e->n_sources) continue;
        char outdir[PATHMAX];
        dirname_of(e->train_path, outdir);
        int rc = e->source_is_dir
                 ? split_user_dir(e->name, e->sources[0], e->n_eval, p->split_eval_bytes, outdir, NULL, err, errlen)
                 : split_user(e->name, (const char *const *)e->sources, e->n_sources, e->n_eval, p->split_eval_bytes,
                              outdir, err, errlen);
        if (rc != SPLIT_OK) { *status = rc == SPLIT_BAD_INPUT ? 2 : 3; return -1; }
    }
    return 0;
}
