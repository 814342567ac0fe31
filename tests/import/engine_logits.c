// engine_logits MODEL TOKENS OUT: maps a model file, runs one forward over the int32 tokens (one
// sequence) and writes the logits [T][vocab] as float32, for tests/import/hf_import_test.py.
#include <stdio.h>
#include <stdlib.h>
#include "engine/model.h"
#include "engine/modelfile.h"
#include "engine/util.h"

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: engine_logits MODEL TOKENS OUT\n"); return 2; }
    char err[1024];
    ModelFile mf;
    if (model_open(&mf, argv[1], 0, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 2; }
    size_t len;
    char *raw = read_whole_file(argv[2], &len);
    if (!raw || len % 4 || len == 0) { fprintf(stderr, "%s: not an int32 token file\n", argv[2]); return 2; }
    int T = (int)(len / 4);
    const int *tokens = (const int *)raw;
    for (int t = 0; t < T; t++)
        if (tokens[t] < 0 || tokens[t] >= mf.w.cfg.vocab) { fprintf(stderr, "%s: token %d out of range\n", argv[2], t); return 2; }
    Acts *a = acts_create(&mf.w.cfg, 1, T);
    model_forward(&mf.w, NULL, a, tokens, NULL, 1, T);
    const real *logits = acts_logits(a);
    size_t n = (size_t)T * mf.w.cfg.vocab;
    float *out = xmalloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) out[i] = (float)logits[i];
    FILE *f = fopen(argv[3], "wb");
    if (!f || fwrite(out, sizeof(float), n, f) != n || fclose(f)) { fprintf(stderr, "%s: write failed\n", argv[3]); return 3; }
    free(out);
    free(raw);
    acts_free(a);
    model_close(&mf);
    return 0;
}
