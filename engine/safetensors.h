// Reading safetensors files (Hugging Face checkpoints): u64 little-endian header length N, N bytes
// of JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then
// the raw tensor bytes (offsets relative to the end of the header). Mapped read-only.
#pragma once
#include <stddef.h>
#include <stdint.h>

// ST_OTHER: an integer or fp8/f64 tensor, validated but never converted (the importer needs none).
typedef enum { ST_F32 = 0, ST_F16, ST_BF16, ST_OTHER } StDtype;

#define ST_MAX_DIMS 8

typedef struct {
    char *name;
    StDtype dtype;
    char dtype_name[12];   // as written in the file ("BF16", "I64", ...)
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;   // into the mapping
    size_t nbytes;
} StTensor;

typedef struct {
    char path[512];
    const uint8_t *base;
    size_t size;
    int mapped;
    int n;
    StTensor *t;
} StFile;

// 0 ok; -1 with one line naming the file (and tensor) in err.
int st_open(StFile *f, const char *path, char *err, size_t errlen);
// The same over bytes in memory (the fuzz target). data must outlive f.
int st_parse(StFile *f, const void *data, size_t size, const char *name, char *err, size_t errlen);
void st_close(StFile *f);
const StTensor *st_find(const StFile *f, const char *name);
const char *st_dtype_name(StDtype d);
int64_t st_numel(const StTensor *t);
// Elements [i0, i0 + n) of t converted to float.
void st_to_f32(float *out, const StTensor *t, size_t i0, size_t n);
// IEEE half to float, exactly.
float f16_to_f32(uint16_t h);
