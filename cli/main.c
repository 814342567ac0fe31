#include <stdio.h>
#include <string.h>
#include "cli/commands.h"
#ifndef SWEEP_GIT
#define SWEEP_GIT ""   // set by CMake on this file only (CMakeLists.txt); "" where another directory compiles it (fuzzers)
#endif

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    { "run",      cmd_run,      "run a sweep spec over MPI ranks into one HDF5 results file" },
    { "plan",     cmd_plan,     "expand a spec into jobs and estimate its cost on N ranks (no MPI)" },
    { "report",   cmd_report,   "tables and pre-registered verdicts from a results file" },
    { "merge",    cmd_merge,    "combine results files of one design run apart into one file" },
    { "status",   cmd_status,   "how far a running (or stopped) sweep has got, from its results file and journal" },
    { "train",    cmd_train,    "train one adapter on a text and print its perplexities" },
    { "eval",     cmd_eval,     "perplexity of a model (and optional adapter) on a text" },
    { "bench",    cmd_bench,    "training and evaluation speed against this machine's sgemm" },
    { "pretrain", cmd_pretrain, "train a tokenizer and a base model from scratch" },
    { "quantize", cmd_quantize, "post-training ternary quantisation of a model file" },
    { "prune",    cmd_prune,    "magnitude pruning of a model file's projections (Bet 48)" },
    { "import",   cmd_import,   "convert a Hugging Face Llama/Qwen2 checkpoint to a model file" },
    { "tokenize", cmd_tokenize, "train, apply or inspect a byte-level BPE tokenizer" },
    { "fixtures", cmd_fixtures, "build the user corpora and splits from Debian packages" },
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f, "usage: sweep <command> [options]   (sweep <command> --help for each)\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("sweep %s (%s)\n", SWEEP_VERSION, SWEEP_GIT[0] ? SWEEP_GIT : "unknown");
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "sweep: '%s' is not a command\n", argv[1]);
    usage(stderr);
    return 2;
}
