// The noise rule for diagonal margins (results/report_margin.h): a margin passes only when its
// interval excludes zero, so that a win inside the noise never gets a pass word.
#include "results/report_margin.h"
#include <math.h>

const char margin_rule[] =
    "A margin counts as a win only when its 95% interval excludes zero (the interval's lower end is above 0%; an "
    "interval that touches 0% includes it): a margin whose interval includes zero is within the noise and never "
    "passes, however large its median. It reaches the 1B+ protocol's bar when it also is at least 5% (exactly 5% "
    "counts; the seeds: \"own adapter wins by >= 5% margin on most users\").";

MarginClass margin_class(double ratio, double lo, double hi) {
    if (isnan(ratio) || isnan(lo) || isnan(hi)) return MARGIN_MISSING;
    if (lo > 1.0) return MARGIN_BELOW;
    if (!(hi < 1.0)) return MARGIN_NOISE;
    return ratio <= MARGIN_BAR_RATIO ? MARGIN_BAR : MARGIN_WINS;
}

const char *margin_class_words(MarginClass c) {
    switch (c) {
    case MARGIN_BELOW: return "other adapters win (CI excludes 0)";
    case MARGIN_NOISE: return "within noise (CI includes 0)";
    case MARGIN_WINS: return "own wins, below 5%";
    case MARGIN_BAR: return "own wins by >= 5%";
    default: return "missing";
    }
}

const char *margin_excludes_zero(MarginClass c) {
    return c == MARGIN_MISSING ? "missing" : c == MARGIN_NOISE ? "no" : "yes";
}
