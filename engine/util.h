// Small helpers shared by every folder.
#pragma once
#include <stddef.h>
#include <stdint.h>

// Allocation that cannot return NULL: out of memory prints one line and exits 3.
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
// 64-byte aligned, zeroed; free with free()
void *xaligned(size_t n);
// Not zeroed; from 2 MiB up, 2 MiB aligned and asked for as huge pages (a hint): one page fault per
// 2 MiB instead of 512, for large buffers filled once. Free with free().
void *xhuge(size_t n);
// This thread's scratch for decoded weight tiles (engine/mat.c, engine/ternary.c), at least n bytes,
// aligned; grown when needed and kept for the next call. Valid until the thread's next call.
void *tile_buffer(size_t n);
double now_seconds(void);       // monotonic
double cpu_seconds(void);       // this process's CPU time (user + system)
// Reads a whole file; returns NULL with errno set. *len gets the size; the buffer is NUL-terminated.
char *read_whole_file(const char *path, size_t *len);
// 64-bit FNV-1a, for checksums of tensors, records and specs
uint64_t fnv1a64(const void *data, size_t n, uint64_t h);
#define FNV1A64_INIT 0xcbf29ce484222325ULL
// Exit status for bad input (spec, model file, tokenizer, corpus): one line on stderr, then exit(2).
_Noreturn void die_input(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// The error helper of every function that reports "one line in err": writes the message into err
// (when err is not NULL and errlen > 0) and returns -1, so that `return errf(err, errlen, ...)`.
int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// Opens path read-only (close-on-exec) if it is a regular file: the descriptor and *size, or -1 with
// "PATH: cannot open: why" or "PATH: not a regular file" in err (the start of every mapped reader).
int open_regular(const char *path, size_t *size, char *err, size_t errlen);
// mkdir -p: every missing directory of the path. 0 ok; -1 with errno (ENOTDIR when a file is in the way).
int make_dirs(const char *dir);
