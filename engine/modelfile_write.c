// Model files: writing a Weights view (any storage types) to a file, converting tensors as asked.
#include "engine/modelfile.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/int4.h"
#include "engine/modelfile_impl.h"
#include "engine/ternary.h"
#include "engine/util.h"

void model_write_options_default(ModelWriteOptions *o) {
    *o = (ModelWriteOptions){ .matrix_dtype = MAT_F32, .embed_dtype = MAT_F32, .head_dtype = MAT_F32,
                              .vector_dtype = MAT_F32 };
}

static cJSON *config_json(const ModelConfig *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "dim", c->dim);
    cJSON_AddNumberToObject(o, "n_layers", c->n_layers);
    cJSON_AddNumberToObject(o, "n_heads", c->n_heads);
    cJSON_AddNumberToObject(o, "n_kv_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(o, "ffn_dim", c->ffn_dim);
    cJSON_AddNumberToObject(o, "vocab", c->vocab);
    cJSON_AddNumberToObject(o, "context", c->context);
    cJSON_AddNumberToObject(o, "rope_theta", c->rope_theta);
    cJSON_AddNumberToObject(o, "norm_eps", c->norm_eps);
    cJSON_AddBoolToObject(o, "tied", c->tied);
    cJSON_AddBoolToObject(o, "qkv_bias", c->qkv_bias);
    if (c->rope_scaling.type == ROPE_SCALING_LLAMA3) {   // absent when none: older readers and files agree
        cJSON *r = cJSON_AddObjectToObject(o, "rope_scaling");
        cJSON_AddStringToObject(r, "rope_type", "llama3");
        cJSON_AddNumberToObject(r, "factor", c->rope_scaling.factor);
        cJSON_AddNumberToObject(r, "low_freq_factor", c->rope_scaling.low_freq_factor);
        cJSON_AddNumberToObject(r, "high_freq_factor", c->rope_scaling.high_freq_factor);
        cJSON_AddNumberToObject(r, "original_max_position_embeddings", c->rope_scaling.original_max_pos);
    }
    return o;
}

static const char *kind_dtype_key(TensorKind k) {
    return k == TK_EMBED ? "embed" : k == TK_HEAD ? "head" : k == TK_MATRIX ? "matrices" : "vectors";
}

typedef struct {
    TensorInfo info;
    MatType dtype;
    size_t offset, nbytes;   // offset from the data start
    uint64_t checksum;
    int group;               // MAT_INT4: inputs per scale
    const Mat *src;          // matrices
    const real *vec;         // vectors
} WriteTensor;

static char *metadata_text(const ModelConfig *c, const ModelWriteOptions *o, const WriteTensor *wt, int n,
                           char *err, size_t errlen) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", "sweep model");
    cJSON_AddItemToObject(root, "config", config_json(c));
    cJSON *tok = o->tokenizer_json ? cJSON_Parse(o->tokenizer_json) : cJSON_CreateNull();
    if (!tok) {
        cJSON_Delete(root);
        errf(err, errlen, "tokenizer metadata is not valid JSON");
        return NULL;
    }
    cJSON_AddItemToObject(root, "tokenizer", tok);
    cJSON *q = cJSON_AddObjectToObject(root, "quantization");
    int any_ternary = 0, int4_group = 0;
    for (int i = 0; i < n; i++) {
        const char *key = kind_dtype_key(wt[i].info.kind);
        if (!cJSON_GetObjectItemCaseSensitive(q, key)) cJSON_AddStringToObject(q, key, model_dtype_name(wt[i].dtype));
        any_ternary |= wt[i].dtype == MAT_TERNARY;
        if (wt[i].dtype == MAT_INT4) int4_group = wt[i].group;
    }
    if (int4_group) {
        char text[512];
        snprintf(text, sizeof text, "integers q in [-7, 7] times one float scale per group of %d consecutive inputs "
                 "of a row (symmetric absmax, round to nearest even): scale = max|w_group| / 7, q = clamp(round(w / "
                 "scale), -7, 7); data = float32 scale[rows][groups], then 2 values per byte as q + 8, the even "
                 "input in the low nibble, each row starting on a byte", int4_group);
        cJSON_AddStringToObject(q, "int4", text);
        cJSON_AddNumberToObject(q, "int4_group", int4_group);
    }
    if (any_ternary)
        cJSON_AddStringToObject(q, "ternary",
            "trits {-1,0,+1} times one absmean scale per output row (BitNet b1.58 per row): "
            "trit = clamp(round(w / mean|w_row|), -1, 1); data = float32 scale[rows], then 5 trits per "
            "byte as base-3 digits (trit + 1), lowest digit first, each row starting on a byte");
    if (o->source) cJSON_AddStringToObject(root, "source", o->source);
    if (o->pruning_json) {
        cJSON *pr = cJSON_Parse(o->pruning_json);
        if (!cJSON_IsObject(pr)) {
            cJSON_Delete(pr);
            cJSON_Delete(root);
            errf(err, errlen, "pruning metadata is not a JSON object");
            return NULL;
        }
        cJSON_AddItemToObject(root, "pruning", pr);
    }
    cJSON *arr = cJSON_AddArrayToObject(root, "tensors");
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", wt[i].info.name);
        cJSON_AddStringToObject(e, "dtype", model_dtype_name(wt[i].dtype));
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(wt[i].info.rows));
        if (wt[i].info.kind != TK_NORM && wt[i].info.kind != TK_BIAS)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber(wt[i].info.cols));
        cJSON_AddNumberToObject(e, "offset", (double)wt[i].offset);
        cJSON_AddNumberToObject(e, "nbytes", (double)wt[i].nbytes);
        if (wt[i].dtype == MAT_INT4) cJSON_AddNumberToObject(e, "group", wt[i].group);
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)wt[i].checksum);
        cJSON_AddStringToObject(e, "fnv1a64", hex);
        cJSON_AddItemToArray(arr, e);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

typedef struct {
    FILE *f;
    uint64_t hash;
    int failed;
} Sink;

static void sink_write(Sink *s, const void *p, size_t n) {
    s->hash = fnv1a64(p, n, s->hash);
    if (!s->failed && fwrite(p, 1, n, s->f) != n) s->failed = 1;
}

// Streams one tensor in its target dtype, converting row by row from any source storage.
static void write_tensor(Sink *s, const WriteTensor *t) {
    int rows = t->info.rows, cols = t->info.cols;
    if (t->vec) {
        for (int r = 0; r < rows; r++) {
            float f = (float)t->vec[r];
            if (t->dtype == MAT_BF16) { uint16_t h = f32_to_bf16(f); sink_write(s, &h, 2); }
            else sink_write(s, &f, 4);
        }
        return;
    }
    const Mat *m = t->src;
    if (m->type == t->dtype && m->type != MAT_REAL && (m->type != MAT_INT4 || m->group == t->group)) {
        // same storage: bytes pass through unchanged
        if (m->type == MAT_INT4) {
            sink_write(s, m->scale, int4_scale_bytes(rows, cols, m->group));
            sink_write(s, m->data, int4_packed_bytes(rows, cols));
        } else if (m->type == MAT_TERNARY) {
            sink_write(s, m->scale, (size_t)rows * 4);
            sink_write(s, m->data, ternary_packed_bytes(rows, cols));
        } else {
            sink_write(s, m->data, model_dtype_bytes(m->type, rows, cols));
        }
        return;
    }
    real *row = xmalloc(sizeof(real) * cols);
    float *f = xmalloc(sizeof(float) * cols);
    if (t->dtype == MAT_TERNARY) {
        size_t rb = ternary_packed_bytes(1, cols);
        float *scale = xmalloc(sizeof(float) * rows);
        uint8_t *packed = xmalloc(rb * rows);
        for (int r = 0; r < rows; r++) {
            mat_decode_row(row, m, r);
            for (int c = 0; c < cols; c++) f[c] = (float)row[c];
            ternary_quantize_rows(packed + rb * r, scale + r, f, 1, cols);
        }
        sink_write(s, scale, (size_t)rows * 4);
        sink_write(s, packed, rb * rows);
        free(scale);
        free(packed);
    } else if (t->dtype == MAT_INT4) {
        size_t ng = (size_t)int4_groups(cols, t->group), rb = int4_packed_bytes(1, cols);
        float *scale = xmalloc(sizeof(float) * ng * rows);
        uint8_t *packed = xmalloc(rb * rows);
        for (int r = 0; r < rows; r++) {
            mat_decode_row(row, m, r);
            for (int c = 0; c < cols; c++) f[c] = (float)row[c];
            int4_quantize_rows(packed + rb * r, scale + ng * r, f, 1, cols, t->group);
        }
        sink_write(s, scale, sizeof(float) * ng * rows);
        sink_write(s, packed, rb * rows);
        free(scale);
        free(packed);
    } else {
        uint16_t *h = xmalloc(sizeof(uint16_t) * cols);
        for (int r = 0; r < rows; r++) {
            mat_decode_row(row, m, r);
            for (int c = 0; c < cols; c++) f[c] = (float)row[c];
            if (t->dtype == MAT_BF16) {
                for (int c = 0; c < cols; c++) h[c] = f32_to_bf16(f[c]);
                sink_write(s, h, sizeof(uint16_t) * cols);
            } else {
                sink_write(s, f, sizeof(float) * cols);
            }
        }
        free(h);
    }
    free(row);
    free(f);
}

static void write_header(uint8_t *hdr, size_t meta_len, size_t data_off, size_t file_size, uint64_t meta_sum) {
    memset(hdr, 0, MODEL_HEADER_BYTES);
    memcpy(hdr, MODEL_MAGIC, 8);
    put_u32(hdr + 8, MODEL_VERSION);
    put_u64(hdr + 16, meta_len);
    put_u64(hdr + 24, data_off);
    put_u64(hdr + 32, file_size);
    put_u64(hdr + HEADER_META_CHECKSUM, meta_sum);
}

int model_write(const char *path, const Weights *w, const ModelWriteOptions *o, char *err, size_t errlen) {
    const ModelConfig *c = &w->cfg;
    const char *bad = config_check(c);
    if (bad) return errf(err, errlen, "%s: config: %s", path, bad);
    if (c->n_layers > SWEEP_MAX_LAYERS) return errf(err, errlen, "%s: config: more than %d layers", path, SWEEP_MAX_LAYERS);
    MatType allowed_vec = o->vector_dtype;
    if (allowed_vec != MAT_F32 && allowed_vec != MAT_BF16)
        return errf(err, errlen, "%s: norms and biases must be f32 or bf16", path);
    int n = weights_n_tensors(c);
    TensorInfo *info = xmalloc(sizeof *info * n);
    weights_tensors(c, info);
    WriteTensor *wt = xcalloc((size_t)n, sizeof *wt);
    Weights view = *w;   // weights_mat/vec take a mutable view; nothing is written through it
    size_t off = 0;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        wt[i].info = info[i];
        TensorKind k = info[i].kind;
        if (k == TK_NORM || k == TK_BIAS) {
            wt[i].vec = *weights_vec(&view, &info[i]);
            wt[i].dtype = o->vector_dtype;
            if (!wt[i].vec) { rc = errf(err, errlen, "%s: tensor %s: no data in the weights view", path, info[i].name); break; }
        } else {
            wt[i].src = weights_mat(&view, &info[i]);
            wt[i].dtype = k == TK_EMBED ? o->embed_dtype : k == TK_HEAD ? o->head_dtype : o->matrix_dtype;
            if (!wt[i].src || !wt[i].src->data || wt[i].src->rows != info[i].rows || wt[i].src->cols != info[i].cols) {
                rc = errf(err, errlen, "%s: tensor %s: missing or shaped unlike the config", path, info[i].name);
                break;
            }
            if (wt[i].dtype != MAT_F32 && wt[i].dtype != MAT_BF16 && wt[i].dtype != MAT_TERNARY && wt[i].dtype != MAT_INT4) {
                rc = errf(err, errlen, "%s: tensor %s: dtype must be f32, bf16, ternary or int4", path, info[i].name);
                break;
            }
            if (wt[i].dtype == MAT_INT4) {
                wt[i].group = o->int4_group ? o->int4_group : INT4_GROUP_DEFAULT;
                if (int4_group_check(wt[i].group)) {
                    rc = errf(err, errlen, "%s: int4 group %d: not an even number in [2, 65536]", path, wt[i].group);
                    break;
                }
            }
        }
        wt[i].nbytes = model_tensor_bytes(wt[i].dtype, info[i].rows, info[i].cols, wt[i].group);
        wt[i].offset = off;
        off = align_up(off + wt[i].nbytes);
    }
    free(info);
    if (rc) { free(wt); return -1; }
    size_t data_bytes = off;

    // Checksums are fixed-width hex, so the metadata has the same length before and after them.
    char *meta = metadata_text(c, o, wt, n, err, errlen);
    if (!meta) { free(wt); return -1; }
    size_t meta_len = strlen(meta), data_off = align_up(MODEL_HEADER_BYTES + meta_len);
    size_t file_size = data_off + data_bytes;

    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) { free(meta); free(wt); return errf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno)); }
    static const uint8_t zeros[MODEL_ALIGN];
    uint8_t hdr[MODEL_HEADER_BYTES];
    write_header(hdr, meta_len, data_off, file_size, 0);
    Sink s = { f, 0, 0 };
    sink_write(&s, hdr, sizeof hdr);
    sink_write(&s, meta, meta_len);
    sink_write(&s, zeros, data_off - MODEL_HEADER_BYTES - meta_len);
    size_t at = 0;
    for (int i = 0; i < n && !s.failed; i++) {
        sink_write(&s, zeros, wt[i].offset - at);
        s.hash = FNV1A64_INIT;
        write_tensor(&s, &wt[i]);
        wt[i].checksum = s.hash;
        at = wt[i].offset + wt[i].nbytes;
    }
    sink_write(&s, zeros, data_bytes - at);
    free(meta);
    meta = s.failed ? NULL : metadata_text(c, o, wt, n, err, errlen);
    if (meta && strlen(meta) == meta_len) {
        write_header(hdr, meta_len, data_off, file_size, fnv1a64(meta, meta_len, FNV1A64_INIT));
        if (fseek(f, 0, SEEK_SET) || fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr || fwrite(meta, 1, meta_len, f) != meta_len)
            s.failed = 1;
    } else {
        s.failed = 1;
    }
    free(meta);
    free(wt);
    if (fflush(f) || fsync(fileno(f))) s.failed = 1;
    if (fclose(f)) s.failed = 1;
    if (s.failed || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return errf(err, errlen, "%s: write failed: %s", path, strerror(e ? e : EIO));
    }
    return 0;
}
