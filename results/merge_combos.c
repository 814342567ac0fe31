// eval.combos in sweep merge: each file's statement of its combinations, and the check that a
// combination job averaged the same group of users as one run of the union spec would.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#include "results/merge_impl.h"
#include "sweeps/spec.h"
#include <cjson/cJSON.h>

void merge_combos_free(FCombos *f) {
    for (int k = 0; k < f->n; k++) {
        for (int u = 0; u < f->c[k].n_users; u++) { free(f->c[k].user[u]); free(f->c[k].group[u]); }
        free(f->c[k].user); free(f->c[k].group);
    }
    free(f->c);
    memset(f, 0, sizeof *f);
}

static const FCombo *fcombo_find(const FCombos *f, const char *label) {
    for (int k = 0; k < f->n; k++)
        if (!strcmp(f->c[k].label, label)) return &f->c[k];
    return NULL;
}

int merge_read_combos(const char *path, const ResultsFile *rf, FCombos *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    cJSON *root = rf->spec ? cJSON_Parse(rf->spec) : NULL;
    const cJSON *ev = root ? cJSON_GetObjectItemCaseSensitive(root, "eval") : NULL;
    int has = ev && cJSON_GetObjectItemCaseSensitive(ev, "combos");
    cJSON_Delete(root);
    if (!has) return 0;
    Plan p;
    char e2[512];
    if (spec_parse(rf->spec, strlen(rf->spec), path, SPEC_FILES_IGNORED, &p, e2, sizeof e2)) {
        snprintf(err, errlen, "%s: attribute spec has eval.combos but does not parse (%s): its combinations' groups "
                 "cannot be checked", path, e2);
        return -1;
    }
    out->n = p.n_combos;
    out->c = xcalloc((size_t)p.n_combos + 1, sizeof *out->c);
    int nu = p.axis[AX_TRAIN_USER].n;
    for (int k = 0; k < p.n_combos; k++) {
        const Combo *cb = &p.combos[k];
        FCombo *f = &out->c[k];
        snprintf(f->label, sizeof f->label, "%s", cb->label);
        snprintf(f->source, sizeof f->source, "%s", p.axis[AX_FORMAT].labels[cb->source]);
        f->all = cb->n_groups == 1 && !strcmp(cb->group_names[0], "all");
        for (int u = 0; u < nu; u++) f->all &= cb->group_of[u] == 0;
        f->n_users = nu;
        f->user = xcalloc((size_t)nu + 1, sizeof *f->user);
        f->group = xcalloc((size_t)nu + 1, sizeof *f->group);
        for (int u = 0; u < nu; u++) {
            f->user[u] = merge_strdup(p.axis[AX_TRAIN_USER].labels[u]);
            if (cb->group_of[u] >= 0) f->group[u] = merge_strdup(cb->group_names[cb->group_of[u]]);
        }
    }
    plan_free(&p);
    return 0;
}

// The members of group g of combination c, in the order of `users` (the file's or the merged axis):
// users[k] is a member when its group (looked up in every file's statement of c) is g. Writes their
// indices into out; returns their count.
static int group_members(const FCombos *fc, int n_files, const char *label, const char *g, int all, char **users,
                         int n_users, int *out) {
    int n = 0;
    for (int k = 0; k < n_users; k++) {
        int in = all;
        for (int i = 0; i < n_files && !in; i++) {
            const FCombo *f = fcombo_find(&fc[i], label);
            for (int u = 0; f && u < f->n_users; u++)
                if (!strcmp(f->user[u], users[k])) { in = f->group[u] && !strcmp(f->group[u], g); break; }
        }
        if (in) out[n++] = k;
    }
    return n;
}


// "a,b,c" (n users, in order), cut with "..." to fit out[len].
static void user_list(char *out, size_t len, char **labels, const int *idx, int n) {
    size_t o = 0;
    out[0] = 0;
    for (int k = 0; k < n; k++) {
        int w = snprintf(out + o, len - o, "%s%s", k ? "," : "", labels[idx[k]]);
        if (w < 0 || o + (size_t)w >= len) { snprintf(out + (len > 4 ? len - 4 : 0), len > 4 ? 4 : len, "..."); return; }
        o += (size_t)w;
    }
}



typedef struct { int file, f; const char *g; } Checked;   // a (file, combination, group) found the same

int merge_check_combos(const M *m, int n, const FCombos *fc, const MAxis *ax, MJob *mj, int nj,
                       unsigned char *combo_fmt) {
    for (int f = 0; f < ax[AX_FORMAT].n; f++) {
        const FCombo *first = NULL;
        int fi = -1;
        for (int i = 0; i < n; i++) {
            const FCombo *c = fcombo_find(&fc[i], ax[AX_FORMAT].labels[f]);
            if (!c) continue;
            if (!first) { first = c; fi = i; continue; }
            if (strcmp(c->source, first->source) || c->all != first->all) {
                snprintf(m->err, m->errlen, "%s: combination %s averages %s%s, %s's averages %s%s", m->paths[i], c->label,
                         c->source, c->all ? " over all users" : " by named groups", m->paths[fi], first->source,
                         first->all ? " over all users" : " by named groups");
                return -1;
            }
        }
        combo_fmt[f] = first != NULL;
    }
    int *mem_a = xcalloc((size_t)ax[AX_TRAIN_USER].n + 1, sizeof(int));
    int *mem_b = xcalloc((size_t)ax[AX_TRAIN_USER].n + 1, sizeof(int));
    Checked *ok_seen = NULL;
    int n_ok = 0, cap_ok = 0, rc = 0;
    for (int q = 0; q < nj && !rc; q++) {
        MJob *x = &mj[q];
        x->combo = combo_fmt[x->ax[AX_FORMAT]];
        if (!x->combo) continue;
        const char *F = ax[AX_FORMAT].labels[x->ax[AX_FORMAT]];
        const ResultsFile *rf = &m->rf[x->file];
        const char *user = ax[AX_TRAIN_USER].labels[x->ax[AX_TRAIN_USER]];
        const FCombo *c = fcombo_find(&fc[x->file], F);
        const char *g = NULL;
        for (int u = 0; c && u < c->n_users; u++)
            if (!strcmp(c->user[u], user)) g = c->group[u];
        int seen = 0;   // each (file, combination, group) is checked once: at 1,000 users, once per member is O(users^2)
        for (int k = 0; k < n_ok && !seen; k++)
            seen = ok_seen[k].file == x->file && ok_seen[k].f == x->ax[AX_FORMAT] && g && !strcmp(ok_seen[k].g, g);
        if (seen) continue;
        if (!g) {
            snprintf(m->err, m->errlen, "job %s: %s's spec attribute does not say which group of combination %s user %s "
                     "belongs to (a file written by sweep merge keeps its first input's spec): merge the files the "
                     "sweeps wrote", x->id, m->paths[x->file], F, user);
            rc = -1;
            break;
        }
        int na = group_members(&fc[x->file], 1, F, g, c->all, rf->axis[AX_TRAIN_USER].labels,
                               rf->axis[AX_TRAIN_USER].n, mem_a);
        int nb = group_members(fc, n, F, g, c->all, ax[AX_TRAIN_USER].labels, ax[AX_TRAIN_USER].n, mem_b);
        int same = na == nb;
        for (int k = 0; k < na && same; k++)
            same = !strcmp(rf->axis[AX_TRAIN_USER].labels[mem_a[k]], ax[AX_TRAIN_USER].labels[mem_b[k]]);
        if (!same) {
            char la[160], lb[160];
            user_list(la, sizeof la, rf->axis[AX_TRAIN_USER].labels, mem_a, na);
            user_list(lb, sizeof lb, ax[AX_TRAIN_USER].labels, mem_b, nb);
            snprintf(m->err, m->errlen, "job %s: combination %s of user %s averages group %s's users %s in %s, but the "
                     "merged file's group %s is %s: a group split across files must be evaluated by one run (sweep run "
                     "of the union spec), not merged", x->id, F, user, g, la, m->paths[x->file], g, lb);
            rc = -1;
            break;
        }
        if (n_ok == cap_ok) ok_seen = realloc(ok_seen, (size_t)(cap_ok = 2 * cap_ok + 8) * sizeof *ok_seen);
        if (!ok_seen) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
        ok_seen[n_ok++] = (Checked){x->file, x->ax[AX_FORMAT], g};
    }
    free(mem_a); free(mem_b); free(ok_seen);
    return rc;
}
