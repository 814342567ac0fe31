// Hugging Face tokenizer.json (model BPE + ByteLevel pre-tokenizer, as GPT-2, Llama 3, Qwen2 write it)
// into a Tokenizer that encodes as `tokenizers` does with add_special_tokens=False.
// Vocab strings are in GPT-2's byte-to-unicode alphabet; they are turned back into raw bytes here,
// so that encoding and decoding work on bytes throughout.
#include "engine/tokenizer_impl.h"
#include "engine/util.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HF_MAX_ID (1 << 24)

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the other 68 bytes
// are shifted to code points 256..323.
static void byte_unicode_tables(int byte_to_cp[256], int cp_to_byte[324]) {
    int n = 0;
    for (int i = 0; i < 324; i++) cp_to_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        byte_to_cp[b] = printable ? b : 256 + n++;
        cp_to_byte[byte_to_cp[b]] = b;
    }
}

// UTF-8 string -> bytes through the byte-level alphabet; returns the byte count, or -1 if some
// character is not in the alphabet (then the token stands for its own UTF-8 bytes).
static int unmap_byte_level(const char *s, size_t n, const int cp_to_byte[324], char *out) {
    const unsigned char *u = (const unsigned char *)s;
    int m = 0;
    for (size_t i = 0; i < n;) {
        unsigned cp;
        if (u[i] < 0x80) { cp = u[i]; i += 1; }
        else if ((u[i] & 0xE0) == 0xC0 && i + 1 < n) { cp = ((u[i] & 0x1Fu) << 6) | (u[i + 1] & 0x3Fu); i += 2; }
        else return -1;
        if (cp >= 324 || cp_to_byte[cp] < 0) return -1;
        out[m++] = (char)cp_to_byte[cp];
    }
    return m;
}

typedef struct {
    const char *name;
    char *err; size_t errlen;
    int saw_byte_level;
} HfCtx;

static int json_bool(const cJSON *obj, const char *key, int dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return dflt;
    return cJSON_IsTrue(v) ? 1 : cJSON_IsFalse(v) ? 0 : -1;
}

static int json_id(const cJSON *v) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= HF_MAX_ID ||
        v->valuedouble != (double)(int)v->valuedouble)
        return -1;
    return (int)v->valuedouble;
}

// Escapes a literal so PCRE2 matches it verbatim.
static char *regex_quote(const char *s, size_t *len) {
    size_t n = strlen(s);
    char *q = xmalloc(2 * n + 1), *p = q;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) *p++ = '\\';
        *p++ = (char)c;
    }
    *len = p - q;
    return q;
}

static void describe_append(Tokenizer *t, const char *piece) {
    size_t old = t->describe ? strlen(t->describe) : 0, add = strlen(piece);
    t->describe = realloc(t->describe, old + add + 8); // "hf:" or " +", then " ", piece, NUL
    if (!t->describe) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
    if (!old) strcpy(t->describe, "hf:");
    else strcat(t->describe, " +");
    strcat(t->describe, " ");
    strcat(t->describe, piece);
}

static const char *regex_nickname(const char *re) {
    if (!strcmp(re, TOKENIZER_SPLIT_GPT2)) return "gpt2";
    if (!strcmp(re, TOKENIZER_SPLIT_LLAMA3)) return "llama3";
    if (!strcmp(re, TOKENIZER_SPLIT_QWEN2)) return "qwen2";
    return "custom";
}

static int add_pre_tokenizer(Tokenizer *t, const cJSON *pt, const char *path, HfCtx *c) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(pt, "type");
    if (!cJSON_IsObject(pt) || !cJSON_IsString(type)) {
        errf(c->err, c->errlen, "%s: %s: expected an object with a string 'type'", c->name, path);
        return -1;
    }
    char sub[256];
    if (!strcmp(type->valuestring, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers"), *e;
        if (!cJSON_IsArray(list)) {
            errf(c->err, c->errlen, "%s: %s.pretokenizers: expected an array", c->name, path);
            return -1;
        }
        int i = 0;
        cJSON_ArrayForEach(e, list) {
            snprintf(sub, sizeof sub, "%s.pretokenizers[%d]", path, i++);
            if (add_pre_tokenizer(t, e, sub, c)) return -1;
        }
        return 0;
    }
    if (!strcmp(type->valuestring, "ByteLevel")) {
        // serde defaults of `tokenizers`: add_prefix_space = true, use_regex = true
        int prefix = json_bool(pt, "add_prefix_space", 1), use_regex = json_bool(pt, "use_regex", 1);
        if (prefix < 0 || use_regex < 0) {
            errf(c->err, c->errlen, "%s: %s: add_prefix_space and use_regex must be true or false", c->name,
                     path);
            return -1;
        }
        if (prefix) tok_add_prefix_space(t);
        if (use_regex &&
            tok_add_split(t, TOKENIZER_SPLIT_GPT2, strlen(TOKENIZER_SPLIT_GPT2), PRE_SPLIT_ISOLATED, c->err, c->errlen))
            return -1;
        c->saw_byte_level = 1;
        snprintf(sub, sizeof sub, "ByteLevel(prefix_space=%s, regex=%s)", prefix ? "yes" : "no",
                 use_regex ? "gpt2" : "no");
        describe_append(t, sub);
        return 0;
    }
    if (!strcmp(type->valuestring, "Split")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(pt, "pattern");
        const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        const cJSON *lit = cJSON_GetObjectItemCaseSensitive(pat, "String");
        const cJSON *beh = cJSON_GetObjectItemCaseSensitive(pt, "behavior");
        int invert = json_bool(pt, "invert", 0);
        if (!cJSON_IsString(re) && !cJSON_IsString(lit)) {
            errf(c->err, c->errlen, "%s: %s.pattern: expected {\"Regex\": ...} or {\"String\": ...}", c->name,
                     path);
            return -1;
        }
        if (!cJSON_IsString(beh) || invert < 0) {
            errf(c->err, c->errlen, "%s: %s: expected a string 'behavior' and a boolean 'invert'", c->name, path);
            return -1;
        }
        int kind;
        if (!strcmp(beh->valuestring, "Isolated")) kind = PRE_SPLIT_ISOLATED;
        else if (!strcmp(beh->valuestring, "Removed")) kind = invert ? PRE_SPLIT_KEEP_MATCHES : PRE_SPLIT_REMOVED;
        else {
            errf(c->err, c->errlen, "%s: %s.behavior: '%s' is not supported (Isolated, Removed)", c->name, path,
                     beh->valuestring);
            return -1;
        }
        size_t n;
        char *regex = cJSON_IsString(re) ? strdup(re->valuestring) : regex_quote(lit->valuestring, &n);
        if (!regex) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
        n = strlen(regex);
        char msg[300];
        if (tok_add_split(t, regex, n, kind, msg, sizeof msg)) {
            errf(c->err, c->errlen, "%s: %s.pattern: %s", c->name, path, msg);
            free(regex);
            return -1;
        }
        snprintf(sub, sizeof sub, "Split(%s, %s)", cJSON_IsString(re) ? regex_nickname(regex) : "string",
                 beh->valuestring);
        describe_append(t, sub);
        free(regex);
        return 0;
    }
    errf(c->err, c->errlen, "%s: %s.type: pre-tokenizer '%s' is not supported (ByteLevel, Split, Sequence)",
             c->name, path, type->valuestring);
    return -1;
}

static int add_normalizer(Tokenizer *t, const cJSON *nm, const char *path, HfCtx *c) {
    if (!nm || cJSON_IsNull(nm)) return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(nm, "type");
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "NFC")) {
        t->nfc = 1; // NFC twice is NFC once
        describe_append(t, "NFC");
        return 0;
    }
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(nm, "normalizers"), *e;
        char sub[256];
        int i = 0;
        cJSON_ArrayForEach(e, list) {
            snprintf(sub, sizeof sub, "%s.normalizers[%d]", path, i++);
            if (add_normalizer(t, e, sub, c)) return -1;
        }
        return 0;
    }
    // other normalisers (NFKC, Lowercase, Replace, ...) are not byte-level BPE practice: refuse rather
    // than encode differently from Hugging Face
    errf(c->err, c->errlen, "%s: %s: normalizer '%s' is not supported (only NFC or none)", c->name, path,
             cJSON_IsString(type) ? type->valuestring : "?");
    return -1;
}

static int error_line(const char *data, size_t len, const char *at) {
    int line = 1;
    if (!at || at < data || at > data + len) return 0;
    for (const char *p = data; p < at; p++) line += *p == '\n';
    return line;
}

Tokenizer *tokenizer_load_hf_mem(const char *name, const char *data, size_t len, char *err, size_t errlen) {
    HfCtx c = { name, err, errlen, 0 };
    cJSON *root = cJSON_ParseWithLength(data, len);
    if (!root) {
        errf(err, errlen, "%s:%d: not valid JSON", name, error_line(data, len, cJSON_GetErrorPtr()));
        return NULL;
    }
    Tokenizer *t = tok_new();
    StrMap raw = { 0 }; // vocab string as written -> id, for the merges
    char *buf = NULL;
    int byte_to_cp[256], cp_to_byte[324];
    byte_unicode_tables(byte_to_cp, cp_to_byte);

    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) { errf(err, errlen, "%s: model: missing or not an object", name); goto fail; }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE"))) {
        errf(err, errlen, "%s: model.type: '%s' is not supported (only BPE)", name,
                 cJSON_IsString(type) ? type->valuestring : "?");
        goto fail;
    }
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (dropout && !cJSON_IsNull(dropout) && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0)) {
        errf(err, errlen, "%s: model.dropout: BPE dropout makes encoding random; only null is supported", name);
        goto fail;
    }
    const char *affixes[] = { "continuing_subword_prefix", "end_of_word_suffix" };
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsString(v) && !v->valuestring[0])) {
            errf(err, errlen, "%s: model.%s: not supported in a byte-level BPE (only null)", name, affixes[i]);
            goto fail;
        }
    }
    int ignore = json_bool(model, "ignore_merges", 0);
    if (ignore < 0) { errf(err, errlen, "%s: model.ignore_merges: expected true or false", name); goto fail; }
    t->ignore_merges = ignore;

    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab"), *e;
    if (!cJSON_IsObject(vocab) || !cJSON_GetArraySize(vocab)) {
        errf(err, errlen, "%s: model.vocab: missing, empty or not an object", name);
        goto fail;
    }
    size_t buf_cap = 0;
    cJSON_ArrayForEach(e, vocab) {
        int id = json_id(e);
        if (id < 0) {
            errf(err, errlen, "%s: model.vocab[\"%.40s\"]: id must be an integer in 0..%d", name, e->string,
                     HF_MAX_ID - 1);
            goto fail;
        }
        size_t n = strlen(e->string);
        if (!n) { errf(err, errlen, "%s: model.vocab: empty token string (id %d)", name, id); goto fail; }
        if (id < t->n_vocab && t->tok_len[id] >= 0) {
            errf(err, errlen, "%s: model.vocab[\"%.40s\"]: id %d is already taken", name, e->string, id);
            goto fail;
        }
        if (strmap_get(&raw, e->string, n, NULL, NULL) >= 0) {
            errf(err, errlen, "%s: model.vocab: \"%.40s\" appears twice", name, e->string);
            goto fail;
        }
        strmap_put(&raw, e->string, n, &id, 1);
        if (n > buf_cap) { buf_cap = 2 * n; free(buf); buf = xmalloc(buf_cap); }
        int m = unmap_byte_level(e->string, n, cp_to_byte, buf);
        if (m >= 0) {
            tok_set_token(t, id, buf, m);
            strmap_put(&t->vocab, buf, m, &id, 1);
            if (m == 1) t->byte_id[(unsigned char)buf[0]] = id;
        } else {
            tok_set_token(t, id, e->string, (int)n);
        }
    }
    for (int b = 0; b < 256; b++)
        if (t->byte_id[b] < 0) {
            errf(err, errlen, "%s: model.vocab: no token for byte 0x%02x (U+%04X): not a byte-level BPE vocab",
                     name, b, byte_to_cp[b]);
            goto fail;
        }

    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(merges)) { errf(err, errlen, "%s: model.merges: missing or not an array", name); goto fail; }
    int r = 0;
    cJSON_ArrayForEach(e, merges) {
        const char *a, *b;
        size_t na, nb;
        char *split_copy = NULL;
        if (cJSON_IsString(e)) {
            const char *s = e->valuestring, *sp = strchr(s, ' ');
            if (!sp || sp == s || !sp[1] || strchr(sp + 1, ' ')) {
                errf(err, errlen, "%s: model.merges[%d]: expected \"left right\" with one space", name, r);
                goto fail;
            }
            split_copy = strdup(s);
            if (!split_copy) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
            split_copy[sp - s] = 0;
            a = split_copy; na = sp - s;
            b = split_copy + (sp - s) + 1; nb = strlen(b);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            a = cJSON_GetArrayItem(e, 0)->valuestring; na = strlen(a);
            b = cJSON_GetArrayItem(e, 1)->valuestring; nb = strlen(b);
        } else {
            errf(err, errlen, "%s: model.merges[%d]: expected \"left right\" or [\"left\", \"right\"]", name, r);
            goto fail;
        }
        const int *va, *vb, *vab;
        char *ab = xmalloc(na + nb + 1);
        memcpy(ab, a, na);
        memcpy(ab + na, b, nb);
        int ok_a = strmap_get(&raw, a, na, &va, NULL) >= 0, ok_b = strmap_get(&raw, b, nb, &vb, NULL) >= 0;
        int ok_ab = strmap_get(&raw, ab, na + nb, &vab, NULL) >= 0;
        if (!ok_a || !ok_b || !ok_ab) {
            errf(err, errlen, "%s: model.merges[%d]: \"%.40s\" is not in the vocab", name, r,
                     !ok_a ? a : !ok_b ? b : "(left + right)");
            free(ab); free(split_copy);
            goto fail;
        }
        tok_add_merge(t, *va, *vb, *vab); // a repeated pair takes its later rank, as `tokenizers` does
        free(ab); free(split_copy);
        r++;
    }

    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added)) {
        errf(err, errlen, "%s: added_tokens: expected an array", name);
        goto fail;
    }
    int k = 0;
    cJSON_ArrayForEach(e, added) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        int id = json_id(cJSON_GetObjectItemCaseSensitive(e, "id"));
        int single = json_bool(e, "single_word", 0), lstrip = json_bool(e, "lstrip", 0),
            rstrip = json_bool(e, "rstrip", 0);
        if (id < 0 || !cJSON_IsString(content) || !content->valuestring[0] || single < 0 || lstrip < 0 || rstrip < 0) {
            errf(err, errlen, "%s: added_tokens[%d]: expected an integer id, a non-empty content and "
                     "boolean flags", name, k);
            goto fail;
        }
        if (single) {
            errf(err, errlen, "%s: added_tokens[%d]: single_word tokens are not supported", name, k);
            goto fail;
        }
        for (int j = 0; j < t->n_added; j++)
            if (!strcmp(t->added[j].text, content->valuestring)) {
                errf(err, errlen, "%s: added_tokens[%d]: \"%.40s\" appears twice", name, k, content->valuestring);
                goto fail;
            }
        int n = (int)strlen(content->valuestring);
        tok_set_token(t, id, content->valuestring, n);
        tok_add_added(t, id, content->valuestring, n, lstrip, rstrip);
        k++;
    }

    if (add_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), "normalizer", &c)) goto fail;
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (pre && !cJSON_IsNull(pre) && add_pre_tokenizer(t, pre, "pre_tokenizer", &c)) goto fail;
    if (!c.saw_byte_level) {
        errf(err, errlen, "%s: pre_tokenizer: no ByteLevel step: not a byte-level BPE", name);
        goto fail;
    }
    tok_finish(t);
    snprintf(t->split_name, sizeof t->split_name, "hf");
    strmap_free(&raw);
    free(buf);
    cJSON_Delete(root);
    return t;
fail:
    strmap_free(&raw);
    free(buf);
    cJSON_Delete(root);
    tokenizer_free(t);
    return NULL;
}
