// A spec expanded into a grid: named axes, and the jobs that fill it. Shared by the spec parser
// (which builds it), the scheduler (which runs it) and the results file (whose dimensions are the axes).
#pragma once
#include <stdint.h>
#include "engine/adapter.h"
#include "engine/train.h"

// The dimensions of every metric dataset, in this order.
enum { AX_BASE, AX_CONDITION, AX_FORMAT, AX_TRAIN_USER, AX_SEED, AX_EVAL_TEXT, AX_COUNT };
extern const char *const axis_names[AX_COUNT];   // "base", "condition", "format", "train_user", "seed", "eval_text"

typedef struct {
    int n;
    char **labels;          // coordinate labels, e.g. "norm", "norm[lr=0.001]", "austen/eval-1", "general"
} Axis;

typedef enum { COND_REAL = 0, COND_RANDOM = 1 } Condition;

// One format as the grid sees it: a base format plus every hyperparameter resolved.
typedef struct {
    char label[64];         // axis label
    AdapterFormat format;
    LoraSpec lora;
    TrainConfig train;
} FormatVariant;

typedef struct {
    char name[64];          // axis label
    char path[1024];        // model file
} BaseEntry;

typedef struct {
    char name[64];          // axis label ("austen", or a custom user's name)
    char train_path[1024];  // training corpus (text)
    int n_eval;
    int *eval_index;        // the user's own eval texts, as indices into the eval_text axis
} UserEntry;

typedef struct {
    char label[96];         // "austen/eval-1", "general"
    char path[1024];        // text file
    int user;               // owning user (index into users), -1 for general
} EvalEntry;

typedef struct {
    char id[17];            // 16 hex digits: hash of everything that determines the result
    int ax[AX_SEED + 1];    // indices on AX_BASE .. AX_SEED
    uint64_t seed;          // the seed value itself
    int n_eval;
    int *eval;              // eval_text indices this job evaluates (its cells)
    double est_flops;       // estimated cost, for longest-first scheduling and `sweep plan`
} Job;

typedef struct {
    char protocol[32];      // "bet37", ..., "protocol-1b", "custom"
    char output[1024];      // results path
    char *spec_text;        // the spec as given
    char spec_hash[17];
    int max_attempts;       // retries of a failed job
    Axis axis[AX_COUNT];
    BaseEntry *bases;       // axis[AX_BASE].n
    FormatVariant *formats; // axis[AX_FORMAT].n
    UserEntry *users;       // axis[AX_TRAIN_USER].n
    uint64_t *seeds;        // axis[AX_SEED].n
    EvalEntry *evals;       // axis[AX_EVAL_TEXT].n
    int eval_tokens;        // tokens per eval text (0 = all)
    int n_jobs;
    Job *jobs;
} Plan;

void plan_free(Plan *p);
