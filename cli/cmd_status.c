// sweep status RESULTS.h5: how far a sweep has got, from another shell or a login node while it runs
// (results/status.h): reads the results file, the journal (without its lock) and the state file.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli/commands.h"
#include "results/status.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: sweep status RESULTS.h5 [--watch SEC] [--json]\n"
            "\n"
            "How far the sweep writing RESULTS.h5 has got, read from RESULTS.h5 (the plan's jobs), its journal\n"
            "RESULTS.h5.journal (finished jobs; read without taking the sweep's lock, a record being written is\n"
            "ignored) and RESULTS.h5.state (which jobs run where, the scheduler's ETA). Safe to run from another\n"
            "shell or a login node while the sweep runs; nothing is written.\n"
            "\n"
            "Prints done / running / failed / total, the same per format and condition, jobs per host, the ETA\n"
            "and the last failures.\n"
            "\n"
            "  --watch SEC   print again every SEC seconds until interrupted (or the sweep is no longer running)\n"
            "  --json        one JSON object per print, for scripts\n"
            "\n"
            "Exit status: 0 printed, 2 bad arguments or a missing or unreadable results file, journal or state.\n");
}

static void hms(double s, char *out, size_t n) {
    if (s < 0) { snprintf(out, n, "unknown"); return; }
    long t = (long)(s + 0.5);
    snprintf(out, n, "%02ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

static void print_text(const SweepStatus *st) {
    char eta[32], el[32];
    hms(st->eta, eta, sizeof eta);
    hms(st->elapsed, el, sizeof el);
    printf("%s: %s (protocol %s, spec %s)\n", st->path, st->state, st->protocol, st->spec_hash);
    printf("jobs: %d done, %d running, %d failed, %d pending, %d total\n", st->all.done, st->all.running,
           st->all.failed, st->all.total - st->all.done - st->all.running - st->all.failed, st->all.total);
    if (!strcmp(st->state, "running")) printf("elapsed %s, ETA %s, %d ranks\n", el, eta, st->ranks);
    if (st->journal_torn_bytes)
        printf("journal: %zu bytes of a record being written (or cut by a kill) ignored\n", st->journal_torn_bytes);
    printf("\n%-24s %-10s %8s %8s %8s %8s\n", "format", "condition", "done", "running", "failed", "total");
    for (int f = 0; f < st->n_formats; f++)
        for (int c = 0; c < st->n_conditions; c++) {
            const StatusCount *k = &st->by_fc[(size_t)f * st->n_conditions + c];
            if (!k->total) continue;
            printf("%-24s %-10s %8d %8d %8d %8d\n", st->formats[f], st->conditions[c], k->done, k->running,
                   k->failed, k->total);
        }
    if (st->n_hosts) {
        printf("\n%-32s %8s %8s %8s\n", "host", "done", "running", "failed");
        for (int h = 0; h < st->n_hosts; h++)
            printf("%-32s %8d %8d %8d\n", st->hosts[h].host, st->hosts[h].done, st->hosts[h].running,
                   st->hosts[h].failed);
    }
    if (st->n_failures) {
        printf("\nlast failures:\n");
        for (int i = 0; i < st->n_failures; i++)
            printf("  %s %s (attempt %d, %s): %s\n", st->failures[i].id, st->failures[i].status,
                   st->failures[i].attempts, st->failures[i].host[0] ? st->failures[i].host : "?",
                   st->failures[i].message);
    }
}

static cJSON *count_json(const StatusCount *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "done", c->done);
    cJSON_AddNumberToObject(o, "running", c->running);
    cJSON_AddNumberToObject(o, "failed", c->failed);
    cJSON_AddNumberToObject(o, "pending", c->total - c->done - c->running - c->failed);
    cJSON_AddNumberToObject(o, "total", c->total);
    return o;
}

static void print_json(const SweepStatus *st) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "file", st->path);
    cJSON_AddStringToObject(root, "state", st->state);
    cJSON_AddStringToObject(root, "protocol", st->protocol);
    cJSON_AddStringToObject(root, "spec_hash", st->spec_hash);
    cJSON_AddItemToObject(root, "jobs", count_json(&st->all));
    if (st->eta >= 0) cJSON_AddNumberToObject(root, "eta_seconds", st->eta);
    else cJSON_AddNullToObject(root, "eta_seconds");
    if (st->elapsed >= 0) cJSON_AddNumberToObject(root, "elapsed_seconds", st->elapsed);
    else cJSON_AddNullToObject(root, "elapsed_seconds");
    cJSON_AddNumberToObject(root, "ranks", st->ranks);
    cJSON_AddNumberToObject(root, "journal_torn_bytes", (double)st->journal_torn_bytes);
    cJSON *fc = cJSON_AddArrayToObject(root, "by_format_condition");
    for (int f = 0; f < st->n_formats; f++)
        for (int c = 0; c < st->n_conditions; c++) {
            const StatusCount *k = &st->by_fc[(size_t)f * st->n_conditions + c];
            if (!k->total) continue;
            cJSON *o = count_json(k);
            cJSON_AddStringToObject(o, "format", st->formats[f]);
            cJSON_AddStringToObject(o, "condition", st->conditions[c]);
            cJSON_AddItemToArray(fc, o);
        }
    cJSON *hosts = cJSON_AddArrayToObject(root, "hosts");
    for (int h = 0; h < st->n_hosts; h++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "host", st->hosts[h].host);
        cJSON_AddNumberToObject(o, "done", st->hosts[h].done);
        cJSON_AddNumberToObject(o, "running", st->hosts[h].running);
        cJSON_AddNumberToObject(o, "failed", st->hosts[h].failed);
        cJSON_AddItemToArray(hosts, o);
    }
    cJSON *fl = cJSON_AddArrayToObject(root, "last_failures");
    for (int i = 0; i < st->n_failures; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", st->failures[i].id);
        cJSON_AddStringToObject(o, "status", st->failures[i].status);
        cJSON_AddNumberToObject(o, "attempts", st->failures[i].attempts);
        cJSON_AddStringToObject(o, "host", st->failures[i].host);
        cJSON_AddStringToObject(o, "message", st->failures[i].message);
        cJSON_AddItemToArray(fl, o);
    }
    char *s = cJSON_PrintUnformatted(root);
    if (s) puts(s);
    free(s);
    cJSON_Delete(root);
}

int cmd_status(int argc, char **argv) {
    const char *path = NULL;
    double watch = 0;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--watch")) {
            char *end;
            if (i + 1 >= argc) { fprintf(stderr, "sweep status: --watch needs a value\n"); return 2; }
            watch = strtod(argv[++i], &end);
            if (*end || end == argv[i] || !(watch > 0) || watch > 86400) {
                fprintf(stderr, "sweep status: --watch: '%s' is not a number of seconds in (0, 86400]\n", argv[i]);
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "sweep status: unknown option %s (sweep status --help)\n", a);
            return 2;
        } else if (path) {
            fprintf(stderr, "sweep status: one results file at a time (%s and %s)\n", path, a);
            return 2;
        } else path = a;
    }
    if (!path) { usage(stderr); return 2; }
    for (;;) {
        SweepStatus st;
        char err[1024];
        if (sweep_status_read(path, &st, err, sizeof err)) {
            fprintf(stderr, "sweep status: %s\n", err);
            return 2;
        }
        if (watch > 0 && !json && isatty(STDOUT_FILENO)) printf("\033[H\033[2J");
        if (json) print_json(&st);
        else print_text(&st);
        int running = !strcmp(st.state, "running");
        sweep_status_free(&st);
        if (fflush(stdout) != 0) { fprintf(stderr, "sweep status: cannot write to stdout\n"); return 2; }
        if (watch <= 0 || !running) return 0;
        if (!json) printf("\n");
        struct timespec ts = { (time_t)watch, (long)((watch - (double)(time_t)watch) * 1e9) };
        nanosleep(&ts, NULL);
    }
}
