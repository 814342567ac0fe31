// 4-bit weights: each row of W cut into groups of `group` consecutive inputs (the last group may be
// shorter), each group quantised symmetrically to integers q in [-7, 7] times one float scale:
// scale = absmax(group) / 7, q = clamp(round_to_nearest_even(w / scale), -7, 7) (scale 0: q = 0),
// so every dequantised weight q * scale lies within scale / 2 of the original.
// Storage (a model file's int4 tensor, and a Mat of type MAT_INT4): float32 scale[rows][groups],
// then the packed nibbles, each row starting on a byte: input c of a row in byte c / 2, the low
// nibble for even c, stored as q + 8 (1..15; 0 never occurs; an odd row's pad nibble holds 8).
// Products never expand the matrix whole: a tile of rows is decoded into the thread's tile buffer
// and multiplied by BLAS (fp32), or decoded and rounded to bf16 with the activations (bf16, and
// int8, whose integer kernels are for ternary matrices only, as for every other storage type).
// Adapters train on top as on any base; full fine-tuning starts from the decoded weights (adapter_init
// decodes them, as for ternary), so its trained copy is full precision, not 4-bit.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "engine/mat.h"

#define INT4_GROUP_DEFAULT 64
#define INT4_QMAX 7

// Groups per row, bytes of scales, bytes of packed nibbles, and both (a file tensor's nbytes).
int int4_groups(int cols, int group);
size_t int4_scale_bytes(int rows, int cols, int group);
size_t int4_packed_bytes(int rows, int cols);
size_t int4_bytes(int rows, int cols, int group);
// 0 when group is a valid group size (even, 2 .. 65536: a byte never straddles two groups), else -1.
int int4_group_check(int group);
// Quantises float rows w[rows][cols]: packed[rows][(cols + 1) / 2], scale[rows][groups].
void int4_quantize_rows(uint8_t *packed, float *scale, const float *w, int rows, int cols, int group);
// rows [r0, r1) of a MAT_INT4 matrix decoded to real (q * scale, the product in float), out[(r1-r0)][cols]
void int4_decode_rows(real *out, const Mat *W, int r0, int r1);
// y[n][rows] (=|+=) x[n][cols] . W^T; bf16: x and the decoded weights rounded to bf16, fp32 sums
void int4_forward(real *y, const real *x, const Mat *W, int n, int accumulate, int bf16);
// dx[n][cols] += dy[n][rows] . W; bf16 as above (dy rounded)
void int4_backward_input(real *dx, const real *dy, const Mat *W, int n, int bf16);
