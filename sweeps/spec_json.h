// The spec parser's JSON access: typed reads of cJSON values with range checks, the one-line error
// "SPECFILE: json.path: problem", JSON paths for messages, and "did you mean" hints. Internal to
// sweeps/ (spec.c and the files it is split into); the public interface is sweeps/spec.h.
#pragma once
#include <cjson/cJSON.h>
#include <stddef.h>
#include "sweeps/spec.h"

#define PATHMAX 1024

typedef struct {
    const char *file;           // spec path, for messages
    char specdir[PATHMAX];      // anchors relative input paths
    SpecFiles files;
    char *err;
    size_t errlen;
} SpecCtx;

// Writes "FILE: JP: message" (or "FILE: message" when jp is NULL or "") into c->err, always one
// line. Returns -1, so that a parser can `return spec_fail(...)`.
int spec_fail(SpecCtx *c, const char *jp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// Hints: the closest candidate within two edits (and not more edits than half its length), or NULL;
// hint_text writes " (did you mean X?)" or " (expected one of: ...)".
const char *hint_closest(const char *word, const char *const *cands, int n);
void hint_text(char *out, size_t n, const char *word, const char *const *cands, int nc);
int names_count(const char *const *list);                 // entries before the NULL
int names_index(const char *s, const char *const *list);  // index of s, or -1

// Labels become HDF5 coordinates and file names: letters, digits, '_', '-', '.', at most 63, no
// leading '.'.
int spec_valid_name(const char *s);

// JSON paths for messages ("parent.key", "parent[i]"); cut to n, never overflowed.
int jp_key(char *out, size_t n, const char *parent, const char *key);
int jp_idx(char *out, size_t n, const char *parent, int i);

const char *json_type_name(const cJSON *it);   // "a number", "a string", ...
// Every field of an object must be in allowed (NULL-terminated) and appear once.
int json_check_fields(SpecCtx *c, const cJSON *obj, const char *jp, const char *const *allowed);
// Typed reads: 0, or -1 with the message in c->err. A string must be non-empty; numbers finite.
int json_string(SpecCtx *c, const cJSON *it, const char *jp, const char **out);
int json_bool(SpecCtx *c, const cJSON *it, const char *jp, int *out);
int json_number(SpecCtx *c, const cJSON *it, const char *jp, double *out);
int json_int(SpecCtx *c, const cJSON *it, const char *jp, double lo, double hi, long *out);
// lo_open / hi_open: the bound itself is excluded.
int json_real(SpecCtx *c, const cJSON *it, const char *jp, double lo, double hi, int lo_open, int hi_open,
              double *out);
