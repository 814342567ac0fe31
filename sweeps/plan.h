// A spec expanded into a grid: named axes, and the jobs that fill it. Shared by the spec parser
// (which builds it), the scheduler (which runs it) and the results file (whose dimensions are the axes).
#pragma once
#include <stdint.h>
#include "engine/adapter.h"
#include "engine/mat.h"
#include "engine/train.h"

// The dimensions of every metric dataset, in this order.
enum { AX_BASE, AX_CONDITION, AX_FORMAT, AX_TRAIN_USER, AX_SEED, AX_EVAL_TEXT, AX_COUNT };
extern const char *const axis_names[AX_COUNT];   // "base", "condition", "format", "train_user", "seed", "eval_text"

typedef struct {
    int n;
    char **labels;          // coordinate labels, e.g. "norm", "norm[lr=0.001]", "austen/eval-1", "general"
} Axis;

typedef enum { COND_REAL = 0, COND_RANDOM = 1 } Condition;
extern const char *const condition_names[];      // "real", "random" (Condition order), NULL-terminated

// One format as the grid sees it: a base format plus every hyperparameter resolved.
typedef struct {
    char label[64];         // axis label
    AdapterFormat format;
    LoraSpec lora;
    SteerSpec steer;        // steer: the blocks (all zero: the last)
    TrainConfig train;
    MatPrecision precision; // weight products in training and evaluation (spec field "precision")
} FormatVariant;

typedef struct {
    char name[64];          // axis label
    char path[1024];        // model file
    char tokenizer[1024];   // tokenizer file; "" = the one the model file carries
    ModelConfig cfg;        // shape for cost estimates: the spec's "config" (default: DESIGN.md's base)
    char kind[32];          // storage of the projections read from the file ("f32", "bf16", "ternary",
                            // "int4/g64"); "" when the file was not read (sweep plan --no-check)
} BaseEntry;

typedef struct {
    char name[64];          // axis label ("austen", or a custom user's name)
    char train_path[1024];  // training corpus (text)
    int n_eval;
    int *eval_index;        // the user's own eval texts, as indices into the eval_text axis
    char alias[64];         // the name the spec used when it was an alias ("programmer"), else ""
    // A custom user given as raw documents ("files" or "dir"): they must be split (sweeps/split.h,
    // n_eval slices of Plan.split_eval_bytes) into train_path's directory before the run.
    int n_sources;
    char **sources;         // the files in the spec's order, or the one directory
    int source_is_dir;
} UserEntry;

typedef struct {
    char label[96];         // "austen/eval-1", "general"
    char path[1024];        // text file
    int user;               // owning user (index into users), -1 for general
} EvalEntry;

// An evaluation-time variant of every trained adapter (spec field eval.variants; sweeps/variants.h):
// the adapter as trained, its int8/int4 round trip, or residual-stream noise at evaluation.
typedef enum { VARIANT_IDENTITY = 0, VARIANT_QUANT, VARIANT_NOISE } VariantKind;

typedef struct {
    char label[32];         // coordinate label: "identity", "int8", "int4:channel", "noise=0.01"
    VariantKind kind;
    int bits;               // VARIANT_QUANT: 8 or 4
    int per_channel;        // VARIANT_QUANT: absmax per output row, else per tensor (engine/adapter_quant.h)
    double sigma;           // VARIANT_NOISE: std relative to each position's RMS
} EvalVariant;

typedef struct {
    char id[17];            // 16 hex digits: hash of everything that determines the result
    int ax[AX_SEED + 1];    // indices on AX_BASE .. AX_SEED
    uint64_t seed;          // the seed value itself
    int n_eval;
    int *eval;              // eval_text indices this job evaluates (its cells)
    double est_flops;       // estimated cost, for longest-first scheduling and `sweep plan`
    // eval.combos (sweeps/combos.h): 0 for a trained job; k > 0 for a job of plan->combos[k - 1], which
    // trains nothing and combines the adapters of its inputs (job indices, in user order)
    int combo;
    int n_inputs;
    int *inputs;
} Job;

// A combination of trained adapters (spec field eval.combos; sweeps/combos.h), evaluated on each
// member's own texts under the format-axis label `label` ("norm+average", "norm+ensemble").
typedef enum { COMBO_AVERAGE = 1, COMBO_ENSEMBLE = 2 } ComboKind;

#define MAX_COMBO_GROUPS 64

typedef struct {
    ComboKind kind;
    char label[64];         // its format-axis label
    int source;             // the format it combines (index on the format axis)
    int format;             // its own index on the format axis
    int k;                  // ensemble: members per ensemble (0: every other user of the group)
    int n_groups;           // 1 with the name "all" for every user, else the spec's groups
    char group_names[MAX_COMBO_GROUPS][32];
    int *group_of;          // [users]: the user's group, -1 in none
} Combo;

typedef struct {
    char protocol[32];      // "bet37", ..., "protocol-1b", "custom"
    char output[1024];      // results path
    char *spec_text;        // the spec as given
    char spec_hash[17];
    int max_attempts;       // retries of a failed job
    Axis axis[AX_COUNT];
    BaseEntry *bases;       // axis[AX_BASE].n
    FormatVariant *formats; // axis[AX_FORMAT].n
    Condition *conditions;  // axis[AX_CONDITION].n: the condition at each position (the spec's order)
    UserEntry *users;       // axis[AX_TRAIN_USER].n
    uint64_t *seeds;        // axis[AX_SEED].n
    EvalEntry *evals;       // axis[AX_EVAL_TEXT].n
    int eval_tokens;        // tokens per eval text (0 = all)
    int n_jobs;
    Job *jobs;
    long split_eval_bytes;  // bytes per eval slice when splitting custom users' documents
    // eval.variants: 0 when the spec has none (identity only; files as before the field), else
    // n_variants >= 1 with variants[0] the identity
    int n_variants;
    EvalVariant *variants;
    int n_combos;           // eval.combos (0: none); their jobs follow every trained job in jobs[]
    Combo *combos;
    struct Published *published;   // the seeds' figures (spec field "published", sweeps/published.h), NULL
} Plan;

void plan_free(Plan *p);
long plan_n_cells(const Plan *p);
// FLOPs of one job's training (steps x (forward + backward) at batch x seq), and of evaluating n_tokens
// of text in windows of the base's context. Rough but proportional: good for ordering and sizing.
double plan_train_flops(const ModelConfig *c, const FormatVariant *f);
double plan_eval_flops(const ModelConfig *c, long n_tokens);
// Job indices, estimated cost descending (ties by id): the order in which jobs are handed out.
void plan_longest_first(const Plan *p, int *order);
// Simulated wall seconds of the whole plan on n_ranks ranks running one job each at flops_per_second,
// longest first, each job to the rank that frees up first. rank_of_job and start_of_job (n_jobs each,
// may be NULL) receive the schedule.
double plan_simulate(const Plan *p, int n_ranks, double flops_per_second, int *rank_of_job,
                     double *start_of_job);
