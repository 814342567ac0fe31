// sweep eval MODEL [MODEL...] INPUT: perplexity of one or more model files on the same tokens.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "engine/adapter.h"
#include "engine/adapter_quant.h"
#include "engine/mat.h"
#include "engine/modelfile.h"
#include "engine/tokenizer.h"
#include "engine/train.h"
#include "engine/util.h"

#define MAX_MODELS 16

static void eval_usage(FILE *f) {
    fprintf(f,
        "usage: sweep eval MODEL [MODEL...] INPUT [--tokens] [--tokenizer FILE] [--seq T] [--batch B]\n"
        "                  [--max-tokens N] [--adapter FILE [--adapter-quant Q]] [--noise S [--noise-seed N]]\n"
        "                  [--threads N] [--no-verify] [--precision P] [--json]\n"
        "\n"
        "Perplexity of each model file on INPUT, every model on the same tokens (so that an fp model and\n"
        "its ternary quantisation compare directly; the last line gives each model's ratio to the first).\n"
        "INPUT is a text file, encoded with --tokenizer (a .bpe file or a Hugging Face tokenizer.json)\n"
        "or else the tokenizer the first model's metadata names; with --tokens INPUT is a raw token file\n"
        "(int32 little-endian ids, as `sweep tokenize encode -o` writes).\n"
        "\n"
        "  --seq T         tokens per window (default: the model's context); windows overlap by one token\n"
        "  --batch B       windows per forward pass (default 8)\n"
        "  --max-tokens N  evaluate the first N tokens only\n"
        "  --adapter FILE  apply an adapter (norm, lora, full or steer) to every model\n"
        "  --adapter-quant Q   evaluate the adapter after an int8 or int4 round trip (Bet 53): int8, int4,\n"
        "                  int8:channel or int4:channel (absmax per tensor by default, or per output row;\n"
        "                  engine/adapter_quant.h); the line gives its bytes at that width\n"
        "  --noise S       add Gaussian noise of std S x each position's RMS to the residual stream after\n"
        "                  every block (Bet 63), drawn from --noise-seed N (default 0); S 0 adds zeros\n"
        "  --threads N     BLAS threads (default 1)\n"
        "  --no-verify     skip tensor checksums when mapping (faster for big files)\n"
        "  --precision P   weight products in fp32 (default), fp32-dnnl, bf16 or int8 (engine/mat.h)\n"
        "  --json          one JSON object per model instead of the line: model, ppl, nll (mean per token)\n"
        "                  and predicted tokens, numbers printed so that they read back exactly\n");
}

static int *read_token_file(const char *path, long *n) {
    size_t len;
    char *raw = read_whole_file(path, &len);
    if (!raw) { fprintf(stderr, "sweep eval: %s: cannot read: %s\n", path, strerror(errno)); exit(2); }
    if (len % 4) {
        fprintf(stderr, "sweep eval: %s: %zu bytes is not a whole number of int32 token ids\n", path, len);
        exit(2);
    }
    *n = (long)(len / 4);
    int *ids = xmalloc(sizeof(int) * (len / 4 + 1));
    const unsigned char *b = (const unsigned char *)raw;
    for (long i = 0; i < *n; i++)
        ids[i] = (int)((uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 | (uint32_t)b[4 * i + 2] << 16 | (uint32_t)b[4 * i + 3] << 24);
    free(raw);
    return ids;
}

static long parse_long(const char *opt, const char *s, long lo, long hi) {
    char e[400];
    long v;
    if (opt_long(opt, s, lo, hi, &v, e, sizeof e)) exit(opt_bad("eval", e));
    return v;
}

int cmd_eval(int argc, char **argv) {
    const char *pos[MAX_MODELS + 1], *tokenizer = NULL, *adapter = NULL;
    int npos = 0, raw_tokens = 0, T = 0, B = 8, threads = 1, flags = 0, json = 0;
    long max_tokens = 0;
    MatPrecision precision = MAT_PREC_FP32;
    int quant_bits = 0;
    QuantScope quant_scope = QUANT_PER_TENSOR;
    double noise = -1;
    unsigned long long noise_seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { eval_usage(stdout); return 0; }
        if (!strcmp(a, "--tokens")) raw_tokens = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--no-verify")) flags |= MODEL_SKIP_CHECKSUMS;
        else if (!strcmp(a, "--tokenizer") && more) tokenizer = argv[++i];
        else if (!strcmp(a, "--adapter") && more) adapter = argv[++i];
        else if (!strcmp(a, "--seq") && more) T = (int)parse_long(a, argv[++i], 1, 1 << 20);
        else if (!strcmp(a, "--batch") && more) B = (int)parse_long(a, argv[++i], 1, 1 << 16);
        else if (!strcmp(a, "--threads") && more) threads = (int)parse_long(a, argv[++i], 1, 1024);
        else if (!strcmp(a, "--max-tokens") && more) max_tokens = parse_long(a, argv[++i], 2, 1L << 40);
        else if (!strcmp(a, "--adapter-quant") && more) {
            const char *q = argv[++i], *colon = strchr(q, ':');
            size_t len = colon ? (size_t)(colon - q) : strlen(q);
            quant_bits = len == 4 && !strncmp(q, "int8", 4) ? 8 : len == 4 && !strncmp(q, "int4", 4) ? 4 : 0;
            if (!quant_bits || (colon && quant_scope_parse(colon + 1, &quant_scope))) {
                fprintf(stderr, "sweep eval: --adapter-quant: '%s' is not int8 or int4, optionally :tensor or :channel\n", q);
                return 2;
            }
        }
        else if (!strcmp(a, "--noise") && more) {
            char *end;
            errno = 0;
            noise = strtod(argv[++i], &end);
            if (errno || end == argv[i] || *end || !(noise >= 0 && noise <= 1e6)) {
                fprintf(stderr, "sweep eval: --noise: '%s' is not a number in [0, 1e6]\n", argv[i]);
                return 2;
            }
        }
        else if (!strcmp(a, "--noise-seed") && more) noise_seed = (unsigned long long)parse_long(a, argv[++i], 0, 1L << 53);
        else if (!strcmp(a, "--precision") && more) {
            if (mat_precision_parse(argv[++i], &precision)) {
                fprintf(stderr, "sweep eval: --precision: '%s' is not fp32, fp32-dnnl, bf16 or int8\n", argv[i]);
                return 2;
            }
        }
        else if (a[0] == '-') { fprintf(stderr, "sweep eval: unknown option '%s' (or missing value)\n", a); return 2; }
        else if (npos < MAX_MODELS + 1) pos[npos++] = a;
        else { fprintf(stderr, "sweep eval: at most %d models\n", MAX_MODELS); return 2; }
    }
    if (npos < 2) { eval_usage(stderr); return 2; }
    if (quant_bits && !adapter) { fprintf(stderr, "sweep eval: --adapter-quant: needs --adapter FILE\n"); return 2; }
    const char *input = pos[npos - 1];
    int nm = npos - 1;
    engine_set_threads(threads);

    char err[1024];
    static ModelFile mf[MAX_MODELS];
    for (int m = 0; m < nm; m++)
        if (model_open(&mf[m], pos[m], flags, err, sizeof err)) { fprintf(stderr, "sweep eval: %s\n", err); return 2; }
    MatContext *mc = mat_context_create(precision);   // every model's products, one after another
    engine_threads_for(precision);
    for (int m = 0; m < nm; m++) mf[m].w.mc = mc;

    long n;
    int *tokens;
    if (raw_tokens) {
        tokens = read_token_file(input, &n);
    } else {
        char *tpath = tokenizer ? strdup(tokenizer) : model_tokenizer_path(&mf[0]);
        if (!tpath) {
            fprintf(stderr, "sweep eval: %s: metadata field tokenizer: none recorded; give --tokenizer FILE or --tokens\n", pos[0]);
            return 2;
        }
        Tokenizer *tok = tokenizer_open(tpath, err, sizeof err);
        if (!tok) { fprintf(stderr, "sweep eval: %s\n", err); return 2; }
        size_t len;
        char *text = read_whole_file(input, &len);
        if (!text) { fprintf(stderr, "sweep eval: %s: cannot read: %s\n", input, strerror(errno)); return 2; }
        if (tokenizer_encode(tok, text, len, &tokens, &n)) { fprintf(stderr, "sweep eval: out of memory\n"); return 3; }
        free(text);
        tokenizer_free(tok);
        free(tpath);
    }
    if (max_tokens && n > max_tokens) n = max_tokens;
    if (n < 2) { fprintf(stderr, "sweep eval: %s: %ld tokens; perplexity needs at least 2\n", input, n); return 2; }

    double first = NAN;
    for (int m = 0; m < nm; m++) {
        const ModelConfig *c = &mf[m].w.cfg;
        for (long i = 0; i < n; i++)
            if (tokens[i] < 0 || tokens[i] >= c->vocab) {
                fprintf(stderr, "sweep eval: %s: token %ld is %d, outside %s's vocabulary of %d\n", input, i, tokens[i],
                        pos[m], c->vocab);
                return 2;
            }
        Adapter ad;
        int have_ad = 0;
        if (adapter) {
            if (adapter_load(&ad, adapter, &mf[m].w, err, sizeof err)) { fprintf(stderr, "sweep eval: %s\n", err); return 2; }
            have_ad = 1;
            if (quant_bits) adapter_quantize_roundtrip(&ad, quant_bits, quant_scope);
        }
        int t = T > 0 ? T : c->context;
        double nll;
        long npred;
        double t0 = now_seconds();
        double ppl = eval_perplexity_noise(&mf[m].w, have_ad ? &ad : NULL, tokens, n, t, B, noise, noise_seed, &nll, &npred);
        double sec = now_seconds() - t0;
        char variant[160] = "";
        if (quant_bits)
            snprintf(variant, sizeof variant, "; adapter int%d per %s, %zu bytes", quant_bits, quant_scope_name(quant_scope),
                     adapter_quant_bytes(&ad, quant_bits, quant_scope));
        if (noise >= 0)
            snprintf(variant + strlen(variant), sizeof variant - strlen(variant), "; noise %g seed %llu", noise, noise_seed);
        if (have_ad) adapter_free(&ad);
        if (m == 0) first = ppl;
        if (json) {   // exact numbers, for comparing with a results file (tests/mpi/test_variants.py)
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "model", pos[m]);
            // %.17g: cJSON's own printing rounds to 15 digits when they read back within an epsilon
            double vals[2] = { ppl, npred ? nll / npred : NAN };
            const char *names[2] = { "ppl", "nll" };
            for (int k = 0; k < 2; k++) {
                char num[40];
                if (isfinite(vals[k])) snprintf(num, sizeof num, "%.17g", vals[k]);
                else snprintf(num, sizeof num, "null");
                cJSON_AddRawToObject(o, names[k], num);
            }
            cJSON_AddNumberToObject(o, "n_pred", (double)npred);
            char *js = cJSON_PrintUnformatted(o);
            if (js) puts(js);
            free(js);
            cJSON_Delete(o);
            continue;
        }
        printf("%s: ppl %.4f  (nll %.5f per token, %ld predicted tokens of %s, seq %d, batch %d; %.2f s, %.0f tokens/s%s%s%s)\n",
               pos[m], ppl, npred ? nll / npred : NAN, npred, input, t, B, sec, npred / (sec > 0 ? sec : 1e-9),
               precision == MAT_PREC_FP32 ? "" : "; precision ", precision == MAT_PREC_FP32 ? "" : mat_precision_name(precision),
               variant);
        if (m > 0) printf("  ratio to %s: %.4f\n", pos[0], ppl / first);
    }
    free(tokens);
    for (int m = 0; m < nm; m++) model_close(&mf[m]);
    mat_context_free(mc);
    return 0;
}
