// The spec parser's state while it reads one spec, shared by the files it is split into (internal to
// sweeps/; the public interface is sweeps/spec.h):
//   spec.c       the parse: top-level fields, bases, seeds, conditions, formats; the entry points
//   spec_json.c  typed JSON access, one-line errors, "did you mean" hints
//   inputs.c     input paths and file fingerprints
//   hparams.c    the hyperparameter table and reading its fields
//   users.c      users, their eval texts and the split of custom users' documents
//   published.c  the seeds' published figures (metadata, never in a job id)
//   grid.c       format variants, the job grid and job ids (the resume contract)
#pragma once
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#include "sweeps/hparams.h"
#include "sweeps/inputs.h"
#include "sweeps/plan.h"
#include "sweeps/spec_json.h"

#define MAX_LIST 64             // values in one hyperparameter list
#define MAX_VARIANTS 4096       // format variants after expansion

// One block of "formats" (over "train"): each field a single value or a list; lists multiply.
typedef struct {
    char key[64];                   // the label before any [field=value]
    char jp[96];                    // "formats.KEY", for messages
    AdapterFormat format;
    int n[HP_COUNT];
    double v[HP_COUNT][MAX_LIST];
    double beta1, beta2;
    unsigned targets;
    SteerSpec steer;                // steer formats: the blocks (all zero: the last)
    unsigned cond_mask;             // bit per condition (COND_REAL, COND_RANDOM)
    int first_variant, n_variants;  // in the format axis
} FormatBlock;

typedef struct {
    SpecCtx c;
    cJSON *root;
    Plan *p;
    FormatBlock *blocks;
    int n_blocks;
    int cond_order[2], n_cond;
    unsigned cond_mask;
    char data_dir[PATHMAX];
    int data_resolved;
    Ident *base_id, *tok_id, *user_id;   // file identities that go into job ids
    double *eval_flops;             // [base][eval text]: the cost of one cell
    enum { EVAL_OWN, EVAL_ALL, EVAL_LIST } eval_mode;
    unsigned char *eval_users;      // EVAL_LIST: which users' slices every job evaluates
    int others;                     // eval.others: other users' slices sampled per trained job (0: none)
    int slices, general;
    char general_path[PATHMAX];
    const char *precision;          // replaces the spec's default precision when not NULL
} Parse;

static inline char *xstrdup(const char *s) {
    char *d = xmalloc(strlen(s) + 1);
    strcpy(d, s);
    return d;
}

// hparams.c: one field's value or list of values into fb (0, or -1 with the message in c->err)
int hp_read(SpecCtx *c, const cJSON *it, const char *jp, int hp, FormatBlock *fb);
int hp_read_betas(SpecCtx *c, const cJSON *it, const char *jp, FormatBlock *fb);
int hp_read_targets(SpecCtx *c, const cJSON *it, const char *jp, unsigned *targets);
// A steer format's "layers": "last", or a list of distinct 0-based block numbers.
int hp_read_layers(SpecCtx *c, const cJSON *it, const char *jp, SteerSpec *steer);

// users.c, in this order: eval's scalar fields (slices, tokens, slice_bytes, general), then users and
// their eval texts (the general text last), then eval.users
int parse_eval_scalars(Parse *P);
int parse_users(Parse *P);
int parse_eval_users(Parse *P);
// variants.c: eval.variants into p->variants (after parse_eval_scalars)
int parse_eval_variants(Parse *P);

// combos.c: eval.combos onto the format axis, and their jobs after every trained job (after the grid)
int parse_eval_combos(Parse *P);

// published.c: the seeds' figures ("published"), after the users and the protocol are known
int parse_published(Parse *P);

// grid.c: a format block's variants onto the format axis; then, once every axis is known, the jobs with
// their ids and costs; then the check that no two jobs share an id
int grid_expand_block(Parse *P, FormatBlock *fb, int *cap);
int grid_expand_jobs(Parse *P);
// The score by which K other users are drawn for a job (eval.others; eval.combos' ensemble): the
// K lowest scores of other_score(the job's id, the user's name) are drawn, never by ranks or order.
uint64_t other_score(const char *job_id, const char *user);
int grid_check_unique_ids(Parse *P);
