// The noise rule for a confusion matrix's diagonal margins (Bet 61, the 1B+ protocol): one owner of
// the rule and of its wording, which sweeps/SPEC.md, results/REPORT.md and the report quote. A margin
// is 1 - own ppl / the best other adapter's ppl, from the median paired ratio and its 95% interval.
#pragma once

// The 1B+ protocol's bar (seeds/003: "own adapter wins by ≥ 5% margin on most users"), as a ratio.
#define MARGIN_BAR_RATIO 0.95

typedef enum {
    MARGIN_MISSING = 0,
    MARGIN_BELOW,       // the interval excludes zero on the losing side: other adapters win
    MARGIN_NOISE,       // the interval includes zero (touching it counts as including): no pass word
    MARGIN_WINS,        // the interval excludes zero: own adapter wins, margin below 5%
    MARGIN_BAR,         // wins and the margin reaches 5% (exactly 5% counts)
} MarginClass;

// ratio: the median of own/other; lo, hi: its 95% interval (NaN: missing).
MarginClass margin_class(double ratio, double lo, double hi);
// "own wins (CI excludes 0)", "within noise (CI includes 0)", ...: the table's words for a class.
const char *margin_class_words(MarginClass c);
// Whether the interval excludes zero ("yes", "no"; "missing").
const char *margin_excludes_zero(MarginClass c);
// The rule in one paragraph, as the report notes it.
extern const char margin_rule[];
