#include "results/report_png.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#include "results/report_util.h"

// Bytes go through report_util's Buf (binary-safe: buf_putn copies n bytes).
static void put(Buf *b, const void *src, size_t n) { buf_putn(b, (const char *)src, n); }

static void put_be32(Buf *b, uint32_t v) {
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

static void chunk(Buf *b, const char *type, const unsigned char *data, size_t n) {
    put_be32(b, (uint32_t)n);
    size_t at = b->len;
    put(b, type, 4);
    if (n) put(b, data, n);
    put_be32(b, crc32_of((const unsigned char *)b->s + at, n + 4));
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
    Buf z = {0};
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

    Buf png = {0};
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    put(&png, sig, 8);
    unsigned char ihdr[13] = {(unsigned char)(w >> 24), (unsigned char)(w >> 16), (unsigned char)(w >> 8), (unsigned char)w,
                              (unsigned char)(h >> 24), (unsigned char)(h >> 16), (unsigned char)(h >> 8), (unsigned char)h,
                              8, 2, 0, 0, 0};   // 8-bit RGB, deflate, no filter, no interlace
    chunk(&png, "IHDR", ihdr, 13);
    chunk(&png, "IDAT", (const unsigned char *)z.s, z.len);
    chunk(&png, "IEND", NULL, 0);
    buf_free(&z);

    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = xmalloc((png.len + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < png.len; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)png.s[i] << 16 | (i + 1 < png.len ? (uint32_t)(unsigned char)png.s[i + 1] << 8 : 0) |
                     (i + 2 < png.len ? (unsigned char)png.s[i + 2] : 0);
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < png.len ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < png.len ? tab[v & 63] : '=';
    }
    *o = 0;
    buf_free(&png);
    return out;
}
