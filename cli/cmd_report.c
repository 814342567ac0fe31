// sweep report RESULTS.h5: the pre-registered verdicts, the tables behind them and the plots, from
// one results file (results/report.h; the criteria and how each is read: results/REPORT.md).
#include <stdio.h>
#include <string.h>
#include "cli/commands.h"
#include "results/report.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: sweep report RESULTS.h5 [--protocol auto|bet37|bet46|bet49|bet52|bet60|bet61|protocol-1b|bet53|bet63|bet58|bet48|bet54|bet55]\n"
            "                    [--format text|markdown|json|csv] [--html DIR]\n"
            "\n"
            "Judges a results file by its protocol's pre-registered criteria (the file's own protocol unless\n"
            "--protocol names another) and prints, per criterion, the verdict (STRICT, LENIENT, CATASTROPHIC or\n"
            "none), the numbers that decided it, and the perplexity tables behind it: per eval text, aggregated\n"
            "over seeds and texts (median, min, max, seeded bootstrap 95%% interval), confusion matrices with the\n"
            "diagonal margins (a margin whose 95%% interval includes zero never passes), adapter sizes; the seeds'\n"
            "published figures beside this run's with both verdicts (specs with \"published\": the bundled bets),\n"
            "each format's steps x lr and first and last training loss, and the verdict against lr where formats\n"
            "differ in lr (sweeps/bet*-lr.json). A file from a sweep that is still running or was interrupted is\n"
            "reported as far as it goes: verdicts are marked provisional and the missing jobs are named.\n"
            "\n"
            "  --protocol P   judge by P's criteria (default auto: the file's root attribute 'protocol')\n"
            "  --format F     text (default), markdown, json (one object) or csv (section,table,row,column,value)\n"
            "  --html DIR     also write DIR/index.html (tables, verdicts, plots) and the plots as DIR/*.svg:\n"
            "                 confusion heatmaps, perplexity vs adapter bytes (log-log), training loss curves,\n"
            "                 the verdict against lr\n"
            "\n"
            "Exit status: 0 reported, 2 bad arguments or a file that is missing, unreadable or not a results file.\n");
}

int cmd_report(int argc, char **argv) {
    const char *path = NULL, *protocol = "auto", *format = "text", *html = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--protocol") || !strcmp(a, "--format") || !strcmp(a, "--html")) {
            if (i + 1 >= argc) { fprintf(stderr, "sweep report: %s needs a value\n", a); return 2; }
            const char *v = argv[++i];
            if (!strcmp(a, "--protocol")) protocol = v;
            else if (!strcmp(a, "--format")) format = v;
            else html = v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "sweep report: unknown option %s (sweep report --help)\n", a);
            return 2;
        } else if (path) {
            fprintf(stderr, "sweep report: one results file at a time (%s and %s)\n", path, a);
            return 2;
        } else {
            path = a;
        }
    }
    if (!path) { usage(stderr); return 2; }
    if (strcmp(format, "text") && strcmp(format, "markdown") && strcmp(format, "json") && strcmp(format, "csv")) {
        fprintf(stderr, "sweep report: --format: unknown format '%s' (one of text, markdown, json, csv)\n", format);
        return 2;
    }
    if (html && !html[0]) { fprintf(stderr, "sweep report: --html: empty directory name\n"); return 2; }
    Report r;
    char err[1024];
    if (report_build(path, protocol, html != NULL, &r, err, sizeof err) != 0) {
        fprintf(stderr, "sweep report: %s\n", err);
        return 2;
    }
    if (!strcmp(format, "markdown")) report_print_markdown(stdout, &r);
    else if (!strcmp(format, "json")) report_print_json(stdout, &r);
    else if (!strcmp(format, "csv")) report_print_csv(stdout, &r);
    else report_print_text(stdout, &r);
    int rc = 0;
    if (html) {
        if (report_write_html(html, &r, err, sizeof err) != 0) {
            fprintf(stderr, "sweep report: --html: %s\n", err);
            rc = 2;
        } else {
            fprintf(stderr, "sweep report: wrote %s/index.html\n", html);
        }
    }
    report_free(&r);
    if (fflush(stdout) != 0) { fprintf(stderr, "sweep report: cannot write the report to stdout\n"); return 2; }
    return rc;
}
