// `sweep merge`: results files of one design run apart (another cluster, another day, more seeds)
// combined into one file, as one run of the union of their specs would have written it.
//
// The inputs must agree where they overlap: the protocol; per base label, the base, tokenizer and per
// eval text label the text, by content hash (root attributes base_hashes, tokenizer_hashes,
// eval_hashes); a job id held by several files, bit for bit (base, condition and format, precision,
// status, tokens, final loss, the largest parameter change where both files recorded one, adapter
// sizes, every recorded cell, the loss curve, the kept adapter, and under each eval.variants variant
// both files have, its cells and /variant_adapter_bytes); two different job ids never share a place
// (base, condition, format, train_user, seed: their specs differ in something the labels do not show).
// Anything else is refused with one line naming the field, or the job and the dataset.
//
// eval.variants (results/h5variants.h): the variant coordinate is an axis like the others, unioned
// ("identity" first, then the labels in order of first appearance): variants are not in job ids, so a
// file with int8 and one with noise of the same jobs merge into the file of one run with both; a
// job's variant cells are the union of the files' cells. Files without variants add none.
//
// eval.combos (sweeps/combos.h): combination jobs (format labels such as "norm+average") are carried
// like trained jobs, but each must average the group the merged file has: its group (read from the
// spec attribute of the file it comes from; "all" is every user of that file) must have the same
// members, in the same order, as the group over the merged train_user axis (the union of the files'
// statements of the group; "all": every merged user). A group split across files (users split between
// files averaged over "all", or a named group's members in two files) is refused, naming the job and
// both member lists: its average must be evaluated by one run of the union spec. A file written by
// sweep merge keeps one spec, so a combination whose group its spec does not state is refused too
// (merge the files the sweeps wrote).
//
// The merged file: each axis holds the labels in order of first appearance over the inputs (give the
// files in the order of the union spec's seeds, users, ... to get its axis order); jobs in a single
// run's order: trained jobs in the spec's nesting order (base, condition, format, train_user, seed),
// then combination jobs (combination, base, condition, seed, member); a job's record from the first
// file where it is not pending, its cells the union of the files' cells; a job whose id names no user
// or seed (none) sits at the train_user and seed of the first file holding it. Root attributes: spec
// is the first file's when all spec hashes agree, else the first file's spec with "users" and "seeds"
// replaced by the merged axes' when that expands to exactly the merged axes (files split by users or
// seeds: `sweep report` then reads it as the union run's), else the first file's; spec_hash the first
// file's when all agree, else FNV-1a 64 of the files' spec hashes joined by ","; created_by "sweep
// merge". How a job ran (seconds, rank, host, backend, attempts, message, peak_rss_bytes, started) is
// carried from the file the record came from, so it differs from a single run's; h5_compare_results
// ignores it, as it ignores spec, spec_hash, created_by and tool_version.
#pragma once
#include <stddef.h>

// 0 written; -1 refused or failed, with one line (naming the file and the field, or the job) in err.
int results_merge(const char *const *inputs, int n_inputs, const char *output, char *err, size_t errlen);
