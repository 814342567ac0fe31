// sweep import HF_DIR OUT: a Hugging Face Llama / Qwen2 checkpoint to a model file.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "engine/hf_import.h"
#include "engine/modelfile.h"

static void import_usage(FILE *f) {
    fprintf(f,
        "usage: sweep import HF_DIR OUT [--ternary] [--dtype f32|bf16] [--embed-dtype f32|bf16|ternary]\n"
        "                   [--context N] [--ignore-rope-scaling]\n"
        "\n"
        "Converts a Hugging Face LlamaForCausalLM or Qwen2ForCausalLM checkpoint (HF_DIR/config.json and\n"
        "model.safetensors, or model.safetensors.index.json with its shards; F32, F16 or BF16 tensors) into\n"
        "a sweep model file. HF's rotate_half RoPE layout is the engine's own, so weights are not permuted.\n"
        "\n"
        "  --ternary              the layers' projections become ternary (absmean per output row, 1.6 bits)\n"
        "  --dtype T              every other tensor's dtype (default: bf16 for a bf16 checkpoint, else f32)\n"
        "  --embed-dtype T        the embedding and untied head (default: --dtype)\n"
        "  --context N            the config's context (default: min(max_position_embeddings, 256))\n"
        "  --ignore-rope-scaling  drop config.json's rope_scaling and use plain RoPE; needed for types the\n"
        "                         engine does not apply (linear, dynamic, yarn, ...); logits then differ from\n"
        "                         Hugging Face's\n"
        "\n"
        "rope_scaling with rope_type (or the older type) \"llama3\" (Llama 3.1, 3.2) is applied as Hugging Face\n"
        "does and recorded in the model file's config; \"default\" or null is plain RoPE.\n"
        "tokenizer.json, when present, is recorded by path and checksum in the model's metadata.\n");
}

int cmd_import(int argc, char **argv) {
    const char *dir = NULL, *out = NULL;
    int ternary = 0;
    MatType dtype = MAT_REAL, embed = MAT_REAL;   // MAT_REAL: not given
    HfLoadOptions lo = { 0, 0 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { import_usage(stdout); return 0; }
        if (!strcmp(a, "--ternary")) ternary = 1;
        else if (!strcmp(a, "--ignore-rope-scaling")) lo.ignore_rope_scaling = 1;
        else if ((!strcmp(a, "--dtype") || !strcmp(a, "--embed-dtype")) && i + 1 < argc) {
            MatType t;
            if (model_dtype_parse(argv[++i], &t) || (t == MAT_TERNARY && !strcmp(a, "--dtype"))) {
                fprintf(stderr, "sweep import: %s: '%s' is not one of f32, bf16%s\n", a, argv[i],
                        strcmp(a, "--dtype") ? ", ternary" : "");
                return 2;
            }
            *(strcmp(a, "--dtype") ? &embed : &dtype) = t;
        } else if (!strcmp(a, "--context") && i + 1 < argc) {
            char e[400];
            if (opt_int(a, argv[++i], 1, 1 << 24, &lo.context, e, sizeof e)) return opt_bad("import", e);
        } else if (a[0] == '-') {
            fprintf(stderr, "sweep import: unknown option '%s' (or missing value)\n", a);
            return 2;
        } else if (!dir) dir = a;
        else if (!out) out = a;
        else { fprintf(stderr, "sweep import: unexpected argument '%s'\n", a); return 2; }
    }
    if (!dir || !out) { import_usage(stderr); return 2; }

    char err[1024];
    HfModel m;
    if (hf_load(&m, dir, &lo, err, sizeof err)) { fprintf(stderr, "sweep import: %s\n", err); return 2; }
    if (m.rope_scaling[0])
        fprintf(stderr, "sweep import: warning: rope_scaling %s ignored; logits will differ from Hugging Face's\n",
                m.rope_scaling);
    if (dtype == MAT_REAL) dtype = m.dtype == ST_BF16 ? MAT_BF16 : MAT_F32;
    ModelWriteOptions wo;
    model_write_options_default(&wo);
    wo.matrix_dtype = ternary ? MAT_TERNARY : dtype;
    wo.embed_dtype = wo.head_dtype = embed == MAT_REAL ? dtype : embed;
    char *source = hf_source_text(&m), *tok = hf_tokenizer_json(&m);
    wo.source = source;
    wo.tokenizer_json = tok;
    int rc = model_write(out, &m.w, &wo, err, sizeof err);
    free(source);
    free(tok);
    hf_free(&m);
    if (rc) { fprintf(stderr, "sweep import: %s\n", err); return 2; }
    ModelFile mf;
    if (model_open(&mf, out, 0, err, sizeof err)) { fprintf(stderr, "sweep import: written file does not verify: %s\n", err); return 3; }
    model_print_summary(&mf, stdout);
    model_close(&mf);
    return 0;
}
