// Adapters: the trainable block of one job, its layout per format, and its file format.
#include "engine/adapter.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/rng.h"
#include "engine/util.h"

// Stream id of LoRA initialisation within a job's seed ("LORA"), apart from batches.
#define STREAM_LORA_INIT 0x4c4f5241ULL

static const char *const format_names[] = { "none", "norm", "lora", "full", "steer" };
enum { N_FORMATS = 5 };
static const char *const target_names[LORA_N_TARGETS] = { "q", "k", "v", "o", "gate", "up", "down" };

const char *format_name(AdapterFormat f) {
    return (unsigned)f < N_FORMATS ? format_names[f] : "unknown";
}

int format_parse(const char *s, AdapterFormat *f) {
    for (int i = 0; i < N_FORMATS; i++)
        if (!strcmp(s, format_names[i])) { *f = (AdapterFormat)i; return 0; }
    return -1;
}

int lora_targets_parse(const char *s, unsigned *targets) {
    unsigned bits = 0;
    const char *p = s;
    if (!strcmp(s, "all")) { *targets = LORA_ALL; return 0; }
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int i = 0; i < LORA_N_TARGETS; i++)
            if (strlen(target_names[i]) == len && !strncmp(p, target_names[i], len)) found = i;
        if (found < 0) return -1;
        bits |= 1u << found;
        p += len;
        if (*p == ',') p++;
    }
    if (!bits) return -1;
    *targets = bits;
    return 0;
}

static int steer_has(const SteerSpec *s, int l) { return (int)((s->layers[l / 64] >> (l % 64)) & 1); }

int steer_layers_parse(const char *s, SteerSpec *steer) {
    SteerSpec out = { { 0 } };
    if (!strcmp(s, "last")) { *steer = out; return 0; }
    const char *p = s;
    while (*p) {
        if (*p < '0' || *p > '9') return -1;
        char *end;
        long l = strtol(p, &end, 10);
        if (l >= SWEEP_MAX_LAYERS || (*end && *end != ',') || (*end == ',' && !end[1])) return -1;
        out.layers[l / 64] |= 1ULL << (l % 64);
        p = *end ? end + 1 : end;
    }
    if (!steer_layers_count(&out)) return -1;
    *steer = out;
    return 0;
}

int steer_layers_count(const SteerSpec *steer) {
    int k = 0;
    for (int l = 0; l < SWEEP_MAX_LAYERS; l++) k += steer_has(steer, l);
    return k;
}

int steer_layers_lowest(const SteerSpec *steer) {
    for (int l = 0; l < SWEEP_MAX_LAYERS; l++)
        if (steer_has(steer, l)) return l;
    return -1;
}

int steer_layers_highest(const SteerSpec *steer) {
    for (int l = SWEEP_MAX_LAYERS - 1; l >= 0; l--)
        if (steer_has(steer, l)) return l;
    return -1;
}

void steer_layers_format(const SteerSpec *steer, char *out, size_t len) {
    size_t o = 0;
    if (len) out[0] = 0;
    if (!steer_layers_count(steer)) { snprintf(out, len, "last"); return; }
    for (int l = 0; l < SWEEP_MAX_LAYERS; l++)
        if (steer_has(steer, l) && o < len) o += (size_t)snprintf(out + o, len - o, "%s%d", o ? "," : "", l);
}

void lora_target_shape(const ModelConfig *c, int t, int *out, int *in) {
    int hd = config_head_dim(c), qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    static const int kind[LORA_N_TARGETS] = { 0, 1, 1, 2, 3, 3, 4 };
    switch (kind[t]) {
    case 0: *out = qd; *in = c->dim; break;
    case 1: *out = kvd; *in = c->dim; break;
    case 2: *out = c->dim; *in = qd; break;
    case 3: *out = c->ffn_dim; *in = c->dim; break;
    default: *out = c->dim; *in = c->ffn_dim; break;
    }
}

int lora_widest_out(const ModelConfig *c) {
    int widest = 0, out, in;
    for (int t = 0; t < LORA_N_TARGETS; t++) {
        lora_target_shape(c, t, &out, &in);
        widest = out > widest ? out : widest;
    }
    return widest;
}

static size_t format_count(AdapterFormat f, const LoraSpec *lora, const SteerSpec *steer, const ModelConfig *c) {
    switch (f) {
    case FMT_NONE: return 0;
    case FMT_STEER: return (size_t)steer_layers_count(steer) * c->dim;
    case FMT_NORM: return (size_t)config_n_norm_gains(c);
    case FMT_FULL: return config_n_params(c);
    case FMT_LORA: {
        size_t n = 0;
        for (int t = 0; t < LORA_N_TARGETS; t++) {
            if (!(lora->targets & (1u << t))) continue;
            int out, in;
            lora_target_shape(c, t, &out, &in);
            n += (size_t)lora->rank * (in + out);
        }
        return n * c->n_layers;
    }
    }
    return 0;
}

// The steer set of a base: the empty set resolved to the last block; -1 when a block is past the last.
static int steer_resolve(SteerSpec *out, const SteerSpec *steer, const ModelConfig *c) {
    *out = steer ? *steer : (SteerSpec){ { 0 } };
    if (!steer_layers_count(out)) out->layers[(c->n_layers - 1) / 64] |= 1ULL << ((c->n_layers - 1) % 64);
    return steer_layers_highest(out) >= c->n_layers ? -1 : 0;
}

// Allocates the block (params then grads, one allocation) and carves the views; values not set.
static int adapter_layout(Adapter *a, AdapterFormat f, const LoraSpec *lora, const SteerSpec *steer,
                          const ModelConfig *c) {
    memset(a, 0, sizeof *a);
    if ((unsigned)f > FMT_STEER || config_check(c) || c->n_layers > SWEEP_MAX_LAYERS) { errno = EINVAL; return -1; }
    if (f == FMT_LORA && (!lora || lora->rank <= 0 || !(lora->alpha > 0) || !lora->targets ||
                          (lora->targets & ~(unsigned)LORA_ALL))) { errno = EINVAL; return -1; }
    if (f == FMT_STEER && steer_resolve(&a->steer, steer, c)) { errno = EINVAL; return -1; }
    a->format = f;
    a->cfg = *c;
    if (f == FMT_LORA) a->lora = *lora;
    a->n = format_count(f, lora, &a->steer, c);
    a->params = xaligned(2 * a->n * sizeof(real));
    a->grads = a->params + a->n;
    int d = c->dim, L = c->n_layers;
    if (f == FMT_NORM) {
        a->attn_norm = a->params;
        a->ffn_norm = a->params + (size_t)L * d;
        a->final_norm = a->params + (size_t)2 * L * d;
    } else if (f == FMT_FULL) {
        weights_carve(&a->full, c, a->params);
    } else if (f == FMT_STEER) {
        size_t off = 0;
        for (int l = 0; l < L; l++)
            if (steer_has(&a->steer, l)) { a->steer_vec[l] = a->params + off; off += (size_t)d; }
    } else if (f == FMT_LORA) {
        size_t off = 0;
        int r = lora->rank;
        a->lora_scale = lora->alpha / r;
        for (int l = 0; l < L; l++)
            for (int t = 0; t < LORA_N_TARGETS; t++) {
                if (!(lora->targets & (1u << t))) continue;
                int out, in;
                lora_target_shape(c, t, &out, &in);
                LoraPair *p = &a->lora_w[l][t];
                p->A = a->params + off;
                p->dA = a->grads + off;
                off += (size_t)r * in;
                p->B = a->params + off;
                p->dB = a->grads + off;
                off += (size_t)r * out;
            }
    }
    return 0;
}

int adapter_init_steer(Adapter *a, const SteerSpec *steer, const Weights *base) {
    return adapter_layout(a, FMT_STEER, NULL, steer, &base->cfg);   // zero vectors (xaligned zeroes)
}

int adapter_init(Adapter *a, AdapterFormat f, const LoraSpec *lora, const Weights *base, uint64_t seed) {
    const ModelConfig *c = &base->cfg;
    if (adapter_layout(a, f, lora, NULL, c)) return -1;
    int d = c->dim, L = c->n_layers;
    if (f == FMT_NORM) {
        for (int l = 0; l < L; l++) {
            memcpy(a->attn_norm + (size_t)l * d, base->layer[l].attn_norm, d * sizeof(real));
            memcpy(a->ffn_norm + (size_t)l * d, base->layer[l].ffn_norm, d * sizeof(real));
        }
        memcpy(a->final_norm, base->final_norm, d * sizeof(real));
    } else if (f == FMT_FULL) {
        int nt = weights_n_tensors(c);
        TensorInfo t[nt];
        weights_tensors(c, t);
        Weights *src = (Weights *)base;   // weights_mat only computes addresses; nothing is written
        for (int i = 0; i < nt; i++) {
            real *dst = a->params + t[i].offset;
            Mat *m = weights_mat(src, &t[i]);
            if (m) mat_decode_rows(dst, m, 0, m->rows);
            else memcpy(dst, *weights_vec(src, &t[i]), (size_t)t[i].rows * sizeof(real));
        }
    } else if (f == FMT_LORA) {
        Rng rng;
        rng_seed_stream(&rng, seed, STREAM_LORA_INIT);
        for (int l = 0; l < L; l++)
            for (int t = 0; t < LORA_N_TARGETS; t++) {
                LoraPair *p = &a->lora_w[l][t];
                if (!p->A) continue;
                int out, in;
                lora_target_shape(c, t, &out, &in);
                // kaiming_uniform_(a = sqrt(5)) on [r][in], as nn.Linear and PEFT: bound = 1/sqrt(in)
                double bound = 1.0 / sqrt((double)in);
                real *A = (real *)p->A;
                for (long i = 0; i < (long)lora->rank * in; i++)
                    A[i] = (real)((2 * rng_uniform(&rng) - 1) * bound);
                // B stays zero (xaligned zeroes): the adapter starts as the identity
            }
    }
    return 0;
}

void adapter_free(Adapter *a) {
    free(a->params);
    free(a->m);
    free(a->v);
    memset(a, 0, sizeof *a);
}

void adapter_zero_grad(Adapter *a) {
    if (a->n) memset(a->grads, 0, a->n * sizeof(real));
}

void adapter_apply(const Adapter *a, const Weights *base, Weights *eff) {
    if (a && a->format == FMT_FULL) {
        *eff = a->full;
        eff->mc = base->mc;   // the trained copies are multiplied in the base's context
        return;
    }
    *eff = *base;
    if (!a || a->format != FMT_NORM) return;
    int d = a->cfg.dim;
    for (int l = 0; l < a->cfg.n_layers; l++) {
        eff->layer[l].attn_norm = a->attn_norm + (size_t)l * d;
        eff->layer[l].ffn_norm = a->ffn_norm + (size_t)l * d;
    }
    eff->final_norm = a->final_norm;
}

void adapter_tensor_name(const Adapter *a, size_t i, char *out, size_t len) {
    static const char *const modules[LORA_N_TARGETS] = { "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                         "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
                                                         "mlp.down_proj" };
    const ModelConfig *c = &a->cfg;
    size_t d = (size_t)c->dim, L = (size_t)c->n_layers;
    if (len) out[0] = 0;
    if (i >= a->n) return;
    if (a->format == FMT_NORM) {
        if (i < 2 * L * d)
            snprintf(out, len, "model.layers.%zu.%s.weight", i % (L * d) / d,
                     i < L * d ? "input_layernorm" : "post_attention_layernorm");
        else
            snprintf(out, len, "model.norm.weight");
    } else if (a->format == FMT_FULL) {
        int nt = weights_n_tensors(c);
        TensorInfo t[nt];
        weights_tensors(c, t);
        for (int k = 0; k < nt; k++)
            if (i >= t[k].offset && i < t[k].offset + (size_t)t[k].rows * (size_t)t[k].cols)
                snprintf(out, len, "%s", t[k].name);
    } else if (a->format == FMT_STEER) {
        for (int l = 0; l < c->n_layers; l++)
            if (a->steer_vec[l] && i >= (size_t)(a->steer_vec[l] - a->params) &&
                i < (size_t)(a->steer_vec[l] - a->params) + d)
                snprintf(out, len, "steer.%d", l);
    } else if (a->format == FMT_LORA) {
        for (int l = 0; l < c->n_layers; l++)
            for (int t = 0; t < LORA_N_TARGETS; t++) {
                const LoraPair *p = &a->lora_w[l][t];
                if (!p->A) continue;
                int rows, cols;
                lora_target_shape(c, t, &rows, &cols);
                size_t ao = (size_t)(p->A - a->params), bo = (size_t)(p->B - a->params), r = (size_t)a->lora.rank;
                if (i >= ao && i < ao + r * (size_t)cols)
                    snprintf(out, len, "model.layers.%d.%s.lora_A.weight", l, modules[t]);
                else if (i >= bo && i < bo + r * (size_t)rows)
                    snprintf(out, len, "model.layers.%d.%s.lora_B.weight", l, modules[t]);
            }
    }
}

double adapter_max_change(const Adapter *a, const Adapter *init, size_t *at) {
    if (at) *at = 0;
    if (a->format != init->format || a->n != init->n) return NAN;
    double best = 0;
    for (size_t i = 0; i < a->n; i++) {
        double d = fabs((double)a->params[i] - (double)init->params[i]);
        if (!isfinite(d)) {
            if (at) *at = i;
            return NAN;
        }
        if (d > best) {
            best = d;
            if (at) *at = i;
        }
    }
    return best;
}

size_t adapter_bytes(const Adapter *a, int bytes_per_scalar) {
    return a->n * (size_t)bytes_per_scalar;
}

// ---- files ----------------------------------------------------------------------------------
// Layout (little-endian): "SWAD", u32 version, u32 format, i32 dim, n_layers, n_heads, n_kv_heads,
// ffn_dim, vocab, tied, qkv_bias, lora rank, f64 lora alpha, u32 lora targets, u64 count,
// count x f32 block, u64 FNV-1a of every byte before it. A steer file (format 4) has its block set
// between the count and the block: STEER_WORDS x u64, bit l of word l / 64 for block l, the block's
// vectors in increasing block order; other formats' files are unchanged.

#define ADAPTER_MAGIC "SWAD"
#define ADAPTER_VERSION 1u

typedef struct {
    char magic[4];
    uint32_t version, format;
    int32_t dim, n_layers, n_heads, n_kv_heads, ffn_dim, vocab, tied, qkv_bias, rank;
    double alpha;
    uint32_t targets;
    uint64_t count;
} AdapterHeader;

// Serialised field by field, so struct padding never reaches the file.
static size_t header_pack(unsigned char *out, const AdapterHeader *h) {
    size_t o = 0;
#define PUT(x) (memcpy(out + o, &(x), sizeof(x)), o += sizeof(x))
    PUT(h->magic); PUT(h->version); PUT(h->format);
    PUT(h->dim); PUT(h->n_layers); PUT(h->n_heads); PUT(h->n_kv_heads); PUT(h->ffn_dim);
    PUT(h->vocab); PUT(h->tied); PUT(h->qkv_bias); PUT(h->rank); PUT(h->alpha); PUT(h->targets);
    PUT(h->count);
#undef PUT
    return o;
}

static size_t header_unpack(AdapterHeader *h, const unsigned char *in) {
    size_t o = 0;
#define GET(x) (memcpy(&(x), in + o, sizeof(x)), o += sizeof(x))
    GET(h->magic); GET(h->version); GET(h->format);
    GET(h->dim); GET(h->n_layers); GET(h->n_heads); GET(h->n_kv_heads); GET(h->ffn_dim);
    GET(h->vocab); GET(h->tied); GET(h->qkv_bias); GET(h->rank); GET(h->alpha); GET(h->targets);
    GET(h->count);
#undef GET
    return o;
}

#define HEADER_BYTES (4 + 4 * 2 + 4 * 9 + 8 + 4 + 8)

int adapter_save(const Adapter *a, const char *path, char *err, size_t errlen) {
    AdapterHeader h = {
        .magic = { 'S', 'W', 'A', 'D' }, .version = ADAPTER_VERSION, .format = a->format,
        .dim = a->cfg.dim, .n_layers = a->cfg.n_layers, .n_heads = a->cfg.n_heads,
        .n_kv_heads = a->cfg.n_kv_heads, .ffn_dim = a->cfg.ffn_dim, .vocab = a->cfg.vocab,
        .tied = a->cfg.tied, .qkv_bias = a->cfg.qkv_bias,
        .rank = a->format == FMT_LORA ? a->lora.rank : 0,
        .alpha = a->format == FMT_LORA ? a->lora.alpha : 0,
        .targets = a->format == FMT_LORA ? a->lora.targets : 0, .count = a->n,
    };
    size_t ext = a->format == FMT_STEER ? sizeof a->steer.layers : 0;
    size_t total = HEADER_BYTES + ext + a->n * sizeof(float) + sizeof(uint64_t);
    unsigned char *buf = xmalloc(total);
    size_t o = header_pack(buf, &h);
    memcpy(buf + o, a->steer.layers, ext);
    o += ext;
    for (size_t i = 0; i < a->n; i++) {
        float f = (float)a->params[i];
        memcpy(buf + o, &f, sizeof f);
        o += sizeof f;
    }
    uint64_t sum = fnv1a64(buf, o, FNV1A64_INIT);
    memcpy(buf + o, &sum, sizeof sum);
    // Written beside the target and renamed, so a reader never sees half a file.
    size_t plen = strlen(path) + 8;
    char *tmp = xmalloc(plen);
    snprintf(tmp, plen, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(buf, 1, total, f) == total;
    if (f && fclose(f)) ok = 0;
    if (ok && rename(tmp, path)) ok = 0;
    if (!ok) {
        snprintf(err, errlen, "%s: cannot write adapter: %s", path, strerror(errno));
        remove(tmp);
    }
    free(tmp);
    free(buf);
    return ok ? 0 : -1;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); free(buf); return -1; } while (0)

int adapter_load(Adapter *a, const char *path, const Weights *base, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    size_t len = 0;
    unsigned char *buf = (unsigned char *)read_whole_file(path, &len);
    if (!buf) {
        snprintf(err, errlen, "%s: cannot read adapter: %s", path, strerror(errno));
        return -1;
    }
    if (len < HEADER_BYTES) FAIL("%s: field 'header': file is %zu bytes, shorter than the %d-byte header",
                                 path, len, HEADER_BYTES);
    AdapterHeader h;
    header_unpack(&h, buf);
    const ModelConfig *c = &base->cfg;
    if (memcmp(h.magic, ADAPTER_MAGIC, 4)) FAIL("%s: field 'magic': not an adapter file (expected \"SWAD\")", path);
    if (h.version != ADAPTER_VERSION) FAIL("%s: field 'version': %u, this build reads %u", path, h.version, ADAPTER_VERSION);
    if (h.format > FMT_STEER) FAIL("%s: field 'format': unknown format %u", path, h.format);
#define SHAPE(field) \
    if (h.field != c->field) FAIL("%s: field '" #field "': %d, the base has %d", path, (int)h.field, c->field)
    SHAPE(dim); SHAPE(n_layers); SHAPE(n_heads); SHAPE(n_kv_heads); SHAPE(ffn_dim); SHAPE(vocab);
    SHAPE(tied); SHAPE(qkv_bias);
#undef SHAPE
    LoraSpec lora = { 0, 0, 0 };
    if (h.format == FMT_LORA) {
        if (h.rank <= 0 || h.rank > 1 << 20) FAIL("%s: field 'lora.rank': %d is not a rank", path, h.rank);
        if (!(h.alpha > 0) || !isfinite(h.alpha)) FAIL("%s: field 'lora.alpha': %g is not a positive number", path, h.alpha);
        if (!h.targets || (h.targets & ~(unsigned)LORA_ALL))
            FAIL("%s: field 'lora.targets': bits 0x%x are not a set of q k v o gate up down", path, h.targets);
        lora = (LoraSpec){ h.rank, h.alpha, h.targets };
    } else if (h.rank || h.alpha != 0 || h.targets) {
        FAIL("%s: field 'lora.rank': set on a %s adapter", path, format_name((AdapterFormat)h.format));
    }
    SteerSpec steer = { { 0 } };
    size_t ext = h.format == FMT_STEER ? sizeof steer.layers : 0;
    if (len < HEADER_BYTES + ext) FAIL("%s: field 'steer.layers': file is %zu bytes, too short for the block set", path, len);
    memcpy(steer.layers, buf + HEADER_BYTES, ext);
    if (h.format == FMT_STEER) {
        SteerSpec resolved;
        if (!steer_layers_count(&steer) || steer_resolve(&resolved, &steer, c))
            FAIL("%s: field 'steer.layers': empty, or a block past the base's last (%d)", path, c->n_layers - 1);
    }
    size_t expect = format_count((AdapterFormat)h.format, &lora, &steer, c);
    if (h.count != expect)
        FAIL("%s: field 'count': %llu scalars, a %s adapter of this base has %zu", path,
             (unsigned long long)h.count, format_name((AdapterFormat)h.format), expect);
    size_t want = HEADER_BYTES + ext + expect * sizeof(float) + sizeof(uint64_t);
    if (len != want) FAIL("%s: field 'block': file is %zu bytes, expected %zu (truncated or trailing data)",
                          path, len, want);
    uint64_t stored;
    memcpy(&stored, buf + len - sizeof stored, sizeof stored);
    if (stored != fnv1a64(buf, len - sizeof stored, FNV1A64_INIT))
        FAIL("%s: field 'checksum': FNV-1a mismatch, the file is corrupted", path);
    const unsigned char *block = buf + HEADER_BYTES + ext;
    for (size_t i = 0; i < expect; i++) {
        float f;
        memcpy(&f, block + i * sizeof f, sizeof f);
        if (!isfinite(f)) FAIL("%s: field 'block': scalar %zu is not finite", path, i);
    }
    if (adapter_layout(a, (AdapterFormat)h.format, &lora, &steer, c))
        FAIL("%s: field 'format': cannot lay out a %s adapter on this base", path, format_name((AdapterFormat)h.format));
    for (size_t i = 0; i < expect; i++) {
        float f;
        memcpy(&f, block + i * sizeof f, sizeof f);
        a->params[i] = (real)f;
    }
    free(buf);
    return 0;
}
