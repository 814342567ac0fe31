// report_build: reads the file, picks the protocol (the file's own unless --protocol says) and runs
// its judges; every report also gets the aggregated perplexities, plots and the jobs table.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#include "results/report.h"
#include "results/report_catalogue.h"
#include "results/report_judge.h"
#include "results/report_util.h"

const char *const report_protocols[] = {"bet37", "bet46", "bet49", "bet52", "bet60", "bet61", "protocol-1b",
                                        "bet53", "bet63", "bet58", "bet48", "bet54", "bet55", NULL};

static int known_protocol(const char *p) {
    for (int i = 0; report_protocols[i]; i++)
        if (strcmp(p, report_protocols[i]) == 0) return 1;
    return 0;
}

int report_build(const char *path, const char *protocol, int figures, Report *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    int forced = protocol && strcmp(protocol, "auto") != 0;
    if (forced && !known_protocol(protocol)) {
        Buf b = {0};
        for (int i = 0; report_protocols[i]; i++) buf_printf(&b, ", %s", report_protocols[i]);
        snprintf(err, errlen, "--protocol: unknown protocol '%s' (one of auto%s)", protocol, b.s);
        buf_free(&b);
        return -1;
    }
    ReportData d;
    if (report_data_load(path, &d, err, errlen) != 0) return -1;
    const ResultsFile *rf = &d.rf;
    r->path = str_dup(path);
    r->file_protocol = str_dup(rf->protocol);
    r->protocol = str_dup(forced ? protocol : rf->protocol);
    r->forced = forced;
    r->spec_hash = str_dup(rf->spec_hash);
    r->tool_version = str_dup(rf->tool_version);
    r->created_by = str_dup(rf->created_by);
    r->n_jobs = rf->n_jobs;
    for (int j = 0; j < rf->n_jobs; j++) r->by_status[rf->jobs[j].status]++;
    r->complete = r->by_status[JOB_OK] == rf->n_jobs;
    r->n_precisions = d.n_prec;
    r->precisions = xcalloc((size_t)d.n_prec + 1, sizeof *r->precisions);
    for (int k = 0; k < d.n_prec; k++) r->precisions[k] = str_dup(d.precs[k]);

    report_formats_section(&d, r);
    const char *p = r->protocol;
    if (!strcmp(p, "bet37")) judge_bet37(&d, r, 0);
    else if (!strcmp(p, "bet46")) judge_bet37(&d, r, 1);
    else if (!strcmp(p, "bet49")) judge_bet49(&d, r, "Bet 49: the adapter shootout");
    else if (!strcmp(p, "bet52")) judge_bet52(&d, r, "Bet 52: ternary base + norm-only adapter");
    else if (!strcmp(p, "bet60")) judge_bet60(&d, r, "Bet 60: the noise floor, real vs random tokens");
    else if (!strcmp(p, "bet61")) judge_confusion(&d, r, CONFUSION_BET61, figures);
    else if (!strcmp(p, "bet53") || !strcmp(p, "bet63") || !strcmp(p, "bet58") || !strcmp(p, "bet48") ||
             !strcmp(p, "bet54") || !strcmp(p, "bet55"))
        judge_catalogue(&d, r, p);   // results/report_catalogue.c
    else if (!strcmp(p, "protocol-1b")) {
        judge_confusion(&d, r, CONFUSION_1B, figures);
        judge_bet49(&d, r, "1B+: the Bet 49 shootout at scale");
        judge_bet52(&d, r, "1B+: the Bet 52 composition at scale");
        judge_bet60(&d, r, "1B+: the Bet 60 noise floor at scale");
    } else {
        RSection *s = report_add_section(r, "protocol", "No pre-registered verdict", NULL);
        section_note(s, "The file's protocol '%s' pre-registers no criterion, so this report has tables and plots but "
                        "no verdict; --protocol judges the file by one of the bundled protocols' criteria.",
                     p[0] ? p : "(none)");
    }
    report_reproduction_section(&d, r);
    report_sensitivity_section(&d, r, figures);
    report_diagnostics_section(&d, r);
    if (strcmp(p, "bet61") != 0 && strcmp(p, "protocol-1b") != 0) judge_confusion(&d, r, CONFUSION_PLAIN, figures);
    report_precision_tables(&d, r);
    report_summary_section(&d, r, figures);
    report_jobs_section(&d, r);
    if (!d.kinds_from_spec) {
        RSection *s = &r->s[r->ns - 1];
        section_note(s, "The file's spec could not be re-read, so format kinds and the owners of eval texts were "
                        "taken from the labels (norm[...] is a norm format, user/eval-1 is user's text).");
    }
    report_data_free(&d);
    return 0;
}
