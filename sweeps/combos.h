// Combinations of trained adapters (spec field eval.combos, sweeps/SPEC.md): jobs that train nothing
// and evaluate a combination of other jobs' adapters.
//
// average: for each base x condition x seed, the mean of the source format's adapters over a group
// of users (every user, or each of the spec's named groups), evaluated on each member's own texts.
// Each member's cells form one job on the format axis under the combo's label ("norm+average"), at
// the member's train_user coordinate; its inputs are the group's jobs in user order. Its id hashes
// the kind, the member and its inputs' ids, never order or ranks.
//
// ensemble (Bet 55): each member's texts scored by the mixture of the next-token distributions of
// other users' adapters of the format (engine/ensemble.h), never its own: the other users of its
// group, or k of them drawn by other_score(the member's own job id, name), eval.others' score. Its
// inputs are those users' jobs in user order; it keeps no adapter of its own. Combo jobs follow every trained
// job in plan->jobs, so adding eval.combos to a spec leaves every other job's id and index alone.
#pragma once
#include "sweeps/plan.h"

// The combo of a job, or NULL for a trained job.
static inline const Combo *job_combo(const Plan *p, const Job *j) {
    return j->combo > 0 && j->combo <= p->n_combos ? &p->combos[j->combo - 1] : NULL;
}
