// sweep plan SPEC: the grid, every job with its estimated cost, and the wall time on N ranks from a
// simulation of the scheduler (longest first, each job to the rank that frees up first). No MPI.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "engine/mat.h"
#include "engine/util.h"
#include "sweeps/planmem.h"
#include "sweeps/spec.h"

// Sustained training rate of one rank (one core, fp32) when the target machine has not been measured:
// `sweep bench` reported 28-31 GFLOP/s for norm and LoRA steps on this project's AVX-512 machine
// with both cores busy; 20 leaves room for evaluation and data loading. --gflops calibrates.
#define PLAN_DEFAULT_GFLOPS 20.0

static void usage(FILE *f) {
    fprintf(f,
            "usage: sweep plan SPEC [--ranks N] [--gflops X] [--precision P] [--ranks-per-node R]\n"
            "                       [--mem-per-node M] [--recompute] [--json] [--no-check]\n"
            "\n"
            "Validates SPEC (sweeps/SPEC.md), expands it into jobs and prints the grid (each base with the\n"
            "storage of its projections: f32, bf16, ternary or int4/gG, G inputs per scale; each format\n"
            "variant with its precision), each job (id, base, condition, format, precision, train user, seed,\n"
            "cells, estimated GFLOP and seconds) and the estimated wall time on N ranks that each run one job\n"
            "at a time, simulating the scheduler: longest estimated job first, each to the rank that frees up\n"
            "first; then each kind of job's estimated peak memory (engine/memest.h: activations, adapter and\n"
            "AdamW state, private weight copies, scratch, tokens; the bases are mapped and shared, counted\n"
            "once per node). Needs no MPI.\n"
            "\n"
            "  --ranks N        ranks that run jobs (default 1)\n"
            "  --gflops X       sustained GFLOP/s of one rank (default %g): the GFLOP/s column of `sweep\n"
            "                   bench` on the target machine, for the format and precision that dominate the\n"
            "                   sweep (costs are FLOPs, the same at every precision)\n"
            "  --precision P    as sweep run --precision: P (fp32, fp32-dnnl, bf16, int8) in place of the\n"
            "                   spec's default precision, giving the job ids such a run has\n"
            "  --ranks-per-node R  ranks on one node (default: N); with --mem-per-node\n"
            "  --mem-per-node M    memory of one node (bytes, or 64G, 512M, 1.5T): says whether the grid fits\n"
            "                   and how many of its largest job a node runs at once; a job that fits no node\n"
            "                   (its estimate plus the node's bases and R ranks' own processes above M) is\n"
            "                   refused with exit 2, as sweep run --mem-per-node M refuses it\n"
            "  --recompute      estimate memory as sweep run --recompute runs: training holds one layer's\n"
            "                   activations at a time and the loss's logits a chunk of rows at a time\n"
            "                   (same job ids and results; give it to both or neither)\n"
            "  --json           the same as one JSON object on stdout\n"
            "  --no-check       allow input files that do not exist yet (fixtures not built); ids of jobs\n"
            "                   whose files are missing hash their paths instead of their contents\n"
            "\n"
            "A `none` job (the base itself) is one per base: its condition, user and seed print as '-'.\n"
            "Exit status: 0 ok, 2 bad spec or arguments (one line naming the file and the field).\n",
            PLAN_DEFAULT_GFLOPS);
}

static const char *cell_or_dash(const Plan *p, const Job *j, int ax) {
    if (p->formats[j->ax[AX_FORMAT]].format == FMT_NONE && ax != AX_BASE && ax != AX_FORMAT) return "-";
    return p->axis[ax].labels[j->ax[ax]];
}

static void human_seconds(double s, char *out, size_t n) {
    if (s < 120) snprintf(out, n, "%.1f s", s);
    else if (s < 7200) snprintf(out, n, "%.1f min", s / 60);
    else if (s < 172800) snprintf(out, n, "%.1f h", s / 3600);
    else snprintf(out, n, "%.1f days", s / 86400);
}

static int print_text(const Plan *p, const char *spec, int ranks, double gflops, double wall, double total) {
    printf("spec: %s (protocol %s, hash %s)\noutput: %s\ngrid:", spec, p->protocol, p->spec_hash, p->output);
    for (int a = 0; a < AX_COUNT; a++) printf("%s %s %d", a ? " x" : "", axis_names[a], p->axis[a].n);
    printf("\n");
    for (int a = 0; a < AX_COUNT; a++) {
        printf("  %-10s", axis_names[a]);
        for (int i = 0; i < p->axis[a].n; i++) {
            if (i == 12 && p->axis[a].n > 14) { printf(" ... (%d more)", p->axis[a].n - 12); break; }
            printf(" %s", p->axis[a].labels[i]);
            if (a == AX_FORMAT && !strstr(p->axis[a].labels[i], "precision="))
                printf(" (%s)", mat_precision_name(p->formats[i].precision));
            if (a == AX_BASE && p->bases[i].kind[0]) printf(" (%s)", p->bases[i].kind);
        }
        printf("\n");
    }
    if (p->n_variants > 0) {   // eval.variants: not a grid axis (no jobs of its own), a dimension of the metrics
        printf("  %-10s", "variant");
        for (int v = 0; v < p->n_variants; v++) printf(" %s", p->variants[v].label);
        printf("  (eval.variants: every job's cells under each, without retraining)\n");
    }
    long cells = plan_n_cells(p);
    printf("jobs: %d   cells: %ld\n\n", p->n_jobs, cells);
    printf("%-16s  %-10s %-9s %-24s %-9s %-12s %-6s %5s %10s %10s\n", "id", "base", "condition", "format",
           "precision", "train_user", "seed", "cells", "GFLOP", "est s");
    for (int k = 0; k < p->n_jobs; k++) {
        const Job *j = &p->jobs[k];
        printf("%-16s  %-10s %-9s %-24s %-9s %-12s %-6s %5d %10.1f %10.1f\n", j->id, cell_or_dash(p, j, AX_BASE),
               cell_or_dash(p, j, AX_CONDITION), cell_or_dash(p, j, AX_FORMAT),
               mat_precision_name(p->formats[j->ax[AX_FORMAT]].precision), cell_or_dash(p, j, AX_TRAIN_USER),
               cell_or_dash(p, j, AX_SEED), j->n_eval, j->est_flops / 1e9, j->est_flops / (gflops * 1e9));
    }
    char tw[32], ww[32];
    human_seconds(total / (gflops * 1e9), tw, sizeof tw);
    human_seconds(wall, ww, sizeof ww);
    double eff = wall > 0 ? total / (gflops * 1e9) / (wall * ranks) : 1;
    printf("\ntotal: %d jobs, %ld cells, %.1f GFLOP = %s on one rank at %g GFLOP/s\n", p->n_jobs, cells, total / 1e9,
           tw, gflops);
    printf("estimated wall time on %d rank%s: %s (longest first, dynamic; ranks busy %.0f%% of it)\n", ranks,
           ranks == 1 ? "" : "s", ww, 100 * eff);
    return 0;
}

// One line per kind of job (base x format variant: what decides the estimate but for text sizes), its
// largest estimate, readable at 1,000 users; then the node check when --mem-per-node is given.
static void print_memory(const Plan *p, const PlanMem *m, int rpn, size_t mem) {
    int nb = p->axis[AX_BASE].n, nf = p->axis[AX_FORMAT].n;
    int *worst = xmalloc((size_t)nb * nf * sizeof *worst + 1), *count = xcalloc((size_t)nb * nf + 1, sizeof *count);
    for (int k = 0; k < nb * nf; k++) worst[k] = -1;
    for (int j = 0; j < p->n_jobs; j++) {
        int k = p->jobs[j].ax[AX_BASE] * nf + p->jobs[j].ax[AX_FORMAT];
        if (worst[k] < 0 || m->job[j] > m->job[worst[k]]) worst[k] = j;
        count[k]++;
    }
    char sh[16];
    memest_human(m->shared, sh, sizeof sh);
    printf("\nmemory: estimated peak of one job (its private memory; the bases%s are mapped and shared, %s\n"
           "once per node, and each rank's own process adds ~%d MiB)%s:\n", m->sized_from_files ? "" : " (sized from their configs)",
           sh, (int)(MEMEST_RANK_BYTES >> 20), m->exec.recompute ? ", training with --recompute" : "");
    printf("  %-10s %-24s %-9s %6s %11s %11s %11s %11s %11s\n", "base", "format", "precision", "jobs", "peak/job",
           "activations", "adapter+opt", "copies", "tokens");
    for (int k = 0; k < nb * nf; k++) {
        if (worst[k] < 0) continue;
        MemEstimate e;
        plan_mem_job(m, p, worst[k], &e);
        char pk[16], ac[16], ad[16], cp[16], tk[16];
        memest_human(e.job, pk, sizeof pk);
        memest_human(e.acts_train > e.acts_eval ? e.acts_train : e.acts_eval, ac, sizeof ac);
        memest_human(e.adapter + e.optimizer, ad, sizeof ad);
        memest_human(e.weight_copies, cp, sizeof cp);
        memest_human(e.tokens_train > e.tokens_eval ? e.tokens_train : e.tokens_eval, tk, sizeof tk);
        printf("  %-10s %-24s %-9s %6d %11s %11s %11s %11s %11s\n", p->axis[AX_BASE].labels[k / nf],
               p->axis[AX_FORMAT].labels[k % nf], mat_precision_name(p->formats[k % nf].precision), count[k], pk, ac,
               ad, cp, tk);
    }
    free(worst);
    free(count);
    if (!mem || m->largest_job < 0) return;
    size_t fixed = plan_mem_node_fixed(m, rpn);
    char mm[16], fx[16], lg[16];
    memest_human(mem, mm, sizeof mm);
    memest_human(fixed, fx, sizeof fx);
    memest_human(m->largest, lg, sizeof lg);
    size_t at_once = fixed < mem ? (mem - fixed) / (m->largest ? m->largest : 1) : 0;
    printf("node: %s with %d rank%s: fixed %s (bases once + each rank's process); largest job %s (%s): ", mm, rpn,
           rpn == 1 ? "" : "s", fx, lg, p->jobs[m->largest_job].id);
    if ((int)at_once >= rpn) printf("fits: every rank can run the largest job at once\n");
    else printf("fits, %zu of the largest at once per node: sweep run --mem-per-node holds the others back\n", at_once);
}

static int print_json(const Plan *p, const char *spec, int ranks, double gflops, double wall, double total,
                      const int *rank_of, const double *start, const PlanMem *m, int rpn, size_t mem) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "spec", spec);
    cJSON_AddStringToObject(o, "protocol", p->protocol);
    cJSON_AddStringToObject(o, "spec_hash", p->spec_hash);
    cJSON_AddStringToObject(o, "output", p->output);
    cJSON *axes = cJSON_AddObjectToObject(o, "axes");
    for (int a = 0; a < AX_COUNT; a++)
        cJSON_AddItemToObject(axes, axis_names[a],
                              cJSON_CreateStringArray((const char *const *)p->axis[a].labels, p->axis[a].n));
    cJSON *bases = cJSON_AddArrayToObject(o, "bases");
    for (int b = 0; b < p->axis[AX_BASE].n; b++) {
        cJSON *bo = cJSON_CreateObject();
        cJSON_AddStringToObject(bo, "label", p->bases[b].name);
        cJSON_AddStringToObject(bo, "path", p->bases[b].path);
        if (p->bases[b].kind[0]) cJSON_AddStringToObject(bo, "kind", p->bases[b].kind);
        else cJSON_AddNullToObject(bo, "kind");
        cJSON_AddItemToArray(bases, bo);
    }
    if (p->n_variants > 0) {
        cJSON *vs = cJSON_AddArrayToObject(o, "variants");
        for (int v = 0; v < p->n_variants; v++) cJSON_AddItemToArray(vs, cJSON_CreateString(p->variants[v].label));
    }
    cJSON *formats = cJSON_AddArrayToObject(o, "formats");
    for (int f = 0; f < p->axis[AX_FORMAT].n; f++) {
        const FormatVariant *v = &p->formats[f];
        cJSON *fo = cJSON_CreateObject();
        cJSON_AddStringToObject(fo, "label", v->label);
        cJSON_AddStringToObject(fo, "format", format_name(v->format));
        cJSON_AddStringToObject(fo, "precision", mat_precision_name(v->precision));
        cJSON_AddItemToArray(formats, fo);
    }
    cJSON *jobs = cJSON_AddArrayToObject(o, "jobs");
    for (int k = 0; k < p->n_jobs; k++) {
        const Job *j = &p->jobs[k];
        cJSON *jo = cJSON_CreateObject();
        cJSON_AddStringToObject(jo, "id", j->id);
        for (int a = AX_BASE; a <= AX_SEED; a++) {
            const char *v = cell_or_dash(p, j, a);
            if (strcmp(v, "-")) cJSON_AddStringToObject(jo, axis_names[a], v);
            else cJSON_AddNullToObject(jo, axis_names[a]);
        }
        cJSON_AddStringToObject(jo, "precision", mat_precision_name(p->formats[j->ax[AX_FORMAT]].precision));
        cJSON *ev = cJSON_AddArrayToObject(jo, "eval_text");
        for (int e = 0; e < j->n_eval; e++) cJSON_AddItemToArray(ev, cJSON_CreateString(p->axis[AX_EVAL_TEXT].labels[j->eval[e]]));
        cJSON_AddNumberToObject(jo, "est_flops", j->est_flops);
        cJSON_AddNumberToObject(jo, "est_seconds", j->est_flops / (gflops * 1e9));
        cJSON_AddNumberToObject(jo, "sim_rank", rank_of[k]);
        cJSON_AddNumberToObject(jo, "sim_start", start[k]);
        cJSON_AddNumberToObject(jo, "est_mem_bytes", (double)m->job[k]);
        if (j->combo) {   // a combination job (eval.combos): the ids of the jobs whose adapters it combines
            cJSON *in = cJSON_AddArrayToObject(jo, "inputs");
            for (int i = 0; i < j->n_inputs; i++) cJSON_AddItemToArray(in, cJSON_CreateString(p->jobs[j->inputs[i]].id));
        }
        cJSON_AddItemToArray(jobs, jo);
    }
    cJSON_AddNumberToObject(o, "n_jobs", p->n_jobs);
    cJSON_AddNumberToObject(o, "n_cells", (double)plan_n_cells(p));
    cJSON_AddNumberToObject(o, "total_flops", total);
    cJSON_AddNumberToObject(o, "ranks", ranks);
    cJSON_AddNumberToObject(o, "gflops_per_rank", gflops);
    cJSON_AddNumberToObject(o, "wall_seconds", wall);
    cJSON *mo = cJSON_AddObjectToObject(o, "memory");
    cJSON_AddNumberToObject(mo, "shared_bytes", (double)m->shared);
    cJSON_AddNumberToObject(mo, "rank_bytes", (double)MEMEST_RANK_BYTES);
    cJSON_AddNumberToObject(mo, "largest_job_bytes", (double)m->largest);
    cJSON_AddBoolToObject(mo, "sized_from_files", m->sized_from_files);
    cJSON_AddBoolToObject(mo, "recompute", m->exec.recompute);
    cJSON_AddNumberToObject(mo, "ranks_per_node", rpn);
    if (mem) {
        cJSON_AddNumberToObject(mo, "mem_per_node", (double)mem);
        cJSON_AddNumberToObject(mo, "node_fixed_bytes", (double)plan_mem_node_fixed(m, rpn));
    }
    char *s = cJSON_Print(o);
    if (!s) { fprintf(stderr, "sweep plan: out of memory\n"); cJSON_Delete(o); return 3; }
    puts(s);
    free(s);
    cJSON_Delete(o);
    return 0;
}

int cmd_plan(int argc, char **argv) {
    const char *spec = NULL;
    int ranks = 1, json = 0, rpn = 0;
    MemExec exec = { 0 };
    size_t mem = 0;
    const char *precision = NULL;
    double gflops = PLAN_DEFAULT_GFLOPS;
    SpecFiles files = SPEC_FILES_REQUIRED;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char e[400];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--no-check")) files = SPEC_FILES_OPTIONAL;
        else if (!strcmp(a, "--recompute")) exec.recompute = 1;
        else if (!strcmp(a, "--ranks") || !strcmp(a, "-n")) {
            if (opt_int(a, i + 1 < argc ? argv[i + 1] : NULL, 1, 10000000, &ranks, e, sizeof e))
                return opt_bad("plan", e);
            i++;
        } else if (!strcmp(a, "--ranks-per-node")) {
            if (opt_int(a, i + 1 < argc ? argv[i + 1] : NULL, 1, 1000000, &rpn, e, sizeof e)) return opt_bad("plan", e);
            i++;
        } else if (!strcmp(a, "--mem-per-node")) {
            if (i + 1 >= argc || memest_parse(argv[i + 1], &mem)) {
                fprintf(stderr, "sweep plan: --mem-per-node: expected bytes or a size like 64G, got '%s'\n",
                        i + 1 < argc ? argv[i + 1] : "");
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--gflops")) {
            if (opt_real(a, i + 1 < argc ? argv[i + 1] : NULL, 0, 1e12, 1, &gflops, e, sizeof e))
                return opt_bad("plan", e);
            i++;
        } else if (!strcmp(a, "--precision")) {
            char why[256];
            if (i + 1 >= argc) { fprintf(stderr, "sweep plan: --precision: needs a value\n"); return 2; }
            if (spec_precision_check(argv[i + 1], why, sizeof why)) {
                fprintf(stderr, "sweep plan: --precision: %s\n", why);
                return 2;
            }
            precision = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "sweep plan: unknown option %s (sweep plan --help)\n", a);
            return 2;
        } else if (spec) {
            fprintf(stderr, "sweep plan: one spec at a time (got %s and %s)\n", spec, a);
            return 2;
        } else {
            spec = a;
        }
    }
    if (!spec) { usage(stderr); return 2; }
    Plan p;
    char err[1024];
    if (spec_load_precision(spec, files, precision, &p, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    double total = 0;
    for (int k = 0; k < p.n_jobs; k++) total += p.jobs[k].est_flops;
    int *rank_of = xmalloc((size_t)(p.n_jobs ? p.n_jobs : 1) * sizeof *rank_of);
    double *start = xmalloc((size_t)(p.n_jobs ? p.n_jobs : 1) * sizeof *start);
    double wall = plan_simulate(&p, ranks, gflops * 1e9, rank_of, start);
    if (!rpn) rpn = ranks;
    PlanMem m;
    plan_mem_init(&m, &p, &exec);
    // what sweep run --mem-per-node would refuse, refused here first
    if (mem && plan_mem_check(&m, &p, mem, rpn, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", spec, err);
        plan_mem_free(&m); free(rank_of); free(start); plan_free(&p);
        return 2;
    }
    int rc = json ? print_json(&p, spec, ranks, gflops, wall, total, rank_of, start, &m, rpn, mem)
                  : print_text(&p, spec, ranks, gflops, wall, total);
    if (!json) print_memory(&p, &m, rpn, mem);
    plan_mem_free(&m);
    free(rank_of);
    free(start);
    plan_free(&p);
    return rc;
}
