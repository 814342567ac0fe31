// Sweep specs: one JSON file in, a validated Plan out (sweeps/plan.h). Every field, type, default and
// range is documented in sweeps/SPEC.md. Nothing here exits: errors come back as one line
// "SPECFILE: json.path: problem" for the caller to print (the CLI then exits 2).
#pragma once
#include <stddef.h>
#include "sweeps/plan.h"

// How much the parser may rely on the filesystem.
typedef enum {
    SPEC_FILES_REQUIRED = 0,  // every input file must exist (sweep run, sweep plan)
    SPEC_FILES_OPTIONAL,      // missing inputs are allowed; files that exist are still fingerprinted
    SPEC_FILES_IGNORED,       // never touch the filesystem: ids hash paths, not contents (tests, fuzzing)
} SpecFiles;

// Where results go when neither the spec ("output") nor -o says: runs/SPECNAME.h5, a folder that holds
// no source (ignored by git); the journal, cache and split custom users go beside the results file.
#define SPEC_RUNS_DIR "runs"

// Parses the spec file at path into p. Returns 0, or -1 with one line in err and p zeroed.
int spec_load(const char *path, SpecFiles files, Plan *p, char *err, size_t errlen);
// The same on text already in memory; path names the spec in messages and anchors relative paths.
int spec_parse(const char *text, size_t len, const char *path, SpecFiles files, Plan *p, char *err,
               size_t errlen);

// spec_load with the spec's default precision (train.precision, else fp32) replaced, as `sweep run
// --precision` and `sweep plan --precision` do; formats that name their own precision keep it.
// precision NULL or "": the spec as written. An unknown name is an error naming "--precision".
int spec_load_precision(const char *path, SpecFiles files, const char *precision, Plan *p, char *err,
                        size_t errlen);
// 0 when s is a precision a spec may name (fp32, fp32-dnnl, bf16, int8); else -1 and
// "unknown precision S (did you mean ...?)" in err.
int spec_precision_check(const char *s, char *err, size_t errlen);

// Edit distance (optimal string alignment: a transposition costs 1) for "did you mean" hints.
int spec_edit_distance(const char *a, const char *b);

// Splits every custom user given as raw documents ("files" or "dir") into train.txt and eval-k.txt at
// the paths the plan names (sweeps/split.h rules, deterministic, atomic). Rank 0 calls it once
// before any job starts; users given by built-in name or train + eval need nothing. 0 ok; -1 with
// one line naming the user in err (2 = the user's text is at fault, 3 = cannot write: in *status).
int spec_split_users(const Plan *p, int *status, char *err, size_t errlen);
