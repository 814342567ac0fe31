// The hyperparameter table: every training field a spec's "train" or format block takes, which is also
// an option of `sweep train`, with its type and range. Spec validation (sweeps/spec.c) and sweep
// train's options (cli/cmd_train.c) both loop over this one table; the defaults are the engine's
// (job_spec_default in engine/job.h; precision fp32). betas (a pair) and targets (a list of names)
// are read beside it. Documented for users in sweeps/SPEC.md.
#pragma once
#include <stddef.h>
#include "engine/adapter.h"
#include "engine/mat.h"
#include "engine/train.h"

enum { HP_STEPS, HP_BATCH, HP_SEQ, HP_LR, HP_EPS, HP_WD, HP_CLIP, HP_WARMUP, HP_COSINE, HP_MIN_LR,
       HP_RANK, HP_ALPHA, HP_PRECISION, HP_COUNT };

typedef enum { HP_INT, HP_REAL, HP_BOOL, HP_PRECISION_NAME } HpKind;   // a precision name is held as its MatPrecision

typedef struct {
    const char *name;       // spec field
    const char *option;     // sweep train option
    HpKind kind;
    double lo, hi;          // range of HP_INT and HP_REAL values
    int lo_open;            // lo itself is excluded
    int lora_only;          // only lora formats take it
    const char *help;       // sweep train --help: what it is (the default is appended)
} HParam;

extern const HParam hp_table[HP_COUNT];

#define HP_BETA_MAX 1.0   // AdamW betas (a pair, beside the table): each in [0, HP_BETA_MAX)

int hp_index(const char *name);          // by spec field name, or -1
double hp_default(int hp);               // the engine's default
// Field hp of a job's training settings, LoRA settings and precision, as a double.
double hp_get(const TrainConfig *t, const LoraSpec *l, MatPrecision prec, int hp);
void hp_set(TrainConfig *t, LoraSpec *l, MatPrecision *prec, int hp, double v);
// v as a spec or a label prints it: "100", "0.001", "true", "bf16".
void hp_format(char *out, size_t n, int hp, double v);
// The MatPrecision a name stands for, or -1 with " (did you mean ...?)" in hint_out.
int hp_precision_lookup(const char *s, char *hint_out, size_t n);
