// Causal attention at a job's compute precision. At fp32 (mc NULL or MAT_PREC_FP32) and in the double
// build these are the reference loops of engine/ops.h (attention_forward/backward), unchanged: their
// bits are the results every existing fp32 sweep holds. At fp32-dnnl, bf16 and int8 each (batch,
// head) is products through mc (engine/mat.h mat_act_product_at: oneDNN fp32, or bf16 inputs with
// fp32 sums) over blocks of ATTENTION_ROWS query rows, each block against the keys it can see (the
// causal prefix), with the mask and softmax as a row pass between them. The scores S = Q K^T are fp32
// (oneDNN) at every precision; at bf16 and int8 the other five products round their inputs to bf16:
//   forward   S = Q K^T, P = softmax(S / sqrt(hd)) (masked), O = P V
//   backward  dP = dO V^T, dV += P^T dO, dS = P (dP - rowsum(P dP)) / sqrt(hd), dQ += dS K, dK += dS^T Q
// Layouts as engine/ops.h. The (batch, KV head) items run on parallel_for_fixed's threads (engine/ops.h),
// each worker in its own context (mat_context_worker) and buffer (mat_context_work), one thread per
// product; every item writes its own outputs, so the numbers do not depend on the thread count. The
// time goes to the profile (NULL: none) as PROF_ATTN_PRODUCT for the products (the mean over the
// workers) and PROF_ATTENTION for the rest of the wall time (all of it on the reference path).
#pragma once
#include <stddef.h>
#include "engine/real.h"
#include "engine/mat.h"

typedef struct Profile Profile;

enum { ATTENTION_ROWS = 128 };   // query rows per block of the product path

// 1 when attention at mc's precision takes the product path
int attention_uses_products(const MatContext *mc);

void attention_forward_mc(MatContext *mc, Profile *prof, real *out, real *att, const real *q, const real *k,
                          const real *v, int B, int T, int n_heads, int n_kv_heads, int hd);
// dq, dk, dv += ...; scratch: T*T reals for the reference path
void attention_backward_mc(MatContext *mc, Profile *prof, real *dq, real *dk, real *dv, const real *dout,
                           const real *att, const real *q, const real *k, const real *v, int B, int T,
                           int n_heads, int n_kv_heads, int hd, real *scratch);
// the same OVERWRITING dq, dk, dv: bit for bit attention_backward_mc on zeroed gradients (the product
// path's items write their heads' rows once; the reference path zeroes them first)
void attention_backward_set_mc(MatContext *mc, Profile *prof, real *dq, real *dk, real *dv, const real *dout,
                               const real *att, const real *q, const real *k, const real *v, int B, int T,
                               int n_heads, int n_kv_heads, int hd, real *scratch);
