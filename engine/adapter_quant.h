// Quantisation of a trained adapter's own block (Bet 53: the adapter on the wire at int8 or int4),
// applied as a round trip: each value becomes q x scale, q an integer in [-qmax, qmax] (127 at 8
// bits, 7 at 4), scale = absmax / qmax of its group, stored as float32, q = round(x / scale)
// (halves away from zero). The values themselves are quantised (a norm adapter's gains, not their
// difference from the base's).
//   per tensor:  one scale per tensor of the adapter (each gain vector, LoRA A and B, steering
//                vector, full weight)
//   per channel: one scale per output row of a matrix (LoRA A's rank rows, B's output rows, a full
//                matrix's rows); a vector is one channel, so gains, biases and steering vectors get
//                one scale either way
#pragma once
#include <stddef.h>
#include "engine/adapter.h"

typedef enum { QUANT_PER_TENSOR = 0, QUANT_PER_CHANNEL = 1 } QuantScope;

typedef struct {
    size_t offset;        // in scalars, within the adapter's block
    int rows, cols;       // vectors: rows 1
} AdapterTensor;

const char *quant_scope_name(QuantScope s);              // "tensor", "channel"
int quant_scope_parse(const char *s, QuantScope *out);   // 0 ok, -1 unknown

// The tensors of an adapter's block in block order, covering it exactly; t may be NULL to count.
int adapter_tensors(const Adapter *a, AdapterTensor *t);
// The block rounded through `bits` (8 or 4) in place. Returns 0, or -1 (EINVAL: other bits).
int adapter_quantize_roundtrip(Adapter *a, int bits, QuantScope scope);
// Bytes on the wire at that width: the packed integers of each tensor (ceil(bits x n / 8)) plus a
// float32 scale per group. The header of a file is not counted (as adapter_bytes does not).
size_t adapter_quant_bytes(const Adapter *a, int bits, QuantScope scope);
