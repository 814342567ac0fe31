// The hyperparameter table (sweeps/hparams.h), and reading its fields from a spec (sweeps/spec_parse.h).
#include "sweeps/hparams.h"
#include <stdio.h>
#include <string.h>
#include "engine/job.h"
#include "sweeps/spec_parse.h"

const HParam hp_table[HP_COUNT] = {
    { "steps",        "--steps",        HP_INT,  1, 1e7,     0, 0, "optimizer steps (default %s)" },
    { "batch",        "--batch",        HP_INT,  1, 65536,   0, 0, "windows per step (default %s)" },
    { "seq",          "--seq",          HP_INT,  1, 1 << 20, 0, 0,
      "tokens per window (default %s, or BASE's context when shorter)" },
    { "lr",           "--lr",           HP_REAL, 0, 10,      1, 0, "peak learning rate (default %s; norm-only usually wants more)" },
    { "eps",          "--eps",          HP_REAL, 0, 1,       1, 0, "AdamW epsilon (default %s)" },
    { "weight_decay", "--weight-decay", HP_REAL, 0, 1,       0, 0, "decoupled weight decay (default %s)" },
    { "grad_clip",    "--grad-clip",    HP_REAL, 0, 1e6,     0, 0, "global L2 gradient norm clip (default %s: off)" },
    { "warmup",       "--warmup",       HP_INT,  0, 1e7,     0, 0, "linear warmup steps (default %s)" },
    { "cosine",       "--cosine",       HP_BOOL, 0, 1,       0, 0, "cosine decay after warmup to --min-lr-frac x lr" },
    { "min_lr_frac",  "--min-lr-frac",  HP_REAL, 0, 1,       0, 0, "floor of the cosine decay (default %s)" },
    { "rank",         "--rank",         HP_INT,  1, 65536,   0, 1, "LoRA rank (default %s)" },
    { "alpha",        "--alpha",        HP_REAL, 0, 1e6,     1, 1, "LoRA alpha, scale = alpha / rank (default %s)" },
    { "precision",    "--precision",    HP_PRECISION_NAME, 0, 0, 0, 0,
      "weight products in training and evaluation: fp32, fp32-dnnl, bf16, int8 (default %s)" },
};

int hp_index(const char *name) {
    for (int h = 0; h < HP_COUNT; h++) if (!strcmp(name, hp_table[h].name)) return h;
    return -1;
}

double hp_get(const TrainConfig *t, const LoraSpec *l, MatPrecision prec, int hp) {
    switch (hp) {
    case HP_STEPS: return t->steps;
    case HP_BATCH: return t->batch;
    case HP_SEQ: return t->seq;
    case HP_LR: return t->lr;
    case HP_EPS: return t->eps;
    case HP_WD: return t->weight_decay;
    case HP_CLIP: return t->grad_clip;
    case HP_WARMUP: return t->warmup;
    case HP_COSINE: return t->cosine;
    case HP_MIN_LR: return t->min_lr_frac;
    case HP_RANK: return l->rank;
    case HP_ALPHA: return l->alpha;
    default: return prec;
    }
}

void hp_set(TrainConfig *t, LoraSpec *l, MatPrecision *prec, int hp, double v) {
    switch (hp) {
    case HP_STEPS: t->steps = (int)v; break;
    case HP_BATCH: t->batch = (int)v; break;
    case HP_SEQ: t->seq = (int)v; break;
    case HP_LR: t->lr = v; break;
    case HP_EPS: t->eps = v; break;
    case HP_WD: t->weight_decay = v; break;
    case HP_CLIP: t->grad_clip = v; break;
    case HP_WARMUP: t->warmup = (int)v; break;
    case HP_COSINE: t->cosine = (int)v; break;
    case HP_MIN_LR: t->min_lr_frac = v; break;
    case HP_RANK: l->rank = (int)v; break;
    case HP_ALPHA: l->alpha = v; break;
    default: *prec = (MatPrecision)v; break;
    }
}

double hp_default(int hp) {
    JobSpec d;
    job_spec_default(&d);
    return hp_get(&d.train, &d.lora, MAT_PREC_FP32, hp);
}

void hp_format(char *out, size_t n, int hp, double v) {
    if (hp_table[hp].kind == HP_PRECISION_NAME) snprintf(out, n, "%s", mat_precision_names[(int)v]);
    else if (hp_table[hp].kind == HP_INT) snprintf(out, n, "%.0f", v);
    else if (hp_table[hp].kind == HP_BOOL) snprintf(out, n, "%s", v ? "true" : "false");
    else snprintf(out, n, "%g", v);
}

// fp32-dnnl is fp32 in another summation order: the floor against which the differences of bf16 and
// int8 can be judged.
int hp_precision_lookup(const char *s, char *hint_out, size_t n) {
    int k = names_index(s, mat_precision_names);
    if (k < 0) hint_text(hint_out, n, s, mat_precision_names, names_count(mat_precision_names));
    return k;
}

int spec_precision_check(const char *s, char *err, size_t errlen) {
    char h[200];
    if (hp_precision_lookup(s, h, sizeof h) >= 0) return 0;
    snprintf(err, errlen, "unknown precision %s%s", s, h);
    return -1;
}

// ---------------------------------------------------------------- from a spec

static const char *const lora_target_names[LORA_N_TARGETS] = { "q", "k", "v", "o", "gate", "up", "down" };

static int read_value(SpecCtx *c, const cJSON *it, const char *jp, int hp, double *out) {
    long iv;
    int b = 0;
    switch (hp_table[hp].kind) {
    case HP_PRECISION_NAME: {
        if (!cJSON_IsString(it)) return spec_fail(c, jp, "expected a precision such as \"bf16\", got %s", json_type_name(it));
        char h[200];
        int k = hp_precision_lookup(it->valuestring, h, sizeof h);
        if (k < 0) return spec_fail(c, jp, "unknown precision %s%s", it->valuestring, h);
        *out = k;
        return 0;
    }
    case HP_INT:
        if (json_int(c, it, jp, hp_table[hp].lo, hp_table[hp].hi, &iv)) return -1;
        *out = (double)iv;
        return 0;
    case HP_BOOL:
        if (json_bool(c, it, jp, &b)) return -1;
        *out = b;
        return 0;
    default:
        return json_real(c, it, jp, hp_table[hp].lo, hp_table[hp].hi, hp_table[hp].lo_open, 0, out);
    }
}

// A scalar, or a non-empty list of distinct scalars: the list adds an axis.
int hp_read(SpecCtx *c, const cJSON *it, const char *jp, int hp, FormatBlock *fb) {
    if (!cJSON_IsArray(it)) {
        fb->n[hp] = 1;
        return read_value(c, it, jp, hp, &fb->v[hp][0]);
    }
    int n = cJSON_GetArraySize(it);
    if (n == 0) return spec_fail(c, jp, "empty list");
    if (n > MAX_LIST) return spec_fail(c, jp, "%d values: at most %d in one list", n, MAX_LIST);
    int i = 0;
    for (const cJSON *e = it->child; e; e = e->next, i++) {
        char p[160];
        jp_idx(p, sizeof p, jp, i);
        if (read_value(c, e, p, hp, &fb->v[hp][i])) return -1;
        for (int k = 0; k < i; k++) {
            if (fb->v[hp][k] != fb->v[hp][i]) continue;
            if (hp_table[hp].kind == HP_PRECISION_NAME) return spec_fail(c, p, "%s given twice", mat_precision_names[(int)fb->v[hp][i]]);
            return spec_fail(c, p, "duplicate value %g", fb->v[hp][i]);
        }
    }
    fb->n[hp] = n;
    return 0;
}

int hp_read_betas(SpecCtx *c, const cJSON *it, const char *jp, FormatBlock *fb) {
    if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 2)
        return spec_fail(c, jp, "expected a list of two numbers [beta1, beta2], got %s",
                    cJSON_IsArray(it) ? "a list of another length" : json_type_name(it));
    char p[160];
    jp_idx(p, sizeof p, jp, 0);
    if (json_real(c, it->child, p, 0, HP_BETA_MAX, 0, 1, &fb->beta1)) return -1;
    jp_idx(p, sizeof p, jp, 1);
    return json_real(c, it->child->next, p, 0, HP_BETA_MAX, 0, 1, &fb->beta2);
}

int hp_read_layers(SpecCtx *c, const cJSON *it, const char *jp, SteerSpec *steer) {
    SteerSpec s = { { 0 } };
    if (cJSON_IsString(it) && !strcmp(it->valuestring, "last")) { *steer = s; return 0; }
    if (!cJSON_IsArray(it))
        return spec_fail(c, jp, "expected \"last\" or a list of block numbers such as [3, 5], got %s", json_type_name(it));
    if (!it->child) return spec_fail(c, jp, "empty list");
    int i = 0;
    for (const cJSON *e = it->child; e; e = e->next, i++) {
        char p[160];
        long l;
        jp_idx(p, sizeof p, jp, i);
        if (json_int(c, e, p, 0, SWEEP_MAX_LAYERS - 1, &l)) return -1;
        if ((s.layers[l / 64] >> (l % 64)) & 1) return spec_fail(c, p, "block %ld given twice", l);
        s.layers[l / 64] |= 1ULL << (l % 64);
    }
    *steer = s;
    return 0;
}

int hp_read_targets(SpecCtx *c, const cJSON *it, const char *jp, unsigned *targets) {
    if (!cJSON_IsArray(it)) return spec_fail(c, jp, "expected a list of projections, got %s", json_type_name(it));
    if (!it->child) return spec_fail(c, jp, "empty list");
    unsigned bits = 0;
    int i = 0;
    for (const cJSON *e = it->child; e; e = e->next, i++) {
        char p[160];
        const char *s;
        jp_idx(p, sizeof p, jp, i);
        if (json_string(c, e, p, &s)) return -1;
        int k = 0;
        while (k < LORA_N_TARGETS && strcmp(s, lora_target_names[k])) k++;
        if (k == LORA_N_TARGETS) {
            char h[200];
            hint_text(h, sizeof h, s, lora_target_names, LORA_N_TARGETS);
            return spec_fail(c, p, "unknown projection %s%s", s, h);
        }
        if (bits & (1u << k)) return spec_fail(c, p, "%s given twice", s);
        bits |= 1u << k;
    }
    *targets = bits;
    return 0;
}
