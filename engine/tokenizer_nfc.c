// Unicode NFC (canonical decomposition, canonical ordering, canonical composition; UAX #15), for
// Hugging Face tokenizers whose normalizer is NFC (Qwen2). Bytes that are not valid UTF-8 pass
// through unchanged and never compose.
#include "engine/tokenizer_impl.h"
#include "engine/tokenizer_nfc_tables.h"
#include "engine/util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RAW_BYTE 0x200000u // a byte that is not valid UTF-8, kept as it is
#define N_ROWS(t, w) (sizeof(t) / sizeof(t[0]) / (w))

enum { S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7, L_COUNT = 19, V_COUNT = 21,
       T_COUNT = 28, N_COUNT = V_COUNT * T_COUNT, S_COUNT = L_COUNT * N_COUNT };

static int ccc_of(uint32_t cp) {
    size_t lo = 0, hi = N_ROWS(nfc_ccc, 1);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint32_t c = nfc_ccc[mid] >> 8;
        if (c == cp) return (int)(nfc_ccc[mid] & 255);
        if (c < cp) lo = mid + 1; else hi = mid;
    }
    return 0;
}

static const uint32_t *decomp_of(uint32_t cp) {
    size_t lo = 0, hi = N_ROWS(nfc_decomp, 3);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *row = nfc_decomp + 3 * mid;
        if (row[0] == cp) return row;
        if (row[0] < cp) lo = mid + 1; else hi = mid;
    }
    return NULL;
}

static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE && b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    size_t lo = 0, hi = N_ROWS(nfc_comp, 3);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *row = nfc_comp + 3 * mid;
        if (row[0] == a && row[1] == b) return row[2];
        if (row[0] < a || (row[0] == a && row[1] < b)) lo = mid + 1; else hi = mid;
    }
    return 0;
}

// One code point from p (strict UTF-8: no overlongs, surrogates or values past U+10FFFF);
// an invalid byte comes back as RAW_BYTE | byte. Returns the bytes consumed.
static size_t utf8_next(const unsigned char *p, size_t n, uint32_t *cp) {
    unsigned c = p[0];
    size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 1) { *cp = c; return 1; }
    if (len == 0 || len > n) { *cp = RAW_BYTE | c; return 1; }
    uint32_t v = c & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) { *cp = RAW_BYTE | c; return 1; }
        v = (v << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) || (len == 4 && (v < 0x10000 || v > 0x10FFFF))) {
        *cp = RAW_BYTE | c;
        return 1;
    }
    *cp = v;
    return len;
}

typedef struct { uint32_t *v; size_t n, cap; } CpBuf;

static void push(CpBuf *b, uint32_t cp) {
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->v = realloc(b->v, b->cap * sizeof *b->v);
        if (!b->v) { fprintf(stderr, "sweep: out of memory (NFC)\n"); exit(3); }
    }
    b->v[b->n++] = cp;
}

static void decompose(CpBuf *b, uint32_t cp) {
    if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
        uint32_t s = cp - S_BASE;
        push(b, L_BASE + s / N_COUNT);
        push(b, V_BASE + (s % N_COUNT) / T_COUNT);
        if (s % T_COUNT) push(b, T_BASE + s % T_COUNT);
        return;
    }
    const uint32_t *d = cp < RAW_BYTE ? decomp_of(cp) : NULL;
    if (!d) { push(b, cp); return; }
    decompose(b, d[1]);
    if (d[2]) decompose(b, d[2]);
}

char *tok_nfc(const char *s, size_t n, size_t *out_len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n && u[i] < 0xCC) i++; // lead bytes below 0xCC encode code points below U+0300
    if (i == n) return NULL;          // NFC_QUICK_BELOW is 0x300: nothing to do
    CpBuf b = { 0 };
    for (i = 0; i < n;) {
        uint32_t cp;
        i += utf8_next(u + i, n - i, &cp);
        decompose(&b, cp);
    }
    // canonical ordering: stable sort of each run of non-starters by combining class
    for (size_t k = 1; k < b.n; k++) {
        uint32_t c = b.v[k];
        int cc = c < RAW_BYTE ? ccc_of(c) : 0;
        if (!cc) continue;
        size_t j = k;
        while (j > 0) {
            int pc = b.v[j - 1] < RAW_BYTE ? ccc_of(b.v[j - 1]) : 0;
            if (pc <= cc) break;
            b.v[j] = b.v[j - 1];
            j--;
        }
        b.v[j] = c;
    }
    // canonical composition (UAX #15 sample code)
    size_t out = 0;
    if (b.n) {
        size_t starter = 0;
        uint32_t starter_ch = b.v[0];
        int last = b.v[0] < RAW_BYTE ? ccc_of(b.v[0]) : 0;
        if (last) last = 256; // a leading non-starter blocks everything after it
        out = 1;
        for (size_t k = 1; k < b.n; k++) {
            uint32_t c = b.v[k];
            int cc = c < RAW_BYTE ? ccc_of(c) : 0;
            uint32_t comp = starter_ch < RAW_BYTE && c < RAW_BYTE ? compose(starter_ch, c) : 0;
            if (comp && (last < cc || last == 0)) {
                b.v[starter] = starter_ch = comp;
            } else {
                if (!cc) { starter = out; starter_ch = c; }
                last = cc;
                b.v[out++] = c;
            }
        }
    }
    char *res = xmalloc(out * 4 + 1);
    size_t m = 0;
    for (size_t k = 0; k < out; k++) {
        uint32_t c = b.v[k];
        if (c >= RAW_BYTE) res[m++] = (char)(c & 0xFF);
        else if (c < 0x80) res[m++] = (char)c;
        else if (c < 0x800) { res[m++] = (char)(0xC0 | c >> 6); res[m++] = (char)(0x80 | (c & 0x3F)); }
        else if (c < 0x10000) {
            res[m++] = (char)(0xE0 | c >> 12); res[m++] = (char)(0x80 | ((c >> 6) & 0x3F));
            res[m++] = (char)(0x80 | (c & 0x3F));
        } else {
            res[m++] = (char)(0xF0 | c >> 18); res[m++] = (char)(0x80 | ((c >> 12) & 0x3F));
            res[m++] = (char)(0x80 | ((c >> 6) & 0x3F)); res[m++] = (char)(0x80 | (c & 0x3F));
        }
    }
    res[m] = 0;
    free(b.v);
    *out_len = m;
    return res;
}
