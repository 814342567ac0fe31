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
    float *m = a->m, *v = a->v;
    real *p = a->params;
    const real *g = a->grads;
    for (size_t i = 0; i < a->n; i++) {
        double gi = g[i] * clip;
        m[i] = (float)(beta1 * m[i] + (1 - beta1) * gi);
        v[i] = (float)(beta2 * v[i] + (1 - beta2) * gi * gi);
        double denom = sqrt((double)v[i]) / bc2_sqrt + eps;
        p[i] = (real)(p[i] * decay - step_size * m[i] / denom);
    }
    return norm;
}
