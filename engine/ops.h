// The model's operations as free functions on plain arrays (llm.c style). Every op has a forward
// and a backward; backward functions ACCUMULATE (+=) into their gradient outputs unless noted.
// Layouts: activations are [n][dim] with n = B*T tokens; attention q is [B][T][n_heads][hd],
// k and v are [B][T][n_kv_heads][hd], probabilities [B][n_heads][T][T].
#pragma once
#include "engine/real.h"
#include "engine/mat.h"
#include "engine/config.h"

// Fork-join over independent items on as many threads as BLAS may use (engine_set_threads), at
// most 64: fn(ctx, item, worker) for item in [0, n), worker in [0, parallel_threads(n)) naming the
// thread (0 is the caller). BLAS and oneDNN run one thread per worker inside. The workers are
// OpenMP's team in a GCC build while the products run on oneDNN (the threads oneDNN's products run
// on, kept between calls; engine_threads_for), else threads made per call.
enum { PAR_WORKERS = 64 };
int parallel_threads(int n_items);
void parallel_for(int n, void (*fn)(void *ctx, int item, int worker), void *ctx);
// The same with fixed ranges of items (worker w of t takes [w n / t, (w + 1) n / t) first, then helps
// with the others' rest), for items of equal cost: a worker then reads the rows the element-wise
// passes before left in its own cache.
void parallel_for_fixed(int n, void (*fn)(void *ctx, int item, int worker), void *ctx);
// The same for passes too short to pay for threads made per call (the element-wise ones): on OpenMP's
// team when it serves the rank, in fixed ranges as parallel_for_fixed, else inline on the caller;
// parallel_light_threads says how many.
int parallel_light_threads(int n_items);
void parallel_for_light(int n, void (*fn)(void *ctx, int item, int worker), void *ctx);

// out[i][:] = row tokens[i] of the embedding (any storage type)
void embedding_forward(real *out, const int *tokens, int n, const Mat *emb);
// demb[tokens[i]][:] += dout[i][:]   (demb is vocab x dim, real)
void embedding_backward(real *demb, const real *dout, const int *tokens, int n, int dim);

// out = x * rstd * gain, rstd[i] = 1/sqrt(mean(x[i]^2) + eps); rstd is saved for backward
void rmsnorm_forward(real *out, real *rstd, const real *x, const real *gain, int n, int dim, double eps);
// dx += ..., dgain += ... (dgain may be NULL when the gains are frozen)
void rmsnorm_backward(real *dx, real *dgain, const real *dout, const real *x, const real *gain,
                      const real *rstd, int n, int dim);

// cos/sin tables [T][hd/2] for positions 0..T-1 (HF Llama layout: pairs (j, j + hd/2))
void rope_tables(real *cos_t, real *sin_t, int T, int hd, double theta);
// the same with a rope_scaling (Hugging Face's _compute_llama3_parameters for llama3); a NULL or
// none scaling gives rope_tables' values bit for bit
void rope_tables_scaled(real *cos_t, real *sin_t, int T, int hd, double theta, const RopeScaling *s);
// rotates x[B][T][heads][hd] in place
void rope_forward(real *x, const real *cos_t, const real *sin_t, int B, int T, int heads, int hd);
// d in place: the transpose rotation (dx = R^T dy)
void rope_backward(real *d, const real *cos_t, const real *sin_t, int B, int T, int heads, int hd);

// causal softmax attention with grouped KV heads; att receives the probabilities (saved)
void attention_forward(real *out, real *att, const real *q, const real *k, const real *v,
                       int B, int T, int n_heads, int n_kv_heads, int hd);
// dq, dk, dv += ...; scratch needs T*T reals
void attention_backward(real *dq, real *dk, real *dv, const real *dout, const real *att,
                        const real *q, const real *k, const real *v,
                        int B, int T, int n_heads, int n_kv_heads, int hd, real *scratch);

// Row passes of the attention's product path (engine/attention.h), one query row of len keys
// (the causal prefix) in a buffer of end >= len, scale > 0: p = softmax(scale * s), p[len..end) = 0,
// the same [0, end) also to pc (fp32) or p16 (rounded to bf16) where not NULL, the next product's
// operand; and on ds = dP: scale * P * (dP - sum(P dP)), 0 on [len, end), in place on ds, or only
// rounded to bf16 into ds16 where not NULL (ds is then left as it was: dP), with P's row [0, end)
// (0 past len) copied to pc or rounded into p16 where not NULL, for the dV product.
void attention_softmax_row(real *p, real *pc, uint16_t *p16, const real *s, real scale, int len, int end);
void attention_softmax_backward_row(real *ds, uint16_t *ds16, real *pc, uint16_t *p16, const real *p, real scale,
                                    int len, int end);

// out = silu(gate) * up, elementwise over n values
void swiglu_forward(real *out, const real *gate, const real *up, long n);
void swiglu_backward(real *dgate, real *dup, const real *dout, const real *gate, const real *up, long n);
// the same OVERWRITING dgate and dup: bit for bit swiglu_backward on gradients zeroed before
void swiglu_backward_set(real *dgate, real *dup, const real *dout, const real *gate, const real *up, long n);

// dst[0..n) = src[0..n), and x[0..n) = 0, on parallel_for_light's threads (the buffers must not overlap)
void copy_reals(real *dst, const real *src, long n);
void zero_reals(real *x, long n);

// y[i][r] += b[r]
void bias_forward(real *y, const real *b, int n, int rows);
void bias_backward(real *db, const real *dy, int n, int rows);

// Mean cross-entropy over n rows of logits[n][vocab] against targets (a target < 0 is ignored
// and does not count). Returns the mean loss (double); nll[i] gets each row's loss (may be NULL).
double cross_entropy_forward(const real *logits, const int *targets, int n, int vocab, real *nll);
// dlogits = (softmax(logits) - onehot(target)) * dloss / count, OVERWRITING dlogits (may alias logits)
void cross_entropy_backward(real *dlogits, const real *logits, const int *targets, int n, int vocab, real dloss);
// The same over a chunk of rows (engine/model.c's loss over row chunks, the full logits never held):
// _sum adds the rows' losses to *total in row order and their number to *count (the mean over all
// chunks is then *total / *count, the same bits as cross_entropy_forward's); _scaled uses
// g = dloss / count of the whole batch, given.
void cross_entropy_forward_sum(const real *logits, const int *targets, int n, int vocab, real *nll, double *total,
                               long *count);
void cross_entropy_backward_scaled(real *dlogits, const real *logits, const int *targets, int n, int vocab, real g);
// Both at once for a training step, one pass per row over the logits (read once where the two above
// make five passes): _forward_sum's *total, *count and nll, and _backward_scaled's dlogits (may
// alias logits), each bit for bit as those give them; or, when dlogits16 is not NULL, that gradient
// rounded to bf16 there as mat_round_bf16 rounds (dlogits then unused: may be NULL; dlogits16 must
// not overlap logits), for a product that reads it in bf16 (mat_backward_input_bf16).
void cross_entropy_forward_backward(real *dlogits, uint16_t *dlogits16, const real *logits, const int *targets, int n,
                                    int vocab, real g, real *nll, double *total, long *count);

