// `sweep merge`: results files of one design run apart (another cluster, another day, more seeds)
// combined into one file, as one run of the union of their specs would have written it.
//
// The inputs must agree where they overlap: the protocol; per base label, the base, tokenizer and per
// eval text label the text, by content hash (root attributes base_hashes, tokenizer_hashes,
// eval_hashes); a job id held by several files, bit for bit (placement, precision, status, tokens, final
// loss, the largest parameter change where both files recorded one, adapter sizes, every recorded cell,
// the loss curve and the kept adapter). Anything else is
// refused with one line naming the field or the job.
//
// The merged file: each axis holds the labels in order of first appearance over the inputs (give the
// files in the order of the union spec's seeds, users, ... to get its axis order); jobs in the spec's
// nesting order (base, condition, format, train_user, seed); a job's record from the first file where it
// is not pending, its cells the union of the files' cells. Root attributes: spec is the first file's,
// spec_hash the first file's when all agree, else FNV-1a 64 of the files' spec hashes joined by ",";
// created_by "sweep merge". How a job ran (seconds, rank, host, backend, attempts, message,
// peak_rss_bytes, started) is carried from the file the record came from, so it differs from a single run's;
// h5_compare_results ignores it, as it ignores spec, spec_hash, created_by and tool_version.
#pragma once
#include <stddef.h>

// 0 written; -1 refused or failed, with one line (naming the file and the field, or the job) in err.
int results_merge(const char *const *inputs, int n_inputs, const char *output, char *err, size_t errlen);
