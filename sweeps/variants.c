// eval.variants: the parse (one variant per list entry, noise lists expanded) and the cell labels.
#include "sweeps/variants.h"
#include <stdio.h>
#include <string.h>
#include "sweeps/spec_parse.h"

static const char *const quant_names[] = { "int8", "int4", "int8:tensor", "int4:tensor", "int8:channel",
                                           "int4:channel", NULL };
static const char *const variant_names[] = { "identity", "int8", "int4", "int8:tensor", "int4:tensor",
                                             "int8:channel", "int4:channel", "noise", NULL };
static const char *const noise_fields[] = { "noise", NULL };

static int add_variant(Parse *P, const char *jp, EvalVariant v) {
    Plan *p = P->p;
    for (int i = 0; i < p->n_variants; i++)
        if (!strcmp(p->variants[i].label, v.label)) {
            if (i == 0 && v.kind == VARIANT_IDENTITY) return 0;   // "identity" may be named; it is always first
            return spec_fail(&P->c, jp, "duplicate variant %s: an earlier entry names it too", v.label);
        }
    if (p->n_variants >= MAX_EVAL_VARIANTS)
        return spec_fail(&P->c, jp, "more than %d variants", MAX_EVAL_VARIANTS);
    p->variants[p->n_variants++] = v;
    return 0;
}

static int parse_noise(Parse *P, const cJSON *it, const char *jp) {
    SpecCtx *c = &P->c;
    if (json_check_fields(c, it, jp, noise_fields)) return -1;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(it, "noise");
    char njp[128], ijp[160];
    jp_key(njp, sizeof njp, jp, "noise");
    if (!list) return spec_fail(c, jp, "a noise variant needs \"noise\": a list of standard deviations");
    int single = cJSON_IsNumber(list);
    if (!single && !cJSON_IsArray(list))
        return spec_fail(c, njp, "must be a number or a list of numbers, not %s", json_type_name(list));
    if (!single && cJSON_GetArraySize(list) == 0) return spec_fail(c, njp, "empty list");
    int k = 0;
    for (const cJSON *x = single ? list : list->child; x; x = single ? NULL : x->next, k++) {
        if (single) snprintf(ijp, sizeof ijp, "%s", njp); else jp_idx(ijp, sizeof ijp, njp, k);
        double s;
        if (json_real(c, x, ijp, 0, 1e6, 0, 0, &s)) return -1;
        EvalVariant v = { .kind = VARIANT_NOISE, .sigma = s };
        snprintf(v.label, sizeof v.label, "noise=%g", s);
        if (add_variant(P, ijp, v)) return -1;
    }
    return 0;
}

int parse_eval_variants(Parse *P) {
    SpecCtx *c = &P->c;
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(P->root, "eval");
    const cJSON *list = ev ? cJSON_GetObjectItemCaseSensitive(ev, "variants") : NULL;
    if (!list) return 0;
    if (!cJSON_IsArray(list)) return spec_fail(c, "eval.variants", "must be a list, not %s", json_type_name(list));
    if (cJSON_GetArraySize(list) == 0) return spec_fail(c, "eval.variants", "empty list (leave the field out for the identity only)");
    Plan *p = P->p;
    p->variants = xcalloc(MAX_EVAL_VARIANTS, sizeof *p->variants);
    p->n_variants = 1;
    snprintf(p->variants[0].label, sizeof p->variants[0].label, "identity");
    int i = 0;
    char jp[96];
    for (const cJSON *it = list->child; it; it = it->next, i++) {
        jp_idx(jp, sizeof jp, "eval.variants", i);
        if (cJSON_IsObject(it)) {
            if (parse_noise(P, it, jp)) return -1;
            continue;
        }
        const char *s;
        if (json_string(c, it, jp, &s)) return -1;
        EvalVariant v = { .kind = VARIANT_IDENTITY };
        if (!strcmp(s, "identity")) {
            snprintf(v.label, sizeof v.label, "identity");
        } else if (names_index(s, quant_names) >= 0) {
            v.kind = VARIANT_QUANT;
            v.bits = s[3] == '8' ? 8 : 4;
            v.per_channel = strstr(s, ":channel") != NULL;
            snprintf(v.label, sizeof v.label, "int%d%s", v.bits, v.per_channel ? ":channel" : "");
        } else if (!strcmp(s, "noise")) {
            return spec_fail(c, jp, "noise takes its standard deviations: {\"noise\": [0, 0.01, ...]}");
        } else {
            char hint[400];
            hint_text(hint, sizeof hint, s, variant_names, names_count(variant_names));
            return spec_fail(c, jp, "unknown variant %s%s", s, hint);
        }
        if (add_variant(P, jp, v)) return -1;
    }
    return 0;
}

int variant_count(const Plan *p) { return p->n_variants > 0 ? p->n_variants : 1; }

const char *variant_label(const Plan *p, int v) {
    return p->n_variants > 0 && v >= 0 && v < p->n_variants ? p->variants[v].label : "identity";
}

int variant_cell_label(char *out, size_t n, const Plan *p, int v, const char *eval) {
    int w = v == 0 ? snprintf(out, n, "%s", eval) : snprintf(out, n, "%s%c%s", eval, VARIANT_SEP, variant_label(p, v));
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

int variant_of_cell(const Plan *p, const char *label, char *eval, size_t n) {
    const char *at = strrchr(label, VARIANT_SEP);
    size_t len = at ? (size_t)(at - label) : strlen(label);
    if (n) snprintf(eval, n, "%.*s", (int)(len < n ? len : n - 1), label);
    if (!at) return 0;
    for (int v = 1; v < p->n_variants; v++)
        if (!strcmp(at + 1, p->variants[v].label)) return v;
    return -1;
}

int plan_has_cell(const Plan *p, const char *label) {
    char eval[96];
    int v = variant_of_cell(p, label, eval, sizeof eval);
    if (v < 0) return 0;
    if (v > 0 && !eval[0]) return 1;   // the variant's bytes
    for (int i = 0; i < p->axis[AX_EVAL_TEXT].n; i++)
        if (!strcmp(p->axis[AX_EVAL_TEXT].labels[i], eval)) return 1;
    return 0;
}

int variant_extra_cells(const Plan *p, const Job *job) { return (variant_count(p) - 1) * (job->n_eval + 1); }

int variant_evaluations(const Plan *p, int format_none) {
    int k = 1;
    for (int v = 1; v < p->n_variants; v++) k += !format_none || p->variants[v].kind != VARIANT_QUANT;
    return k;
}
