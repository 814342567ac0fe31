// A job's adapter under each of the plan's evaluation-time variants (eval.variants, sweeps/variants.h):
// the engine's int8/int4 round trip (engine/adapter_quant.c) or residual-stream noise drawn from the
// job's seed (job_eval_perplexity_noise), the same code `sweep eval --adapter-quant/--noise` runs.
#pragma once
#include <stdint.h>
#include "engine/adapter.h"
#include "engine/job.h"
#include "sweeps/plan.h"

// The adapter to evaluate variant v with: ad itself, or *copy (then *owned = 1: adapter_free it),
// ad's block rounded through the variant's width. NULL when the copy cannot be made.
const Adapter *variant_adapter(const Plan *p, int v, const JobSpec *js, const Weights *base, const Adapter *ad,
                               Adapter *copy, int *owned);
// The variant's cells equal the identity's by definition (a quantised none adapter is no adapter).
int variant_same_as_identity(const Plan *p, int v, const Adapter *ad);
// Bytes of the adapter under variant v: its int8/int4 wire size, else its fp32 size (0 for none).
uint64_t variant_adapter_bytes(const Plan *p, int v, const Adapter *ad);
// job_eval_perplexity of one text under variant v (vad: from variant_adapter).
double variant_eval_perplexity(const Plan *p, int v, const Weights *base, const Adapter *vad, const JobSpec *js,
                               const int *tokens, long n, double *nll_sum, long *n_pred);
