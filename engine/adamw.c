// AdamW as torch.optim.AdamW (bias correction, decoupled weight decay, eps outside the sqrt), with
// optional global-norm clipping as torch.nn.utils.clip_grad_norm_.
#include "engine/adamw.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "engine/util.h"
#include "engine/ops.h"

int adamw_alloc(Adapter *a) {
    free(a->m);
    free(a->v);
    a->m = xcalloc(a->n ? a->n : 1, sizeof(float));
    a->v = xcalloc(a->n ? a->n : 1, sizeof(float));
    return 0;
}

void adamw_free(Adapter *a) {
    free(a->m);
    free(a->v);
    a->m = a->v = NULL;
}

void adamw_end(Adapter *a) {
    adamw_free(a);
    if (!a->n) return;
    // madvise wants whole pages: zero the partial ones at either end by hand
    size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = a->n * sizeof(real);
    uintptr_t lo = (uintptr_t)a->grads, hi = lo + bytes;
    uintptr_t plo = (lo + page - 1) / page * page, phi = hi / page * page;
    if (plo >= phi || madvise((void *)plo, phi - plo, MADV_DONTNEED)) {
        memset(a->grads, 0, bytes);
        return;
    }
    memset(a->grads, 0, plo - lo);
    memset((void *)phi, 0, hi - phi);
}

// The update is element-wise: split over parallel_for_light's threads in items of ADAMW_ELEMS (the
// gradient's norm, in adamw_step, stays one sum in index order).
enum { ADAMW_ELEMS = 1 << 14 };

typedef struct {
    float *m, *v;
    real *p;
    const real *g;
    size_t n;
    double clip, beta1, beta2, eps, step_size, bc2_sqrt, decay;
} AdamwArgs;

static void adamw_update(void *ctx, int item, int worker) {
    (void)worker;
    const AdamwArgs *a = ctx;
    float *m = a->m, *v = a->v;
    real *p = a->p;
    const real *g = a->g;
    double clip = a->clip, beta1 = a->beta1, beta2 = a->beta2, eps = a->eps;
    double step_size = a->step_size, bc2_sqrt = a->bc2_sqrt, decay = a->decay;
    size_t i0 = (size_t)item * ADAMW_ELEMS, i1 = i0 + ADAMW_ELEMS < a->n ? i0 + ADAMW_ELEMS : a->n;
    for (size_t i = i0; i < i1; i++) {
        double gi = g[i] * clip;
        m[i] = (float)(beta1 * m[i] + (1 - beta1) * gi);
        v[i] = (float)(beta2 * v[i] + (1 - beta2) * gi * gi);
        double denom = sqrt((double)v[i]) / bc2_sqrt + eps;
        p[i] = (real)(p[i] * decay - step_size * m[i] / denom);
    }
}

double adamw_step(Adapter *a, int t, double lr, double beta1, double beta2, double eps,
                  double weight_decay, double grad_clip) {
    double sumsq = 0;
    for (size_t i = 0; i < a->n; i++) sumsq += (double)a->grads[i] * a->grads[i];
    double norm = sqrt(sumsq);
    // A non-finite gradient would poison every moment; the caller stops on the returned norm.
    if (!isfinite(norm)) return norm;
    double clip = 1.0;
    if (grad_clip > 0 && norm > grad_clip) clip = grad_clip / (norm + 1e-6);
    double bc1 = 1.0 - pow(beta1, t), bc2 = 1.0 - pow(beta2, t);
    double step_size = lr / bc1, bc2_sqrt = sqrt(bc2), decay = 1.0 - lr * weight_decay;
    AdamwArgs args = { a->m, a->v, a->params, a->grads, a->n, clip, beta1, beta2, eps, step_size, bc2_sqrt, decay };
    parallel_for_light((int)((a->n + ADAMW_ELEMS - 1) / ADAMW_ELEMS), adamw_update, &args);
    return norm;
}
