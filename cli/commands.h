// Subcommands of the one `sweep` binary; each lives in cli/cmd_<name>.c and returns an exit status
// (0 ok, 1 jobs failed or a check failed, 2 bad input, 3 internal error / out of memory).
#pragma once
int cmd_run(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_fixtures(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_merge(int argc, char **argv);

// For commands that write a copy of a model file (quantize, prune): IN's tokenizer reference as
// OUT's metadata needs it (malloc'd JSON, or NULL). cli/cmd_quantize.c.
#include "engine/modelfile.h"
char *cli_tokenizer_for(const ModelFile *src, const char *in, const char *out);
