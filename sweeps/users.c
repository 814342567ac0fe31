// Users and their eval texts: built-in users from the fixtures' data directory (by name or alias),
// custom users given as train + eval files or as raw documents ("files", "dir") that are split beside
// the output before the run, the general text, and which users' slices each job evaluates.
#include <dirent.h>
#include <stdio.h>
#include "sweeps/spec_parse.h"
#include "sweeps/split.h"

#define MAX_USERS 10000

static const char *const user_fields[] = { "name", "dir", "files", "train", "eval", NULL };
static const char *const eval_fields[] = { "users", "slices", "general", "tokens", "slice_bytes", "others", "variants", "combos", NULL };
static const char *const alias_from[] = { "programmer", "novelist", "scientist", NULL };
static const char *const alias_to[] = { "cpython", "austen", "therneau", NULL };

// The data directory is needed only by built-in users and the general text.
static int data_dir(Parse *P, char *out) {
    SpecCtx *c = &P->c;
    if (!P->data_resolved) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(P->root, "data");
        const char *given = "fixtures/data";
        if (d && json_string(c, d, "data", &given)) return -1;
        if (input_resolve(c, "data", given, 1, P->data_dir)) {
            if (c->files == SPEC_FILES_REQUIRED && !path_kind(given))
                spec_fail(c, "data", "%s: no such directory (looked in %s/ and the current directory; "
                     "`sweep fixtures` builds it)", given, c->specdir);
            return -1;
        }
        P->data_resolved = 1;
    }
    snprintf(out, PATHMAX, "%s", P->data_dir);
    return 0;
}

static int add_eval(Plan *p, int *cap, const char *label, const char *path, int user) {
    Axis *ax = &p->axis[AX_EVAL_TEXT];
    if (ax->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        p->evals = realloc(p->evals, *cap * sizeof *p->evals);
        ax->labels = realloc(ax->labels, *cap * sizeof(char *));
        if (!p->evals || !ax->labels) { fprintf(stderr, "sweep: out of memory\n"); exit(3); }
    }
    EvalEntry *e = &p->evals[ax->n];
    memset(e, 0, sizeof *e);
    snprintf(e->label, sizeof e->label, "%s", label);
    snprintf(e->path, sizeof e->path, "%s", path);
    e->user = user;
    ax->labels[ax->n] = xstrdup(label);
    return ax->n++;
}
// A built-in user: a name (or alias) whose texts the fixtures' data directory holds.
static int builtin_user(Parse *P, const cJSON *it, const char *jp, UserEntry *u, char *userdir) {
    SpecCtx *c = &P->c;
    const char *name;
    if (json_string(c, it, jp, &name)) return -1;
    int a = names_index(name, alias_from);
    if (a >= 0) { snprintf(u->alias, sizeof u->alias, "%s", name); name = alias_to[a]; }
    if (!spec_valid_name(name) || !strcmp(name, "general"))
        return spec_fail(c, jp, "'%s' is not a user name (letters, digits, '_', '-', '.'); a custom user "
                         "is an object {name, dir | files | train + eval}", name);
    snprintf(u->name, sizeof u->name, "%s", name);
    char dd[PATHMAX];
    if (data_dir(P, dd)) return -1;
    char rel[PATHMAX];
    snprintf(rel, sizeof rel, "users/%s", name);
    if (path_join(userdir, dd, rel)) return spec_fail(c, jp, "path too long");
    if (c->files != SPEC_FILES_REQUIRED || path_kind(userdir) == 2) return 0;
    // hint from the users the fixtures hold
    char hdir[PATHMAX], h[400] = "";
    const char *cands[256];
    int nc = 0;
    DIR *d = path_join(hdir, dd, "users") ? NULL : opendir(hdir);
    for (struct dirent *e; d && nc < 256 && (e = readdir(d));)
        if (e->d_name[0] != '.') cands[nc++] = xstrdup(e->d_name);
    if (d) closedir(d);
    const char *best = hint_closest(name, cands, nc);
    if (best) snprintf(h, sizeof h, " (did you mean %s?)", best);
    else snprintf(h, sizeof h, " (`sweep fixtures` builds the built-in users)");
    for (int k = 0; k < nc; k++) free((char *)cands[k]);
    return spec_fail(c, jp, "no user %s in %s%s", name, dd, h);
}

// A custom user's documents as a list of files: kept in the spec's order; the identity hashes them in
// path order, as the split reads them.
static int user_files(Parse *P, const cJSON *files, const char *jp, int i, UserEntry *u) {
    SpecCtx *c = &P->c;
    if (!cJSON_IsArray(files)) return spec_fail(c, jp, "expected a list of text files, got %s", json_type_name(files));
    int nf = cJSON_GetArraySize(files);
    if (nf == 0) return spec_fail(c, jp, "empty list");
    if (nf > 100000) return spec_fail(c, jp, "%d files: at most 100000", nf);
    u->sources = xcalloc(nf, sizeof(char *));
    int k = 0;
    for (const cJSON *f = files->child; f; f = f->next, k++) {
        char q[128], r[PATHMAX];
        const char *s;
        jp_idx(q, sizeof q, jp, k);
        if (json_string(c, f, q, &s) || input_resolve(c, q, s, 0, r)) return -1;
        u->sources[k] = xstrdup(r);
        u->n_sources = k + 1;
    }
    char **sorted = xmalloc(nf * sizeof *sorted);
    memcpy(sorted, u->sources, nf * sizeof *sorted);
    qsort(sorted, nf, sizeof *sorted, path_cmp);
    uint64_t h = FNV1A64_INIT;
    int twice = -1;
    for (k = 0; k < nf && twice < 0; k++) {
        Ident fp;
        if (k && !strcmp(sorted[k], sorted[k - 1])) twice = k;
        input_fingerprint(c, sorted[k], fp, sizeof fp);
        h = fnv1a64(fp, strlen(fp) + 1, h);
    }
    if (twice >= 0) {
        int rc = spec_fail(c, jp, "%s given twice", sorted[twice]);
        free(sorted);
        return rc;
    }
    free(sorted);
    snprintf(P->user_id[i], sizeof P->user_id[i], "files:%016llx", (unsigned long long)h);
    return 0;
}

// A custom user {name, dir | files | train + eval}. Documents are split into stem.users/NAME/ (userdir);
// train + eval are read where they are (*train and *evals, for user_texts).
static int custom_user(Parse *P, const cJSON *it, const char *jp, int i, const char *stem, char *userdir,
                       const cJSON **train, const cJSON **evals) {
    SpecCtx *c = &P->c;
    UserEntry *u = &P->p->users[i];
    char sub[96];
    if (json_check_fields(c, it, jp, user_fields)) return -1;
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
    const cJSON *dir = cJSON_GetObjectItemCaseSensitive(it, "dir");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(it, "files");
    *train = cJSON_GetObjectItemCaseSensitive(it, "train");
    *evals = cJSON_GetObjectItemCaseSensitive(it, "eval");
    const char *name;
    jp_key(sub, sizeof sub, jp, "name");
    if (!nm) return spec_fail(c, sub, "missing");
    if (json_string(c, nm, sub, &name)) return -1;
    if (!spec_valid_name(name) || !strcmp(name, "general"))
        return spec_fail(c, sub, "'%s' is not a user name (letters, digits, '_', '-', '.', at most 63)", name);
    snprintf(u->name, sizeof u->name, "%s", name);
    if (!!dir + !!files + !!*train != 1)
        return spec_fail(c, jp, "give exactly one of dir (documents), files (documents) or train (+ eval)");
    if (*evals && !*train) { jp_key(sub, sizeof sub, jp, "eval"); return spec_fail(c, sub, "only with train"); }
    if (*train && !*evals) { jp_key(sub, sizeof sub, jp, "eval"); return spec_fail(c, sub, "missing: the held-out eval files"); }
    if (*train) return 0;
    if (snprintf(userdir, PATHMAX, "%s.users/%s", stem, name) >= PATHMAX) return spec_fail(c, "output", "path too long");
    if (files) {
        jp_key(sub, sizeof sub, jp, "files");
        return user_files(P, files, sub, i, u);
    }
    const char *d;
    char r[PATHMAX];
    jp_key(sub, sizeof sub, jp, "dir");
    if (json_string(c, dir, sub, &d) || input_resolve(c, sub, d, 1, r)) return -1;
    u->n_sources = 1;
    u->sources = xcalloc(1, sizeof(char *));
    u->sources[0] = xstrdup(r);
    u->source_is_dir = 1;
    input_fingerprint_dir(c, r, P->user_id[i], sizeof P->user_id[i]);
    return 0;
}

static int duplicate_user(Parse *P, int i, const char *jp) {
    const Plan *p = P->p;
    const UserEntry *u = &p->users[i];
    for (int k = 0; k < i; k++) {
        if (strcmp(p->users[k].name, u->name)) continue;
        const char *alias = u->alias[0] ? u->alias : p->users[k].alias;
        if (alias[0])
            return spec_fail(&P->c, jp, "duplicate user %s: users[%d] names it too (%s is an alias of %s)", u->name, k,
                             alias, u->name);
        return spec_fail(&P->c, jp, "duplicate user %s: users[%d] names it too", u->name, k);
    }
    return 0;
}

// A user's training corpus and eval texts given as files (train + eval).
static int given_texts(Parse *P, int i, const char *jp, const cJSON *train, const cJSON *evals, int *ecap) {
    SpecCtx *c = &P->c;
    Plan *p = P->p;
    UserEntry *u = &p->users[i];
    const char *s;
    char sub[96];
    jp_key(sub, sizeof sub, jp, "train");
    if (json_string(c, train, sub, &s) || input_resolve(c, sub, s, 0, u->train_path)) return -1;
    input_fingerprint(c, u->train_path, P->user_id[i], sizeof P->user_id[i]);
    jp_key(sub, sizeof sub, jp, "eval");
    if (!cJSON_IsArray(evals)) return spec_fail(c, sub, "expected a list of eval files, got %s", json_type_name(evals));
    int ne = cJSON_GetArraySize(evals);
    if (ne == 0) return spec_fail(c, sub, "empty list");
    if (ne > SPLIT_MAX_EVAL) return spec_fail(c, sub, "%d eval files: at most %d", ne, SPLIT_MAX_EVAL);
    u->eval_index = xcalloc(ne, sizeof(int));
    int k = 0;
    for (const cJSON *e = evals->child; e; e = e->next, k++) {
        char q[128], r[PATHMAX], label[96];
        jp_idx(q, sizeof q, sub, k);
        if (json_string(c, e, q, &s) || input_resolve(c, q, s, 0, r)) return -1;
        snprintf(label, sizeof label, "%s/eval-%d", u->name, k + 1);
        u->eval_index[k] = add_eval(p, ecap, label, r, i);
        u->n_eval = k + 1;
    }
    return 0;
}

// A custom user's documents split into outdir (NULL: checked only) by sweeps/split.h's rule.
static int split_one(const UserEntry *u, long eval_bytes, const char *outdir, char *err, size_t errlen) {
    return u->source_is_dir
           ? split_user_dir(u->name, u->sources[0], u->n_eval, eval_bytes, outdir, NULL, err, errlen)
           : split_user(u->name, (const char *const *)u->sources, u->n_sources, u->n_eval, eval_bytes, outdir, err,
                        errlen);
}

// A user's train.txt and eval-K.txt in userdir: a built-in user's fixtures (which must exist), or
// where a custom user's documents will be split (whose parameters then join the identity).
static int sliced_texts(Parse *P, int i, const char *jp, const char *userdir, int *ecap) {
    SpecCtx *c = &P->c;
    Plan *p = P->p;
    UserEntry *u = &p->users[i];
    char rel[PATHMAX];
    if (path_join(u->train_path, userdir, "train.txt")) return spec_fail(c, jp, "path too long");
    if (!u->n_sources) {
        if (input_check_derived(c, jp, u->train_path, " (the fixtures are incomplete: `sweep fixtures`)")) return -1;
        input_fingerprint(c, u->train_path, P->user_id[i], sizeof P->user_id[i]);
    }
    u->eval_index = xcalloc(P->slices, sizeof(int));
    for (int k = 0; k < P->slices; k++) {
        char path[PATHMAX], label[96];
        snprintf(rel, sizeof rel, "eval-%d.txt", k + 1);
        if (path_join(path, userdir, rel)) return spec_fail(c, jp, "path too long");
        if (!u->n_sources && input_check_derived(c, jp, path, P->slices > SPLIT_DEFAULT_EVAL
                ? " (eval.slices asks for more slices than the fixtures hold)" : " (the fixtures are incomplete)"))
            return -1;
        snprintf(label, sizeof label, "%s/eval-%d", u->name, k + 1);
        u->eval_index[k] = add_eval(p, ecap, label, path, i);
        u->n_eval = k + 1;
    }
    if (u->n_sources) {   // the split's parameters shape the training text too
        char extra[64];
        snprintf(extra, sizeof extra, ";split=%d,%ld", P->slices, p->split_eval_bytes);
        strncat(P->user_id[i], extra, sizeof P->user_id[i] - strlen(P->user_id[i]) - 1);
        // when files must exist (sweep plan), the documents pass every check of the split sweep run makes
        char why[768];
        if (c->files == SPEC_FILES_REQUIRED && split_one(u, p->split_eval_bytes, NULL, why, sizeof why) != SPLIT_OK)
            return spec_fail(c, jp, "%s", why);
    }
    return 0;
}

int parse_users(Parse *P) {
    SpecCtx *c = &P->c;
    Plan *p = P->p;
    const cJSON *users = cJSON_GetObjectItemCaseSensitive(P->root, "users");
    if (!users) return spec_fail(c, "users", "missing: name at least one user");
    if (!cJSON_IsArray(users)) return spec_fail(c, "users", "expected a list, got %s", json_type_name(users));
    int n = cJSON_GetArraySize(users);
    if (n == 0) return spec_fail(c, "users", "empty list: name at least one user");
    if (n > MAX_USERS) return spec_fail(c, "users", "%d users: at most %d", n, MAX_USERS);
    p->users = xcalloc(n, sizeof *p->users);
    p->axis[AX_TRAIN_USER].labels = xcalloc(n, sizeof(char *));
    P->user_id = xcalloc(n, sizeof *P->user_id);
    int ecap = 0, i = 0;
    char stem[PATHMAX];   // custom users' documents are split beside the output
    snprintf(stem, sizeof stem, "%s", p->output);
    size_t sl = strlen(stem);
    if (sl > 3 && !strcmp(stem + sl - 3, ".h5")) stem[sl - 3] = 0;
    for (const cJSON *it = users->child; it; it = it->next, i++) {
        char jp[64], userdir[PATHMAX];
        const cJSON *train = NULL, *evals = NULL;
        jp_idx(jp, sizeof jp, "users", i);
        p->axis[AX_TRAIN_USER].n = i + 1;
        if (cJSON_IsString(it)) {
            if (builtin_user(P, it, jp, &p->users[i], userdir)) return -1;
        } else if (cJSON_IsObject(it)) {
            if (custom_user(P, it, jp, i, stem, userdir, &train, &evals)) return -1;
        } else {
            return spec_fail(c, jp, "expected a user name or an object {name, dir | files | train + eval}, got %s",
                             json_type_name(it));
        }
        if (duplicate_user(P, i, jp)) return -1;
        p->axis[AX_TRAIN_USER].labels[i] = xstrdup(p->users[i].name);
        if (train ? given_texts(P, i, jp, train, evals, &ecap) : sliced_texts(P, i, jp, userdir, &ecap)) return -1;
    }
    if (P->general) {
        if (!P->general_path[0]) {
            char dd[PATHMAX];
            if (data_dir(P, dd)) return -1;
            if (path_join(P->general_path, dd, "general/eval.txt")) return spec_fail(c, "eval.general", "path too long");
            if (input_check_derived(c, "eval.general", P->general_path, " (`sweep fixtures` builds it)")) return -1;
        }
        add_eval(p, &ecap, "general", P->general_path, -1);
    }
    return 0;
}

int parse_eval_scalars(Parse *P) {
    SpecCtx *c = &P->c;
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(P->root, "eval");
    P->slices = SPLIT_DEFAULT_EVAL;
    P->general = 1;
    P->p->split_eval_bytes = SPLIT_DEFAULT_EVAL_BYTES;
    if (!ev) return 0;
    if (json_check_fields(c, ev, "eval", eval_fields)) return -1;
    const cJSON *it;
    long v;
    if ((it = cJSON_GetObjectItemCaseSensitive(ev, "slices"))) {
        if (json_int(c, it, "eval.slices", 1, SPLIT_MAX_EVAL, &v)) return -1;
        P->slices = (int)v;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(ev, "tokens"))) {
        if (json_int(c, it, "eval.tokens", 0, 1e9, &v)) return -1;
        if (v == 1) return spec_fail(c, "eval.tokens", "1 token predicts nothing: use 0 (all) or at least 2");
        P->p->eval_tokens = (int)v;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(ev, "slice_bytes"))) {
        if (json_int(c, it, "eval.slice_bytes", 256, 1e9, &v)) return -1;
        P->p->split_eval_bytes = v;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(ev, "others"))) {
        if (json_int(c, it, "eval.others", 0, 1000000, &v)) return -1;
        P->others = (int)v;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(ev, "general"))) {
        if (cJSON_IsString(it)) {
            const char *s;
            if (json_string(c, it, "eval.general", &s) || input_resolve(c, "eval.general", s, 0, P->general_path))
                return -1;
        } else if (!cJSON_IsBool(it)) {
            return spec_fail(c, "eval.general", "expected true, false or a text file, got %s", json_type_name(it));
        } else {
            P->general = cJSON_IsTrue(it);
        }
    }
    return 0;
}

int parse_eval_users(Parse *P) {
    SpecCtx *c = &P->c;
    Plan *p = P->p;
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(P->root, "eval");
    const cJSON *it = ev ? cJSON_GetObjectItemCaseSensitive(ev, "users") : NULL;
    P->eval_mode = EVAL_OWN;
    if (!it) return 0;
    if (cJSON_IsString(it)) {
        if (!strcmp(it->valuestring, "own")) return 0;
        if (!strcmp(it->valuestring, "all")) {
            P->eval_mode = EVAL_ALL;
            if (P->others)
                return spec_fail(c, "eval.others", "\"all\" already evaluates every user's slices: sample others with "
                                 "\"users\": \"own\" (or a list)");
            return 0;
        }
        return spec_fail(c, "eval.users", "expected \"own\", \"all\" or a list of users, got \"%s\"", it->valuestring);
    }
    if (!cJSON_IsArray(it)) return spec_fail(c, "eval.users", "expected \"own\", \"all\" or a list of users, got %s",
                                        json_type_name(it));
    if (!it->child) return spec_fail(c, "eval.users", "empty list");
    int nu = p->axis[AX_TRAIN_USER].n;
    P->eval_mode = EVAL_LIST;
    P->eval_users = xcalloc(nu, 1);
    const char **names = xmalloc(nu * sizeof *names);
    for (int u = 0; u < nu; u++) names[u] = p->users[u].name;
    int k = 0, rc = 0;
    for (const cJSON *e = it->child; e && !rc; e = e->next, k++) {
        char q[64];
        const char *s;
        jp_idx(q, sizeof q, "eval.users", k);
        if ((rc = json_string(c, e, q, &s))) break;
        int a = names_index(s, alias_from);
        const char *canon = a >= 0 ? alias_to[a] : s;
        int u = 0;
        while (u < nu && strcmp(canon, names[u])) u++;
        if (u == nu) {
            const char *best = hint_closest(s, names, nu);
            char h[120] = "";
            if (best) snprintf(h, sizeof h, " (did you mean %s?)", best);
            rc = spec_fail(c, q, "%s is not one of the spec's users%s", s, h);
        } else if (P->eval_users[u]) {
            rc = spec_fail(c, q, "%s given twice", s);
        } else {
            P->eval_users[u] = 1;
        }
    }
    free(names);
    return rc;
}

int spec_split_users(const Plan *p, int *status, char *err, size_t errlen) {
    *status = 0;
    for (int u = 0; u < p->axis[AX_TRAIN_USER].n; u++) {
        const UserEntry *e = &p->users[u];
        if (!e->n_sources) continue;
        char outdir[PATHMAX];
        path_dirname(e->train_path, outdir);
        int rc = split_one(e, p->split_eval_bytes, outdir, err, errlen);
        if (rc != SPLIT_OK) { *status = rc == SPLIT_BAD_INPUT ? 2 : 3; return -1; }
    }
    return 0;
}

