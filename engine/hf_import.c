// Hugging Face Llama / Qwen2 checkpoints: config.json to ModelConfig, safetensors (single or
// sharded) to a Weights view.
#include "engine/hf_import.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/util.h"


static void *own(HfModel *m, size_t bytes) {
    m->owned = realloc(m->owned, sizeof(void *) * (m->n_owned + 1));
    if (!m->owned) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
    return m->owned[m->n_owned++] = xmalloc(bytes);
}

void hf_free(HfModel *m) {
    for (int i = 0; i < m->n_shards; i++) st_close(&m->shards[i]);
    free(m->shards);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    memset(m, 0, sizeof *m);
}

// An integer config field; `dflt` when absent (INT_MIN: required).
static int cfg_int(const cJSON *j, const char *key, int dflt, int *out, const char *path, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) {
        if (dflt == INT_MIN) return errf(err, errlen, "%s: field %s: missing", path, key);
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 || v->valuedouble > (1 << 30))
        return errf(err, errlen, "%s: field %s: not a non-negative integer", path, key);
    *out = (int)v->valuedouble;
    return 0;
}

static int cfg_num(const cJSON *j, const char *key, double dflt, double *out, const char *path, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) { *out = dflt; return 0; }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble <= 0)
        return errf(err, errlen, "%s: field %s: not a positive number", path, key);
    *out = v->valuedouble;
    return 0;
}

static int cfg_bool(const cJSON *j, const char *key, int *out, const char *path, char *err, size_t errlen) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!v || cJSON_IsNull(v)) { *out = 0; return 0; }
    if (!cJSON_IsBool(v)) return errf(err, errlen, "%s: field %s: not true or false", path, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

// rope_scaling as Hugging Face reads it: null or rope_type "default" is plain RoPE; "llama3" is
// applied; any other type is refused. The type is under "rope_type" or, in older configs, "type"
// (HF copies "type" over "rope_type", so two different values are refused as ambiguous).
// --ignore-rope-scaling drops whatever is there and records it in m->rope_scaling.
static int parse_rope_scaling(HfModel *m, const cJSON *rs, const HfLoadOptions *o, const char *path,
                              char *err, size_t errlen) {
    RopeScaling *r = &m->cfg.rope_scaling;
    memset(r, 0, sizeof *r);
    if (!rs || cJSON_IsNull(rs)) return 0;
    const cJSON *rt = cJSON_GetObjectItemCaseSensitive(rs, "rope_type"), *t = cJSON_GetObjectItemCaseSensitive(rs, "type");
    const char *type = cJSON_IsString(t) ? t->valuestring : cJSON_IsString(rt) ? rt->valuestring : NULL;
    int disagree = cJSON_IsString(rt) && cJSON_IsString(t) && strcmp(rt->valuestring, t->valuestring);
    if (type && !strcmp(type, "default") && !disagree) return 0;
    char *txt = cJSON_PrintUnformatted(rs);
    snprintf(m->rope_scaling, sizeof m->rope_scaling, "%s", txt ? txt : "?");
    free(txt);
    if (o->ignore_rope_scaling) return 0;
    if (disagree)
        return errf(err, errlen, "%s: field rope_scaling: rope_type \"%s\" and type \"%s\" disagree", path,
                    rt->valuestring, t->valuestring);
    if (!cJSON_IsObject(rs) || !type || strcmp(type, "llama3"))
        return errf(err, errlen, "%s: field rope_scaling: %s is not applied by the engine "
                    "(--ignore-rope-scaling imports anyway; logits then differ from Hugging Face's)", path, m->rope_scaling);
    m->rope_scaling[0] = 0;   // applied, not ignored
    const char *bad = config_rope_llama3_from_json(r, rs);
    if (bad) return errf(err, errlen, "%s: field rope_scaling.%s (llama3 needs it)", path, bad);
    return 0;
}

static int parse_config(HfModel *m, const cJSON *j, const HfLoadOptions *o, const char *path, char *err, size_t errlen) {
    ModelConfig *c = &m->cfg;
    memset(c, 0, sizeof *c);
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(j, "architectures");
    const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    if (!cJSON_IsString(a0)) return errf(err, errlen, "%s: field architectures: missing or not a list of names", path);
    snprintf(m->arch, sizeof m->arch, "%s", a0->valuestring);
    int qwen = !strcmp(m->arch, "Qwen2ForCausalLM"), llama = !strcmp(m->arch, "LlamaForCausalLM");
    if (!qwen && !llama)
        return errf(err, errlen, "%s: field architectures: %s is not supported (LlamaForCausalLM, Qwen2ForCausalLM)",
                    path, m->arch);
    if (cfg_int(j, "hidden_size", INT_MIN, &c->dim, path, err, errlen) ||
        cfg_int(j, "num_hidden_layers", INT_MIN, &c->n_layers, path, err, errlen) ||
        cfg_int(j, "num_attention_heads", INT_MIN, &c->n_heads, path, err, errlen) ||
        cfg_int(j, "num_key_value_heads", c->n_heads, &c->n_kv_heads, path, err, errlen) ||
        cfg_int(j, "intermediate_size", INT_MIN, &c->ffn_dim, path, err, errlen) ||
        cfg_int(j, "vocab_size", INT_MIN, &c->vocab, path, err, errlen) ||
        cfg_int(j, "max_position_embeddings", 2048, &m->max_position_embeddings, path, err, errlen) ||
        cfg_num(j, "rope_theta", 10000.0, &c->rope_theta, path, err, errlen) ||
        cfg_num(j, "rms_norm_eps", 1e-6, &c->norm_eps, path, err, errlen) ||
        cfg_bool(j, "tie_word_embeddings", &c->tied, path, err, errlen))
        return -1;
    if (c->n_heads > 0 && c->dim % c->n_heads == 0) {
        int head_dim;
        if (cfg_int(j, "head_dim", c->dim / c->n_heads, &head_dim, path, err, errlen)) return -1;
        if (head_dim != c->dim / c->n_heads)
            return errf(err, errlen, "%s: field head_dim: %d, but the engine needs hidden_size / num_attention_heads = %d",
                        path, head_dim, c->dim / c->n_heads);
    }
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu")))
        return errf(err, errlen, "%s: field hidden_act: only silu (SwiGLU) is supported", path);
    int attn_bias, mlp_bias, sliding;
    if (cfg_bool(j, "attention_bias", &attn_bias, path, err, errlen) || cfg_bool(j, "mlp_bias", &mlp_bias, path, err, errlen) ||
        cfg_bool(j, "use_sliding_window", &sliding, path, err, errlen))
        return -1;
    if (llama && attn_bias)   // Llama's attention_bias also adds an o_proj bias, which the engine lacks
        return errf(err, errlen, "%s: field attention_bias: true is not supported for LlamaForCausalLM", path);
    if (mlp_bias) return errf(err, errlen, "%s: field mlp_bias: true is not supported", path);
    if (sliding) return errf(err, errlen, "%s: field use_sliding_window: true is not supported", path);
    c->qkv_bias = qwen;
    if (parse_rope_scaling(m, cJSON_GetObjectItemCaseSensitive(j, "rope_scaling"), o, path, err, errlen)) return -1;
    c->context = o->context > 0 ? o->context : m->max_position_embeddings < 256 ? m->max_position_embeddings : 256;
    if (c->n_layers > SWEEP_MAX_LAYERS)
        return errf(err, errlen, "%s: field num_hidden_layers: %d exceeds the engine's %d", path, c->n_layers, SWEEP_MAX_LAYERS);
    const char *bad = config_check(c);
    if (bad) return errf(err, errlen, "%s: %s", path, bad);
    return 0;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

// Opens the single file or the shards of the index; names[i] gets the shard of each table tensor.
static int open_shards(HfModel *m, const TensorInfo *t, int n, int *shard_of, char *err, size_t errlen) {
    char *single = join(m->dir, "model.safetensors"), *index = join(m->dir, "model.safetensors.index.json");
    int rc = 0;
    if (access(single, F_OK) == 0) {
        m->shards = xcalloc(1, sizeof *m->shards);
        if (st_open(&m->shards[0], single, err, errlen)) rc = -1;
        else m->n_shards = 1;
        for (int i = 0; i < n; i++) shard_of[i] = 0;
    } else if (access(index, F_OK) == 0) {
        size_t len;
        char *txt = read_whole_file(index, &len);
        cJSON *j = txt ? cJSON_ParseWithLength(txt, len) : NULL;
        const cJSON *map = cJSON_GetObjectItemCaseSensitive(j, "weight_map");
        if (!txt) rc = errf(err, errlen, "%s: cannot read: %s", index, strerror(errno));
        else if (!cJSON_IsObject(map)) rc = errf(err, errlen, "%s: field weight_map: missing or not an object", index);
        int cap = cJSON_GetArraySize(map);
        m->shards = xcalloc((size_t)(cap > 0 ? cap : 1), sizeof *m->shards);
        char **names = xcalloc((size_t)(cap > 0 ? cap : 1), sizeof *names);
        for (int i = 0; !rc && i < n; i++) {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(map, t[i].name);
            if (!cJSON_IsString(f)) { rc = errf(err, errlen, "%s: tensor %s: not in weight_map", index, t[i].name); break; }
            if (strchr(f->valuestring, '/') || !strcmp(f->valuestring, "..")) {
                rc = errf(err, errlen, "%s: tensor %s: shard name %s leaves the checkpoint directory", index, t[i].name,
                          f->valuestring);
                break;
            }
            int s = 0;
            while (s < m->n_shards && strcmp(names[s], f->valuestring)) s++;
            if (s == m->n_shards) {
                names[s] = strdup(f->valuestring);
                char *p = join(m->dir, f->valuestring);
                if (st_open(&m->shards[s], p, err, errlen)) rc = -1;
                else m->n_shards++;
                free(p);
            }
            shard_of[i] = s;
        }
        for (int s = 0; s < cap; s++) free(names[s]);
        free(names);
        cJSON_Delete(j);
        free(txt);
    } else {
        rc = errf(err, errlen, "%s: neither model.safetensors nor model.safetensors.index.json", m->dir);
    }
    free(single);
    free(index);
    return rc;
}

int hf_load(HfModel *m, const char *dir, const HfLoadOptions *o, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    char *cfg_path = join(dir, "config.json");
    size_t len;
    char *txt = read_whole_file(cfg_path, &len);
    if (!txt) {
        errf(err, errlen, "%s: cannot read: %s", cfg_path, strerror(errno));
        free(cfg_path);
        return -1;
    }
    cJSON *j = cJSON_ParseWithLength(txt, len);
    free(txt);
    int rc = cJSON_IsObject(j) ? parse_config(m, j, o, cfg_path, err, errlen)
                               : errf(err, errlen, "%s: not a JSON object", cfg_path);
    cJSON_Delete(j);
    free(cfg_path);
    if (rc) return -1;

    char *tok = join(dir, "tokenizer.json");
    if (access(tok, R_OK) == 0) {
        char *abs = realpath(tok, NULL);
        snprintf(m->tokenizer_path, sizeof m->tokenizer_path, "%s", abs ? abs : tok);
        free(abs);
    }
    free(tok);

    const ModelConfig *c = &m->cfg;
    int n = weights_n_tensors(c);
    TensorInfo *t = xmalloc(sizeof *t * n);
    weights_tensors(c, t);
    int *shard_of = xcalloc((size_t)n, sizeof *shard_of);
    rc = open_shards(m, t, n, shard_of, err, errlen);
    memset(&m->w, 0, sizeof m->w);
    m->w.cfg = *c;
    for (int i = 0; !rc && i < n; i++) {
        const StFile *sf = &m->shards[shard_of[i]];
        const StTensor *st = st_find(sf, t[i].name);
        if (!st) {
            rc = errf(err, errlen, "%s: tensor %s: missing", sf->path, t[i].name);
            break;
        }
        if (st->dtype == ST_OTHER) {
            rc = errf(err, errlen, "%s: tensor %s: dtype %s is not supported (F32, F16, BF16)", sf->path, t[i].name,
                      st->dtype_name);
            break;
        }
        int is_vec = t[i].kind == TK_NORM || t[i].kind == TK_BIAS;
        int shape_ok = is_vec ? st->ndim == 1 && st->shape[0] == t[i].rows
                              : st->ndim == 2 && st->shape[0] == t[i].rows && st->shape[1] == t[i].cols;
        if (!shape_ok) {
            char got[128] = "";
            for (int d = 0; d < st->ndim && strlen(got) < 100; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)st->shape[d]);
            rc = is_vec ? errf(err, errlen, "%s: tensor %s: shape [%s], config.json implies [%d]", sf->path, t[i].name, got, t[i].rows)
                        : errf(err, errlen, "%s: tensor %s: shape [%s], config.json implies [%d, %d]", sf->path, t[i].name,
                               got, t[i].rows, t[i].cols);
            break;
        }
        if (t[i].kind == TK_EMBED) m->dtype = st->dtype;
        size_t numel = (size_t)st_numel(st);
        if (is_vec) {
            float *f = xmalloc(sizeof(float) * numel);
            real *v = own(m, sizeof(real) * numel);
            st_to_f32(f, st, 0, numel);
            for (size_t k = 0; k < numel; k++) v[k] = (real)f[k];
            free(f);
            *weights_vec(&m->w, &t[i]) = v;
        } else {
            Mat *mat = weights_mat(&m->w, &t[i]);
            if (st->dtype == ST_BF16) *mat = (Mat){ MAT_BF16, t[i].rows, t[i].cols, st->data, NULL, NULL, NULL, 0 };
            else if (st->dtype == ST_F32 && ((uintptr_t)st->data % 4) == 0)
                *mat = (Mat){ MAT_F32, t[i].rows, t[i].cols, st->data, NULL, NULL, NULL, 0 };
            else {   // f16 (or a misaligned f32) becomes an exact float copy
                float *f = own(m, sizeof(float) * numel);
                st_to_f32(f, st, 0, numel);
                *mat = (Mat){ MAT_F32, t[i].rows, t[i].cols, f, NULL, NULL, NULL, 0 };
            }
        }
    }
    if (!rc && c->tied) m->w.head = m->w.embed;
    free(t);
    free(shard_of);
    if (rc) hf_free(m);
    return rc;
}

char *hf_source_text(const HfModel *m) {
    char *abs = realpath(m->dir, NULL), buf[2048];
    snprintf(buf, sizeof buf, "Hugging Face %s from %s (%s, max_position_embeddings %d)%s%s", m->arch,
             abs ? abs : m->dir, st_dtype_name(m->dtype), m->max_position_embeddings,
             m->rope_scaling[0] ? "; rope_scaling ignored: " : "", m->rope_scaling);
    free(abs);
    return strdup(buf);
}

char *hf_tokenizer_json(const HfModel *m) {
    if (!m->tokenizer_path[0]) return NULL;
    size_t len;
    char *txt = read_whole_file(m->tokenizer_path, &len);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", "huggingface");
    cJSON_AddStringToObject(o, "path", m->tokenizer_path);
    if (txt) {
        char hex[17];
        snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv1a64(txt, len, FNV1A64_INIT));
        cJSON_AddStringToObject(o, "fnv1a64", hex);
    }
    free(txt);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}
