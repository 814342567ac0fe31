// Running a combination of trained adapters (sweeps/combos.h): rank 0 holds a combo job back until
// its inputs are journalled, then hands it out with the combined adapter as the record to evaluate
// from (TAG_PREV, as for a job that gained eval texts), so the rank that runs it trains nothing and
// evaluates the member's texts with that adapter (job_evaluate_more). The mean is taken on rank 0
// from the journalled blocks in input order, in double, rounded once to float: the same bits on any
// rank count and after any resume.
#pragma once
#include <stddef.h>
#include "results/journal.h"
#include "sweeps/plan.h"

enum { COMBO_WAIT = 0, COMBO_READY = 1, COMBO_FAILED = -1 };
// Whether combo job j can run: COMBO_READY when every input finished ok with its adapter kept;
// COMBO_WAIT while one has no final record yet; COMBO_FAILED (msg names the input and why) when one
// failed for good or kept no adapter.
int combo_inputs_state(const Plan *p, int j, const JournalContents *jc, char *msg, size_t n);
// The record combo job j is evaluated from (its inputs COMBO_READY): status ok, no cells, and for an
// average the mean of its inputs' adapters; for an ensemble its members' blocks end to end in input
// order (K x the block, adapter_bytes K x a member's), which the worker splits again
// (job_evaluate_more) and does not keep: the members are their own jobs' kept adapters.
// job_result_free it.
void combo_input_record(const Plan *p, int j, const JournalContents *jc, JobResult *out);
// A combo job that cannot run: its final failed record (attempts at the plan's limit).
void combo_failed_record(const Plan *p, int j, const char *msg, JobResult *out);
