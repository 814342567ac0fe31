// Model files: one file per model, memory-mapped read-only and pointed into, never copied whole.
//
// Layout (all integers little-endian):
//   0   "SWEEPMDL"                 magic
//   8   u32 version (1)            12  u32 reserved (0)
//   16  u64 metadata length        24  u64 data offset (multiple of 64)
//   32  u64 file size              40  u64 FNV-1a 64 of the metadata bytes
//   48  16 reserved bytes (0)
//   64  metadata: JSON text {"format", "config", "tokenizer", "quantization", "source", "tensors"},
//       and "pruning" when sweep prune made it (method, scope, sparsity, tensors, zeroed; cli/cmd_prune.c)
//   data offset: tensors, each at a multiple of 64 bytes from the data offset
// A tensor entry: {"name", "dtype": "f32" | "bf16" | "ternary" | "int4", "shape": [rows, cols] or [n],
//   "offset" (bytes from the data offset), "nbytes", "fnv1a64": 16 hex digits of its bytes}, and for
//   int4 "group": the inputs per scale (even, 2 .. 65536).
// Ternary data: float32 scale[rows] (absmean per output row), then the packed trits of
// engine/ternary.h (5 per byte, each row starting on a byte). Int4 data: float32 scale[rows][groups],
// then the packed nibbles of engine/int4.h (2 per byte as q + 8, each row starting on a byte). Norms and biases are f32 or bf16
// vectors. Tensor names and shapes are weights_tensors() of the config; order is free.
// "tokenizer" is null, a path string, or {"path", optional "format" ("huggingface" for a
// tokenizer.json) and "fnv1a64" of the tokenizer file}; a relative path is relative to the
// directory of the model file.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "engine/weights.h"

#define MODEL_MAGIC "SWEEPMDL"
#define MODEL_VERSION 1
#define MODEL_HEADER_BYTES 64
#define MODEL_ALIGN 64

typedef struct {
    char name[80];
    MatType dtype;          // MAT_F32, MAT_BF16, MAT_TERNARY or MAT_INT4
    int group;              // MAT_INT4: inputs per scale; 0 otherwise
    TensorKind kind;
    int layer;
    int rows, cols;         // vectors: cols == 1, stored with shape [rows]
    size_t offset, nbytes;  // offset from the start of the file
    uint64_t checksum;
} ModelTensor;

struct cJSON;

typedef struct {
    char path[512];
    const uint8_t *base;     // the mapping, or the caller's buffer for model_parse
    size_t size;
    int mapped;
    int version;
    struct cJSON *meta;      // the parsed metadata (config, tokenizer, quantization, source, tensors)
    int n_tensors;
    ModelTensor *t;
    Weights w;               // matrices point into the mapping; vectors live in `owned`
    real *owned;
} ModelFile;

enum {
    MODEL_SKIP_CHECKSUMS = 1,   // trust tensor bytes (a rank whose node leader already verified)
    MODEL_MAPPED = 2,           // model_open's own: data is a file mapping (pages read to verify are dropped)
};

// The header's FNV-1a 64 of the metadata (offset 40), which covers every tensor's own checksum: a short
// identity of the whole file's contents.
uint64_t model_header_checksum(const ModelFile *mf);
// The same read from the file at path without mapping or checking it; 0 when it cannot be read.
uint64_t model_file_checksum(const char *path);

// Maps path read-only and fills mf. 0 ok; -1 with one line naming the file (and tensor) in err.
int model_open(ModelFile *mf, const char *path, int flags, char *err, size_t errlen);
// The same over bytes already in memory (the fuzz target; tests). data must outlive mf.
int model_parse(ModelFile *mf, const void *data, size_t size, const char *name, int flags,
                char *err, size_t errlen);
void model_close(ModelFile *mf);
// Checksums of every tensor, trit bytes below 243, no int4 nibble of 0, and finite scales >= 0. 0 ok, -1 with err.
int model_verify(const ModelFile *mf, char *err, size_t errlen);
// The tensor of that name, or NULL.
const ModelTensor *model_tensor(const ModelFile *mf, const char *name);
// A top-level metadata field printed as JSON (malloc'd), or NULL when absent or null.
char *model_meta_json(const ModelFile *mf, const char *key);
// The tokenizer file the metadata names, resolved against the model file's directory (malloc'd),
// or NULL when none is recorded.
char *model_tokenizer_path(const ModelFile *mf);

// Sizes by part (embedding, matrices, head, vectors, header) and bits per weight, one line each.
void model_print_summary(const ModelFile *mf, FILE *out);

const char *model_dtype_name(MatType t);   // "f32", "bf16", "ternary", "int4"
int model_dtype_parse(const char *s, MatType *t);   // 0 ok, -1 unknown
// Bytes a tensor of that dtype and shape occupies in a file (int4: at INT4_GROUP_DEFAULT).
size_t model_dtype_bytes(MatType t, int rows, int cols);
// The same for any int4 group (ignored for other dtypes).
size_t model_tensor_bytes(MatType t, int rows, int cols, int group);

typedef struct {
    MatType matrix_dtype;        // the layers' projections: f32, bf16, ternary or int4
    MatType embed_dtype;         // token embedding
    MatType head_dtype;          // untied output head
    MatType vector_dtype;        // norms and biases: f32 or bf16
    const char *tokenizer_json;  // JSON value stored under "tokenizer" (NULL: null)
    const char *source;          // free text under "source" (NULL: omitted)
    const char *pruning_json;    // JSON object stored under "pruning" (sweep prune; NULL: omitted)
    int int4_group;              // inputs per scale of int4 tensors (0: INT4_GROUP_DEFAULT)
} ModelWriteOptions;

void model_write_options_default(ModelWriteOptions *o);   // everything f32
// Writes w (any storage types) to path atomically (temporary file, then rename). Tensors stored in
// their own dtype are copied bytewise; others are converted (ternary: quantised per row; int4: per
// group of o->int4_group inputs, an int4 source of another group decoded and quantised again).
int model_write(const char *path, const Weights *w, const ModelWriteOptions *o, char *err, size_t errlen);
