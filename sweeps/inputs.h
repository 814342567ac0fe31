// The files a spec names: where a relative path resolves, and each file's identity in job ids (its
// content, so that a moved or copied file keeps its jobs). Internal to sweeps/.
#pragma once
#include <stddef.h>
#include "sweeps/spec_json.h"

#define FINGERPRINT_WHOLE (8L << 20)   // files up to this size are hashed whole, larger ones head + tail

typedef char Ident[PATHMAX + 64];   // "fnv:HASH:SIZE", or "path:PATH" when contents are not read

int path_kind(const char *p);                              // 1 regular file, 2 directory, 0 missing or other
int path_join(char *out, const char *dir, const char *rel);   // out[PATHMAX]; -1 when too long
void path_dirname(const char *path, char *out);            // out[PATHMAX]; "." for a bare name
int path_cmp(const void *a, const void *b);                // qsort of char *: byte order

// Relative input paths: the spec's directory first, then the current directory; the first that exists
// wins. Missing everywhere: an error when files are required, else the path as given (cwd-relative).
// want_dir: a directory, else a regular file. out[PATHMAX].
int input_resolve(SpecCtx *c, const char *jp, const char *given, int want_dir, char *out);
// A derived input (data dir + fixed layout): must exist when files are required; advice ends the message.
int input_check_derived(SpecCtx *c, const char *jp, const char *path, const char *advice);
// A file's identity: FNV-1a of its content (files over FINGERPRINT_WHOLE at head and tail: model files
// carry per-tensor checksums in their header), "path:PATH" when files are ignored or unreadable.
void input_fingerprint(SpecCtx *c, const char *path, char *out, size_t n);
// A custom user's directory: the regular files not starting with '.', by name, as the split reads them.
void input_fingerprint_dir(SpecCtx *c, const char *dir, char *out, size_t n);
long input_file_size(const char *path);                    // -1 when not a regular file
