// sweep merge A.h5 B.h5 ... -o OUT.h5: results files of one design run apart combined into one, as a
// single run of the union of their specs would have written it (results/merge.h).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/commands.h"
#include "engine/util.h"
#include "results/merge.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: sweep merge A.h5 B.h5 ... -o OUT.h5\n"
            "\n"
            "Combines results files of one design run apart (another cluster, another day, more seeds) into\n"
            "OUT.h5, which reports as one run and equals what one sweep of the union of their specs writes\n"
            "(timings, hosts, ranks and the spec attribute excepted). The inputs must agree where they overlap:\n"
            "the protocol, the bases, tokenizers and eval texts of one label by content hash, and a job held by\n"
            "several files bit for bit (its cells, loss curve, adapter, status, tokens); otherwise nothing is\n"
            "written and one line names the field or the job. Axis labels keep their order of first appearance:\n"
            "give the files in the order of the union spec (seeds [0] before seeds [1]).\n"
            "\n"
            "eval.variants: the variant coordinate is unioned like an axis (identity first), and a shared job's\n"
            "variant cells and bytes must agree. eval.combos: combination jobs (\"norm+average\") are carried\n"
            "when each averages the same users in its file as its group has in the merged file; a group split\n"
            "across files (users split between files averaged over \"all\") is refused: run the union spec.\n"
            "\n"
            "  -o OUT.h5   the merged file (written atomically; not a file with a sweep's journal beside it)\n"
            "\n"
            "Exit status: 0 written, 2 bad arguments, unreadable inputs or inputs that do not agree.\n");
}

int cmd_merge(int argc, char **argv) {
    const char *out = NULL;
    const char **in = xcalloc((size_t)argc + 1, sizeof *in);
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); free(in); return 0; }
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (i + 1 >= argc || !argv[i + 1][0]) { fprintf(stderr, "sweep merge: %s needs a file name\n", a); free(in); return 2; }
            out = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "sweep merge: unknown option %s (sweep merge --help)\n", a);
            free(in);
            return 2;
        } else in[n++] = a;
    }
    if (!n || !out) {
        if (!n && !out) usage(stderr);
        else fprintf(stderr, "sweep merge: %s\n", !out ? "-o OUT.h5 is required" : "no input files");
        free(in);
        return 2;
    }
    char err[1024];
    int rc = results_merge(in, n, out, err, sizeof err);
    free(in);
    if (rc) { fprintf(stderr, "sweep merge: %s\n", err); return 2; }
    fprintf(stderr, "sweep merge: wrote %s from %d file%s\n", out, n, n == 1 ? "" : "s");
    return 0;
}
