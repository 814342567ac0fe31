// sweep tokenize: train, apply or inspect a byte-level BPE tokenizer (.bpe or Hugging Face tokenizer.json).
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "engine/tokenizer.h"
#include "engine/util.h"

static const char usage_text[] =
    "usage: sweep tokenize train CORPUS... --vocab N -o FILE [--split llama3|gpt2|qwen2] [--special TEXT]... [-q]\n"
    "       sweep tokenize encode TOKENIZER TEXT... [-o TOKENS.bin]\n"
    "       sweep tokenize decode TOKENIZER TOKENS.bin [-o TEXT]\n"
    "       sweep tokenize info TOKENIZER [--show N]\n"
    "\n"
    "TOKENIZER is a .bpe file written by `train` or a Hugging Face tokenizer.json (byte-level BPE:\n"
    "GPT-2, Llama 3, Qwen2 style). Token files hold int32 little-endian ids. Without -o, encode prints\n"
    "the ids as text, one line per TEXT file, and decode writes the bytes to stdout. With -o, several\n"
    "TEXT files become one token stream (each file encoded alone: no piece spans two files).\n"
    "Encoding matches Hugging Face's encode(text, add_special_tokens=False): special tokens written\n"
    "in the text are recognised.\n";

static int bad_usage(const char *fmt, const char *arg) {
    fputs("sweep tokenize: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(sweep tokenize --help for usage)\n", stderr);
    return 2;
}

static int write_file(const char *path, const void *data, size_t n) {
    FILE *f = !strcmp(path, "-") ? stdout : fopen(path, "wb");
    if (!f) { fprintf(stderr, "sweep tokenize: %s: cannot write: %s\n", path, strerror(errno)); return 2; }
    int bad = fwrite(data, 1, n, f) != n;
    bad |= f == stdout ? fflush(f) != 0 : fclose(f) != 0;
    if (bad) { fprintf(stderr, "sweep tokenize: %s: write failed: %s\n", path, strerror(errno)); return 2; }
    return 0;
}

static Tokenizer *open_tokenizer(const char *path) {
    char err[512];
    Tokenizer *t = tokenizer_open(path, err, sizeof err);
    if (!t) fprintf(stderr, "sweep tokenize: %s\n", err);
    return t;
}

static int cmd_train_bpe(int argc, char **argv) {
    const char *out = NULL, *split = "llama3";
    long vocab = -1;
    int quiet = 0, n_files = 0, n_special = 0;
    const char *files[argc + 1], *special[argc + 1];
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--vocab") || !strcmp(a, "-o") || !strcmp(a, "--split") || !strcmp(a, "--special")) {
            if (i + 1 >= argc) return bad_usage("%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "-o")) out = v;
            else if (!strcmp(a, "--split")) split = v;
            else if (!strcmp(a, "--special")) special[n_special++] = v;
            else {
                char e[400];
                if (opt_long(a, v, 256, 1 << 24, &vocab, e, sizeof e)) return bad_usage("%s", e);
            }
        } else if (!strcmp(a, "-q")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            return bad_usage("train: unknown option '%s'", a);
        } else {
            files[n_files++] = a;
        }
    }
    if (!n_files) return bad_usage("train: no corpus file given%s", "");
    if (vocab < 0) return bad_usage("train: --vocab N is required%s", "");
    if (!out) return bad_usage("train: -o FILE is required%s", "");

    char **texts = xcalloc(n_files, sizeof *texts);
    size_t *lens = xcalloc(n_files, sizeof *lens), total = 0;
    for (int i = 0; i < n_files; i++) {
        texts[i] = read_whole_file(files[i], &lens[i]);
        if (!texts[i]) {
            fprintf(stderr, "sweep tokenize: %s: cannot read: %s\n", files[i], strerror(errno));
            return 2;
        }
        total += lens[i];
    }
    BpeTrainOptions opt = { .vocab = (int)vocab, .split = split, .special = special, .n_special = n_special,
                            .verbose = !quiet };
    BpeTrainStats st;
    char err[512];
    double t0 = now_seconds(), c0 = cpu_seconds();
    Tokenizer *t = tokenizer_train((const char *const *)texts, lens, n_files, &opt, &st, err, sizeof err);
    int rc = 0;
    if (!t) { fprintf(stderr, "sweep tokenize: train: %s\n", err); rc = 2; }
    else if (tokenizer_save(t, out, err, sizeof err)) { fprintf(stderr, "sweep tokenize: %s\n", err); rc = 2; }
    for (int i = 0; i < n_files; i++) free(texts[i]);
    free(texts); free(lens);
    if (rc) { tokenizer_free(t); return rc; }
    if (!quiet)
        fprintf(stderr,
                "trained %s: vocab %d (%d merges, %d specials) on %.1f MB in %d file(s): %ld pieces, %ld distinct; "
                "split %.2f s, merges %.2f s, %.2f s CPU\n",
                out, tokenizer_vocab_size(t), st.merges, n_special, total / 1e6, n_files, st.words, st.unique_words,
                st.seconds_split, st.seconds_merge, cpu_seconds() - c0);
    (void)t0;
    tokenizer_free(t);
    return 0;
}

static int cmd_encode(int argc, char **argv) {
    const char *out = NULL, *tok_path = NULL;
    const char *files[argc + 1];
    int n_files = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-o")) {
            if (i + 1 >= argc) return bad_usage("-o needs a value%s", "");
            out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return bad_usage("encode: unknown option '%s'", argv[i]);
        } else if (!tok_path) {
            tok_path = argv[i];
        } else {
            files[n_files++] = argv[i];
        }
    }
    if (!tok_path || !n_files) return bad_usage("encode: needs TOKENIZER and TEXT%s", "");
    Tokenizer *t = open_tokenizer(tok_path);
    if (!t) return 2;
    FILE *bin = NULL;
    if (out && !(bin = !strcmp(out, "-") ? stdout : fopen(out, "wb"))) {
        fprintf(stderr, "sweep tokenize: %s: cannot write: %s\n", out, strerror(errno));
        tokenizer_free(t);
        return 2;
    }
    size_t total_bytes = 0;
    long total_tokens = 0;
    double seconds = 0, cpu0 = cpu_seconds();
    for (int f = 0; f < n_files; f++) {
        size_t len;
        char *text = read_whole_file(files[f], &len);
        if (!text) {
            fprintf(stderr, "sweep tokenize: %s: cannot read: %s\n", files[f], strerror(errno));
            tokenizer_free(t);
            return 2;
        }
        int *ids;
        long n;
        double t0 = now_seconds();
        tokenizer_encode(t, text, len, &ids, &n);
        seconds += now_seconds() - t0;
        total_bytes += len;
        total_tokens += n;
        if (bin) {
            unsigned char *le = xmalloc((size_t)n * 4 + 1);
            for (long i = 0; i < n; i++) {
                uint32_t v = (uint32_t)ids[i];
                le[4 * i] = v & 255; le[4 * i + 1] = (v >> 8) & 255; le[4 * i + 2] = (v >> 16) & 255;
                le[4 * i + 3] = v >> 24;
            }
            if (fwrite(le, 4, n, bin) != (size_t)n) {
                fprintf(stderr, "sweep tokenize: %s: write failed: %s\n", out, strerror(errno));
                return 2;
            }
            free(le);
        } else {
            for (long i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
            printf("\n");
        }
        free(ids);
        free(text);
    }
    if (bin && (bin == stdout ? fflush(bin) : fclose(bin))) {
        fprintf(stderr, "sweep tokenize: %s: write failed: %s\n", out, strerror(errno));
        return 2;
    }
    if (bin)
        fprintf(stderr, "encoded %d file(s): %zu bytes -> %ld tokens (%.2f bytes/token) in %.2f s (%.1f MB/s); "
                "%.2f s CPU including loading\n", n_files, total_bytes, total_tokens,
                total_tokens ? (double)total_bytes / total_tokens : 0.0, seconds,
                seconds > 0 ? total_bytes / seconds / 1e6 : 0.0, cpu_seconds() - cpu0);
    tokenizer_free(t);
    return 0;
}

static int cmd_decode(int argc, char **argv) {
    const char *out = "-", *pos[2] = { 0 };
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-o")) {
            if (i + 1 >= argc) return bad_usage("-o needs a value%s", "");
            out = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return bad_usage("decode: unknown option '%s'", argv[i]);
        } else if (npos < 2) {
            pos[npos++] = argv[i];
        } else {
            return bad_usage("decode: unexpected argument '%s'", argv[i]);
        }
    }
    if (npos != 2) return bad_usage("decode: needs TOKENIZER and TOKENS.bin%s", "");
    Tokenizer *t = open_tokenizer(pos[0]);
    if (!t) return 2;
    size_t len;
    unsigned char *raw = (unsigned char *)read_whole_file(pos[1], &len);
    if (!raw || len % 4) {
        if (!raw) fprintf(stderr, "sweep tokenize: %s: cannot read: %s\n", pos[1], strerror(errno));
        else fprintf(stderr, "sweep tokenize: %s: %zu bytes is not a whole number of int32 token ids\n", pos[1], len);
        free(raw);
        tokenizer_free(t);
        return 2;
    }
    long n = (long)(len / 4);
    int *ids = xmalloc((size_t)n * sizeof *ids + 1);
    for (long i = 0; i < n; i++)
        ids[i] = (int32_t)((uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 | (uint32_t)raw[4 * i + 2] << 16 |
                           (uint32_t)raw[4 * i + 3] << 24);
    char err[512];
    size_t nbytes;
    char *text = tokenizer_decode(t, ids, n, &nbytes, err, sizeof err);
    if (!text) {
        fprintf(stderr, "sweep tokenize: %s: %s\n", pos[1], err);
        free(ids); free(raw);
        tokenizer_free(t);
        return 2;
    }
    int rc = write_file(out, text, nbytes);
    free(text); free(ids); free(raw);
    tokenizer_free(t);
    return rc;
}

static void print_escaped(const char *s, int n) {
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\') fputs("\\\\", stdout);
        else if (c >= 0x20 && c < 0x7f) putchar(c);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else printf("\\x%02x", c);
    }
}

static int cmd_info(int argc, char **argv) {
    const char *path = NULL;
    long show = 10;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--show")) {
            char e[400];
            if (opt_long("--show", i + 1 < argc ? argv[++i] : NULL, 0, 1L << 30, &show, e, sizeof e))
                return bad_usage("%s", e);
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return bad_usage("info: unknown option '%s'", argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return bad_usage("info: unexpected argument '%s'", argv[i]);
        }
    }
    if (!path) return bad_usage("info: needs TOKENIZER%s", "");
    Tokenizer *t = open_tokenizer(path);
    if (!t) return 2;
    int v = tokenizer_vocab_size(t), holes = 0;
    long bytes = 0;
    for (int id = 0; id < v; id++) {
        int n;
        if (!tokenizer_token(t, id, &n)) holes++;
        else bytes += n;
    }
    printf("tokenizer:   %s\n", path);
    printf("vocab:       %d ids (%d unused)\n", v, holes);
    printf("merges:      %d\n", tokenizer_n_merges(t));
    printf("added:       %d special/added tokens\n", tokenizer_n_added(t));
    printf("pre-tokens:  %s\n", tokenizer_describe(t));
    printf("mean token:  %.2f bytes\n", v - holes ? (double)bytes / (v - holes) : 0.0);
    if (show) printf("last %ld ids:\n", show);
    for (int id = v - (int)(show < v ? show : v); id < v; id++) {
        int n;
        const char *s = tokenizer_token(t, id, &n);
        if (!s) continue;
        printf("  %7d  \"", id);
        print_escaped(s, n);
        printf("\"\n");
    }
    tokenizer_free(t);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "train")) return cmd_train_bpe(argc - 2, argv + 2);
    if (!strcmp(sub, "encode")) return cmd_encode(argc - 2, argv + 2);
    if (!strcmp(sub, "decode")) return cmd_decode(argc - 2, argv + 2);
    if (!strcmp(sub, "info")) return cmd_info(argc - 2, argv + 2);
    return bad_usage("'%s' is not a tokenize command (train, encode, decode, info)", sub);
}
