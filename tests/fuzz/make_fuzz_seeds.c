// make_fuzz_seeds DIR: valid inputs for the fuzz targets, so that mutations start from files that
// reach deep into the parsers: DIR/modelfile/{f32,bf16,ternary,int4,int4_embed,rope_llama3}.sweep,
// DIR/safetensors/{tiny,bf16}.safetensors.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/modelfile.h"
#include "engine/util.h"

static void tiny_model(const char *path, MatType mdt, MatType edt, int tied, int bias, int llama3_rope, int group) {
    ModelConfig c;
    config_tiny(&c);
    c.dim = 8; c.n_heads = 2; c.n_kv_heads = 1; c.ffn_dim = 12; c.vocab = 11; c.n_layers = 1;
    c.tied = tied; c.qkv_bias = bias;
    if (llama3_rope) c.rope_scaling = (RopeScaling){ ROPE_SCALING_LLAMA3, 32.0, 1.0, 4.0, 8192 };
    real *block = xmalloc(sizeof(real) * config_n_params(&c));
    weights_init_random(block, &c, 3);
    Weights w;
    weights_carve(&w, &c, block);
    ModelWriteOptions o;
    model_write_options_default(&o);
    o.matrix_dtype = mdt;
    o.embed_dtype = o.head_dtype = edt;
    o.int4_group = group;
    char err[512];
    if (model_write(path, &w, &o, err, sizeof err)) { fprintf(stderr, "%s\n", err); exit(1); }
    free(block);
}

static void safetensors(const char *path, const char *dtype, int esize) {
    char header[512];
    int n = snprintf(header, sizeof header,
                     "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"%s\",\"shape\":[2,3],\"data_offsets\":[0,%d]},"
                     "\"b\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[%d,%d]}}",
                     dtype, 6 * esize, dtype, 6 * esize, 9 * esize);
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    unsigned long long len = (unsigned long long)n;
    for (int i = 0; i < 8; i++) fputc((int)(len >> (8 * i)) & 255, f);
    fwrite(header, 1, (size_t)n, f);
    for (int i = 0; i < 9 * esize; i++) fputc(i * 37 & 255, f);
    fclose(f);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: make_fuzz_seeds DIR\n"); return 2; }
    char p[4096];
    snprintf(p, sizeof p, "mkdir -p %s/modelfile %s/safetensors", argv[1], argv[1]);
    if (system(p)) return 1;
    snprintf(p, sizeof p, "%s/modelfile/f32.sweep", argv[1]);      tiny_model(p, MAT_F32, MAT_F32, 0, 1, 0, 0);
    snprintf(p, sizeof p, "%s/modelfile/bf16.sweep", argv[1]);     tiny_model(p, MAT_BF16, MAT_BF16, 1, 0, 0, 0);
    snprintf(p, sizeof p, "%s/modelfile/ternary.sweep", argv[1]);  tiny_model(p, MAT_TERNARY, MAT_BF16, 0, 0, 0, 0);
    snprintf(p, sizeof p, "%s/modelfile/int4.sweep", argv[1]);     tiny_model(p, MAT_INT4, MAT_BF16, 0, 0, 0, 4);
    snprintf(p, sizeof p, "%s/modelfile/int4_embed.sweep", argv[1]); tiny_model(p, MAT_INT4, MAT_INT4, 1, 1, 0, 6);
    snprintf(p, sizeof p, "%s/modelfile/rope_llama3.sweep", argv[1]); tiny_model(p, MAT_F32, MAT_F32, 1, 0, 1, 0);
    snprintf(p, sizeof p, "%s/safetensors/f32.safetensors", argv[1]);  safetensors(p, "F32", 4);
    snprintf(p, sizeof p, "%s/safetensors/bf16.safetensors", argv[1]); safetensors(p, "BF16", 2);
    snprintf(p, sizeof p, "%s/safetensors/i64.safetensors", argv[1]);  safetensors(p, "I64", 8);
    return 0;
}
