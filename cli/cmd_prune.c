// sweep prune IN OUT --sparsity S [--per row|tensor]: magnitude pruning of a base (Bet 48).
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/commands.h"
#include "engine/modelfile.h"
#include "engine/prune.h"
#include "engine/util.h"

static void prune_usage(FILE *f) {
    fprintf(f,
        "usage: sweep prune IN OUT --sparsity S [--per row|tensor]\n"
        "\n"
        "Writes a copy of model file IN whose projection matrices (q, k, v, o, gate, up, down of every\n"
        "layer) have their smallest-magnitude weights set to exactly zero (Bet 48).\n"
        "  --sparsity S   the fraction of each group's weights zeroed, in [0, 1): round(S x n) of a group of\n"
        "                 n, halves up; ties in |w| go to the lower index\n"
        "  --per G        the group: row (default: each output row loses the same fraction, as the per-row\n"
        "                 ternary scales of `sweep quantize --ternary` see it) or tensor (one threshold per\n"
        "                 matrix)\n"
        "The embedding, an untied head, the RMSNorm gains (what norm-only adapters train) and biases are\n"
        "copied unchanged: pruning a lookup table removes tokens rather than connections. Every part keeps\n"
        "its storage type (f32 or bf16; a ternary IN is refused: prune first, then quantize). The metadata\n"
        "gains a \"pruning\" record (method, per, sparsity, tensors, zeroed, weights), which\n"
        "`sweep quantize` keeps. Use OUT as any base: `sweep eval OUT TEXT`, a spec's \"bases\".\n"
        "Exit status: 0 written; 2 bad input (one line naming the file or option); 3 internal error.\n");
}

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("sweep prune: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

// The storage type the file gives tensors of a kind (the first such tensor's).
static MatType dtype_of_kind(const ModelFile *mf, TensorKind kind, MatType dflt) {
    for (int i = 0; i < mf->n_tensors; i++)
        if (mf->t[i].kind == kind) return mf->t[i].dtype;
    return dflt;
}

int cmd_prune(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *sparsity_s = NULL;
    PruneScope scope = PRUNE_PER_ROW;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { prune_usage(stdout); return 0; }
        if (!strcmp(a, "--sparsity") || !strcmp(a, "--per")) {
            if (i + 1 >= argc) return bad("%s: needs a value (see sweep prune --help)", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--sparsity")) sparsity_s = v;
            else if (prune_scope_parse(v, &scope)) return bad("--per: '%s' is not row or tensor", v);
        } else if (a[0] == '-' && a[1]) {
            return bad("unknown option %s (see sweep prune --help)", a);
        } else if (!in) in = a;
        else if (!out) out = a;
        else return bad("unexpected argument '%s' (usage: sweep prune IN OUT --sparsity S)", a);
    }
    if (!in || !out) return bad("IN and OUT model files needed (usage: sweep prune IN OUT --sparsity S)");
    if (!sparsity_s) return bad("--sparsity: missing (the fraction of weights to zero, in [0, 1))");
    char *end;
    errno = 0;
    double sparsity = strtod(sparsity_s, &end);
    if (errno || end == sparsity_s || *end || !(sparsity >= 0 && sparsity < 1))
        return bad("--sparsity: '%s' is not a number in [0, 1)", sparsity_s);
    char rin[4096], rout[4096];
    if (realpath(in, rin) && realpath(out, rout) && !strcmp(rin, rout))
        return bad("IN and OUT are the same file (%s)", in);

    char err[1024];
    ModelFile src;
    if (model_open(&src, in, 0, err, sizeof err)) return bad("%s", err);
    const ModelConfig *c = &src.w.cfg;
    MatType matrix_dtype = dtype_of_kind(&src, TK_MATRIX, MAT_F32);
    if (matrix_dtype == MAT_TERNARY || matrix_dtype == MAT_INT4) {
        model_close(&src);
        return bad("%s: tensor dtype: the projections are %s; prune the float base, then quantize", in,
                   model_dtype_name(matrix_dtype));
    }

    // The projections decoded into one block, pruned there, and written in their own storage type.
    Weights w = src.w;
    static const char *const proj_names[7] = { "q", "k", "v", "o", "gate", "up", "down" };
    size_t total = 0;
    for (int l = 0; l < c->n_layers; l++) {
        Mat *m[7] = { &w.layer[l].q, &w.layer[l].k, &w.layer[l].v, &w.layer[l].o, &w.layer[l].gate,
                      &w.layer[l].up, &w.layer[l].down };
        for (int t = 0; t < 7; t++) total += (size_t)m[t]->rows * m[t]->cols;
    }
    real *block = malloc(total * sizeof(real));
    if (!block) { model_close(&src); fprintf(stderr, "sweep prune: out of memory (%zu weights)\n", total); return 3; }
    size_t off = 0;
    long zeroed = 0;
    for (int l = 0; l < c->n_layers; l++) {
        Mat *m[7] = { &w.layer[l].q, &w.layer[l].k, &w.layer[l].v, &w.layer[l].o, &w.layer[l].gate,
                      &w.layer[l].up, &w.layer[l].down };
        for (int t = 0; t < 7; t++) {
            real *dst = block + off;
            size_t n = (size_t)m[t]->rows * m[t]->cols;
            mat_decode_rows(dst, m[t], 0, m[t]->rows);
            for (size_t i = 0; i < n; i++)
                if (!isfinite(dst[i])) {
                    free(block);
                    model_close(&src);
                    return bad("%s: tensor model.layers.%d %s: weight %zu is not finite", in, l, proj_names[t], i);
                }
            long z = prune_magnitude(dst, m[t]->rows, m[t]->cols, sparsity, scope);
            if (z < 0) { free(block); model_close(&src); fprintf(stderr, "sweep prune: out of memory\n"); return 3; }
            zeroed += z;
            *m[t] = mat_real(dst, m[t]->rows, m[t]->cols);
            off += n;
        }
    }

    cJSON *pr = cJSON_CreateObject();
    cJSON_AddStringToObject(pr, "method", "magnitude");
    cJSON_AddStringToObject(pr, "per", prune_scope_name(scope));
    cJSON_AddNumberToObject(pr, "sparsity", sparsity);
    cJSON_AddStringToObject(pr, "rule", "round(sparsity x n) weights of smallest |w| per group, ties to the lower index");
    cJSON *names = cJSON_AddArrayToObject(pr, "tensors");
    for (int t = 0; t < 7; t++) cJSON_AddItemToArray(names, cJSON_CreateString(proj_names[t]));
    cJSON_AddNumberToObject(pr, "zeroed", (double)zeroed);
    cJSON_AddNumberToObject(pr, "weights", (double)total);
    char *pruning = cJSON_PrintUnformatted(pr);
    cJSON_Delete(pr);

    ModelWriteOptions wo;
    model_write_options_default(&wo);
    wo.matrix_dtype = matrix_dtype;
    wo.embed_dtype = src.w.embed.type == MAT_REAL ? MAT_F32 : src.w.embed.type;
    wo.head_dtype = src.w.head.type == MAT_REAL ? MAT_F32 : src.w.head.type;
    wo.vector_dtype = dtype_of_kind(&src, TK_NORM, MAT_F32);
    char *tok = cli_tokenizer_for(&src, in, out);
    char *src_json = model_meta_json(&src, "source");
    size_t sl = strlen(in) + strlen(sparsity_s) + (src_json ? strlen(src_json) : 0) + 128;
    char *source = xmalloc(sl);
    snprintf(source, sl, "sweep prune --sparsity %s --per %s of %s%s%s", sparsity_s, prune_scope_name(scope), in,
             src_json ? "; before: " : "", src_json ? src_json : "");
    wo.tokenizer_json = tok;
    wo.source = source;
    wo.pruning_json = pruning;
    int rc = model_write(out, &w, &wo, err, sizeof err);
    free(tok);
    free(src_json);
    free(source);
    free(pruning);
    free(block);
    model_close(&src);
    if (rc) return bad("%s", err);
    ModelFile p;
    if (model_open(&p, out, 0, err, sizeof err)) {
        fprintf(stderr, "sweep prune: written file does not verify: %s\n", err);
        return 3;
    }
    printf("pruned %ld of %zu projection weights (%.4f; per %s, magnitude)\n", zeroed, total,
           total ? (double)zeroed / total : 0.0, prune_scope_name(scope));
    model_print_summary(&p, stdout);
    model_close(&p);
    return 0;
}
