// The grid and job ids. Format blocks expand into variants (the Cartesian product of their listed
// fields); every base x condition x variant x user x seed the spec asks for becomes a job with its eval
// texts and cost; each job's id hashes everything that determines its result. The ids are the resume
// contract: a rerun recognises its finished jobs by id, and the results file keys its per-job table by
// them, so the hashed text below must never change for a job whose result would not (tests/unit/test_grid.c).
#include <stdio.h>
#include "engine/job.h"
#include "sweeps/spec_parse.h"
#include "sweeps/variants.h"
#include "sweeps/split.h"

#define MAX_JOBS 200000L
#define MAX_CELLS 10000000L
#define BYTES_PER_TOKEN 4.0            // byte-level BPE on English text, for costs when eval.tokens is 0

// ---------------------------------------------------------------- variants

static void add_variant(Plan *p, int *cap, const FormatVariant *v) {
    Axis *ax = &p->axis[AX_FORMAT];
    if (ax->n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        p->formats = realloc(p->formats, *cap * sizeof *p->formats);
        ax->labels = realloc(ax->labels, *cap * sizeof(char *));
        if (!p->formats || !ax->labels) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
    }
    p->formats[ax->n] = *v;
    ax->labels[ax->n] = xstrdup(v->label);
    ax->n++;
}

// Where a training field of this block was given: the block's own, else train's, else the block.
static void field_path(const Parse *P, const FormatBlock *fb, const char *field, char *out, size_t n) {
    const cJSON *block = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(P->root, "formats"), fb->key);
    const cJSON *train = cJSON_GetObjectItemCaseSensitive(P->root, "train");
    if (cJSON_GetObjectItemCaseSensitive(block, field)) jp_key(out, n, fb->jp, field);
    else if (cJSON_GetObjectItemCaseSensitive(train, field)) jp_key(out, n, "train", field);
    else snprintf(out, n, "%s", fb->jp);
}

// A random-condition job holds its whole corpus in memory: steps x batch x (seq + 1) tokens. Over the
// limit, the field raised most above its default is named.
static int check_random_corpus(Parse *P, const FormatBlock *fb, const TrainConfig *t, const char *variant) {
    if (!(fb->cond_mask & (1u << COND_RANDOM))) return 0;
    JobSpec js = { .train = *t };
    long n = job_random_corpus_length(&js);
    if (n <= JOB_MAX_RANDOM_TOKENS) return 0;
    double raised[3] = { t->steps / hp_default(HP_STEPS), t->batch / hp_default(HP_BATCH),
                         (t->seq + 1) / (hp_default(HP_SEQ) + 1) };
    int most = raised[1] > raised[0] ? 1 : 0;
    if (raised[2] > raised[most]) most = 2;
    char jp[160];
    field_path(P, fb, hp_table[most == 0 ? HP_STEPS : most == 1 ? HP_BATCH : HP_SEQ].name, jp, sizeof jp);
    return spec_fail(&P->c, jp, "%sthe random condition needs steps x batch x (seq + 1) = %d x %d x %d = %ld tokens in "
                "memory, more than %ld: lower steps, batch or seq, or train this format on real only", variant,
                t->steps, t->batch, t->seq + 1, n, JOB_MAX_RANDOM_TOKENS);
}

// Cartesian product of the listed fields, the first field varying slowest.
int grid_expand_block(Parse *P, FormatBlock *fb, int *cap) {
    SpecCtx *c = &P->c;
    Plan *p = P->p;
    long total = 1;
    for (int h = 0; h < HP_COUNT; h++) total *= fb->n[h];
    if (p->axis[AX_FORMAT].n + total > MAX_VARIANTS)
        return spec_fail(c, fb->jp, "%ld variants: at most %d formats in all", total, MAX_VARIANTS);
    fb->first_variant = p->axis[AX_FORMAT].n;
    fb->n_variants = (int)total;
    int idx[HP_COUNT] = { 0 };
    for (long k = 0; k < total; k++) {
        double v[HP_COUNT];
        for (int h = 0; h < HP_COUNT; h++) v[h] = fb->v[h][idx[h]];
        FormatVariant fv;
        memset(&fv, 0, sizeof fv);
        fv.format = fb->format;
        size_t len = (size_t)snprintf(fv.label, sizeof fv.label, "%s", fb->key);
        int listed = 0;
        for (int h = 0; h < HP_COUNT; h++) {
            if (fb->n[h] < 2) continue;
            char val[40];
            hp_format(val, sizeof val, h, v[h]);
            len += (size_t)snprintf(fv.label + (len < sizeof fv.label ? len : sizeof fv.label - 1),
                                    len < sizeof fv.label ? sizeof fv.label - len : 1, "%s%s=%s",
                                    listed ? "," : "[", hp_table[h].name, val);
            listed = 1;
        }
        if (listed) len += (size_t)snprintf(fv.label + (len < sizeof fv.label ? len : sizeof fv.label - 1),
                                            len < sizeof fv.label ? sizeof fv.label - len : 1, "]");
        if (len >= sizeof fv.label) return spec_fail(c, fb->jp, "the label of a variant is longer than 63 characters: "
                                                "use a shorter format name or fewer listed fields");
        for (int j = fb->first_variant; j < p->axis[AX_FORMAT].n; j++)
            if (!strcmp(p->formats[j].label, fv.label))
                return spec_fail(c, fb->jp, "two listed values print alike as %s: make them differ in 6 significant digits",
                            fv.label);
        char variant[96] = "";   // names the variant in messages when a list made it
        if (listed) snprintf(variant, sizeof variant, "variant %s: ", fv.label);
        for (int h = 0; h < HP_COUNT; h++) {   // the fields this format takes; the others stay zero
            int takes = h == HP_PRECISION || (hp_table[h].lora_only ? fb->format == FMT_LORA : fb->format != FMT_NONE);
            if (takes) hp_set(&fv.train, &fv.lora, &fv.precision, h, v[h]);
        }
        if (fb->format != FMT_NONE) {
            TrainConfig *t = &fv.train;
            t->beta1 = fb->beta1;
            t->beta2 = fb->beta2;
            if (t->warmup > t->steps)
                return spec_fail(c, fb->jp, "%swarmup %d is longer than steps %d", variant, t->warmup, t->steps);
            for (int b = 0; b < p->axis[AX_BASE].n; b++)
                if (t->seq > p->bases[b].cfg.context)
                    return spec_fail(c, fb->jp, "%sseq %d exceeds the context %d of base %s", variant, t->seq,
                                p->bases[b].cfg.context, p->bases[b].name);
            if (check_random_corpus(P, fb, t, variant)) return -1;
        }
        if (fb->format == FMT_LORA) {
            fv.lora.targets = fb->targets;
            for (int b = 0; b < p->axis[AX_BASE].n; b++)
                if (fv.lora.rank > p->bases[b].cfg.dim)
                    return spec_fail(c, fb->jp, "%srank %d exceeds the width %d of base %s", variant, fv.lora.rank,
                                p->bases[b].cfg.dim, p->bases[b].name);
        }
        if (fb->format == FMT_STEER) {
            fv.steer = fb->steer;
            for (int b = 0; b < p->axis[AX_BASE].n; b++)
                if (steer_layers_highest(&fv.steer) >= p->bases[b].cfg.n_layers)
                    return spec_fail(c, fb->jp, "%slayers: block %d is past the last block (%d) of base %s", variant,
                                     steer_layers_highest(&fv.steer), p->bases[b].cfg.n_layers - 1, p->bases[b].name);
        }
        add_variant(p, cap, &fv);
        for (int h = HP_COUNT - 1; h >= 0; h--) {   // odometer
            if (++idx[h] < fb->n[h]) break;
            idx[h] = 0;
        }
    }
    return 0;
}

// ---------------------------------------------------------------- job ids

// Everything that determines a job's result, hashed as one canonical text (FNV-1a over the pieces in
// order is FNV-1a over their concatenation): a different text, a different id. The part a format
// variant on a base fixes is hashed once; each job continues from it.
static uint64_t hash_str(uint64_t h, const char *s) { return fnv1a64(s, strlen(s), h); }

static uint64_t variant_hash(Parse *P, int b, int f) {
    Plan *p = P->p;
    const FormatVariant *v = &p->formats[f];
    char buf[512];
    uint64_t h = hash_str(FNV1A64_INIT, "sweep-job-v1\nbase=");
    h = hash_str(h, P->base_id[b]);
    h = hash_str(h, "\ntokenizer=");
    h = hash_str(h, P->tok_id[b]);
    snprintf(buf, sizeof buf, "\neval_tokens=%d\nformat=%s\n", p->eval_tokens, format_name(v->format));
    h = hash_str(h, buf);
    if (v->precision != MAT_PREC_FP32) {   // absent at fp32: ids from before the field existed still hold
        snprintf(buf, sizeof buf, "precision=%s\n", mat_precision_names[v->precision]);
        h = hash_str(h, buf);
    }
    if (v->format == FMT_NONE) return h;
    const TrainConfig *t = &v->train;
    snprintf(buf, sizeof buf,
             "steps=%d\nbatch=%d\nseq=%d\nlr=%.17g\nbetas=%.17g,%.17g\neps=%.17g\nweight_decay=%.17g\n"
             "grad_clip=%.17g\nwarmup=%d\ncosine=%d\nmin_lr_frac=%.17g\n",
             t->steps, t->batch, t->seq, t->lr, t->beta1, t->beta2, t->eps, t->weight_decay, t->grad_clip,
             t->warmup, t->cosine, t->min_lr_frac);
    h = hash_str(h, buf);
    if (v->format == FMT_LORA) {
        snprintf(buf, sizeof buf, "rank=%d\nalpha=%.17g\ntargets=%u\n", v->lora.rank, v->lora.alpha, v->lora.targets);
        h = hash_str(h, buf);
    }
    if (v->format == FMT_STEER) {   // "last" stays "last": one id for every base depth
        char layers[4 * SWEEP_MAX_LAYERS + 8];
        steer_layers_format(&v->steer, layers, sizeof layers);
        h = hash_str(h, "layers=");
        h = hash_str(h, layers);
        h = hash_str(h, "\n");
    }
    return h;
}

static uint64_t job_hash(Parse *P, uint64_t h, const Job *j) {
    Plan *p = P->p;
    if (p->formats[j->ax[AX_FORMAT]].format == FMT_NONE) return h;
    int cond = P->cond_order[j->ax[AX_CONDITION]];
    char buf[64];
    snprintf(buf, sizeof buf, "condition=%s\nuser=", condition_names[cond]);
    h = hash_str(h, buf);
    h = hash_str(h, p->users[j->ax[AX_TRAIN_USER]].name);
    h = hash_str(h, "\ncorpus=");   // a random job never reads the corpus: the user it belongs to names it
    h = hash_str(h, cond == COND_REAL ? P->user_id[j->ax[AX_TRAIN_USER]] : "-");
    snprintf(buf, sizeof buf, "\nseed=%llu\n", (unsigned long long)j->seed);
    return hash_str(h, buf);
}

static long eval_tokens_of(Parse *P, int e) {
    Plan *p = P->p;
    if (p->eval_tokens) return p->eval_tokens;
    long size = P->c.files == SPEC_FILES_IGNORED ? -1 : input_file_size(p->evals[e].path);
    if (size < 0) size = p->evals[e].user < 0 ? SPLIT_GENERAL_EVAL_BYTES : p->split_eval_bytes;
    return (long)(size / BYTES_PER_TOKEN);
}

typedef struct { uint64_t score; int user; } Draw;
static int by_draw(const void *a, const void *b) {
    const Draw *x = a, *y = b;
    return x->score != y->score ? (x->score < y->score ? -1 : 1) : x->user - y->user;
}

uint64_t other_score(const char *job_id, const char *user) {
    uint64_t h = fnv1a64(job_id, strlen(job_id), FNV1A64_INIT);
    h = fnv1a64("\nother=", 7, h);
    h = fnv1a64(user, strlen(user), h);
    // splitmix64's finaliser: FNV-1a leaves the high bits of names that differ in their last bytes
    // (u0001, u0002, ...) nearly equal, and the lowest scores would pile onto a few users
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

// eval.others: the K other users whose slices trained job j also evaluates. Each candidate gets the
// score splitmix64-finalised FNV-1a(job id, "\nother=", user name) and the K lowest are taken: a generator seeded by the spec
// (through the job id) and the job, never by ranks or order. Raising K only adds users; a new user can
// take the place of one drawn before only by scoring lower (the journal keeps the earlier cells).
static void draw_others(Parse *P, const Job *j, int u, unsigned char *take, Draw *d) {
    Plan *p = P->p;
    int nu = p->axis[AX_TRAIN_USER].n, n = 0;
    memset(take, 0, (size_t)nu);
    for (int v = 0; v < nu; v++) {
        if (v == u || p->users[v].n_eval == 0 || (P->eval_mode == EVAL_LIST && P->eval_users[v])) continue;
        d[n].score = other_score(j->id, p->users[v].name);
        d[n++].user = v;
    }
    qsort(d, (size_t)n, sizeof *d, by_draw);
    for (int k = 0; k < n && k < P->others; k++) take[d[k].user] = 1;
}

int grid_expand_jobs(Parse *P) {
    SpecCtx *c = &P->c;
    Plan *p = P->p;
    int nb = p->axis[AX_BASE].n, nc = p->axis[AX_CONDITION].n, nf = p->axis[AX_FORMAT].n;
    int nu = p->axis[AX_TRAIN_USER].n, ns = p->axis[AX_SEED].n, ne = p->axis[AX_EVAL_TEXT].n;
    // each job's eval texts
    int *own_n = xcalloc(nu, sizeof(int));
    int **own = xcalloc(nu, sizeof(int *));
    for (int u = 0; u < nu; u++) {
        own[u] = xmalloc((ne ? ne : 1) * sizeof(int));
        for (int e = 0; e < ne; e++) {
            int eu = p->evals[e].user;
            int take = eu < 0 || P->eval_mode == EVAL_ALL || eu == u || (P->eval_mode == EVAL_LIST && P->eval_users[eu]);
            if (take) own[u][own_n[u]++] = e;
        }
    }
    // count first: refuse a grid too large before allocating it
    double jobs = 0, cells = 0;
    for (int f = 0; f < nf; f++) {
        const FormatBlock *fb = P->blocks;
        while (!(f >= fb->first_variant && f < fb->first_variant + fb->n_variants)) fb++;
        if (p->formats[f].format == FMT_NONE) { jobs += nb; cells += (double)nb * ne; continue; }
        for (int ci = 0; ci < nc; ci++)
            if (fb->cond_mask & (1u << P->cond_order[ci]))
                for (int u = 0; u < nu; u++) {
                    jobs += (double)nb * ns;
                    cells += (double)nb * ns * (own_n[u] + (double)P->others * P->slices);
                }
    }
    int rc = 0;
    if (jobs > MAX_JOBS) rc = spec_fail(c, NULL, "the grid has %.0f jobs: at most %ld", jobs, MAX_JOBS);
    else if (cells > MAX_CELLS) rc = spec_fail(c, NULL, "the grid has %.0f cells: at most %ld", cells, MAX_CELLS);
    if (rc) goto out;
    P->eval_flops = xcalloc((size_t)nb * (ne ? ne : 1), sizeof(double));
    for (int e = 0; e < ne; e++) {
        long tokens = eval_tokens_of(P, e);
        for (int b = 0; b < nb; b++) P->eval_flops[(size_t)b * ne + e] = plan_eval_flops(&p->bases[b].cfg, tokens);
    }
    p->jobs = xcalloc(jobs ? (size_t)jobs : 1, sizeof *p->jobs);
    unsigned char *take = xcalloc((size_t)nu + 1, 1);
    Draw *draw = xcalloc((size_t)nu + 1, sizeof *draw);
    for (int b = 0; b < nb; b++)
        for (int ci = 0; ci < nc; ci++)
            for (int f = 0; f < nf; f++) {
                const FormatBlock *fb = P->blocks;
                while (!(f >= fb->first_variant && f < fb->first_variant + fb->n_variants)) fb++;
                int none = p->formats[f].format == FMT_NONE;
                if (none ? ci != 0 : !(fb->cond_mask & (1u << P->cond_order[ci]))) continue;
                uint64_t vh = variant_hash(P, b, f);
                for (int u = 0; u < (none ? 1 : nu); u++)
                    for (int s = 0; s < (none ? 1 : ns); s++) {
                        Job *j = &p->jobs[p->n_jobs++];
                        j->ax[AX_BASE] = b;
                        j->ax[AX_CONDITION] = ci;
                        j->ax[AX_FORMAT] = f;
                        j->ax[AX_TRAIN_USER] = u;
                        j->ax[AX_SEED] = s;
                        j->seed = p->seeds[s];
                        // the id first: eval.others draws from it (the eval texts are not part of it)
                        snprintf(j->id, sizeof j->id, "%016llx", (unsigned long long)job_hash(P, vh, j));
                        if (!none && P->others > 0) {
                            draw_others(P, j, u, take, draw);
                            j->eval = xmalloc((ne ? ne : 1) * sizeof(int));
                            int k = 0;
                            for (int e = 0, o = 0; e < ne; e++) {
                                while (o < own_n[u] && own[u][o] < e) o++;
                                int owner = p->evals[e].user;
                                if ((o < own_n[u] && own[u][o] == e) || (owner >= 0 && take[owner])) j->eval[k++] = e;
                            }
                            j->n_eval = k;
                        } else {
                            j->n_eval = none ? ne : own_n[u];
                            j->eval = xmalloc((j->n_eval ? j->n_eval : 1) * sizeof(int));
                            for (int k = 0; k < j->n_eval; k++) j->eval[k] = none ? k : own[u][k];
                        }
                        const ModelConfig *cfg = &p->bases[b].cfg;
                        j->est_flops = plan_train_flops(cfg, &p->formats[f]);
                        for (int k = 0; k < j->n_eval; k++)   // once per variant that is evaluated
                            j->est_flops += P->eval_flops[(size_t)b * ne + j->eval[k]] * variant_evaluations(p, none);
                    }
            }
    free(take);
    free(draw);
out:
    for (int u = 0; u < nu; u++) free(own[u]);
    free(own);
    free(own_n);
    return rc;
}

// Identical jobs under two names would train the same adapter twice and collide in the results.
static const Plan *dup_plan;
static int by_id(const void *a, const void *b) {
    return strcmp(dup_plan->jobs[*(const int *)a].id, dup_plan->jobs[*(const int *)b].id);
}

int grid_check_unique_ids(Parse *P) {
    Plan *p = P->p;
    int *order = xmalloc((p->n_jobs ? p->n_jobs : 1) * sizeof(int));
    for (int k = 0; k < p->n_jobs; k++) order[k] = k;
    dup_plan = p;
    qsort(order, p->n_jobs, sizeof *order, by_id);
    dup_plan = NULL;
    int rc = 0;
    for (int k = 1; k < p->n_jobs; k++) {
        const Job *a = &p->jobs[order[k - 1]], *b = &p->jobs[order[k]];
        if (strcmp(a->id, b->id)) continue;
        const char *fa = p->formats[a->ax[AX_FORMAT]].label, *fb = p->formats[b->ax[AX_FORMAT]].label;
        if (strcmp(fa, fb)) {
            char jp[128];
            jp_key(jp, sizeof jp, "formats", fb);
            rc = spec_fail(&P->c, jp, "trains exactly what %s trains (same format and hyperparameters)", fa);
        } else {
            rc = spec_fail(&P->c, "bases", "%s and %s are the same model file", p->bases[a->ax[AX_BASE]].name,
                      p->bases[b->ax[AX_BASE]].name);
        }
        break;
    }
    free(order);
    return rc;
}
