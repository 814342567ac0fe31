#include "results/report_png.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"

typedef struct { unsigned char *p; size_t n, cap; } Bytes;

static void put(Bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n) cap *= 2;
        unsigned char *np = xmalloc(cap);
        if (b->n) memcpy(np, b->p, b->n);
        free(b->p);
        b->p = np; b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_be32(Bytes *b, uint32_t v) {
    unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
    put(b, x, 4);
}

static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void chunk(Bytes *b, const char *type, const unsigned char *data, size_t n) {
    put_be32(b, (uint32_t)n);
    size_t at = b->n;
    put(b, type, 4);
    if (n) put(b, data, n);
    put_be32(b, crc32_of(b->p + at, n + 4));
}

char *png_rgb_base64(const unsigned char *rgb, int w, int h) {
    // raw scanlines, each led by filter byte 0
    size_t row = (size_t)w * 3 + 1, raw_n = row * (size_t)h;
    unsigned char *raw = xmalloc(raw_n + 1);
    for (int y = 0; y < h; y++) {
        raw[(size_t)y * row] = 0;
        memcpy(raw + (size_t)y * row + 1, rgb + (size_t)y * w * 3, (size_t)w * 3);
    }
    // zlib stream of stored blocks (at most 65535 bytes each) and the Adler-32 of the raw bytes
    Bytes z = {0};
    unsigned char hdr[2] = {0x78, 0x01};
    put(&z, hdr, 2);
    for (size_t at = 0; at < raw_n || at == 0;) {
        size_t n = raw_n - at > 65535 ? 65535 : raw_n - at;
        unsigned char bh[5] = {(unsigned char)(at + n >= raw_n), (unsigned char)n, (unsigned char)(n >> 8),
                               (unsigned char)~n, (unsigned char)(~n >> 8)};
        put(&z, bh, 5);
        put(&z, raw + at, n);
        at += n;
        if (at >= raw_n) break;
    }
    uint32_t a = 1, bsum = 0;
    for (size_t i = 0; i < raw_n; i++) { a = (a + raw[i]) % 65521u; bsum = (bsum + a) % 65521u; }
    put_be32(&z, bsum << 16 | a);
    free(raw);

    Bytes png = {0};
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    put(&png, sig, 8);
    unsigned char ihdr[13] = {(unsigned char)(w >> 24), (unsigned char)(w >> 16), (unsigned char)(w >> 8), (unsigned char)w,
                              (unsigned char)(h >> 24), (unsigned char)(h >> 16), (unsigned char)(h >> 8), (unsigned char)h,
                              8, 2, 0, 0, 0};   // 8-bit RGB, deflate, no filter, no interlace
    chunk(&png, "IHDR", ihdr, 13);
    chunk(&png, "IDAT", z.p, z.n);
    chunk(&png, "IEND", NULL, 0);
    free(z.p);

    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = xmalloc((png.n + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < png.n; i += 3) {
        uint32_t v = (uint32_t)png.p[i] << 16 | (i + 1 < png.n ? (uint32_t)png.p[i + 1] << 8 : 0) |
                     (i + 2 < png.n ? png.p[i + 2] : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < png.n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < png.n ? tab[v & 63] : '=';
    }
    *o = 0;
    free(png.p);
    return out;
}
