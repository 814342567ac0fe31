// safetensors reader: parse and validate the header, point tensors into the mapping.
#include "engine/safetensors.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "engine/mat.h"
#include "engine/util.h"


static const struct { const char *name; StDtype dtype; size_t size; } dtypes[] = {
    { "F32", ST_F32, 4 },   { "F16", ST_F16, 2 },   { "BF16", ST_BF16, 2 },  { "F64", ST_OTHER, 8 },
    { "I64", ST_OTHER, 8 }, { "U64", ST_OTHER, 8 }, { "I32", ST_OTHER, 4 },  { "U32", ST_OTHER, 4 },
    { "I16", ST_OTHER, 2 }, { "U16", ST_OTHER, 2 }, { "I8", ST_OTHER, 1 },   { "U8", ST_OTHER, 1 },
    { "BOOL", ST_OTHER, 1 }, { "F8_E4M3", ST_OTHER, 1 }, { "F8_E5M2", ST_OTHER, 1 },
};

const char *st_dtype_name(StDtype d) { return d == ST_F32 ? "F32" : d == ST_F16 ? "F16" : d == ST_BF16 ? "BF16" : "other"; }

int64_t st_numel(const StTensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

float f16_to_f32(uint16_t h) {
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float v;
    if (e == 0) v = ldexpf((float)m, -24);                        // zero and subnormals
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = ldexpf((float)(m | 1024), e - 25);
    return sign ? -v : v;
}

void st_to_f32(float *out, const StTensor *t, size_t i0, size_t n) {
    const uint8_t *p = t->data;
    switch (t->dtype) {
    case ST_F32: memcpy(out, p + 4 * i0, 4 * n); break;
    case ST_BF16:
        for (size_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, p + 2 * (i0 + i), 2); out[i] = bf16_to_f32(h); }
        break;
    case ST_F16:
        for (size_t i = 0; i < n; i++) { uint16_t h; memcpy(&h, p + 2 * (i0 + i), 2); out[i] = f16_to_f32(h); }
        break;
    case ST_OTHER:
        for (size_t i = 0; i < n; i++) out[i] = NAN;
        break;
    }
}

void st_close(StFile *f) {
    if (f->mapped && f->base) munmap((void *)f->base, f->size);
    for (int i = 0; i < f->n; i++) free(f->t[i].name);
    free(f->t);
    memset(f, 0, sizeof *f);
}

const StTensor *st_find(const StFile *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

static int parse_entry(StTensor *t, const cJSON *e, const uint8_t *data, size_t data_len, const char *path,
                       char *err, size_t errlen) {
    const char *nm = t->name;
    if (!cJSON_IsObject(e)) return errf(err, errlen, "%s: tensor %s: entry is not an object", path, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    size_t esize = 0;
    if (cJSON_IsString(dt))
        for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
            if (!strcmp(dt->valuestring, dtypes[i].name)) {
                t->dtype = dtypes[i].dtype;
                esize = dtypes[i].size;
                snprintf(t->dtype_name, sizeof t->dtype_name, "%s", dtypes[i].name);
            }
    if (!esize) return errf(err, errlen, "%s: tensor %s: dtype missing or unknown", path, nm);
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) > ST_MAX_DIMS)
        return errf(err, errlen, "%s: tensor %s: shape missing or more than %d dimensions", path, nm, ST_MAX_DIMS);
    t->ndim = cJSON_GetArraySize(shape);
    // numel stays below 2^62 so that numel * esize cannot overflow
    double numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble != floor(d->valuedouble) || d->valuedouble > 4e18)
            return errf(err, errlen, "%s: tensor %s: shape[%d] is not a non-negative integer", path, nm, i);
        t->shape[i] = (int64_t)d->valuedouble;
        numel *= d->valuedouble;
    }
    if (numel > 4e18 / 8) return errf(err, errlen, "%s: tensor %s: shape too large", path, nm);
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return errf(err, errlen, "%s: tensor %s: data_offsets missing or not [begin, end]", path, nm);
    double b = cJSON_GetArrayItem(offs, 0)->valuedouble, en = cJSON_GetArrayItem(offs, 1)->valuedouble;
    if (!cJSON_IsNumber(cJSON_GetArrayItem(offs, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(offs, 1)) || b < 0 ||
        en < b || b != floor(b) || en != floor(en) || en > (double)data_len)
        return errf(err, errlen, "%s: tensor %s: data_offsets [%.0f, %.0f] out of bounds (%zu data bytes)", path, nm,
                    b, en, data_len);
    t->nbytes = (size_t)en - (size_t)b;
    if (t->nbytes != (size_t)st_numel(t) * esize)
        return errf(err, errlen, "%s: tensor %s: %zu bytes for %lld %s elements", path, nm, t->nbytes,
                    (long long)st_numel(t), t->dtype_name);
    t->data = data + (size_t)b;
    return 0;
}

int st_parse(StFile *f, const void *data, size_t size, const char *name, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", name);
    f->base = data;
    f->size = size;
    const char *path = f->path;
    const uint8_t *p = data;
    if (size < 8) return errf(err, errlen, "%s: truncated: no 8-byte header length", path);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | p[i];
    if (hlen > size - 8) return errf(err, errlen, "%s: header length %llu exceeds the file (%zu bytes)", path,
                                     (unsigned long long)hlen, size);
    cJSON *root = cJSON_ParseWithLength((const char *)p + 8, hlen);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return errf(err, errlen, "%s: header is not a JSON object", path);
    }
    const uint8_t *tensor_data = p + 8 + hlen;
    size_t data_len = size - 8 - hlen;
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) if (strcmp(e->string, "__metadata__")) n++;
    f->t = xcalloc((size_t)(n ? n : 1), sizeof *f->t);
    int rc = 0;
    cJSON_ArrayForEach(e, root) {
        if (!strcmp(e->string, "__metadata__")) continue;
        StTensor *t = &f->t[f->n++];
        t->name = strdup(e->string);
        if (!t->name) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
        if ((rc = parse_entry(t, e, tensor_data, data_len, path, err, errlen))) break;
    }
    cJSON_Delete(root);
    for (int i = 0; !rc && i < f->n; i++)
        for (int j = 0; !rc && j < i; j++)
            if (!strcmp(f->t[i].name, f->t[j].name)) rc = errf(err, errlen, "%s: tensor %s: listed twice", path, f->t[i].name);
    if (rc) {
        f->mapped = 0;
        st_close(f);
        return -1;
    }
    return 0;
}

int st_open(StFile *f, const char *path, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    size_t size;
    int fd = open_regular(path, &size, err, errlen);
    if (fd < 0) return -1;
    if (size < 8) {
        close(fd);
        return errf(err, errlen, "%s: truncated: no 8-byte header length", path);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return errf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
    if (st_parse(f, map, size, path, err, errlen)) {
        munmap(map, size);
        return -1;
    }
    f->mapped = 1;
    return 0;
}
