// Perplexity of an ensemble of adapters (Bet 55): the mixture of their next-token distributions.
// At every predicted position t the K members' probabilities of the target are averaged,
// p_mix(t) = (1/K) sum_k softmax(z_k(t))[target], and the text scores exp(-mean_t log p_mix(t)):
// probabilities are averaged, never logits or parameters. Each member runs its own forward over the
// same windows (eval_perplexity's: windows of T, B at a time), one member after the other, so memory
// holds one logit tensor (the Acts') and two doubles per position of a batch, whatever K.
#pragma once
#include "engine/adapter.h"
#include "engine/weights.h"

// log p_mix is accumulated per position as a running log-sum-exp over the members in order (m the
// largest log-probability so far, s = sum_k exp(l_k - m)), each member's l_k = -(its cross-entropy,
// cross_entropy_forward's double of the row), and log p_mix = m + log(s / K). So an ensemble of one
// adapter, or of K copies of one adapter, scores exactly what eval_perplexity scores for it: the same
// row losses summed the same way (bit for bit). ads[k] may be NULL or a none adapter (the base).
// Returns NAN (errno EINVAL) for a token outside the vocabulary, T or B < 1, or K < 1.
double eval_perplexity_ensemble(const Weights *base, const Adapter *const *ads, int K, const int *tokens, long n,
                                int T, int B, double *nll_sum, long *n_pred);
