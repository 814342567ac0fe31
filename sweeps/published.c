// The spec field "published": the seeds' figures for a bundled protocol, checked against the one
// table of figure names (published_figures) and the spec's users. Metadata only: nothing here
// reaches the grid or a job id.
#include "sweeps/published.h"
#include <math.h>
#include <stdio.h>
#include "sweeps/spec_parse.h"

const PubFigureDef published_figures[] = {
    {"bet37", "base", PUB_TEXT, "ppl of the base alone on the held-out slice"},
    {"bet37", "norm", PUB_TEXT, "ppl of norm-only on the slice"},
    {"bet37", "lora", PUB_TEXT, "ppl of LoRA-r4 on the slice"},
    {"bet37", "full", PUB_TEXT, "ppl of full FT on the slice"},
    {"bet46", "median_ratio", PUB_ALL, "median norm/full ppl ratio over the configurations"},
    {"bet46", "norm_beats_full", PUB_ALL, "configurations where norm-only's ppl is below full FT's"},
    {"bet46", "configurations", PUB_ALL, "configurations judged (seeds x held-out texts)"},
    {"bet49", "norm", PUB_USER, "personal (own held-out) ppl of norm-only"},
    {"bet49", "lora", PUB_USER, "personal ppl of LoRA-r4"},
    {"bet49", "full", PUB_USER, "personal ppl of full FT"},
    {"bet49", "general_norm", PUB_USER, "general-text ppl of norm-only"},
    {"bet49", "general_lora", PUB_USER, "general-text ppl of LoRA-r4"},
    {"bet49", "general_full", PUB_USER, "general-text ppl of full FT"},
    {"bet52", "base", PUB_USER, "ppl of the (ternary) base alone on the user's held-out text"},
    {"bet52", "norm", PUB_USER, "ppl of the base + norm-only adapter"},
    {"bet52", "improvement", PUB_USER, "improvement in %: 1 - norm / base"},
    {"bet60", "real", PUB_USER, "ppl of norm-only trained on the user's text"},
    {"bet60", "random", PUB_USER, "ppl of norm-only trained on uniform random tokens"},
    {"bet61", "min_margin", PUB_ALL, "smallest own-adapter margin over users, %"},
    {"bet61", "max_margin", PUB_ALL, "largest own-adapter margin over users, %"},
    {NULL, NULL, PUB_USER, NULL},
};

const PubFigureDef *published_figure_def(const char *protocol, const char *name) {
    for (const PubFigureDef *d = published_figures; d->protocol; d++)
        if (!strcmp(d->protocol, protocol) && !strcmp(d->name, name)) return d;
    return NULL;
}

int published_protocol_known(const char *protocol) {
    for (const PubFigureDef *d = published_figures; d->protocol; d++)
        if (!strcmp(d->protocol, protocol)) return 1;
    return 0;
}

const PubFigure *published_find(const Published *pub, const PubRow *row, const char *name) {
    const PubFigure *f = row ? row->fig : pub->all;
    int n = row ? row->n : pub->n_all;
    for (int i = 0; i < n; i++)
        if (!strcmp(f[i].name, name)) return &f[i];
    return NULL;
}

static const char *const verdict_words[] = {"STRICT", "LENIENT", "CATASTROPHIC", "none", NULL};
static const char *const pub_fields[] = {"source", "verdict", "says", "rows", "figures", NULL};

static int isdig(char ch) { return ch >= '0' && ch <= '9'; }

// A figure is a number, or the seeds' text of one: digits with thousands commas, an optional
// fraction and an optional trailing "+" (a lower bound: "84,000+").
static int read_figure(SpecCtx *c, const cJSON *it, const char *jp, const char *name, PubFigure *f) {
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    if (cJSON_IsNumber(it)) {
        if (!isfinite(it->valuedouble)) return spec_fail(c, jp, "not a finite number");
        f->value = it->valuedouble;
        snprintf(f->text, sizeof f->text, "%g", f->value);
        return 0;
    }
    if (!cJSON_IsString(it))
        return spec_fail(c, jp, "expected a number or the seeds' text of one such as \"84,000+\", got %s",
                         json_type_name(it));
    const char *s = it->valuestring;
    size_t n = strlen(s);
    char digits[32];
    size_t k = 0, i = 0;
    int ok = n > 0 && n < sizeof f->text && s[0] >= '0' && s[0] <= '9';
    for (; ok && i < n && s[i] != '.' && s[i] != '+'; i++) {
        if (s[i] >= '0' && s[i] <= '9') digits[k++] = s[i];
        else if (s[i] != ',' || i + 3 >= n || !isdig(s[i + 1]) || !isdig(s[i + 2]) || !isdig(s[i + 3])) ok = 0;
    }
    if (ok && i < n && s[i] == '.') {
        digits[k++] = s[i++];
        if (i >= n || s[i] < '0' || s[i] > '9') ok = 0;
        for (; ok && i < n && s[i] >= '0' && s[i] <= '9'; i++) digits[k++] = s[i];
    }
    if (ok && i < n && s[i] == '+') { f->at_least = 1; i++; }
    if (!ok || i != n)
        return spec_fail(c, jp, "\"%.40s\" is not a figure (a number, or digits with thousands commas and an optional "
                                "trailing + such as \"84,000+\")", s);
    digits[k] = 0;
    f->value = strtod(digits, NULL);
    snprintf(f->text, sizeof f->text, "%s", s);
    return 0;
}

// The names a row (scope PUB_USER or PUB_TEXT) or "figures" (PUB_ALL) may hold for the protocol,
// after the fixed fields; NULL-terminated into out.
static int allowed_names(const char *protocol, int all, const char **out, int cap) {
    int n = 0;
    if (!all) { out[n++] = "user"; out[n++] = "text"; out[n++] = "says"; }
    for (const PubFigureDef *d = published_figures; d->protocol && n < cap - 1; d++)
        if (!strcmp(d->protocol, protocol) && (d->scope == PUB_ALL) == all) out[n++] = d->name;
    out[n] = NULL;
    return n;
}

static int read_says(SpecCtx *c, const cJSON *obj, const char *jp, char *out, size_t n) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "says");
    if (!it) return 0;
    char p[200];
    const char *s;
    jp_key(p, sizeof p, jp, "says");
    if (json_string(c, it, p, &s)) return -1;
    if (strlen(s) >= n) return spec_fail(c, p, "longer than %zu bytes", n - 1);
    snprintf(out, n, "%s", s);
    return 0;
}

static int read_row(Parse *P, const cJSON *obj, const char *jp, PubRow *row) {
    SpecCtx *c = &P->c;
    Plan *p = P->p;
    const char *names[40];
    int n_names = allowed_names(p->protocol, 0, names, 40);
    int text_scope = 0;
    for (const PubFigureDef *d = published_figures; d->protocol; d++)
        if (!strcmp(d->protocol, p->protocol) && d->scope == PUB_TEXT) text_scope = 1;
    if (n_names == 3) return spec_fail(c, jp, "%s publishes no per-user figures: give them in published.figures", p->protocol);
    if (json_check_fields(c, obj, jp, names)) return -1;
    memset(row, 0, sizeof *row);
    char q[200];
    const char *s;
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, "user");
    jp_key(q, sizeof q, jp, "user");
    if (!it) return spec_fail(c, q, "missing (the user the figures belong to)");
    if (json_string(c, it, q, &s)) return -1;
    int u = -1;
    for (int i = 0; i < p->axis[AX_TRAIN_USER].n && u < 0; i++)
        if (!strcmp(p->users[i].name, s) || !strcmp(p->users[i].alias, s)) u = i;
    if (u < 0) return spec_fail(c, q, "%s is not one of the spec's users", s);
    snprintf(row->user, sizeof row->user, "%s", p->users[u].name);
    it = cJSON_GetObjectItemCaseSensitive(obj, "text");
    jp_key(q, sizeof q, jp, "text");
    if (text_scope && !it) return spec_fail(c, q, "missing (%s's figures are per held-out slice: 1 .. %d)", p->protocol,
                                            p->users[u].n_eval);
    if (!text_scope && it) return spec_fail(c, q, "%s's figures are per user, not per held-out slice", p->protocol);
    if (it) {
        long v;
        if (json_int(c, it, q, 1, p->users[u].n_eval, &v)) return -1;
        row->text = (int)v;
    }
    if (read_says(c, obj, jp, row->says, sizeof row->says)) return -1;
    for (int k = 3; k < n_names; k++) {
        if (!(it = cJSON_GetObjectItemCaseSensitive(obj, names[k]))) continue;
        jp_key(q, sizeof q, jp, names[k]);
        if (read_figure(c, it, q, names[k], &row->fig[row->n++])) return -1;
    }
    if (!row->n) return spec_fail(c, jp, "no figure (one or more of: %s%s%s%s)", names[3], n_names > 4 ? ", " : "",
                                  n_names > 4 ? names[4] : "", n_names > 5 ? ", ..." : "");
    return 0;
}

int parse_published(Parse *P) {
    SpecCtx *c = &P->c;
    Plan *p = P->p;
    const cJSON *pub = cJSON_GetObjectItemCaseSensitive(P->root, "published");
    if (!pub) return 0;
    if (json_check_fields(c, pub, "published", pub_fields)) return -1;
    if (!published_protocol_known(p->protocol))
        return spec_fail(c, "published", "protocol %s has no published figures (bet37, bet46, bet49, bet52, bet60 and "
                                         "bet61 do)", p->protocol);
    Published *out = xcalloc(1, sizeof *out);
    p->published = out;
    out->present = 1;
    const char *s;
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(pub, "source");
    if (!it) return spec_fail(c, "published.source", "missing (the seed file the figures are copied from)");
    if (json_string(c, it, "published.source", &s)) return -1;
    if (strlen(s) >= sizeof out->source) return spec_fail(c, "published.source", "longer than %zu bytes", sizeof out->source - 1);
    snprintf(out->source, sizeof out->source, "%s", s);
    it = cJSON_GetObjectItemCaseSensitive(pub, "verdict");
    if (!it) return spec_fail(c, "published.verdict", "missing (STRICT, LENIENT, CATASTROPHIC or none)");
    if (json_string(c, it, "published.verdict", &s)) return -1;
    if (names_index(s, verdict_words) < 0) {
        char h[200];
        hint_text(h, sizeof h, s, verdict_words, names_count(verdict_words));
        return spec_fail(c, "published.verdict", "unknown verdict %s%s", s, h);
    }
    snprintf(out->verdict, sizeof out->verdict, "%s", s);
    if (read_says(c, pub, "published", out->says, sizeof out->says)) return -1;
    if ((it = cJSON_GetObjectItemCaseSensitive(pub, "rows"))) {
        if (!cJSON_IsArray(it)) return spec_fail(c, "published.rows", "expected a list of rows, got %s", json_type_name(it));
        if (!it->child) return spec_fail(c, "published.rows", "empty list");
        int i = 0;
        for (const cJSON *e = it->child; e; e = e->next, i++) {
            char q[160];
            jp_idx(q, sizeof q, "published.rows", i);
            if (i >= PUB_MAX_ROWS) return spec_fail(c, q, "more than %d rows", PUB_MAX_ROWS);
            PubRow *row = &out->rows[i];
            if (read_row(P, e, q, row)) return -1;
            for (int k = 0; k < i; k++)
                if (!strcmp(out->rows[k].user, row->user) && out->rows[k].text == row->text)
                    return spec_fail(c, q, "duplicate row: published.rows[%d] has the figures of %s%s too", k, row->user,
                                     row->text ? " on this slice" : "");
            out->n_rows = i + 1;
        }
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(pub, "figures"))) {
        const char *names[40];
        int n = allowed_names(p->protocol, 1, names, 40);
        if (!n) return spec_fail(c, "published.figures", "%s publishes no protocol-wide figures: give them per user in "
                                                         "published.rows", p->protocol);
        if (json_check_fields(c, it, "published.figures", names)) return -1;
        for (const cJSON *e = it->child; e; e = e->next) {
            char q[160];
            jp_key(q, sizeof q, "published.figures", e->string);
            if (read_figure(c, e, q, e->string, &out->all[out->n_all++])) return -1;
        }
        if (!out->n_all) return spec_fail(c, "published.figures", "empty object");
    }
    if (!out->n_rows && !out->n_all) return spec_fail(c, "published", "no figures: give published.rows or published.figures");
    return 0;
}
