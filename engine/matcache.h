// Compute-ready weights made once per node and shared: the forms a precision's products read (int8
// trits of ternary matrices, bf16 copies of matrices not stored in bf16) are written by the first
// process into one file in a cache directory, keyed by the base's checksum, and every process (each
// rank, each job's forked child) maps that file read-only. The pages are the page cache's, shared by
// all mappers: no process holds a private copy of a base's weights at any precision.
//
// Why a cache file rather than the compute-ready layout stored in the model file (`sweep quantize`):
// the model file stays the small, verified artefact that is staged and copied (a ternary file at
// 1.6 bits per weight; int8 trits would make it 5x larger), one file serves every precision, and the
// derived forms, which only need the bits of engine/mat.c's conversions, can be rebuilt whenever
// absent, so a stale or foreign one is never trusted: its header must name the base's checksum, the
// precision, this layout's version and the build's real type.
//
// File: DIR/<base checksum, 16 hex>-<precision>.ready
//   0   "SWEEPRDY"   8 u32 version   12 u32 precision   16 u64 base checksum (model header offset 40)
//   24  u64 file size   32 u32 sizeof(real)   36..63 zero
//   4096: the forms, in weights_tensors() order (embedding, each layer's q k v o gate up down, head
//   when untied), each the size its form needs ([rows][cols] int8 or uint16) at a multiple of 4096.
// Matrices of the precision that need no form (fp32 and fp32-dnnl: none; bf16-stored ones) take no
// room. Written under a temporary name, synced, then renamed, under an flock on DIR/<name>.lock so
// that concurrent processes build it once and all map the same file.
#pragma once
#include <stddef.h>
#include "engine/mat.h"
#include "engine/modelfile.h"

typedef struct {
    void *map;        // NULL: nothing mapped (the precision needs no form of this base)
    size_t size;
    char path[1100];
} MatCache;

// Bytes of the forms precision p reads of w's matrices (0: none needed).
size_t matcache_forms_bytes(const Weights *w, MatPrecision p);
// Makes (if absent or invalid) and maps dir's cache file of mf at precision p, and points the
// ready_bf16 / ready_i8 fields of mf->w's matrices into it. Nothing to do when p needs no form.
// 0 ok; -1 with one line in err naming the file.
int matcache_open(MatCache *c, ModelFile *mf, MatPrecision p, const char *dir, char *err, size_t errlen);
// Unmaps. The caller clears the ready fields it no longer wants (model_close drops the Weights).
void matcache_close(MatCache *c);
