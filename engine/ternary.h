// Ternary weights: each row of W quantised to trits {-1, 0, +1} times one absmean scale
// (BitNet b1.58 applied per output row), packed 5 trits per byte (1.6 bits per weight).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "engine/mat.h"

// Bytes of packed trits for a rows x cols matrix (each row starts on a byte boundary).
size_t ternary_packed_bytes(int rows, int cols);
// Quantises float rows: scale[r] = mean|w[r]|, trit = clamp(round(w / scale), -1, 1).
void ternary_quantize_rows(uint8_t *packed, float *scale, const float *w, int rows, int cols);
// rows [r0, r1) of a MAT_TERNARY matrix, decoded to real (trit * scale)
void ternary_decode_rows(real *out, const Mat *W, int r0, int r1);
// Every trit of W as int8, out[rows][cols] (the int8 products' copy of a ternary matrix).
void ternary_unpack_i8(int8_t *out, const Mat *W);
// y[n][rows] (=|+=) x[n][cols] . W^T, straight from the packed form
void ternary_forward(real *y, const real *x, const Mat *W, int n, int accumulate);
// dx[n][cols] += dy[n][rows] . W, straight from the packed form
void ternary_backward_input(real *dx, const real *dy, const Mat *W, int n);
// Products in the float build use int16 activations x trits (AVX-512 VNNI) unless turned off here:
// |error| <= 0.5 * absmax(row) / 32767 * sum |w| per output. Off: decoded tiles and BLAS (exact).
void ternary_use_int_kernels(int on);
int ternary_int_kernels_active(void);   // 1 when products take the int16 path
