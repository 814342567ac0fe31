// Placeholder until this command is built: says so plainly and exits 2.
#include <stdio.h>
#include "cli/commands.h"

int cmd_train(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "sweep train: not built yet\n");
    return 2;
}
