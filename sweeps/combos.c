// eval.combos: the parse, the combos' format-axis labels and their jobs (sweeps/combos.h).
#include "sweeps/combos.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sweeps/spec_parse.h"

static const char *const combo_fields[] = { "average", "ensemble", "k", "groups", "label", NULL };
static const char *const combo_kinds[] = { "", "average", "ensemble" };   // by ComboKind

#define MAX_COMBO_JOBS 200000L

static void *grow(void *a, size_t n) {
    void *b = realloc(a, n ? n : 1);
    if (!b) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
    return b;
}

static uint64_t hash_str(uint64_t h, const char *s) { return fnv1a64(s, strlen(s), h); }

static int user_index(const Plan *p, const char *name) {
    for (int u = 0; u < p->axis[AX_TRAIN_USER].n; u++)
        if (!strcmp(p->users[u].name, name) || (p->users[u].alias[0] && !strcmp(p->users[u].alias, name))) return u;
    return -1;
}

// "groups": "all" (the default), or {"NAME": [user, ...], ...}: disjoint, two users at least each.
static int parse_groups(Parse *P, const cJSON *g, const char *jp, Combo *cb) {
    SpecCtx *c = &P->c;
    Plan *p = P->p;
    int nu = p->axis[AX_TRAIN_USER].n;
    cb->group_of = xmalloc((size_t)(nu ? nu : 1) * sizeof(int));
    if (!g || (cJSON_IsString(g) && !strcmp(g->valuestring, "all"))) {
        cb->n_groups = 1;
        snprintf(cb->group_names[0], sizeof cb->group_names[0], "all");
        for (int u = 0; u < nu; u++) cb->group_of[u] = 0;
        if (nu < 2)
            return spec_fail(c, jp, "%s needs two users at least; the spec has %d",
                             cb->kind == COMBO_AVERAGE ? "averaging over users" : "an ensemble of other users' adapters", nu);
        return 0;
    }
    if (!cJSON_IsObject(g))
        return spec_fail(c, jp, "must be \"all\" or an object of named lists of users, not %s", json_type_name(g));
    for (int u = 0; u < nu; u++) cb->group_of[u] = -1;
    char gjp[192], ujp[224];
    for (const cJSON *it = g->child; it; it = it->next) {
        jp_key(gjp, sizeof gjp, jp, it->string);
        if (cb->n_groups >= MAX_COMBO_GROUPS) return spec_fail(c, gjp, "more than %d groups", MAX_COMBO_GROUPS);
        if (!it->string[0] || strlen(it->string) >= sizeof cb->group_names[0])
            return spec_fail(c, gjp, "a group's name must have 1 to %d characters", (int)sizeof cb->group_names[0] - 1);
        if (!cJSON_IsArray(it)) return spec_fail(c, gjp, "must be a list of users, not %s", json_type_name(it));
        if (cJSON_GetArraySize(it) < 2) return spec_fail(c, gjp, "a group needs two users at least");
        int k = 0;
        for (const cJSON *x = it->child; x; x = x->next, k++) {
            jp_idx(ujp, sizeof ujp, gjp, k);
            const char *name;
            if (json_string(c, x, ujp, &name)) return -1;
            int u = user_index(p, name);
            if (u < 0) return spec_fail(c, ujp, "%s is not a user of the spec", name);
            if (cb->group_of[u] >= 0)
                return spec_fail(c, ujp, "%s is already in group %s: groups must not overlap", name,
                                 cb->group_names[cb->group_of[u]]);
            cb->group_of[u] = cb->n_groups;
        }
        snprintf(cb->group_names[cb->n_groups++], sizeof cb->group_names[0], "%s", it->string);
    }
    if (!cb->n_groups) return spec_fail(c, jp, "no groups");
    return 0;
}

static int parse_combo(Parse *P, const cJSON *it, const char *jp, Combo *cb) {
    SpecCtx *c = &P->c;
    Plan *p = P->p;
    char sub[160];
    if (!cJSON_IsObject(it))
        return spec_fail(c, jp, "must be an object such as {\"average\": \"norm\"}, not %s", json_type_name(it));
    if (json_check_fields(c, it, jp, combo_fields)) return -1;
    const cJSON *avg = cJSON_GetObjectItemCaseSensitive(it, "average");
    const cJSON *ens = cJSON_GetObjectItemCaseSensitive(it, "ensemble");
    if (!avg && !ens) return spec_fail(c, jp, "names no kind: average or ensemble, with the format it combines");
    if (avg && ens) return spec_fail(c, jp, "names two kinds, average and ensemble: one per entry");
    const cJSON *src = avg ? avg : ens;
    cb->kind = avg ? COMBO_AVERAGE : COMBO_ENSEMBLE;
    const char *kind = combo_kinds[cb->kind];
    jp_key(sub, sizeof sub, jp, kind);
    const char *fmt;
    if (json_string(c, src, sub, &fmt)) return -1;
    cb->source = -1;
    for (int f = 0; f < p->axis[AX_FORMAT].n; f++)
        if (!strcmp(p->formats[f].label, fmt)) cb->source = f;
    if (cb->source < 0) return spec_fail(c, sub, "%s is not a format of the spec", fmt);
    if (p->formats[cb->source].format == FMT_NONE) return spec_fail(c, sub, "format none has no adapter to combine");
    snprintf(cb->label, sizeof cb->label, "%s+%s", fmt, kind);
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(it, "label");
    if (lab) {
        const char *s;
        jp_key(sub, sizeof sub, jp, "label");
        if (json_string(c, lab, sub, &s)) return -1;
        if (!s[0] || strlen(s) >= sizeof cb->label) return spec_fail(c, sub, "must have 1 to %d characters", (int)sizeof cb->label - 1);
        snprintf(cb->label, sizeof cb->label, "%s", s);
    }
    for (int f = 0; f < p->axis[AX_FORMAT].n; f++)
        if (!strcmp(p->axis[AX_FORMAT].labels[f], cb->label))
            return spec_fail(c, jp, "label %s is already on the format axis: give this combo its own \"label\"", cb->label);
    jp_key(sub, sizeof sub, jp, "groups");
    if (parse_groups(P, cJSON_GetObjectItemCaseSensitive(it, "groups"), sub, cb)) return -1;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(it, "k");
    jp_key(sub, sizeof sub, jp, "k");
    if (k && cb->kind != COMBO_ENSEMBLE)
        return spec_fail(c, sub, "only an ensemble draws k users (an average takes the whole group)");
    if (!k) return 0;
    long kv;
    if (json_int(c, k, sub, 1, 1e6, &kv)) return -1;
    for (int g = 0; g < cb->n_groups; g++) {   // the smallest group decides: each member leaves itself out
        int size = 0;
        for (int u = 0; u < p->axis[AX_TRAIN_USER].n; u++) size += cb->group_of[u] == g;
        if (kv > size - 1)
            return spec_fail(c, sub, "%ld is more than the %d other user%s of group %s (each member leaves itself out)",
                             kv, size - 1, size == 2 ? "" : "s", cb->group_names[g]);
    }
    cb->k = (int)kv;
    return 0;
}

static void add_format(Plan *p, const Combo *cb) {
    Axis *ax = &p->axis[AX_FORMAT];
    p->formats = grow(p->formats, (size_t)(ax->n + 1) * sizeof *p->formats);
    ax->labels = grow(ax->labels, (size_t)(ax->n + 1) * sizeof *ax->labels);
    p->formats[ax->n] = p->formats[cb->source];   // the source's shape and precision: its adapters' own
    snprintf(p->formats[ax->n].label, sizeof p->formats[ax->n].label, "%s", cb->label);
    ax->labels[ax->n++] = xstrdup(cb->label);
}

// The combo's jobs: per base x condition x seed where every member's input job exists, one per member.
// The ensemble of member u (group g) at one base x condition x seed (row: the source's job per user,
// stride ns, at seed s): the other users of the group, or the k of them with the lowest
// other_score(u's own job id, name), the draw of eval.others. take[v] = 1 for the members.
static void ensemble_members(const Plan *p, const Combo *cb, const int *row, int ns, int s, int u, unsigned char *take) {
    int nu = p->axis[AX_TRAIN_USER].n, n = 0;
    for (int v = 0; v < nu; v++) {
        take[v] = v != u && cb->group_of[v] == cb->group_of[u];
        n += take[v];
    }
    if (!cb->k || cb->k >= n) return;
    const char *own = p->jobs[row[u * ns + s]].id;
    for (int drawn = 0; drawn < cb->k; drawn++) {   // k times the lowest score not drawn yet (k is small)
        int best = -1;
        uint64_t bs = 0;
        for (int v = 0; v < nu; v++) {
            if (take[v] != 1) continue;
            uint64_t sc = other_score(own, p->users[v].name);
            if (best < 0 || sc < bs) { best = v; bs = sc; }   // ties: the first user in spec order
        }
        take[best] = 2;
    }
    for (int v = 0; v < nu; v++) take[v] = take[v] == 2;
}

static void add_jobs(Parse *P, int k, int *cap) {
    Plan *p = P->p;
    const Combo *cb = &p->combos[k];
    unsigned char *take = xmalloc((size_t)p->axis[AX_TRAIN_USER].n + 1);
    int nb = p->axis[AX_BASE].n, nc = p->axis[AX_CONDITION].n, nu = p->axis[AX_TRAIN_USER].n, ns = p->axis[AX_SEED].n;
    int ne = p->axis[AX_EVAL_TEXT].n;
    int *at = xmalloc((size_t)nb * nc * nu * ns * sizeof(int) + 1);   // [b][c][u][s]: the source's job, -1 none
    for (size_t i = 0; i < (size_t)nb * nc * nu * ns; i++) at[i] = -1;
    int n_trained = p->n_jobs;
    for (int j = 0; j < n_trained; j++) {
        const Job *x = &p->jobs[j];
        if (x->combo || x->ax[AX_FORMAT] != cb->source) continue;
        at[(((size_t)x->ax[AX_BASE] * nc + x->ax[AX_CONDITION]) * nu + x->ax[AX_TRAIN_USER]) * ns + x->ax[AX_SEED]] = j;
    }
    for (int b = 0; b < nb; b++)
        for (int ci = 0; ci < nc; ci++)
            for (int s = 0; s < ns; s++) {
                const int *row = at + ((size_t)b * nc + ci) * nu * ns;
                for (int u = 0; u < nu; u++) {
                    int g = cb->group_of[u];
                    if (g < 0 || !p->users[u].n_eval) continue;
                    int n_in = 0, missing = 0;
                    for (int v = 0; v < nu; v++)
                        if (cb->group_of[v] == g) { n_in++; missing |= row[v * ns + s] < 0; }
                    if (missing) continue;   // the source is not trained under this condition
                    if (cb->kind == COMBO_ENSEMBLE) {   // the other users' adapters: never the member's own
                        ensemble_members(p, cb, row, ns, s, u, take);
                        n_in = 0;
                        for (int v = 0; v < nu; v++) n_in += take[v];
                    } else {
                        for (int v = 0; v < nu; v++) take[v] = cb->group_of[v] == g;
                    }
                    if (p->n_jobs == *cap) p->jobs = grow(p->jobs, (size_t)(*cap = 2 * *cap + 16) * sizeof *p->jobs);
                    Job *j = &p->jobs[p->n_jobs++];
                    memset(j, 0, sizeof *j);
                    j->ax[AX_BASE] = b;
                    j->ax[AX_CONDITION] = ci;
                    j->ax[AX_FORMAT] = cb->format;
                    j->ax[AX_TRAIN_USER] = u;
                    j->ax[AX_SEED] = s;
                    j->seed = p->seeds[s];
                    j->combo = k + 1;
                    j->inputs = xmalloc((size_t)n_in * sizeof(int));
                    uint64_t h = hash_str(FNV1A64_INIT, "sweep-combo-v1\nkind=");
                    h = hash_str(h, combo_kinds[cb->kind]);
                    h = hash_str(h, "\nmember=");
                    h = hash_str(h, p->users[u].name);
                    for (int v = 0; v < nu; v++)
                        if (take[v]) {
                            int in = row[v * ns + s];
                            j->inputs[j->n_inputs++] = in;
                            h = hash_str(h, "\ninput=");
                            h = hash_str(h, p->jobs[in].id);
                        }
                    snprintf(j->id, sizeof j->id, "%016llx", (unsigned long long)h);
                    j->n_eval = p->users[u].n_eval;
                    j->eval = xmalloc((size_t)j->n_eval * sizeof(int));
                    memcpy(j->eval, p->users[u].eval_index, (size_t)j->n_eval * sizeof(int));
                    // an ensemble runs one forward per member over each text
                    int passes = cb->kind == COMBO_ENSEMBLE ? n_in : 1;
                    for (int e = 0; e < j->n_eval; e++) j->est_flops += passes * P->eval_flops[(size_t)b * ne + j->eval[e]];
                }
            }
    free(at);
    free(take);
}

// Two combos over the same adapters would evaluate the same thing twice under one id.
static const Plan *id_plan;
static int by_id(const void *a, const void *b) {
    return strcmp(id_plan->jobs[*(const int *)a].id, id_plan->jobs[*(const int *)b].id);
}

static int check_ids(Parse *P, int first) {
    Plan *p = P->p;
    int n = p->n_jobs - first, rc = 0;
    int *order = xmalloc((size_t)(n ? n : 1) * sizeof(int));
    for (int k = 0; k < n; k++) order[k] = first + k;
    id_plan = p;
    qsort(order, n, sizeof *order, by_id);
    id_plan = NULL;
    for (int k = 1; k < n && !rc; k++) {
        const Job *a = &p->jobs[order[k - 1]], *b = &p->jobs[order[k]];
        if (!strcmp(a->id, b->id))
            rc = spec_fail(&P->c, "eval.combos", "%s and %s combine the same adapters", p->combos[a->combo - 1].label,
                           p->combos[b->combo - 1].label);
    }
    free(order);
    return rc;
}

int parse_eval_combos(Parse *P) {
    SpecCtx *c = &P->c;
    Plan *p = P->p;
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(P->root, "eval");
    const cJSON *list = ev ? cJSON_GetObjectItemCaseSensitive(ev, "combos") : NULL;
    if (!list) return 0;
    if (!cJSON_IsArray(list)) return spec_fail(c, "eval.combos", "must be a list, not %s", json_type_name(list));
    int n = cJSON_GetArraySize(list);
    if (n == 0) return spec_fail(c, "eval.combos", "empty list (leave the field out for no combinations)");
    if (n > 64) return spec_fail(c, "eval.combos", "more than 64 combinations");
    if (p->n_variants > 0)
        return spec_fail(c, "eval.combos", "not in one spec with eval.variants (a combination is evaluated as is)");
    p->combos = xcalloc((size_t)n, sizeof *p->combos);
    char jp[64];
    int i = 0;
    for (const cJSON *it = list->child; it; it = it->next, i++) {
        jp_idx(jp, sizeof jp, "eval.combos", i);
        Combo *cb = &p->combos[p->n_combos++];
        if (parse_combo(P, it, jp, cb)) return -1;
        cb->format = p->axis[AX_FORMAT].n;
        add_format(p, cb);
    }
    int n_trained = p->n_jobs, cap = p->n_jobs;
    for (int k = 0; k < p->n_combos; k++) {
        add_jobs(P, k, &cap);
        if (p->n_jobs - n_trained > MAX_COMBO_JOBS)
            return spec_fail(c, "eval.combos", "more than %ld combination jobs", MAX_COMBO_JOBS);
    }
    return check_ids(P, n_trained);
}
