// The spec parser's JSON access and hints (sweeps/spec_json.h).
#include "sweeps/spec_json.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int spec_fail(SpecCtx *c, const char *jp, const char *fmt, ...) {
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
const char *hint_closest(const char *word, const char *const *cands, int n) {
    const char *best = NULL;
    int bestd = 3;
    for (int i = 0; i < n; i++) {
        int d = spec_edit_distance(word, cands[i]);
        if (d < bestd && 2 * d <= (int)strlen(cands[i])) { best = cands[i]; bestd = d; }
    }
    return best;
}

void hint_text(char *out, size_t n, const char *word, const char *const *cands, int nc) {
    const char *h = hint_closest(word, cands, nc);
    if (h) { snprintf(out, n, " (did you mean %s?)", h); return; }
    size_t k = (size_t)snprintf(out, n, " (expected one of:");
    for (int i = 0; i < nc && k < n; i++) k += (size_t)snprintf(out + k, n - k, "%s %s", i ? "," : "", cands[i]);
    if (k < n) snprintf(out + k, n - k, ")");
}

int names_count(const char *const *list) { int n = 0; while (list[n]) n++; return n; }

int names_index(const char *s, const char *const *list) {
    for (int i = 0; list[i]; i++) if (!strcmp(s, list[i])) return i;
    return -1;
}

// Labels become HDF5 coordinates and file names: keep them plain.
int spec_valid_name(const char *s) {
    if (!*s || strlen(s) > 63 || s[0] == '.' ) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.')) return 0;
    return 1;
}

// A path too long for its buffer is cut, never overflowed (noinline: that cut is intended, and GCC's
// truncation warning would otherwise fire at every call site).
__attribute__((noinline)) int jp_key(char *out, size_t n, const char *parent, const char *key) {
    return parent && *parent ? snprintf(out, n, "%s.%s", parent, key) : snprintf(out, n, "%s", key);
}

__attribute__((noinline)) int jp_idx(char *out, size_t n, const char *parent, int i) { return snprintf(out, n, "%s[%d]", parent, i); }

// ---------------------------------------------------------------- typed values

const char *json_type_name(const cJSON *it) {
    if (cJSON_IsNumber(it)) return "a number";
    if (cJSON_IsString(it)) return "a string";
    if (cJSON_IsBool(it)) return "a boolean";
    if (cJSON_IsNull(it)) return "null";
    if (cJSON_IsArray(it)) return "a list";
    if (cJSON_IsObject(it)) return "an object";
    return "an invalid value";
}

// Every field of an object must be known and appear once.
int json_check_fields(SpecCtx *c, const cJSON *obj, const char *jp, const char *const *allowed) {
    if (!cJSON_IsObject(obj)) return spec_fail(c, jp, "expected an object, got %s", json_type_name(obj));
    for (const cJSON *it = obj->child; it; it = it->next) {
        char p[256];
        jp_key(p, sizeof p, jp, it->string);
        for (const cJSON *prev = obj->child; prev != it; prev = prev->next)
            if (!strcmp(prev->string, it->string)) return spec_fail(c, p, "field given twice");
        if (names_index(it->string, allowed) < 0) {
            char h[400];
            hint_text(h, sizeof h, it->string, allowed, names_count(allowed));
            return spec_fail(c, p, "unknown field%s", h);
        }
    }
    return 0;
}

int json_string(SpecCtx *c, const cJSON *it, const char *jp, const char **out) {
    if (!cJSON_IsString(it)) return spec_fail(c, jp, "expected a string, got %s", json_type_name(it));
    if (!it->valuestring[0]) return spec_fail(c, jp, "empty string");
    *out = it->valuestring;
    return 0;
}

int json_bool(SpecCtx *c, const cJSON *it, const char *jp, int *out) {
    if (!cJSON_IsBool(it)) return spec_fail(c, jp, "expected true or false, got %s", json_type_name(it));
    *out = cJSON_IsTrue(it);
    return 0;
}

int json_number(SpecCtx *c, const cJSON *it, const char *jp, double *out) {
    if (!cJSON_IsNumber(it)) return spec_fail(c, jp, "expected a number, got %s", json_type_name(it));
    if (!isfinite(it->valuedouble)) return spec_fail(c, jp, "number out of range");
    *out = it->valuedouble;
    return 0;
}

int json_int(SpecCtx *c, const cJSON *it, const char *jp, double lo, double hi, long *out) {
    double v;
    if (json_number(c, it, jp, &v)) return -1;
    if (v != floor(v)) return spec_fail(c, jp, "expected an integer, got %g", v);
    if (v < lo || v > hi) return spec_fail(c, jp, "%.0f is out of range (%.0f to %.0f)", v, lo, hi);
    *out = (long)v;
    return 0;
}

int json_real(SpecCtx *c, const cJSON *it, const char *jp, double lo, double hi, int lo_open, int hi_open,
                    double *out) {
    double v;
    if (json_number(c, it, jp, &v)) return -1;
    if (v < lo || (lo_open && v == lo) || v > hi || (hi_open && v == hi))
        return spec_fail(c, jp, "%g is out of range (must be %s %g and %s %g)", v, lo_open ? ">" : ">=", lo,
                    hi_open ? "<" : "<=", hi);
    *out = v;
    return 0;
}
