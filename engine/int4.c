// 4-bit weights with one absmax scale per group of inputs (engine/int4.h): quantisation, decoding
// a tile of rows at a time, and the products on decoded tiles.
#include "engine/int4.h"
#include <math.h>
#include <stdlib.h>
#include "engine/util.h"

#define TILE_ELEMS (1 << 19)   // decoded tile of about 2 MB in float, as engine/mat.c's tiles

int int4_groups(int cols, int group) { return group > 0 ? (cols + group - 1) / group : 0; }

size_t int4_scale_bytes(int rows, int cols, int group) {
    return (size_t)rows * (size_t)int4_groups(cols, group) * sizeof(float);
}

size_t int4_packed_bytes(int rows, int cols) { return (size_t)rows * (size_t)((cols + 1) / 2); }

size_t int4_bytes(int rows, int cols, int group) {
    return int4_scale_bytes(rows, cols, group) + int4_packed_bytes(rows, cols);
}

int int4_group_check(int group) { return group >= 2 && group <= 65536 && group % 2 == 0 ? 0 : -1; }

void int4_quantize_rows(uint8_t *packed, float *scale, const float *w, int rows, int cols, int group) {
    int ng = int4_groups(cols, group);
    size_t rb = (size_t)(cols + 1) / 2;
    for (int r = 0; r < rows; r++) {
        const float *wr = w + (size_t)r * cols;
        uint8_t *pr = packed + (size_t)r * rb;
        for (size_t b = 0; b < rb; b++) pr[b] = 0x88;   // q = 0, and the pad nibble of an odd row
        for (int g = 0; g < ng; g++) {
            int c0 = g * group, c1 = c0 + group < cols ? c0 + group : cols;
            float amax = 0;
            for (int c = c0; c < c1; c++) amax = fabsf(wr[c]) > amax ? fabsf(wr[c]) : amax;   // NaN: skipped
            float s = isfinite(amax) ? amax / INT4_QMAX : 0;
            scale[(size_t)r * ng + g] = s;
            for (int c = c0; c < c1 && s > 0; c++) {
                double q = nearbyint((double)wr[c] / s);   // NaN compares false: 0
                int v = q >= INT4_QMAX ? INT4_QMAX : q <= -INT4_QMAX ? -INT4_QMAX : q == q ? (int)q : 0;
                uint8_t u = (uint8_t)(v + 8);
                pr[c / 2] = c & 1 ? (uint8_t)((pr[c / 2] & 0x0f) | u << 4) : (uint8_t)((pr[c / 2] & 0xf0) | u);
            }
        }
    }
}

void int4_decode_rows(real *out, const Mat *W, int r0, int r1) {
    int cols = W->cols, group = W->group, ng = int4_groups(cols, group);
    size_t rb = (size_t)(cols + 1) / 2;
    for (int r = r0; r < r1; r++) {
        const uint8_t *p = (const uint8_t *)W->data + (size_t)r * rb;
        const float *s = W->scale + (size_t)r * ng;
        real *o = out + (size_t)(r - r0) * cols;
        for (int g = 0; g < ng; g++) {
            int c0 = g * group, c1 = c0 + group < cols ? c0 + group : cols;   // group is even: c0 is too
            float sg = s[g];
            int c = c0;
            for (; c + 1 < c1; c += 2) {
                uint8_t b = p[c / 2];
                o[c] = (real)((float)((int)(b & 15) - 8) * sg);
                o[c + 1] = (real)((float)((int)(b >> 4) - 8) * sg);
            }
            if (c < c1) o[c] = (real)((float)((int)(p[c / 2] & 15) - 8) * sg);
        }
    }
}

static int tile_rows(const Mat *W) {
    int r = TILE_ELEMS / (W->cols > 0 ? W->cols : 1);
    r = r < 16 ? 16 : r;
    return r < W->rows ? r : W->rows;
}

// v rounded to bf16 and back (round to nearest even, as engine/mat.c's bf16 products)
static void round_bf16_inplace(real *v, size_t n) {
    for (size_t i = 0; i < n; i++) v[i] = (real)bf16_to_f32(f32_to_bf16((float)v[i]));
}

// The activations rounded to bf16 for the bf16 products: the thread's own buffer, grown as needed.
static const real *rounded_input(const real *x, size_t n) {
    static _Thread_local real *buf;
    static _Thread_local size_t cap;
    if (n > cap) {
        free(buf);
        buf = xaligned(n * sizeof(real));
        cap = n;
    }
    for (size_t i = 0; i < n; i++) buf[i] = x[i];
    round_bf16_inplace(buf, n);
    return buf;
}

void int4_forward(real *y, const real *x, const Mat *W, int n, int accumulate, int bf16) {
    if (n <= 0 || W->rows <= 0) return;
    int cols = W->cols, tr = tile_rows(W);
    if (bf16) x = rounded_input(x, (size_t)n * cols);
    real *tile = tile_buffer((size_t)tr * cols * sizeof(real));
    for (int r0 = 0; r0 < W->rows; r0 += tr) {
        int r1 = r0 + tr < W->rows ? r0 + tr : W->rows;
        int4_decode_rows(tile, W, r0, r1);
        if (bf16) round_bf16_inplace(tile, (size_t)(r1 - r0) * cols);
        gemm(0, 1, n, r1 - r0, cols, 1, x, cols, tile, cols, accumulate ? 1 : 0, y + r0, W->rows);
    }
}

void int4_backward_input(real *dx, const real *dy, const Mat *W, int n, int bf16) {
    if (n <= 0 || W->rows <= 0) return;
    int cols = W->cols, tr = tile_rows(W);
    if (bf16) dy = rounded_input(dy, (size_t)n * W->rows);
    real *tile = tile_buffer((size_t)tr * cols * sizeof(real));
    for (int r0 = 0; r0 < W->rows; r0 += tr) {
        int r1 = r0 + tr < W->rows ? r0 + tr : W->rows;
        int4_decode_rows(tile, W, r0, r1);
        if (bf16) round_bf16_inplace(tile, (size_t)(r1 - r0) * cols);
        gemm(0, 0, n, cols, r1 - r0, 1, dy + r0, W->rows, tile, cols, 1, dx, cols);
    }
}
