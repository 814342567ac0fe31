#include "sweeps/plan.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "engine/model.h"
#include "engine/util.h"

const char *const axis_names[AX_COUNT] = { "base", "condition", "format", "train_user", "seed", "eval_text" };
const char *const condition_names[] = { "real", "random", NULL };

void plan_free(Plan *p) {
    if (!p) return;
    for (int a = 0; a < AX_COUNT; a++) {
        for (int i = 0; i < p->axis[a].n; i++) free(p->axis[a].labels[i]);
        free(p->axis[a].labels);
    }
    for (int u = 0; u < p->axis[AX_TRAIN_USER].n && p->users; u++) {
        free(p->users[u].eval_index);
        for (int s = 0; s < p->users[u].n_sources; s++) free(p->users[u].sources[s]);
        free(p->users[u].sources);
    }
    for (int j = 0; j < p->n_jobs; j++) { free(p->jobs[j].eval); free(p->jobs[j].inputs); }
    for (int k = 0; k < p->n_combos; k++) free(p->combos[k].group_of);
    free(p->combos);
    free(p->jobs);
    free(p->bases);
    free(p->formats);
    free(p->conditions);
    free(p->users);
    free(p->seeds);
    free(p->evals);
    free(p->variants);
    free(p->spec_text);
    free(p->published);
    memset(p, 0, sizeof *p);
}

long plan_n_cells(const Plan *p) {
    long n = 0;
    for (int j = 0; j < p->n_jobs; j++) n += p->jobs[j].n_eval;
    return n;
}

double plan_train_flops(const ModelConfig *c, const FormatVariant *f) {
    if (f->format == FMT_NONE) return 0;
    const TrainConfig *t = &f->train;
    int low = f->format == FMT_STEER && steer_layers_count(&f->steer) ? steer_layers_lowest(&f->steer) : c->n_layers - 1;
    double back = f->format == FMT_STEER ? model_steer_backward_flops(c, low, t->batch, t->seq)
                                         : model_backward_flops(c, f->format, &f->lora, t->batch, t->seq);
    double step = model_forward_flops(c, t->batch, t->seq) + back;
    return t->steps * step;
}

double plan_eval_flops(const ModelConfig *c, long n_tokens) {
    if (n_tokens < 2) return 0;
    long predicted = n_tokens - 1, T = c->context;
    long full = predicted / T, rest = predicted % T;
    double f = full * model_forward_flops(c, 1, (int)T);
    if (rest) f += model_forward_flops(c, 1, (int)rest);
    return f;
}

static const Plan *sort_plan;   // qsort has no context argument; plan_longest_first is not reentrant

static int by_cost_desc(const void *a, const void *b) {
    const Job *x = &sort_plan->jobs[*(const int *)a], *y = &sort_plan->jobs[*(const int *)b];
    if (x->est_flops != y->est_flops) return x->est_flops > y->est_flops ? -1 : 1;
    return strcmp(x->id, y->id);
}

void plan_longest_first(const Plan *p, int *order) {
    for (int j = 0; j < p->n_jobs; j++) order[j] = j;
    sort_plan = p;
    qsort(order, p->n_jobs, sizeof *order, by_cost_desc);
    sort_plan = NULL;
}

// Min-heap of ranks keyed by (time they become free, rank id), so ties go to the lowest rank.
typedef struct { double t; int r; } FreeAt;

static int free_less(FreeAt a, FreeAt b) { return a.t < b.t || (a.t == b.t && a.r < b.r); }

static void sift_down(FreeAt *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && free_less(h[l], h[m])) m = l;
        if (r < n && free_less(h[r], h[m])) m = r;
        if (m == i) return;
        FreeAt tmp = h[i]; h[i] = h[m]; h[m] = tmp;
        i = m;
    }
}

double plan_simulate(const Plan *p, int n_ranks, double flops_per_second, int *rank_of_job,
                     double *start_of_job) {
    if (n_ranks < 1 || !(flops_per_second > 0)) return NAN;
    int *order = xmalloc((size_t)(p->n_jobs ? p->n_jobs : 1) * sizeof *order);
    plan_longest_first(p, order);
    FreeAt *heap = xmalloc((size_t)n_ranks * sizeof *heap);
    for (int r = 0; r < n_ranks; r++) heap[r] = (FreeAt){ 0, r };   // all zero: already a heap
    double wall = 0;
    for (int k = 0; k < p->n_jobs; k++) {
        int j = order[k];
        FreeAt *top = &heap[0];
        if (rank_of_job) rank_of_job[j] = top->r;
        if (start_of_job) start_of_job[j] = top->t;
        top->t += p->jobs[j].est_flops / flops_per_second;
        if (top->t > wall) wall = top->t;
        sift_down(heap, n_ranks, 0);
    }
    free(heap);
    free(order);
    return wall;
}
