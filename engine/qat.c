// Quantisation-aware training: the quantised shadow of the latent weights (engine/qat.h).
#include "engine/qat.h"
#include <stdlib.h>
#include <string.h>
#include "engine/ternary.h"
#include "engine/util.h"

// Sizes of the shadow's buffers for a shape: trit bytes, scale floats, bf16 elements.
static void shadow_sizes(const ModelConfig *c, size_t *trits, size_t *scales, size_t *bf16) {
    int n = weights_n_tensors(c);
    TensorInfo *t = xcalloc((size_t)n, sizeof *t);
    weights_tensors(c, t);
    *trits = *scales = *bf16 = 0;
    for (int i = 0; i < n; i++) {
        if (t[i].kind == TK_MATRIX) {
            *trits += ternary_packed_bytes(t[i].rows, t[i].cols);
            *scales += (size_t)t[i].rows;
        } else if (t[i].kind == TK_EMBED || t[i].kind == TK_HEAD) {
            *bf16 += (size_t)t[i].rows * t[i].cols;
        }
    }
    free(t);
}

void qat_init(QatShadow *q, const Weights *latent) {
    size_t nt, ns, nb;
    shadow_sizes(&latent->cfg, &nt, &ns, &nb);
    q->trits = xaligned(nt ? nt : 1);
    q->scales = xaligned((ns ? ns : 1) * sizeof(float));
    q->embed_bf16 = xaligned(nb * sizeof(uint16_t));
    qat_quantize(q, latent);
}

void qat_quantize(QatShadow *q, const Weights *latent) {
    const ModelConfig *c = &latent->cfg;
    int n = weights_n_tensors(c);
    TensorInfo *t = xcalloc((size_t)n, sizeof *t);
    weights_tensors(c, t);
    q->w = *latent;   // cfg, mc, and the vectors (norm gains, biases) as they are
    uint8_t *trits = q->trits;
    float *scales = q->scales;
    uint16_t *bf = q->embed_bf16;
    int max_cols = 1;
    for (int i = 0; i < n; i++) max_cols = t[i].cols > max_cols ? t[i].cols : max_cols;
    float *row = xmalloc((size_t)max_cols * sizeof(float));
    for (int i = 0; i < n; i++) {
        Mat *dst = weights_mat(&q->w, &t[i]);
        if (!dst) continue;
        const real *src = weights_mat((Weights *)latent, &t[i])->data;   // MAT_REAL, read only
        int rows = t[i].rows, cols = t[i].cols;
        size_t count = (size_t)rows * cols;
        if (t[i].kind == TK_MATRIX) {
            // row by row through float, as model_write quantises a matrix to MAT_TERNARY
            size_t rb = ternary_packed_bytes(1, cols);
            for (int r = 0; r < rows; r++) {
                for (int k = 0; k < cols; k++) row[k] = (float)src[(size_t)r * cols + k];
                ternary_quantize_rows(trits + rb * r, scales + r, row, 1, cols);
            }
            *dst = (Mat){ .type = MAT_TERNARY, .rows = rows, .cols = cols, .data = trits, .scale = scales };
            trits += rb * rows;
            scales += rows;
        } else {   // embedding, untied head: rounded to bf16 as model_write stores them
            for (size_t k = 0; k < count; k++) bf[k] = f32_to_bf16((float)src[k]);
            *dst = (Mat){ .type = MAT_BF16, .rows = rows, .cols = cols, .data = bf };
            bf += count;
        }
    }
    if (c->tied) q->w.head = q->w.embed;
    free(row);
    free(t);
    mat_cache_clear(q->w.mc);   // the converted copies of the previous step's shadow are stale
}

void qat_free(QatShadow *q) {
    free(q->trits);
    free(q->scales);
    free(q->embed_bf16);
    memset(q, 0, sizeof *q);
}
