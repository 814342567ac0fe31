// libFuzzer target for both tokenizer loaders (.bpe text and Hugging Face tokenizer.json).
// Any input must load or be refused with a message; a tokenizer that loads must encode a sample
// and the input itself into ids that decode, and a .bpe tokenizer must round-trip them exactly.
// Seeds: tests/tokenizer/fuzz-seeds/.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/tokenizer.h"

static void exercise(Tokenizer *t, const char *text, size_t n, int must_roundtrip) {
    int *ids;
    long m;
    tokenizer_encode(t, text, n, &ids, &m);
    char err[512];
    size_t dn;
    char *back = tokenizer_decode(t, ids, m, &dn, err, sizeof err);
    if (!back) { fprintf(stderr, "encode gave an id that does not decode: %s\n", err); abort(); }
    if (must_roundtrip && (dn != n || memcmp(back, text, n))) { fprintf(stderr, "round trip failed\n"); abort(); }
    free(back);
    free(ids);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    static const char sample[] = "Hello, world! It's 12345 \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\n\n  <|endoftext|>\xff\x00 x";
    char err[512];
    const char *text = (const char *)data;
    size_t cap = size < 4096 ? size : 4096;
    err[0] = 0;
    Tokenizer *own = tokenizer_load_mem("fuzz.bpe", text, size, err, sizeof err);
    if (!own && !err[0]) { fprintf(stderr, ".bpe refused without a message\n"); abort(); }
    if (own) {
        exercise(own, sample, sizeof sample - 1, 1);
        exercise(own, text, cap, 1);
        tokenizer_free(own);
    }
    err[0] = 0;
    Tokenizer *hf = tokenizer_load_hf_mem("fuzz.json", text, size, err, sizeof err);
    if (!hf && !err[0]) { fprintf(stderr, "tokenizer.json refused without a message\n"); abort(); }
    if (hf) {
        exercise(hf, sample, sizeof sample - 1, 0);
        exercise(hf, text, cap, 0);
        tokenizer_free(hf);
    }
    return 0;
}
