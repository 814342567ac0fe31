// Evaluation-time variants of trained adapters (spec field eval.variants, sweeps/SPEC.md): how a
// variant's cells are named in job records and the journal, and which cells a job owes.
//
// A job's record holds its cells as EvalCells labelled by eval text. A variant's cell is labelled
// "EVAL@VARIANT" ("austen/eval-1@int8"); the identity's is the eval text's label alone, so a spec
// without eval.variants writes exactly the records (and files) it always did. Each variant but the
// identity also owes one cell labelled "@VARIANT" that holds no text: its n_tokens is the adapter's
// bytes under that variant (adapter_quant_bytes for int8/int4, the fp32 bytes for noise), NaN metrics.
#pragma once
#include <stddef.h>
#include "sweeps/plan.h"

#define VARIANT_SEP '@'
#define MAX_EVAL_VARIANTS 64

// Variants of the plan's variant axis: n_variants, or 1 (the identity) when the spec has none.
int variant_count(const Plan *p);
const char *variant_label(const Plan *p, int v);   // "identity" for v 0 of a plan without variants
// The label of variant v's cell on eval text `eval` ("" for the bytes cell). 0 ok, -1 too long.
int variant_cell_label(char *out, size_t n, const Plan *p, int v, const char *eval);
// The variant of a cell label (its eval part into eval[n]; "" for a bytes cell); -1 when the label
// names no variant of the plan.
int variant_of_cell(const Plan *p, const char *label, char *eval, size_t n);
// Whether the plan has this cell (an eval text of its axis under one of its variants, or a variant's
// bytes cell).
int plan_has_cell(const Plan *p, const char *label);
// The cells a job owes beyond its identity cells: (variant_count - 1) x (n_eval + 1).
int variant_extra_cells(const Plan *p, const Job *job);
// Forward passes over each eval text a job makes: one per variant, but for a none job the int8/int4
// variants copy the identity's cells (a quantised none adapter is no adapter).
int variant_evaluations(const Plan *p, int format_none);
