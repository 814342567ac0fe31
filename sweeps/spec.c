// Spec parsing and validation: one pass over the JSON in a fixed field order; the first problem found
// ends the parse with one line naming the spec file and the JSON path. This file reads the top-level
// fields, bases, seeds, conditions and format blocks; sweeps/spec_parse.h lists the files that read
// the rest (users and eval texts, the hyperparameter table, the grid and job ids).
#include "sweeps/spec.h"
#include <errno.h>
#include <stdio.h>
#include "engine/job.h"
#include "engine/modelfile.h"
#include "sweeps/spec_parse.h"

#define MAX_SEEDS 100000

static const char *const top_fields[] = { "protocol", "description", "output", "config", "bases", "tokenizer", "data",
                                          "users", "formats", "train", "seeds", "conditions", "eval",
                                          "max_attempts", "published", NULL };
static const char *const protocol_names[] = { "bet37", "bet46", "bet49", "bet52", "bet60", "bet61", "protocol-1b",
                                              "bet53", "bet63", "bet58", "bet48", "bet54", "bet55", "demo", "custom", NULL };
static const char *const config_names[] = { "default", "1b", "tiny", NULL };
static const char *const base_fields[] = { "path", "config", "tokenizer", NULL };
static const char *const format_names[] = { "none", "norm", "lora", "full", "steer", NULL };
static const char *const train_fields[] = { "steps", "batch", "seq", "lr", "eps", "weight_decay", "grad_clip",
                                            "warmup", "cosine", "min_lr_frac", "betas", "precision", NULL };
static const char *const trained_format_fields[] = { "format", "conditions", "steps", "batch", "seq", "lr", "eps",
                                                     "weight_decay", "grad_clip", "warmup", "cosine",
                                                     "min_lr_frac", "betas", "precision", NULL };
static const char *const lora_format_fields[] = { "format", "conditions", "steps", "batch", "seq", "lr", "eps",
                                                  "weight_decay", "grad_clip", "warmup", "cosine", "min_lr_frac",
                                                  "betas", "rank", "alpha", "targets", "precision", NULL };
static const char *const steer_format_fields[] = { "format", "conditions", "steps", "batch", "seq", "lr", "eps",
                                                   "weight_decay", "grad_clip", "warmup", "cosine", "min_lr_frac",
                                                   "betas", "layers", "precision", NULL };
// the base is still evaluated, and evaluation runs at a precision too
static const char *const none_format_fields[] = { "format", "precision", NULL };

static int read_conditions(SpecCtx *c, const cJSON *it, const char *jp, unsigned allowed, unsigned *mask,
                           int *order, int *n_order) {
    if (!cJSON_IsArray(it)) return spec_fail(c, jp, "expected a list such as [\"real\", \"random\"], got %s",
                                        json_type_name(it));
    if (!it->child) return spec_fail(c, jp, "empty list");
    unsigned m = 0;
    int i = 0;
    for (const cJSON *e = it->child; e; e = e->next, i++) {
        char p[160], h[200];
        const char *s;
        jp_idx(p, sizeof p, jp, i);
        if (json_string(c, e, p, &s)) return -1;
        int k = names_index(s, condition_names);
        if (k < 0) {
            hint_text(h, sizeof h, s, condition_names, names_count(condition_names));
            return spec_fail(c, p, "unknown condition %s%s", s, h);
        }
        if (m & (1u << k)) return spec_fail(c, p, "%s given twice", s);
        if (!(allowed & (1u << k))) return spec_fail(c, p, "%s is not in the spec's conditions", s);
        m |= 1u << k;
        if (order) order[(*n_order)++] = k;
    }
    *mask = m;
    return 0;
}

// The fields of "train" or of one format block, over what fb already holds.
static int read_train_fields(SpecCtx *c, const cJSON *obj, const char *jp, FormatBlock *fb, unsigned cond_allowed) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        char p[160];
        jp_key(p, sizeof p, jp, it->string);
        int h = hp_index(it->string);
        if (h >= 0) { if (hp_read(c, it, p, h, fb)) return -1; }
        else if (!strcmp(it->string, "betas")) { if (hp_read_betas(c, it, p, fb)) return -1; }
        else if (!strcmp(it->string, "targets")) { if (hp_read_targets(c, it, p, &fb->targets)) return -1; }
        else if (!strcmp(it->string, "layers")) { if (hp_read_layers(c, it, p, &fb->steer)) return -1; }
        else if (!strcmp(it->string, "conditions")) {
            if (read_conditions(c, it, p, cond_allowed, &fb->cond_mask, NULL, NULL)) return -1;
        }
    }
    return 0;
}

// ---------------------------------------------------------------- bases

static int read_config_name(SpecCtx *c, const cJSON *it, const char *jp, ModelConfig *cfg) {
    const char *s;
    if (json_string(c, it, jp, &s)) return -1;
    if (config_by_name(cfg, s)) {
        char h[200];
        hint_text(h, sizeof h, s, config_names, names_count(config_names));
        return spec_fail(c, jp, "unknown model config %s%s", s, h);
    }
    return 0;
}

static int same_shape(const ModelConfig *a, const ModelConfig *b) {
    return a->dim == b->dim && a->n_layers == b->n_layers && a->n_heads == b->n_heads &&
           a->n_kv_heads == b->n_kv_heads && a->ffn_dim == b->ffn_dim && a->vocab == b->vocab &&
           a->context == b->context;
}

// A base that exists is a model file: its header gives the shape. A "config" the spec names for it
// only stands in while the file does not exist, so it must not disagree with the file.
static int base_config(SpecCtx *c, const char *jp, const cJSON *entry, const char *entry_jp, BaseEntry *b) {
    ModelFile mf;
    char err[768];
    if (model_open(&mf, b->path, MODEL_SKIP_CHECKSUMS, err, sizeof err)) return spec_fail(c, jp, "%s", err);
    ModelConfig file = mf.w.cfg;
    const Mat *q = &mf.w.layer[0].q;   // every projection has one storage type (sweep quantize, import)
    if (q->type == MAT_INT4) snprintf(b->kind, sizeof b->kind, "int4/g%d", q->group);
    else snprintf(b->kind, sizeof b->kind, "%s", model_dtype_name(q->type));
    model_close(&mf);
    const cJSON *named = cJSON_IsObject(entry) ? cJSON_GetObjectItemCaseSensitive(entry, "config") : NULL;
    if (named && !same_shape(&file, &b->cfg)) {
        char q[192];
        jp_key(q, sizeof q, entry_jp, "config");
        return spec_fail(c, q, "%s is not the shape of %s (dim %d, %d layer%s, context %d): drop it or fix it",
                    named->valuestring, b->path, file.dim, file.n_layers, file.n_layers == 1 ? "" : "s", file.context);
    }
    b->cfg = file;
    return 0;
}

static int parse_bases(Parse *P, const ModelConfig *default_cfg, const char *default_tok) {
    SpecCtx *c = &P->c;
    Plan *p = P->p;
    const cJSON *bases = cJSON_GetObjectItemCaseSensitive(P->root, "bases");
    cJSON *fallback = NULL;
    if (!bases) bases = fallback = cJSON_Parse("{\"fp\": \"fixtures/base/base.sweep\"}");
    int rc = -1;
    if (!cJSON_IsObject(bases)) { spec_fail(c, "bases", "expected an object {name: model file}, got %s", json_type_name(bases)); goto out; }
    int n = cJSON_GetArraySize(bases);
    if (n == 0) { spec_fail(c, "bases", "no bases: name at least one model file"); goto out; }
    if (n > 64) { spec_fail(c, "bases", "%d bases: at most 64", n); goto out; }
    p->bases = xcalloc(n, sizeof *p->bases);
    p->axis[AX_BASE].labels = xcalloc(n, sizeof(char *));
    P->base_id = xcalloc(n, sizeof *P->base_id);
    P->tok_id = xcalloc(n, sizeof *P->tok_id);
    int i = 0;
    for (const cJSON *it = bases->child; it; it = it->next, i++) {
        char jp[160];
        BaseEntry *b = &p->bases[i];
        jp_key(jp, sizeof jp, "bases", it->string);
        for (const cJSON *prev = bases->child; prev != it; prev = prev->next)
            if (!strcmp(prev->string, it->string)) { spec_fail(c, jp, "field given twice"); goto out; }
        if (!spec_valid_name(it->string)) {
            spec_fail(c, jp, "a base name is letters, digits, '_', '-' or '.' (at most 63)");
            goto out;
        }
        snprintf(b->name, sizeof b->name, "%s", it->string);
        p->axis[AX_BASE].labels[i] = xstrdup(b->name);
        p->axis[AX_BASE].n = i + 1;
        b->cfg = *default_cfg;
        const char *path = NULL, *tok = default_tok;
        char sub[192];
        if (cJSON_IsString(it)) {
            if (json_string(c, it, jp, &path)) goto out;
            snprintf(sub, sizeof sub, "%s", jp);
        } else if (cJSON_IsObject(it)) {
            if (json_check_fields(c, it, jp, base_fields)) goto out;
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(it, "path");
            jp_key(sub, sizeof sub, jp, "path");
            if (!f) { spec_fail(c, sub, "missing: the model file"); goto out; }
            if (json_string(c, f, sub, &path)) goto out;
            char q[192];
            if ((f = cJSON_GetObjectItemCaseSensitive(it, "config"))) {
                jp_key(q, sizeof q, jp, "config");
                if (read_config_name(c, f, q, &b->cfg)) goto out;
            }
            if ((f = cJSON_GetObjectItemCaseSensitive(it, "tokenizer"))) {
                jp_key(q, sizeof q, jp, "tokenizer");
                if (json_string(c, f, q, &tok)) goto out;
                char r[PATHMAX];
                if (input_resolve(c, q, tok, 0, r)) goto out;
                snprintf(b->tokenizer, sizeof b->tokenizer, "%s", r);
                tok = NULL;
            }
        } else {
            spec_fail(c, jp, "expected a model file path or an object {path, config, tokenizer}, got %s", json_type_name(it));
            goto out;
        }
        if (input_resolve(c, sub, path, 0, b->path)) goto out;
        if (c->files != SPEC_FILES_IGNORED && path_kind(b->path) == 1 && base_config(c, sub, it, jp, b)) goto out;
        if (tok) snprintf(b->tokenizer, sizeof b->tokenizer, "%s", tok);   // already resolved
        input_fingerprint(c, b->path, P->base_id[i], sizeof P->base_id[i]);
        if (b->tokenizer[0]) input_fingerprint(c, b->tokenizer, P->tok_id[i], sizeof P->tok_id[i]);
        else snprintf(P->tok_id[i], sizeof P->tok_id[i], "model");
    }
    rc = 0;
out:
    cJSON_Delete(fallback);
    return rc;
}


// ---------------------------------------------------------------- seeds, conditions, formats

static int parse_seeds(Parse *P) {
    SpecCtx *c = &P->c;
    Plan *p = P->p;
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(P->root, "seeds");
    long v;
    if (!it || cJSON_IsNumber(it)) {
        long n = 1;
        if (it && json_int(c, it, "seeds", 1, MAX_SEEDS, &n)) return -1;
        p->seeds = xcalloc(n, sizeof *p->seeds);
        p->axis[AX_SEED].labels = xcalloc(n, sizeof(char *));
        for (long s = 0; s < n; s++) {
            char l[32];
            p->seeds[s] = (uint64_t)s;
            snprintf(l, sizeof l, "%ld", s);
            p->axis[AX_SEED].labels[s] = xstrdup(l);
            p->axis[AX_SEED].n = (int)s + 1;
        }
        return 0;
    }
    if (!cJSON_IsArray(it)) return spec_fail(c, "seeds", "expected a count or a list of seeds, got %s", json_type_name(it));
    int n = cJSON_GetArraySize(it);
    if (n == 0) return spec_fail(c, "seeds", "empty list");
    if (n > MAX_SEEDS) return spec_fail(c, "seeds", "%d seeds: at most %d", n, MAX_SEEDS);
    p->seeds = xcalloc(n, sizeof *p->seeds);
    p->axis[AX_SEED].labels = xcalloc(n, sizeof(char *));
    int k = 0;
    for (const cJSON *e = it->child; e; e = e->next, k++) {
        char q[64], l[32];
        jp_idx(q, sizeof q, "seeds", k);
        if (json_int(c, e, q, 0, 9007199254740992.0, &v)) return -1;   // integers JSON numbers hold exactly
        for (int j = 0; j < k; j++) if (p->seeds[j] == (uint64_t)v) return spec_fail(c, q, "seed %ld given twice", v);
        p->seeds[k] = (uint64_t)v;
        snprintf(l, sizeof l, "%ld", v);
        p->axis[AX_SEED].labels[k] = xstrdup(l);
        p->axis[AX_SEED].n = k + 1;
    }
    return 0;
}

static int parse_conditions(Parse *P) {
    SpecCtx *c = &P->c;
    Plan *p = P->p;
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(P->root, "conditions");
    if (!it) { P->cond_order[0] = COND_REAL; P->n_cond = 1; P->cond_mask = 1u << COND_REAL; }
    else if (read_conditions(c, it, "conditions", 3u, &P->cond_mask, P->cond_order, &P->n_cond)) return -1;
    p->axis[AX_CONDITION].labels = xcalloc(P->n_cond, sizeof(char *));
    p->conditions = xcalloc(P->n_cond, sizeof *p->conditions);
    for (int k = 0; k < P->n_cond; k++) {
        p->axis[AX_CONDITION].labels[k] = xstrdup(condition_names[P->cond_order[k]]);
        p->conditions[k] = (Condition)P->cond_order[k];
    }
    p->axis[AX_CONDITION].n = P->n_cond;
    return 0;
}
static int parse_formats(Parse *P) {
    SpecCtx *c = &P->c;
    FormatBlock tmpl;
    memset(&tmpl, 0, sizeof tmpl);
    for (int h = 0; h < HP_COUNT; h++) { tmpl.n[h] = 1; tmpl.v[h][0] = hp_default(h); }
    JobSpec d;   // the engine's defaults for what the table does not hold
    job_spec_default(&d);
    tmpl.beta1 = d.train.beta1;
    tmpl.beta2 = d.train.beta2;
    tmpl.targets = d.lora.targets;
    tmpl.cond_mask = P->cond_mask;
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(P->root, "train");
    if (train && (json_check_fields(c, train, "train", train_fields) || read_train_fields(c, train, "train", &tmpl, 0)))
        return -1;
    if (P->precision) {   // sweep run --precision: the spec's default, whatever train says
        char h[200];
        int k = hp_precision_lookup(P->precision, h, sizeof h);
        if (k < 0) return spec_fail(c, "--precision", "unknown precision %s%s", P->precision, h);
        tmpl.n[HP_PRECISION] = 1;
        tmpl.v[HP_PRECISION][0] = k;
    }
    const cJSON *formats = cJSON_GetObjectItemCaseSensitive(P->root, "formats");
    if (!formats) return spec_fail(c, "formats", "missing: name at least one format (none, norm, lora, full, steer)");
    if (!cJSON_IsObject(formats)) return spec_fail(c, "formats", "expected an object {format: hyperparameters}, got %s",
                                              json_type_name(formats));
    int n = cJSON_GetArraySize(formats);
    if (n == 0) return spec_fail(c, "formats", "empty: name at least one format (none, norm, lora, full, steer)");
    if (n > MAX_VARIANTS) return spec_fail(c, "formats", "%d formats: at most %d", n, MAX_VARIANTS);
    P->blocks = xcalloc(n, sizeof *P->blocks);
    int cap = 0, i = 0;
    for (const cJSON *it = formats->child; it; it = it->next, i++) {
        FormatBlock *fb = &P->blocks[i];
        *fb = tmpl;
        P->n_blocks = i + 1;
        jp_key(fb->jp, sizeof fb->jp, "formats", it->string);
        for (const cJSON *prev = formats->child; prev != it; prev = prev->next)
            if (!strcmp(prev->string, it->string)) return spec_fail(c, fb->jp, "field given twice");
        if (!cJSON_IsObject(it)) return spec_fail(c, fb->jp, "expected an object of hyperparameters ({} for the defaults), got %s",
                                             json_type_name(it));
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(it, "format");
        const char *fname = it->string;
        char q[160];
        jp_key(q, sizeof q, fb->jp, "format");
        if (f && json_string(c, f, q, &fname)) return -1;
        int k = names_index(fname, format_names);
        if (k < 0) {
            char h[200];
            hint_text(h, sizeof h, fname, format_names, names_count(format_names));
            if (f) return spec_fail(c, q, "unknown format %s%s", fname, h);
            return spec_fail(c, fb->jp, "unknown format%s; a format of your own naming needs a \"format\" field", h);
        }
        fb->format = (AdapterFormat)k;
        if (!spec_valid_name(it->string))
            return spec_fail(c, fb->jp, "a format name is letters, digits, '_', '-' or '.' (at most 63)");
        snprintf(fb->key, sizeof fb->key, "%s", it->string);
        // a field that belongs to another format says so, rather than "unknown"
        for (const cJSON *e = it->child; e; e = e->next) {
            jp_key(q, sizeof q, fb->jp, e->string);
            int h = hp_index(e->string);
            int known = h >= 0 || !strcmp(e->string, "betas") || !strcmp(e->string, "targets") ||
                        !strcmp(e->string, "layers") || !strcmp(e->string, "conditions");
            if (fb->format == FMT_NONE && known && h != HP_PRECISION)
                return spec_fail(c, q, "none trains nothing and takes no hyperparameters (only precision)");
            if (fb->format != FMT_LORA && (!strcmp(e->string, "targets") || (h >= 0 && hp_table[h].lora_only)))
                return spec_fail(c, q, "only lora formats take %s", e->string);
            if (fb->format != FMT_STEER && !strcmp(e->string, "layers"))
                return spec_fail(c, q, "only steer formats take layers");
        }
        const char *const *allowed = fb->format == FMT_NONE ? none_format_fields
                                   : fb->format == FMT_LORA ? lora_format_fields
                                   : fb->format == FMT_STEER ? steer_format_fields : trained_format_fields;
        if (json_check_fields(c, it, fb->jp, allowed)) return -1;
        if (fb->format == FMT_NONE) {
            // train lists do not multiply the base, except precision: the base is evaluated at it
            for (int h = 0; h < HP_COUNT; h++) if (h != HP_PRECISION) fb->n[h] = 1;
            const cJSON *pr = cJSON_GetObjectItemCaseSensitive(it, "precision");
            jp_key(q, sizeof q, fb->jp, "precision");
            if (pr && hp_read(c, pr, q, HP_PRECISION, fb)) return -1;
        } else {
            if (fb->format != FMT_LORA) fb->n[HP_RANK] = fb->n[HP_ALPHA] = 1;
            if (read_train_fields(c, it, fb->jp, fb, P->cond_mask)) return -1;
        }
        if (grid_expand_block(P, fb, &cap)) return -1;
    }
    return 0;
}

// Everything that determines a job's result, hashed as one canonical text (FNV-1a over the pieces in
// ---------------------------------------------------------------- the parse

static void default_output(const char *spec_path, char *out) {
    const char *base = strrchr(spec_path, '/');
    base = base ? base + 1 : spec_path;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".json")) n -= 5;
    if (n > 200) n = 200;
    snprintf(out, PATHMAX, "%s/%.*s.h5", SPEC_RUNS_DIR, (int)n, base);
}

static int parse_top(Parse *P) {
    SpecCtx *c = &P->c;
    Plan *p = P->p;
    cJSON *root = P->root;
    const cJSON *it;
    if (!cJSON_IsObject(root)) return spec_fail(c, NULL, "the spec must be a JSON object, got %s", json_type_name(root));
    if (json_check_fields(c, root, "", top_fields)) return -1;
    const char *s;
    snprintf(p->protocol, sizeof p->protocol, "custom");
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "protocol"))) {
        if (json_string(c, it, "protocol", &s)) return -1;
        if (names_index(s, protocol_names) < 0) {
            char h[300];
            hint_text(h, sizeof h, s, protocol_names, names_count(protocol_names));
            return spec_fail(c, "protocol", "unknown protocol %s%s", s, h);
        }
        snprintf(p->protocol, sizeof p->protocol, "%s", s);
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "description")) && json_string(c, it, "description", &s))
        return -1;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "output"))) {
        if (json_string(c, it, "output", &s)) return -1;
        if (strlen(s) >= PATHMAX - 64) return spec_fail(c, "output", "path too long");
        snprintf(p->output, sizeof p->output, "%s", s);   // an output is relative to where sweep runs
    } else {
        default_output(c->file, p->output);
    }
    ModelConfig cfg;
    config_default(&cfg);
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "config")) && read_config_name(c, it, "config", &cfg)) return -1;
    char tok[PATHMAX] = "";
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "tokenizer"))) {
        if (json_string(c, it, "tokenizer", &s) || input_resolve(c, "tokenizer", s, 0, tok)) return -1;
    }
    if (parse_bases(P, &cfg, tok)) return -1;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "data"))) {
        if (json_string(c, it, "data", &s)) return -1;
    }
    if (parse_eval_scalars(P) || parse_eval_variants(P) || parse_users(P) || parse_eval_users(P)) return -1;
    if (parse_published(P)) return -1;
    if (parse_conditions(P) || parse_seeds(P) || parse_formats(P)) return -1;
    p->max_attempts = 2;
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "max_attempts"))) {
        long v;
        if (json_int(c, it, "max_attempts", 1, 100, &v)) return -1;
        p->max_attempts = (int)v;
    }
    if (grid_expand_jobs(P) || grid_check_unique_ids(P) || parse_eval_combos(P)) return -1;
    return 0;
}

// "line L, column C" of a byte offset, for JSON syntax errors
static void where(const char *text, size_t off, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') { (*line)++; *col = 1; }
        else (*col)++;
    }
}

static int parse_with(const char *text, size_t len, const char *path, SpecFiles files, const char *precision,
                      Plan *p, char *err, size_t errlen) {
    memset(p, 0, sizeof *p);
    Parse P;
    memset(&P, 0, sizeof P);
    P.precision = precision && precision[0] ? precision : NULL;
    P.c.file = path;
    P.c.files = files;
    P.c.err = err;
    P.c.errlen = errlen;
    P.p = p;
    path_dirname(path, P.c.specdir);
    if (err && errlen) err[0] = 0;
    int rc = -1;
    if (memchr(text, 0, len)) { spec_fail(&P.c, NULL, "not a text file (NUL byte)"); goto out; }
    const char *end = NULL;
    P.root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (P.root && end) {   // cJSON's own check wants a NUL inside len: check the tail here
        while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) end++;
        if (end < text + len) { cJSON_Delete(P.root); P.root = NULL; }
    }
    if (!P.root) {
        int line, col;
        size_t off = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        where(text, off, &line, &col);
        spec_fail(&P.c, NULL, "invalid JSON at line %d, column %d", line, col);
        goto out;
    }
    p->spec_text = xmalloc(len + 1);
    memcpy(p->spec_text, text, len);
    p->spec_text[len] = 0;
    snprintf(p->spec_hash, sizeof p->spec_hash, "%016llx", (unsigned long long)fnv1a64(text, len, FNV1A64_INIT));
    rc = parse_top(&P);
out:
    cJSON_Delete(P.root);
    free(P.blocks);
    free(P.base_id);
    free(P.tok_id);
    free(P.user_id);
    free(P.eval_flops);
    free(P.eval_users);
    if (rc) plan_free(p);
    return rc;
}

int spec_parse(const char *text, size_t len, const char *path, SpecFiles files, Plan *p, char *err,
               size_t errlen) {
    return parse_with(text, len, path, files, NULL, p, err, errlen);
}

int spec_load_precision(const char *path, SpecFiles files, const char *precision, Plan *p, char *err,
                        size_t errlen) {
    memset(p, 0, sizeof *p);
    size_t len = 0;
    char *text = read_whole_file(path, &len);
    if (!text) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    int rc = parse_with(text, len, path, files, precision, p, err, errlen);
    free(text);
    return rc;
}

int spec_load(const char *path, SpecFiles files, Plan *p, char *err, size_t errlen) {
    return spec_load_precision(path, files, NULL, p, err, errlen);
}

