// Model files: mapping and validating, pointing a Weights view in; the dtypes and their sizes.
// Writing is modelfile_write.c, the size summary modelfile_summary.c.
#include "engine/modelfile.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "engine/int4.h"
#include "engine/modelfile_impl.h"
#include "engine/ternary.h"
#include "engine/util.h"

#define MAX_DIM (1 << 24)   // any one size field; keeps every product of two inside size_t

uint64_t model_header_checksum(const ModelFile *mf) { return get_u64(mf->base + HEADER_META_CHECKSUM); }

uint64_t model_file_checksum(const char *path) {
    uint8_t h[HEADER_META_CHECKSUM + 8];
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(h, 1, sizeof h, f) : 0;
    if (f) fclose(f);
    return got == sizeof h ? get_u64(h + HEADER_META_CHECKSUM) : 0;
}

const char *model_dtype_name(MatType t) {
    switch (t) {
    case MAT_F32: return "f32";
    case MAT_BF16: return "bf16";
    case MAT_TERNARY: return "ternary";
    case MAT_INT4: return "int4";
    case MAT_REAL: break;
    }
    return "real";
}

int model_dtype_parse(const char *s, MatType *t) {
    if (!strcmp(s, "f32")) *t = MAT_F32;
    else if (!strcmp(s, "bf16")) *t = MAT_BF16;
    else if (!strcmp(s, "ternary")) *t = MAT_TERNARY;
    else if (!strcmp(s, "int4")) *t = MAT_INT4;
    else return -1;
    return 0;
}

size_t model_dtype_bytes(MatType t, int rows, int cols) {
    size_t n = (size_t)rows * (size_t)cols;
    switch (t) {
    case MAT_F32: return n * 4;
    case MAT_BF16: return n * 2;
    case MAT_TERNARY: return (size_t)rows * 4 + ternary_packed_bytes(rows, cols);
    case MAT_INT4: return int4_bytes(rows, cols, INT4_GROUP_DEFAULT);
    case MAT_REAL: break;
    }
    return 0;
}

size_t model_tensor_bytes(MatType t, int rows, int cols, int group) {
    return t == MAT_INT4 ? int4_bytes(rows, cols, group) : model_dtype_bytes(t, rows, cols);
}

// ---------------------------------------------------------------------------------------------
// Reading

void model_close(ModelFile *mf) {
    if (mf->mapped && mf->base) munmap((void *)mf->base, mf->size);
    cJSON_Delete(mf->meta);
    free(mf->t);
    free(mf->owned);
    memset(mf, 0, sizeof *mf);
}

// An integer field in [lo, hi]: 0 ok, -1 missing, wrong type or out of range.
static int json_int(const cJSON *obj, const char *key, long long lo, long long hi, long long *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d)) return -1;
    *out = (long long)d;
    return 0;
}

// config.rope_scaling: absent or null is none (files written before it existed); the values are
// checked by config_check.
static int parse_rope_scaling(RopeScaling *r, const cJSON *rs, const char *path, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    if (!rs || cJSON_IsNull(rs)) return 0;
    if (!cJSON_IsObject(rs)) return errf(err, errlen, "%s: metadata field config.rope_scaling: not an object or null", path);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "llama3"))
        return errf(err, errlen, "%s: metadata field config.rope_scaling.rope_type: missing or not \"llama3\"", path);
    const char *bad = config_rope_llama3_from_json(r, rs);
    if (bad) return errf(err, errlen, "%s: metadata field config.rope_scaling.%s", path, bad);
    return 0;
}

static int parse_config(ModelConfig *c, const cJSON *cfg, const char *path, char *err, size_t errlen) {
    if (!cJSON_IsObject(cfg)) return errf(err, errlen, "%s: metadata field config: missing or not an object", path);
    struct { const char *key; int *dst; long long lo, hi; } ints[] = {
        { "dim", &c->dim, 1, MAX_DIM },           { "n_layers", &c->n_layers, 1, SWEEP_MAX_LAYERS },
        { "n_heads", &c->n_heads, 1, MAX_DIM },   { "n_kv_heads", &c->n_kv_heads, 1, MAX_DIM },
        { "ffn_dim", &c->ffn_dim, 1, MAX_DIM },   { "vocab", &c->vocab, 1, MAX_DIM },
        { "context", &c->context, 1, MAX_DIM },   { "tied", &c->tied, 0, 1 },
        { "qkv_bias", &c->qkv_bias, 0, 1 },
    };
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        long long v;
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(cfg, ints[i].key);
        if (cJSON_IsBool(b) && ints[i].hi == 1) v = cJSON_IsTrue(b);
        else if (json_int(cfg, ints[i].key, ints[i].lo, ints[i].hi, &v))
            return errf(err, errlen, "%s: metadata field config.%s: missing, not an integer or outside [%lld, %lld]",
                        path, ints[i].key, ints[i].lo, ints[i].hi);
        *ints[i].dst = (int)v;
    }
    const cJSON *theta = cJSON_GetObjectItemCaseSensitive(cfg, "rope_theta");
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(cfg, "norm_eps");
    if (!cJSON_IsNumber(theta) || !(theta->valuedouble > 0) || !isfinite(theta->valuedouble))
        return errf(err, errlen, "%s: metadata field config.rope_theta: missing or not a positive number", path);
    if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0) || !isfinite(eps->valuedouble))
        return errf(err, errlen, "%s: metadata field config.norm_eps: missing or not a positive number", path);
    c->rope_theta = theta->valuedouble;
    c->norm_eps = eps->valuedouble;
    if (parse_rope_scaling(&c->rope_scaling, cJSON_GetObjectItemCaseSensitive(cfg, "rope_scaling"), path, err, errlen))
        return -1;
    const char *bad = config_check(c);
    if (bad) return errf(err, errlen, "%s: metadata field config: %s", path, bad);
    return 0;
}

static int parse_checksum(const char *s, uint64_t *out) {
    if (strlen(s) != 16) return -1;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        int c = s[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

// One tensor entry against the table entry of the same name.
static int parse_tensor(ModelTensor *mt, const cJSON *e, const TensorInfo *want, size_t data_off,
                        size_t size, const char *path, char *err, size_t errlen) {
    const char *nm = want->name;
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(e, "fnv1a64");
    long long off, nbytes;
    snprintf(mt->name, sizeof mt->name, "%s", nm);
    mt->kind = want->kind;
    mt->layer = want->layer;
    mt->rows = want->rows;
    mt->cols = want->cols;
    if (!cJSON_IsString(dtype) || model_dtype_parse(dtype->valuestring, &mt->dtype))
        return errf(err, errlen, "%s: tensor %s: dtype missing or unknown (f32, bf16, ternary, int4)", path, nm);
    int is_vec = want->kind == TK_NORM || want->kind == TK_BIAS;
    if (is_vec && (mt->dtype == MAT_TERNARY || mt->dtype == MAT_INT4))
        return errf(err, errlen, "%s: tensor %s: dtype %s is for matrices, not vectors", path, nm, model_dtype_name(mt->dtype));
    mt->group = 0;
    if (mt->dtype == MAT_INT4) {
        long long g;
        if (json_int(e, "group", 2, 65536, &g) || int4_group_check((int)g))
            return errf(err, errlen, "%s: tensor %s: group missing or not an even integer in [2, 65536] (int4)", path, nm);
        mt->group = (int)g;
    }
    int nd = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : -1;
    long long got[2] = { -1, -1 };
    for (int i = 0; i < nd && i < 2; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        if (cJSON_IsNumber(d) && d->valuedouble >= 0 && d->valuedouble <= MAX_DIM && d->valuedouble == floor(d->valuedouble))
            got[i] = (long long)d->valuedouble;
    }
    int ok = is_vec ? nd == 1 && got[0] == want->rows : nd == 2 && got[0] == want->rows && got[1] == want->cols;
    if (!ok) {
        if (is_vec) return errf(err, errlen, "%s: tensor %s: shape disagrees with the config (expected [%d])", path, nm, want->rows);
        return errf(err, errlen, "%s: tensor %s: shape disagrees with the config (expected [%d, %d])",
                    path, nm, want->rows, want->cols);
    }
    if (json_int(e, "offset", 0, (long long)1 << 52, &off) || off % MODEL_ALIGN)
        return errf(err, errlen, "%s: tensor %s: offset missing, negative or not a multiple of %d", path, nm, MODEL_ALIGN);
    if (json_int(e, "nbytes", 0, (long long)1 << 52, &nbytes))
        return errf(err, errlen, "%s: tensor %s: nbytes missing or not an integer", path, nm);
    size_t expect = model_tensor_bytes(mt->dtype, mt->rows, mt->cols, mt->group);
    if ((size_t)nbytes != expect)
        return errf(err, errlen, "%s: tensor %s: nbytes %lld, but %s [%d, %d] takes %zu", path, nm, nbytes,
                    model_dtype_name(mt->dtype), mt->rows, mt->cols, expect);
    if (data_off + (size_t)off > size || (size_t)nbytes > size - data_off - (size_t)off)
        return errf(err, errlen, "%s: tensor %s: bytes [%zu, %zu) out of bounds (file has %zu bytes)", path, nm,
                    data_off + (size_t)off, data_off + (size_t)off + (size_t)nbytes, size);
    if (!cJSON_IsString(sum) || parse_checksum(sum->valuestring, &mt->checksum))
        return errf(err, errlen, "%s: tensor %s: fnv1a64 missing or not 16 lowercase hex digits", path, nm);
    mt->offset = data_off + (size_t)off;
    mt->nbytes = (size_t)nbytes;
    return 0;
}

static int check_tensor_bytes(const ModelFile *mf, const ModelTensor *mt, char *err, size_t errlen) {
    const uint8_t *p = mf->base + mt->offset;
    uint64_t h = fnv1a64(p, mt->nbytes, FNV1A64_INIT);
    if (h != mt->checksum)
        return errf(err, errlen, "%s: tensor %s: checksum mismatch (stored %016llx, computed %016llx)", mf->path,
                    mt->name, (unsigned long long)mt->checksum, (unsigned long long)h);
    if (mt->dtype == MAT_TERNARY) {
        const float *scale = (const float *)p;
        for (int r = 0; r < mt->rows; r++)
            if (!isfinite(scale[r]) || scale[r] < 0)
                return errf(err, errlen, "%s: tensor %s: scale of row %d is %g (must be finite, >= 0)", mf->path,
                            mt->name, r, scale[r]);
        const uint8_t *trits = p + (size_t)mt->rows * 4;
        size_t n = ternary_packed_bytes(mt->rows, mt->cols);
        for (size_t i = 0; i < n; i++)
            if (trits[i] > 242)
                return errf(err, errlen, "%s: tensor %s: packed byte %zu is %d (5 trits never exceed 242)", mf->path,
                            mt->name, i, trits[i]);
    }
    if (mt->dtype == MAT_INT4) {
        const float *scale = (const float *)p;
        size_t ns = int4_scale_bytes(mt->rows, mt->cols, mt->group) / sizeof(float);
        for (size_t i = 0; i < ns; i++)
            if (!isfinite(scale[i]) || scale[i] < 0)
                return errf(err, errlen, "%s: tensor %s: scale %zu (row %zu, group %zu) is %g (must be finite, >= 0)",
                            mf->path, mt->name, i, i / (size_t)int4_groups(mt->cols, mt->group),
                            i % (size_t)int4_groups(mt->cols, mt->group), scale[i]);
        const uint8_t *q = p + ns * sizeof(float);
        size_t n = int4_packed_bytes(mt->rows, mt->cols);
        for (size_t i = 0; i < n; i++)
            if (!(q[i] & 0x0f) || !(q[i] & 0xf0))
                return errf(err, errlen, "%s: tensor %s: packed byte %zu is 0x%02x (a nibble of 0 would be -8; values "
                            "lie in [-7, 7], stored + 8)", mf->path, mt->name, i, q[i]);
    }
    // A mapping's pages read only to verify are unmapped again (they stay in the page cache): a page
    // no other process maps would otherwise count as this process's private memory.
    if (mf->mapped) {
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)p & ~(page - 1);
        uintptr_t b = ((uintptr_t)p + mt->nbytes + page - 1) & ~(page - 1);
        madvise((void *)a, b - a, MADV_DONTNEED);
    }
    return 0;
}

int model_verify(const ModelFile *mf, char *err, size_t errlen) {
    for (int i = 0; i < mf->n_tensors; i++)
        if (check_tensor_bytes(mf, &mf->t[i], err, errlen)) return -1;
    return 0;
}

const ModelTensor *model_tensor(const ModelFile *mf, const char *name) {
    for (int i = 0; i < mf->n_tensors; i++)
        if (!strcmp(mf->t[i].name, name)) return &mf->t[i];
    return NULL;
}

char *model_meta_json(const ModelFile *mf, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(mf->meta, key);
    if (!v || cJSON_IsNull(v)) return NULL;
    return cJSON_PrintUnformatted(v);
}

char *model_tokenizer_path(const ModelFile *mf) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(mf->meta, "tokenizer");
    const cJSON *p = cJSON_IsObject(t) ? cJSON_GetObjectItemCaseSensitive(t, "path") : t;
    if (!cJSON_IsString(p) || !p->valuestring[0]) return NULL;
    const char *slash = strrchr(mf->path, '/');
    size_t dl = slash && p->valuestring[0] != '/' ? (size_t)(slash - mf->path) + 1 : 0;
    char *out = xmalloc(dl + strlen(p->valuestring) + 1);
    memcpy(out, mf->path, dl);
    strcpy(out + dl, p->valuestring);
    return out;
}

// Points w's views at the tensors; vectors are converted into one owned block of real.
static void fill_weights(ModelFile *mf, const ModelConfig *c) {
    size_t nvec = 0;
    for (int i = 0; i < mf->n_tensors; i++)
        if (mf->t[i].cols == 1 && (mf->t[i].kind == TK_NORM || mf->t[i].kind == TK_BIAS)) nvec += mf->t[i].rows;
    mf->owned = xmalloc(sizeof(real) * (nvec ? nvec : 1));
    memset(&mf->w, 0, sizeof mf->w);
    mf->w.cfg = *c;
    size_t at = 0;
    for (int i = 0; i < mf->n_tensors; i++) {
        const ModelTensor *mt = &mf->t[i];
        const uint8_t *p = mf->base + mt->offset;
        TensorInfo ti = { .kind = mt->kind, .layer = mt->layer, .rows = mt->rows, .cols = mt->cols };
        snprintf(ti.name, sizeof ti.name, "%s", mt->name);
        if (mt->kind == TK_NORM || mt->kind == TK_BIAS) {
            real *v = mf->owned + at;
            for (int j = 0; j < mt->rows; j++) {
                float f;
                if (mt->dtype == MAT_BF16) { uint16_t h; memcpy(&h, p + 2 * j, 2); f = bf16_to_f32(h); }
                else memcpy(&f, p + 4 * (size_t)j, 4);
                v[j] = (real)f;
            }
            *weights_vec(&mf->w, &ti) = v;
            at += mt->rows;
        } else {
            Mat *m = weights_mat(&mf->w, &ti);
            if (mt->dtype == MAT_TERNARY)
                *m = (Mat){ MAT_TERNARY, mt->rows, mt->cols, p + (size_t)mt->rows * 4, (const float *)p, NULL, NULL, 0 };
            else if (mt->dtype == MAT_INT4)
                *m = (Mat){ MAT_INT4, mt->rows, mt->cols, p + int4_scale_bytes(mt->rows, mt->cols, mt->group),
                            (const float *)p, NULL, NULL, mt->group };
            else
                *m = (Mat){ mt->dtype, mt->rows, mt->cols, p, NULL, NULL, NULL, 0 };
        }
    }
    if (c->tied) mf->w.head = mf->w.embed;
}

int model_parse(ModelFile *mf, const void *data, size_t size, const char *name, int flags,
                char *err, size_t errlen) {
    memset(mf, 0, sizeof *mf);
    snprintf(mf->path, sizeof mf->path, "%s", name);
    mf->base = data;
    mf->size = size;
    mf->mapped = (flags & MODEL_MAPPED) != 0;
    const char *path = mf->path;
    const uint8_t *h = data;
    if (size < MODEL_HEADER_BYTES || memcmp(h, MODEL_MAGIC, 8)) {
        if (size >= 8 && !memcmp(h, MODEL_MAGIC, 8))
            return errf(err, errlen, "%s: truncated header (%zu bytes, need %d)", path, size, MODEL_HEADER_BYTES);
        return errf(err, errlen, "%s: bad magic: not a sweep model file", path);
    }
    mf->version = (int)get_u32(h + 8);
    if (get_u32(h + 8) != MODEL_VERSION)
        return errf(err, errlen, "%s: unsupported model file version %u (this build reads %d)", path, get_u32(h + 8), MODEL_VERSION);
    uint64_t meta_len = get_u64(h + 16), data_off = get_u64(h + 24), file_size = get_u64(h + 32);
    if (file_size != size)
        return errf(err, errlen, "%s: truncated or padded: header says %llu bytes, file has %zu", path,
                    (unsigned long long)file_size, size);
    if (meta_len > size - MODEL_HEADER_BYTES || data_off % MODEL_ALIGN || data_off < MODEL_HEADER_BYTES + meta_len || data_off > size)
        return errf(err, errlen, "%s: metadata length %llu or data offset %llu out of bounds", path,
                    (unsigned long long)meta_len, (unsigned long long)data_off);
    const char *meta = (const char *)h + MODEL_HEADER_BYTES;
    if (fnv1a64(meta, meta_len, FNV1A64_INIT) != get_u64(h + HEADER_META_CHECKSUM))
        return errf(err, errlen, "%s: metadata checksum mismatch", path);
    mf->meta = cJSON_ParseWithLength(meta, meta_len);
    if (!cJSON_IsObject(mf->meta)) { mf->mapped = 0; model_close(mf); return errf(err, errlen, "%s: metadata is not a JSON object", path); }

    ModelConfig c;
    if (parse_config(&c, cJSON_GetObjectItemCaseSensitive(mf->meta, "config"), path, err, errlen)) goto bad;
    const cJSON *tensors = cJSON_GetObjectItemCaseSensitive(mf->meta, "tensors");
    if (!cJSON_IsArray(tensors)) { errf(err, errlen, "%s: metadata field tensors: missing or not an array", path); goto bad; }
    int n = weights_n_tensors(&c);
    TensorInfo *want = xmalloc(sizeof *want * n);
    weights_tensors(&c, want);
    mf->t = xcalloc((size_t)n, sizeof *mf->t);
    mf->n_tensors = n;
    char *seen = xcalloc((size_t)n, 1);
    const cJSON *e;
    int k = 0, rc = 0;
    cJSON_ArrayForEach(e, tensors) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (!cJSON_IsString(nm)) { rc = errf(err, errlen, "%s: tensors[%d]: name missing or not a string", path, k); break; }
        int j = 0;
        while (j < n && strcmp(want[j].name, nm->valuestring)) j++;
        if (j == n) { rc = errf(err, errlen, "%s: tensor %.80s: not a tensor of this config", path, nm->valuestring); break; }
        if (seen[j]) { rc = errf(err, errlen, "%s: tensor %s: listed twice", path, want[j].name); break; }
        seen[j] = 1;
        if ((rc = parse_tensor(&mf->t[j], e, &want[j], data_off, size, path, err, errlen))) break;
        k++;
    }
    for (int j = 0; !rc && j < n; j++)
        if (!seen[j]) rc = errf(err, errlen, "%s: tensor %s: missing", path, want[j].name);
    free(seen);
    free(want);
    if (rc) goto bad;
    if (!(flags & MODEL_SKIP_CHECKSUMS) && model_verify(mf, err, errlen)) goto bad;
    fill_weights(mf, &c);
    return 0;
bad:
    mf->mapped = 0;   // the caller owns the bytes
    model_close(mf);
    return -1;
}

int model_open(ModelFile *mf, const char *path, int flags, char *err, size_t errlen) {
    memset(mf, 0, sizeof *mf);
    size_t size;
    int fd = open_regular(path, &size, err, errlen);
    if (fd < 0) return -1;
    if (size < MODEL_HEADER_BYTES) {   // mmap of an empty file fails; parse gives the message
        uint8_t small[MODEL_HEADER_BYTES];
        ssize_t got = read(fd, small, sizeof small);
        close(fd);
        return model_parse(mf, small, got > 0 ? (size_t)got : 0, path, flags, err, errlen);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return errf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
    if (model_parse(mf, map, size, path, flags | MODEL_MAPPED, err, errlen)) {
        munmap(map, size);
        return -1;
    }
    mf->mapped = 1;
    return 0;
}
