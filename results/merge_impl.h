// What results/merge.c shares with merge_combos.c and merge_spec.c: the merge's state and the merged
// axes. Not part of the interface (results/merge.h is).
#ifndef SWEEP_MERGE_IMPL_H
#define SWEEP_MERGE_IMPL_H
#include <stddef.h>
#include "results/h5read.h"

// One merged axis: labels in order of first appearance, with the content hashes that must agree.
typedef struct {
    int n, cap;
    char **labels;
    const char **hash;          // base: base hash; eval_text: eval hash (borrowed)
    const char **hash2;         // base: tokenizer hash
    const char **owner;         // the input that brought the label, for messages
} MAxis;

typedef struct {
    const char *const *paths;
    ResultsFile *rf;
    int **amap[AX_COUNT];       // amap[a][file][label index] = merged index
    int **vmap;                 // vmap[file][variant index] = merged variant index
    char *err;
    size_t errlen;
} M;

// A job of the merged file: the file and row it is read from, its place on the merged axes.
typedef struct {
    int file, job;
    const char *id;             // borrowed from the file's job
    int combo;                  // 1: an eval.combos job (after every trained job in a run's order)
    int ax[AX_SEED + 1];
} MJob;

// eval.combos as one file's spec states them (sweeps/combos.h): per combination (a format-axis label),
// the format it averages and each of the file's users' group, so that a combination job can be checked
// against the merged file's groups: a group split across the files averages fewer adapters in each
// than one run of the union spec would, and is refused rather than merged.
typedef struct {
    char label[64], source[64];
    int all;                    // "groups": "all": every user of the file (of the merged file, once merged)
    int n_users;
    char **user;                // the file's users, in its axis order
    char **group;               // [n_users]: the user's group name, NULL in none
} FCombo;

typedef struct { int n; FCombo *c; } FCombos;

char *merge_strdup(const char *s);

// results/merge_combos.c
// The combinations of the file's spec attribute (parsed without touching the files it names). 0 ok
// (none when the spec has no eval.combos); -1 with one line in err.
int merge_read_combos(const char *path, const ResultsFile *rf, FCombos *out, char *err, size_t errlen);
void merge_combos_free(FCombos *f);
// Marks combo_fmt[f] (one per merged format label) for combinations, refusing one stated two ways, and
// checks that each combination job's group has the same members in its file as in the merged file
// (fc[n]: each file's statement). Sets each mj's combo. 0 ok; -1 with one line in m->err.
int merge_check_combos(const M *m, int n, const FCombos *fc, const MAxis *ax, MJob *mj, int nj,
                       unsigned char *combo_fmt);

// results/merge_spec.c
// The merged file's spec attribute when the inputs' specs differ: the first file's spec with "users"
// and "seeds" replaced by the merged axes' (each user's entry as the first spec naming it wrote it),
// when that spec expands to exactly the merged axes, as it does for files split by users or seeds, so
// that `sweep report` re-reads it as the union run's; NULL otherwise (the first file's spec is kept).
char *merge_union_spec(const ResultsFile *rf, int n, const MAxis *ax, const char *path);
#endif
