// The mixture perplexity of K adapters (engine/ensemble.h): a plain loop, member after member per batch.
#include "engine/ensemble.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include "engine/model.h"
#include "engine/ops.h"
#include "engine/train.h"
#include "engine/util.h"

double eval_perplexity_ensemble(const Weights *base, const Adapter *const *ads, int K, const int *tokens, long n,
                                int T, int B, double *nll_sum, long *n_pred) {
    if (nll_sum) *nll_sum = 0;
    if (n_pred) *n_pred = 0;
    int V = base->cfg.vocab;
    int ok = T >= 1 && B >= 1 && K >= 1 && ads && (tokens || n <= 0);
    for (long i = 0; ok && i < n; i++) ok = tokens[i] >= 0 && tokens[i] < V;
    if (!ok) { errno = EINVAL; return NAN; }
    if (n < 2) return NAN;
    long n_windows = (n - 2) / T + 1;   // as eval_perplexity: window k starts at kT, predicts one token at least
    int Bmax = n_windows < B ? (int)n_windows : B;
    Acts *acts = acts_create(&base->cfg, Bmax, T);
    int *in = xmalloc((size_t)Bmax * T * sizeof(int)), *tg = xmalloc((size_t)Bmax * T * sizeof(int));
    double *m = xmalloc((size_t)Bmax * T * sizeof(double)), *s = xmalloc((size_t)Bmax * T * sizeof(double));
    double sum = 0;
    long count = 0;
    for (long w0 = 0; w0 < n_windows; w0 += Bmax) {
        int nb = (int)(n_windows - w0 < Bmax ? n_windows - w0 : Bmax);
        for (int b = 0; b < nb; b++) {
            long start = (w0 + b) * T;
            for (int t = 0; t < T; t++) {
                long i = start + t;
                in[b * T + t] = i < n ? tokens[i] : 0;   // the last window is shorter: padded, its targets ignored
                tg[b * T + t] = i + 1 < n ? tokens[i + 1] : -1;
            }
        }
        for (int k = 0; k < K; k++) {
            const Adapter *ad = ads[k] && ads[k]->format != FMT_NONE ? ads[k] : NULL;
            Weights eff;
            adapter_apply(ad, base, &eff);
            model_forward(&eff, ad, acts, in, NULL, nb, T);
            const real *logits = acts_logits(acts);
            for (int i = 0; i < nb * T; i++) {
                if (tg[i] < 0) continue;
                // one row: its count is 1, so the mean returned is the row's own double loss
                double l = -cross_entropy_forward(logits + (size_t)i * V, &tg[i], 1, V, NULL);
                if (k == 0) { m[i] = l; s[i] = 1; }
                else if (l > m[i]) { s[i] = s[i] * exp(m[i] - l) + 1; m[i] = l; }
                else s[i] += exp(l - m[i]);
            }
        }
        // summed as model_forward's mean and eval_perplexity's sum: row order, then mean x count
        double total = 0;
        long batch_count = 0;
        for (int i = 0; i < nb * T; i++)
            if (tg[i] >= 0) { total += -(m[i] + log(s[i] / K)); batch_count++; }
        double mean = batch_count ? total / batch_count : 0;
        sum = eval_sum_batch(sum, mean, batch_count);
        count += batch_count;
    }
    free(in);
    free(tg);
    free(m);
    free(s);
    acts_free(acts);
    if (nll_sum) *nll_sum = sum;
    if (n_pred) *n_pred = count;
    return exp(sum / count);
}
