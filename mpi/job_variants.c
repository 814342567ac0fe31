// Evaluation-time variants of a job's adapter: which adapter, which noise, how many bytes.
#include "mpi/job_variants.h"
#include <string.h>
#include "engine/adapter_quant.h"
#include "sweeps/variants.h"

static const EvalVariant *variant_of(const Plan *p, int v) {
    return v > 0 && v < p->n_variants ? &p->variants[v] : NULL;   // NULL: the identity
}

int variant_same_as_identity(const Plan *p, int v, const Adapter *ad) {
    const EvalVariant *ev = variant_of(p, v);
    return !ev || (ev->kind == VARIANT_QUANT && (!ad || ad->format == FMT_NONE || ad->n == 0));
}

const Adapter *variant_adapter(const Plan *p, int v, const JobSpec *js, const Weights *base, const Adapter *ad,
                               Adapter *copy, int *owned) {
    const EvalVariant *ev = variant_of(p, v);
    *owned = 0;
    if (!ev || ev->kind != VARIANT_QUANT || variant_same_as_identity(p, v, ad)) return ad;
    // the shape and wiring from the spec, the values from the trained block (as job_evaluate_more)
    memset(copy, 0, sizeof *copy);
    if (job_adapter_init(copy, js, base) || copy->n != ad->n) { adapter_free(copy); return NULL; }
    memcpy(copy->params, ad->params, ad->n * sizeof *ad->params);
    adapter_quantize_roundtrip(copy, ev->bits, ev->per_channel ? QUANT_PER_CHANNEL : QUANT_PER_TENSOR);
    *owned = 1;
    return copy;
}

uint64_t variant_adapter_bytes(const Plan *p, int v, const Adapter *ad) {
    const EvalVariant *ev = variant_of(p, v);
    if (!ad || ad->format == FMT_NONE || ad->n == 0) return 0;
    if (ev && ev->kind == VARIANT_QUANT)
        return adapter_quant_bytes(ad, ev->bits, ev->per_channel ? QUANT_PER_CHANNEL : QUANT_PER_TENSOR);
    return adapter_bytes(ad, 4);
}

double variant_eval_perplexity(const Plan *p, int v, const Weights *base, const Adapter *vad, const JobSpec *js,
                               const int *tokens, long n, double *nll_sum, long *n_pred) {
    const EvalVariant *ev = variant_of(p, v);
    if (ev && ev->kind == VARIANT_NOISE)
        return job_eval_perplexity_noise(base, vad, js, ev->sigma, tokens, n, nll_sum, n_pred);
    return job_eval_perplexity(base, vad, js, tokens, n, nll_sum, n_pred);
}
