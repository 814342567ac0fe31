// The seeds' published figures for a bundled protocol (spec field "published", sweeps/SPEC.md):
// metadata that `sweep report` prints beside the reproduction. Never part of a job id or the grid.
// The figure names each protocol may carry are one table (published_figures) that the spec parser
// checks against and the report reads its figures by.
#pragma once
#include <stddef.h>

typedef enum {
    PUB_USER = 0,   // one value per user row: {"user": "novelist", "real": 113, ...}
    PUB_TEXT,       // per user and held-out slice: {"user": "programmer", "text": 1, "norm": 6.2, ...}
    PUB_ALL,        // protocol-wide, in "figures": {"norm beats full": 15, ...}
} PubScope;

typedef struct {
    const char *protocol;   // "bet60"
    const char *name;       // "random"
    PubScope scope;
    const char *meaning;    // for SPEC.md and the report: "ppl of norm trained on random tokens"
} PubFigureDef;

extern const PubFigureDef published_figures[];   // ends with a NULL protocol
// The definition of figure name for protocol, or NULL.
const PubFigureDef *published_figure_def(const char *protocol, const char *name);
// Whether the protocol has a figure table (bet37, bet46, bet49, bet52, bet60, bet61).
int published_protocol_known(const char *protocol);

#define PUB_MAX_FIGURES 8
#define PUB_MAX_ROWS 64

typedef struct {
    char name[32];          // a name of published_figures for the protocol
    double value;           // the number ("84,000+" reads as 84000)
    int at_least;           // written with a trailing "+" in the seeds: a lower bound
    char text[32];          // as the spec writes it: "6922", "84,000+"
} PubFigure;

typedef struct {
    char user[64];          // the user's canonical name (an alias in the spec is resolved)
    int text;               // PUB_TEXT rows: the held-out slice, 1-based; else 0
    char says[256];         // the seeds' words for this row, "" when not given
    int n;
    PubFigure fig[PUB_MAX_FIGURES];
} PubRow;

typedef struct Published {
    int present;            // 0: the spec has no "published"
    char source[256];       // the seed file and place the figures were copied from
    char verdict[16];       // "STRICT", "LENIENT", "CATASTROPHIC" or "none": the seeds' verdict
    char says[512];         // the seeds' summary in their words, "" when not given
    int n_rows;
    PubRow rows[PUB_MAX_ROWS];
    int n_all;
    PubFigure all[PUB_MAX_FIGURES];   // PUB_ALL figures
} Published;

// The figure of a row (or of pub->all when row is NULL) by name, or NULL.
const PubFigure *published_find(const Published *pub, const PubRow *row, const char *name);
