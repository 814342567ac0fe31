// sweep quantize IN OUT --ternary | --int4: post-training quantisation of a model file.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/commands.h"
#include "engine/int4.h"
#include "engine/modelfile.h"

static void quantize_usage(FILE *f) {
    fprintf(f,
        "usage: sweep quantize IN OUT --ternary [--embed-dtype f32|bf16|ternary] [--vector-dtype f32|bf16]\n"
        "       sweep quantize IN OUT --int4 [--group 32|64|128] [--embed-dtype f32|bf16|int4] [--vector-dtype f32|bf16]\n"
        "       sweep quantize IN OUT --dtype f32|bf16\n"
        "\n"
        "Writes a copy of model file IN with new storage types and prints the size of each part.\n"
        "  --ternary         the layers' projections (q, k, v, o, gate, up, down) become ternary: trits\n"
        "                    {-1, 0, +1} times one absmean scale per output row (BitNet b1.58 per row),\n"
        "                    5 trits per byte (1.6 bits per weight, plus 32 bits per row)\n"
        "  --int4            the projections become 4-bit: each row cut into groups of --group consecutive\n"
        "                    inputs, each group symmetric absmax, round to nearest (even): scale =\n"
        "                    max|w| / 7, q = clamp(round(w / scale), -7, 7); 2 values per byte (4 bits per\n"
        "                    weight plus 32 bits per group: 4.5 at group 64). Products decode a tile of\n"
        "                    rows at a time from the mapped nibbles (engine/int4.h)\n"
        "  --group G         inputs per int4 scale: 32, 64 (default) or 128\n"
        "  --embed-dtype T   the token embedding and an untied head (default: bf16 with --ternary or --int4,\n"
        "                    else --dtype)\n"
        "  --dtype T         the projections without --ternary (default f32)\n"
        "  --vector-dtype T  norm gains and biases (default f32)\n"
        "Tensors already in their target dtype are copied bytewise; the zeros of a pruned IN (sweep prune)\n"
        "stay zero (round(0 / scale) = 0) and its \"pruning\" record is kept. The metadata records the dtype of\n"
        "each part. `sweep eval FP.sweep TERNARY.sweep TEXT` measures the effect on perplexity.\n");
}

static char *dir_of(const char *path) {
    char *d = strdup(path), *slash = strrchr(d, '/');
    if (!slash) strcpy(d, ".");
    else if (slash == d) d[1] = 0;
    else *slash = 0;
    return d;
}

// The tokenizer reference for OUT: a path relative to IN's directory is made absolute when OUT
// lives elsewhere, so that it still resolves. (sweep prune writes copies too.)
char *cli_tokenizer_for(const ModelFile *src, const char *in, const char *out) {
    char *tok = model_meta_json(src, "tokenizer"), *path = model_tokenizer_path(src);
    cJSON *j = tok ? cJSON_Parse(tok) : NULL;
    const cJSON *p = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "path") : j;
    char *din = dir_of(in), *dout = dir_of(out);
    char *rin = realpath(din, NULL), *rout = realpath(dout, NULL), *abs = path ? realpath(path, NULL) : NULL;
    if (cJSON_IsString(p) && p->valuestring[0] != '/' && abs && (!rin || !rout || strcmp(rin, rout))) {
        if (cJSON_IsObject(j)) cJSON_ReplaceItemInObject(j, "path", cJSON_CreateString(abs));
        else { cJSON_Delete(j); j = cJSON_CreateString(abs); }
        free(tok);
        tok = cJSON_PrintUnformatted(j);
    }
    cJSON_Delete(j);
    free(din); free(dout); free(rin); free(rout); free(abs); free(path);
    return tok;
}

int cmd_quantize(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    int ternary = 0, int4 = 0, group = 0;
    MatType dtype = MAT_F32, embed = MAT_REAL, vec = MAT_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { quantize_usage(stdout); return 0; }
        if (!strcmp(a, "--ternary")) ternary = 1;
        else if (!strcmp(a, "--int4")) int4 = 1;
        else if (!strcmp(a, "--group") && i + 1 < argc) {
            const char *g = argv[++i];
            group = !strcmp(g, "32") ? 32 : !strcmp(g, "64") ? 64 : !strcmp(g, "128") ? 128 : -1;
            if (group < 0) { fprintf(stderr, "sweep quantize: --group: '%s' is not one of 32, 64, 128\n", g); return 2; }
        } else if ((!strcmp(a, "--dtype") || !strcmp(a, "--embed-dtype") || !strcmp(a, "--vector-dtype")) && i + 1 < argc) {
            MatType t;
            int is_embed = !strcmp(a, "--embed-dtype");
            if (model_dtype_parse(argv[++i], &t) || ((t == MAT_TERNARY || t == MAT_INT4) && !is_embed)) {
                fprintf(stderr, "sweep quantize: %s: '%s' is not one of f32, bf16%s\n", a, argv[i], is_embed ? ", ternary, int4" : "");
                return 2;
            }
            *(is_embed ? &embed : !strcmp(a, "--dtype") ? &dtype : &vec) = t;
        } else if (a[0] == '-') {
            fprintf(stderr, "sweep quantize: unknown option '%s' (or missing value)\n", a);
            return 2;
        } else if (!in) in = a;
        else if (!out) out = a;
        else { fprintf(stderr, "sweep quantize: unexpected argument '%s'\n", a); return 2; }
    }
    if (!in || !out) { quantize_usage(stderr); return 2; }
    if (ternary && int4) { fprintf(stderr, "sweep quantize: --ternary and --int4: choose one\n"); return 2; }
    if (group && !int4) { fprintf(stderr, "sweep quantize: --group applies to --int4 only\n"); return 2; }
    if (int4 && !group) group = INT4_GROUP_DEFAULT;
    if (!strcmp(in, out)) { fprintf(stderr, "sweep quantize: IN and OUT are the same file (%s)\n", in); return 2; }

    char err[1024];
    ModelFile src;
    if (model_open(&src, in, 0, err, sizeof err)) { fprintf(stderr, "sweep quantize: %s\n", err); return 2; }
    ModelWriteOptions wo;
    model_write_options_default(&wo);
    wo.matrix_dtype = ternary ? MAT_TERNARY : int4 ? MAT_INT4 : dtype;
    wo.embed_dtype = wo.head_dtype = embed != MAT_REAL ? embed : ternary || int4 ? MAT_BF16 : dtype;
    wo.int4_group = group;
    wo.vector_dtype = vec;
    char *tok = cli_tokenizer_for(&src, in, out);
    char *src_json = model_meta_json(&src, "source");
    size_t sl = strlen(in) + (src_json ? strlen(src_json) : 0) + 128;
    char *source = malloc(sl);
    if (!source) { fprintf(stderr, "sweep quantize: out of memory\n"); return 3; }
    char how[48];
    snprintf(how, sizeof how, "%s", ternary ? " --ternary" : "");
    if (int4) snprintf(how, sizeof how, " --int4 --group %d", group);
    snprintf(source, sl, "sweep quantize%s of %s%s%s", how, in, src_json ? "; before: " : "", src_json ? src_json : "");
    wo.tokenizer_json = tok;
    wo.source = source;
    char *pruning = model_meta_json(&src, "pruning");   // prune then quantize: the record stays
    wo.pruning_json = pruning;
    model_print_summary(&src, stdout);
    int rc = model_write(out, &src.w, &wo, err, sizeof err);
    free(tok);
    free(pruning);
    free(src_json);
    free(source);
    model_close(&src);
    if (rc) { fprintf(stderr, "sweep quantize: %s\n", err); return 2; }
    ModelFile q;
    if (model_open(&q, out, 0, err, sizeof err)) { fprintf(stderr, "sweep quantize: written file does not verify: %s\n", err); return 3; }
    model_print_summary(&q, stdout);
    model_close(&q);
    return 0;
}
