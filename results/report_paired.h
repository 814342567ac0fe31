// What the per-user judges share (Bets 49, 52, 60; Bet 37 adds its verdict the same way): a paired
// ratio per user over seeds x own held-out texts, the level a count of users reaches, and the verdict
// of one (base, format).
#pragma once
#include "results/report_judge.h"

// One side of a paired ratio: format f's cells on base b under condition c, or (base set) the base f is
// compared with (the none format d->base_of[f]; it has no condition, user or seed).
typedef struct {
    int b, c, f;
    int base;
} Side;

// num/den per (seed, u's own held-out text), summarised under key (stats_summary); each missing cell
// is added to m, num's before den's.
Summary paired_own_ratio(const ReportData *d, Missing *m, Side num, Side den, int u, const char *key);

// The protocols' count of users: STRICT when all n pass the strict bar, else LENIENT when at least 2/3
// of them pass the lenient one (3k >= 2n), else CATASTROPHIC when catastrophic, else none.
VerdictLevel users_level(int n, int n_strict, int n_lenient, int catastrophic);

// Adds the verdict of format f on base b (scope; f's precision) and sets it (verdict_set: takes
// decided and words).
RVerdict *add_verdict(RSection *sec, const ReportData *d, const Missing *m, const char *scope, int b, int f,
                      int any_judged, VerdictLevel level, char *decided, char *words);
