// The spec attribute of a file merged from runs of different specs (results/merge_impl.h).
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"
#include "results/merge_impl.h"
#include "sweeps/spec.h"
#include <cjson/cJSON.h>

static int same_labels(const Axis *a, const MAxis *m) {
    if (a->n != m->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->labels[i], m->labels[i])) return 0;
    return 1;
}

char *merge_union_spec(const ResultsFile *rf, int n, const MAxis *ax, const char *path) {
    cJSON **roots = xcalloc((size_t)n, sizeof *roots);
    Plan *plans = xcalloc((size_t)n, sizeof *plans);
    unsigned char *parsed = xcalloc((size_t)n, 1);
    char *text = NULL, e[512];
    cJSON *users = cJSON_CreateArray(), *seeds = cJSON_CreateArray();
    int ok = users && seeds;
    for (int i = 0; i < n && ok; i++) {
        roots[i] = rf[i].spec ? cJSON_Parse(rf[i].spec) : NULL;
        const cJSON *u = roots[i] ? cJSON_GetObjectItemCaseSensitive(roots[i], "users") : NULL;
        ok = u && cJSON_IsArray(u) && !spec_parse(rf[i].spec, strlen(rf[i].spec), path, SPEC_FILES_IGNORED, &plans[i], e,
                                                  sizeof e);
        parsed[i] = ok;
        ok = ok && cJSON_GetArraySize(u) == plans[i].axis[AX_TRAIN_USER].n;   // one entry per user
    }
    for (int k = 0; k < ax[AX_TRAIN_USER].n && ok; k++) {
        const cJSON *item = NULL;
        for (int i = 0; i < n && !item; i++)
            for (int q = 0; q < plans[i].axis[AX_TRAIN_USER].n && !item; q++)
                if (!strcmp(plans[i].axis[AX_TRAIN_USER].labels[q], ax[AX_TRAIN_USER].labels[k]))
                    item = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(roots[i], "users"), q);
        ok = item && cJSON_AddItemToArray(users, cJSON_Duplicate(item, 1));
    }
    for (int k = 0; k < ax[AX_SEED].n && ok; k++) {
        unsigned long long v = strtoull(ax[AX_SEED].labels[k], NULL, 10);
        ok = v <= (1ull << 53) && cJSON_AddItemToArray(seeds, cJSON_CreateNumber((double)v));   // exact in a double
    }
    if (ok) {
        cJSON_ReplaceItemInObjectCaseSensitive(roots[0], "users", users);
        users = NULL;
        if (cJSON_GetObjectItemCaseSensitive(roots[0], "seeds")) cJSON_ReplaceItemInObjectCaseSensitive(roots[0], "seeds", seeds);
        else cJSON_AddItemToObject(roots[0], "seeds", seeds);
        seeds = NULL;
        text = cJSON_Print(roots[0]);
        Plan u;
        if (text && !spec_parse(text, strlen(text), path, SPEC_FILES_IGNORED, &u, e, sizeof e)) {
            int same = 1;
            for (int a = 0; a < AX_COUNT; a++) same &= same_labels(&u.axis[a], &ax[a]);
            plan_free(&u);
            if (!same) { free(text); text = NULL; }
        } else {
            free(text);
            text = NULL;
        }
    }
    cJSON_Delete(users);
    cJSON_Delete(seeds);
    for (int i = 0; i < n; i++) {
        cJSON_Delete(roots[i]);
        if (parsed[i]) plan_free(&plans[i]);
    }
    free(roots); free(plans); free(parsed);
    return text;
}
