// Byte-level BPE: hand-derived merges, exact round trips on arbitrary bytes, deterministic training,
// merge order against a naive GPT-2 style reference, and the loaders' messages on bad files.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/rng.h"
#include "engine/tokenizer.h"
#include "testlib.h"

static Tokenizer *train1(const char *text, size_t len, int vocab, const char *split, const char **special,
                         int n_special) {
    const char *texts[1] = { text };
    size_t lens[1] = { len };
    BpeTrainOptions o = { .vocab = vocab, .split = split, .special = special, .n_special = n_special };
    char err[256];
    Tokenizer *t = tokenizer_train(texts, lens, 1, &o, NULL, err, sizeof err);
    if (!t) fprintf(stderr, "train failed: %s\n", err);
    return t;
}

static int same_ids(const int *a, long na, const int *b, long nb) {
    return na == nb && (na == 0 || !memcmp(a, b, na * sizeof *a));
}

static int roundtrips(Tokenizer *t, const char *s, size_t n) {
    int *ids;
    long m;
    tokenizer_encode(t, s, n, &ids, &m);
    size_t dn;
    char err[128];
    char *d = tokenizer_decode(t, ids, m, &dn, err, sizeof err);
    int ok = d && dn == n && !memcmp(d, s, n);
    free(d);
    free(ids);
    return ok;
}

// Merges worked out by hand (llama3 split: "ab", " ab", " ab", " cd"):
//   counts (a,b)=3, (' ',a)=2, (' ',c)=1, (c,d)=1 -> 256 = a+b
//   then (' ',256)=2 -> 257; then (' ',c)=1 ties (c,d)=1, smaller pair (32,99) wins -> 258; then (258,d) -> 259
static void test_hand_merges(void) {
    const char *text = "ab ab ab cd";
    Tokenizer *t = train1(text, strlen(text), 260, "llama3", NULL, 0);
    CHECK(t != NULL, "train");
    if (!t) return;
    int want[4][3] = { { 97, 98, 256 }, { 32, 256, 257 }, { 32, 99, 258 }, { 258, 100, 259 } };
    CHECK(tokenizer_n_merges(t) == 4 && tokenizer_vocab_size(t) == 260, "4 merges, vocab 260 (got %d, %d)",
          tokenizer_n_merges(t), tokenizer_vocab_size(t));
    for (int r = 0; r < 4; r++) {
        int l, rr, id = tokenizer_merge(t, r, &l, &rr);
        CHECK(l == want[r][0] && rr == want[r][1] && id == want[r][2], "merge %d: %d %d -> %d", r, l, rr, id);
    }
    int *ids;
    long n;
    tokenizer_encode(t, text, strlen(text), &ids, &n);
    int expect[4] = { 256, 257, 257, 259 };
    CHECK(same_ids(ids, n, expect, 4), "encoding of the training text (%ld tokens)", n);
    free(ids);
    tokenizer_free(t);

    // Overlapping pairs: "aaaa" and " aaaa": (a,a)=3+3 -> 256, each piece becomes 256 256;
    // (256,256)=2 -> 257; (' ',257)=1 -> 258; nothing left to merge, so training stops short of 300.
    const char *text2 = "aaaa aaaa";
    t = train1(text2, strlen(text2), 300, "llama3", NULL, 0);
    CHECK(t && tokenizer_n_merges(t) == 3 && tokenizer_vocab_size(t) == 259, "aaaa: 3 merges");
    if (t) {
        int want2[3][2] = { { 97, 97 }, { 256, 256 }, { 32, 257 } };
        for (int r = 0; r < 3; r++) {
            int l, rr;
            tokenizer_merge(t, r, &l, &rr);
            CHECK(l == want2[r][0] && rr == want2[r][1], "aaaa merge %d: %d %d", r, l, rr);
        }
        tokenizer_encode(t, text2, strlen(text2), &ids, &n);
        int expect2[2] = { 257, 258 };
        CHECK(same_ids(ids, n, expect2, 2), "aaaa encoding");
        free(ids);
    }
    tokenizer_free(t);
}

// Corpus of random words over a small alphabet, with UTF-8 letters, digits and punctuation.
static char *make_corpus(uint64_t seed, size_t n) {
    static const char *pieces[] = { "a", "b", "c", "th", "e", " ", " ", "\n", "1", "2", "'s", ".", ",",
                                    "\xc3\xa9", "\xd0\xb4", "\xe6\x97\xa5", "!", "\t", "ing", "  " };
    Rng r;
    rng_seed(&r, seed);
    char *s = malloc(n + 8);
    size_t k = 0;
    while (k < n) {
        const char *p = pieces[rng_below(&r, sizeof pieces / sizeof *pieces)];
        size_t l = strlen(p);
        if (k + l > n) break;
        memcpy(s + k, p, l);
        k += l;
    }
    s[k] = 0;
    return s;
}

static void test_roundtrip_bytes(void) {
    char *corpus = make_corpus(1, 200000);
    Tokenizer *t = train1(corpus, strlen(corpus), 600, "llama3", NULL, 0);
    CHECK(t != NULL, "train for round trips");
    if (!t) { free(corpus); return; }
    Rng r;
    rng_seed(&r, 7);
    int bad = 0;
    for (int it = 0; it < 300; it++) {
        size_t n = rng_below(&r, it < 10 ? 20 : 3000);
        char *s = malloc(n + 1);
        int mode = it % 3;
        for (size_t i = 0; i < n; i++) {
            uint64_t v = rng_below(&r, 256);
            if (mode == 1) s[i] = "ab \n\x00\xff\xc3\xa9"[v % 8]; // NULs, invalid bytes, cut UTF-8
            else if (mode == 2) s[i] = corpus[(size_t)v * 37 % 200000];
            else s[i] = (char)v;
        }
        if (!roundtrips(t, s, n)) bad++;
        free(s);
    }
    CHECK(bad == 0, "%d of 300 random byte strings did not round-trip", bad);
    CHECK(roundtrips(t, "", 0), "empty string");
    const char nul[] = "\0\0a\0 \xff\xfe\x80 \xe6\x97 end";
    CHECK(roundtrips(t, nul, sizeof nul - 1), "NUL and invalid UTF-8");
    int *ids;
    long n;
    tokenizer_encode(t, corpus, strlen(corpus), &ids, &n);
    CHECK(n < (long)strlen(corpus) / 2, "merges compress the training text (%ld tokens for %zu bytes)", n,
          strlen(corpus));
    free(ids);
    char err[128];
    int badid[2] = { 5, 600 };
    size_t dn;
    char *d = tokenizer_decode(t, badid, 2, &dn, err, sizeof err);
    CHECK(d == NULL && strstr(err, "600"), "decode rejects id 600 (vocab 600): %s", err);
    tokenizer_free(t);
    free(corpus);
}

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    char *b = malloc(len + 1);
    *n = fread(b, 1, len, f);
    fclose(f);
    return b;
}

static void test_determinism_and_files(void) {
    char *corpus = make_corpus(2, 300000);
    const char *special[1] = { "<|endoftext|>" };
    char pa[] = "/tmp/sweep-tok-XXXXXX";
    int fd = mkstemp(pa);
    if (fd >= 0) close(fd);
    char pb[64], pc[64];
    snprintf(pb, sizeof pb, "%s.b", pa);
    snprintf(pc, sizeof pc, "%s.c", pa);
    Tokenizer *a = train1(corpus, strlen(corpus), 1000, "gpt2", special, 1);
    Tokenizer *b = train1(corpus, strlen(corpus), 1000, "gpt2", special, 1);
    char err[256];
    CHECK(a && b, "train twice");
    if (!a || !b) return;
    CHECK(tokenizer_save(a, pa, err, sizeof err) == 0 && tokenizer_save(b, pb, err, sizeof err) == 0, "save: %s", err);
    size_t na, nb, nc;
    char *fa = slurp(pa, &na), *fb = slurp(pb, &nb);
    CHECK(fa && fb && na == nb && !memcmp(fa, fb, na), "two trainings write identical files (%zu, %zu bytes)", na,
          nb);
    Tokenizer *c = tokenizer_open(pa, err, sizeof err);
    CHECK(c != NULL, "load: %s", err);
    if (c) {
        CHECK(tokenizer_vocab_size(c) == 1000 && tokenizer_n_added(c) == 1, "loaded vocab %d, added %d",
              tokenizer_vocab_size(c), tokenizer_n_added(c));
        CHECK(tokenizer_save(c, pc, err, sizeof err) == 0, "save loaded");
        char *fc = slurp(pc, &nc);
        CHECK(fc && nc == na && !memcmp(fa, fc, na), "load then save gives the same file");
        free(fc);
        const char *text = "ab th<|endoftext|>e 12 \xc3\xa9!<|endoftext|>";
        int *ia, *ic;
        long ma, mc;
        tokenizer_encode(a, text, strlen(text), &ia, &ma);
        tokenizer_encode(c, text, strlen(text), &ic, &mc);
        CHECK(same_ids(ia, ma, ic, mc), "trained and reloaded tokenizers encode alike");
        int eot = tokenizer_added_id(c, "<|endoftext|>"), seen = 0;
        for (long i = 0; i < mc; i++) seen += ic[i] == eot;
        CHECK(eot == 999 && seen == 2, "special token id %d found %d times", eot, seen);
        CHECK(roundtrips(c, text, strlen(text)), "special tokens round-trip");
        free(ia);
        free(ic);
        tokenizer_free(c);
    }
    free(fa);
    free(fb);
    remove(pa); remove(pb); remove(pc);
    tokenizer_free(a);
    tokenizer_free(b);
    free(corpus);
}

// GPT-2's bpe(): merge every occurrence of the lowest-ranked pair, left to right, until none applies.
static long naive_bpe(const Tokenizer *t, int *w, long n) {
    int nm = tokenizer_n_merges(t);
    for (;;) {
        int best = -1, bl = 0, br = 0;
        for (long i = 0; i + 1 < n; i++)
            for (int r = 0; r < nm && (best < 0 || r < best); r++) {
                int l, rr;
                tokenizer_merge(t, r, &l, &rr);
                if (l == w[i] && rr == w[i + 1]) { best = r; bl = l; br = rr; break; }
            }
        if (best < 0) return n;
        int id = tokenizer_merge(t, best, &bl, &br);
        long m = 0;
        for (long i = 0; i < n;) {
            if (i + 1 < n && w[i] == bl && w[i + 1] == br) { w[m++] = id; i += 2; }
            else w[m++] = w[i++];
        }
        n = m;
    }
}

static void test_against_naive(void) {
    Rng r;
    rng_seed(&r, 11);
    size_t n = 60000;
    char *corpus = malloc(n + 1);
    for (size_t i = 0; i < n; i++) corpus[i] = rng_below(&r, 9) == 0 ? ' ' : "aab"[rng_below(&r, 3)];
    corpus[n] = 0;
    Tokenizer *t = train1(corpus, n, 400, "llama3", NULL, 0);
    CHECK(t != NULL, "train ab");
    if (!t) return;
    int bad = 0;
    for (int it = 0; it < 200; it++) {
        long len = 1 + (long)rng_below(&r, it < 100 ? 40 : 400); // short pieces rescan, long ones use the heap
        char *word = malloc(len);
        int *w = malloc(len * sizeof *w);
        for (long i = 0; i < len; i++) { word[i] = "ab"[rng_below(&r, 2)]; w[i] = (unsigned char)word[i]; }
        long m = naive_bpe(t, w, len);
        int *ids;
        long k;
        tokenizer_encode(t, word, len, &ids, &k);
        if (!same_ids(ids, k, w, m)) bad++;
        free(ids); free(w); free(word);
    }
    CHECK(bad == 0, "%d of 200 words differ from the naive GPT-2 merge loop", bad);
    tokenizer_free(t);
    free(corpus);
}

static void expect_bpe_error(const char *text, const char *want) {
    char err[256] = "";
    Tokenizer *t = tokenizer_load_mem("bad.bpe", text, strlen(text), err, sizeof err);
    CHECK(t == NULL && strstr(err, want), "bad .bpe should fail with '%s', got '%s'", want, err);
    tokenizer_free(t);
}

static void test_bpe_loader_errors(void) {
    expect_bpe_error("", "bad.bpe:1:");
    expect_bpe_error("GPT tokenizer\n", "bad.bpe:1: not a sweep tokenizer");
    expect_bpe_error("sweep-bpe 2\nsplit llama3\nmerges 0\nspecials 0\n", "bad.bpe:1: unsupported version");
    expect_bpe_error("sweep-bpe 1\nsplit llama4\nmerges 0\nspecials 0\n", "bad.bpe:2: unknown split");
    expect_bpe_error("sweep-bpe 1\nsplit llama3\nmerge 0\nspecials 0\n", "bad.bpe:3: expected 'merges");
    expect_bpe_error("sweep-bpe 1\nsplit llama3\nmerges -1\nspecials 0\n", "bad.bpe:3:");
    expect_bpe_error("sweep-bpe 1\nsplit llama3\nmerges 99999999999\nspecials 0\n", "bad.bpe:3:");
    expect_bpe_error("sweep-bpe 1\nsplit llama3\nmerges 1\n", "bad.bpe:4: file ends before the 'specials'");
    expect_bpe_error("sweep-bpe 1\nsplit llama3\nmerges 2\nspecials 0\n97 98\n", "bad.bpe:6: file ends after 1 of 2");
    expect_bpe_error("sweep-bpe 1\nsplit llama3\nmerges 2\nspecials 0\n97 98\n257 97\n", "bad.bpe:6: merge 1");
    expect_bpe_error("sweep-bpe 1\nsplit llama3\nmerges 1\nspecials 0\n97  98\n", "bad.bpe:5: merge 0");
    expect_bpe_error("sweep-bpe 1\nsplit llama3\nmerges 1\nspecials 0\n097 98\n", "bad.bpe:5: merge 0");
    expect_bpe_error("sweep-bpe 1\nsplit llama3\nmerges 2\nspecials 0\n97 98\n97 98\n", "bad.bpe:6: merge 1: pair");
    expect_bpe_error("sweep-bpe 1\nsplit llama3\nmerges 0\nspecials 1\n3c7z\n", "bad.bpe:5: special 0");
    expect_bpe_error("sweep-bpe 1\nsplit llama3\nmerges 0\nspecials 1\n3c7\n", "bad.bpe:5: special 0");
    expect_bpe_error("sweep-bpe 1\nsplit llama3\nmerges 0\nspecials 2\n3c3e\n3c3e\n", "bad.bpe:6: special 1 repeats");
    expect_bpe_error("sweep-bpe 1\nsplit llama3\nmerges 0\nspecials 0\nextra\n", "bad.bpe:5: unexpected data");
    char err[256];
    const char *ok = "sweep-bpe 1\nsplit qwen2\nmerges 1\nspecials 1\n97 98\n3c3e\n";
    Tokenizer *t = tokenizer_load_mem("ok.bpe", ok, strlen(ok), err, sizeof err);
    CHECK(t && tokenizer_vocab_size(t) == 258 && tokenizer_added_id(t, "<>") == 257, "minimal .bpe loads: %s", err);
    tokenizer_free(t);
    Tokenizer *missing = tokenizer_open("/nonexistent/tok.bpe", err, sizeof err);
    CHECK(!missing && strstr(err, "/nonexistent/tok.bpe: cannot read"), "missing file: %s", err);
}

// A byte-level vocab written independently of the loader: bytes_to_unicode() as in GPT-2's encoder.py.
static void byte_char(int b, char out[3]) {
    int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    int cp = b;
    if (!printable) {
        int n = 0;
        for (int c = 0; c < b; c++)
            if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) { out[0] = (char)cp; out[1] = 0; }
    else { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); out[2] = 0; }
}

static char *hf_json(const char *pre_type, const char *normalizer, int drop_byte, const char *bad_merge) {
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int b = 0; b < 256; b++) {
        char s[3];
        byte_char(b, s);
        if (b != drop_byte) cJSON_AddNumberToObject(vocab, s, 255 - b); // ids deliberately not the bytes
    }
    cJSON_AddNumberToObject(vocab, "\xc4\xa0t", 256);      // "Ġt" = " t"
    cJSON_AddNumberToObject(vocab, "\xc4\xa0th", 257);     // " th"
    cJSON_AddNumberToObject(vocab, "he", 258);
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    cJSON_AddItemToArray(merges, cJSON_CreateString("\xc4\xa0 t"));
    cJSON_AddItemToArray(merges, cJSON_CreateString("\xc4\xa0t h"));
    cJSON *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(pair, cJSON_CreateString("h"));
    cJSON_AddItemToArray(pair, cJSON_CreateString("e"));
    cJSON_AddItemToArray(merges, pair);
    if (bad_merge) cJSON_AddItemToArray(merges, cJSON_CreateString(bad_merge));
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens"), *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "id", 300);
    cJSON_AddStringToObject(a, "content", "<|eot|>");
    cJSON_AddBoolToObject(a, "special", 1);
    cJSON_AddItemToArray(added, a);
    if (normalizer) cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "normalizer"), "type", normalizer);
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", pre_type);
    cJSON_AddBoolToObject(pre, "add_prefix_space", 0);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static void test_hf_loader(void) {
    char err[256] = "";
    char *js = hf_json("ByteLevel", NULL, -1, NULL);
    Tokenizer *t = tokenizer_load_hf_mem("tok.json", js, strlen(js), err, sizeof err);
    CHECK(t != NULL, "tiny tokenizer.json loads: %s", err);
    if (t) {
        // GPT-2 split: "the" " the" " t" "<|eot|>" "x"; ids: t=255-'t', " th"+e? no merge " th"+"e" -> ' th' 'e'
        const char *text = "the the t<|eot|>x";
        int *ids;
        long n;
        tokenizer_encode(t, text, strlen(text), &ids, &n);
        int want[] = { 255 - 't', 258, 257, 255 - 'e', 256, 300, 255 - 'x' };
        CHECK(same_ids(ids, n, want, 7), "tiny HF encoding (%ld tokens)", n);
        CHECK(roundtrips(t, text, strlen(text)), "tiny HF round trip");
        CHECK(tokenizer_vocab_size(t) == 301, "vocab size spans added id 300");
        free(ids);
        tokenizer_free(t);
    }
    free(js);
    struct { char *json; const char *want; } bad[] = {
        { hf_json("ByteLevel", "NFKC", -1, NULL), "tok.json: normalizer: normalizer 'NFKC' is not supported" },
        { hf_json("Whitespace", NULL, -1, NULL), "tok.json: pre_tokenizer.type: pre-tokenizer 'Whitespace'" },
        { hf_json("ByteLevel", NULL, 65, NULL), "tok.json: model.vocab: no token for byte 0x41" },
        { hf_json("ByteLevel", NULL, -1, "h zz"), "tok.json: model.merges[3]: \"zz\" is not in the vocab" },
        { hf_json("ByteLevel", NULL, -1, "t h"), "tok.json: model.merges[3]: \"(left + right)\" is not in the vocab" },
        { hf_json("ByteLevel", NULL, -1, "th"), "tok.json: model.merges[3]: expected \"left right\"" },
        { strdup("{\n\"model\": {\n\"vocab\": [1,\n}"), "tok.json:4: not valid JSON" },
        { strdup("{\"model\": 3}"), "tok.json: model: missing or not an object" },
        { strdup("{\"model\": {\"type\": \"Unigram\", \"vocab\": {}}}"), "tok.json: model.type: 'Unigram'" },
        { strdup("{\"model\": {\"vocab\": {\"a\": -4}}}"), "tok.json: model.vocab[\"a\"]: id must be" },
        { strdup("{\"model\": {\"vocab\": {\"a\": 1, \"b\": 1}}}"), "tok.json: model.vocab[\"b\"]: id 1 is already" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = 0;
        Tokenizer *b = tokenizer_load_hf_mem("tok.json", bad[i].json, strlen(bad[i].json), err, sizeof err);
        CHECK(b == NULL && strstr(err, bad[i].want), "bad tokenizer.json %zu: want '%s', got '%s'", i, bad[i].want,
              err);
        tokenizer_free(b);
        free(bad[i].json);
    }
}

int main(void) {
    test_hand_merges();
    test_roundtrip_bytes();
    test_determinism_and_files();
    test_against_naive();
    test_bpe_loader_errors();
    test_hf_loader();
    return tl_finish("test_tokenizer");
}
