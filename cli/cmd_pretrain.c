#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "engine/mat.h"
#include "fixtures/pretrain.h"
#include "sweeps/hparams.h"

static const char usage[] =
    "usage: sweep pretrain [options]\n"
    "Trains a byte-level BPE tokenizer and then a base model from scratch on the general mix\n"
    "(fixtures/data/general), with warmup and cosine decay and periodic checkpoints; rerunning the\n"
    "same command resumes from the last checkpoint, bit for bit as an unbroken run. Writes\n"
    "OUT/tokenizer.bpe, OUT/base.sweep (f32), OUT/base-ternary.sweep (its post-training ternary copy) and\n"
    "OUT/RECORD.md (data hashes, loss curve, held-out perplexity and bits per byte of both bases against\n"
    "the untrained model and a unigram model).\n"
    "With --ternary-qat, quantisation-aware training of a ternary base (BitNet b1.58: every step's forward\n"
    "and backward on the weights quantised as base-ternary.sweep stores them, gradients straight through\n"
    "to the latent f32 weights), from scratch or from --init FILE: writes OUT/base-qat-latent.sweep (f32\n"
    "latent weights), OUT/base-ternary-qat.sweep (the same rule's ternary file, whose forward is the QAT\n"
    "forward) and OUT/RECORD.md (with --init: the starting base and its post-training ternary beside).\n"
    "\n"
    "  -o, --out DIR           output directory (default fixtures/base)\n"
    "  --data DIR              fixtures directory (default fixtures/data): DIR/general/{train,eval}.txt\n"
    "  --tokenizer FILE        reuse this tokenizer instead of training one\n"
    "  --config NAME           default | tiny | 1b (default: default)\n"
    "  --vocab N               tokenizer and model vocabulary (default: the config's)\n"
    "  --steps N --batch B --seq T   (default 3000 x 16 x 256)\n"
    "  --lr X --warmup N --min-lr-frac X --weight-decay X --clip X   (default 2e-3, 100, 0.1, 0.1, 1.0)\n"
    "  --seed N                (default 1)\n"
    "  --threads N             BLAS threads (default 2)\n"
    "  --checkpoint-every N    steps (default 250; 0 = none)\n"
    "  --max-text-bytes N      use at most N bytes of the training text (default 0 = all)\n"
    "  --eval-tokens N         tokens of the held-out text for the record (default 65536)\n"
    "  --precision P           weight products in training: fp32 | fp32-dnnl | bf16 | int8 (int8: --ternary-qat\n"
    "                          only: 8-bit per-token activations into the ternary products; default fp32). The\n"
    "                          saved weights are f32 in every precision; the record evaluates at fp32\n"
    "  --ternary-qat           quantisation-aware training of a ternary base (see above)\n"
    "  --init FILE             start from this model file (its shape and, without --tokenizer, its tokenizer)\n"
    "  --stop-after N          train at most N steps in this run, write a checkpoint, exit 75 (rerun to continue)\n"
    "  --max-minutes X         likewise after X minutes of training in this run\n";

int cmd_pretrain(int argc, char **argv) {
    PretrainOptions o;
    memset(&o, 0, sizeof o);
    const char *data = "fixtures/data", *config = "default";
    int threads = 2, vocab = 0;
    o.outdir = "fixtures/base";
    train_config_default(&o.train);
    o.train.steps = 3000; o.train.batch = 16; o.train.seq = 256; o.train.lr = 2e-3; o.train.warmup = 100;
    o.train.cosine = 1; o.train.min_lr_frac = 0.1; o.train.weight_decay = 0.1; o.train.grad_clip = 1.0;
    o.seed = 1;
    o.checkpoint_every = 250;
    o.eval_tokens = 65536;
    static char cmdline[2048];
    for (int i = 0, n = 0; i < argc && n < (int)sizeof cmdline - 2; i++)
        n += snprintf(cmdline + n, sizeof cmdline - n, "%s%s", i ? " " : "sweep ", argv[i]);
    o.command = cmdline;
    o.precision = MAT_PREC_FP32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); return 0; }
        if (!strcmp(a, "--ternary-qat")) { o.ternary_qat = 1; continue; }
        if (!v) { fprintf(stderr, "sweep pretrain: %s needs a value (or is unknown)\n%s", a, usage); return 2; }
        char e[400];
        int h = -1, bad = 0;
        i++;
        if (!strcmp(a, "-o") || !strcmp(a, "--out")) o.outdir = v;
        else if (!strcmp(a, "--data")) data = v;
        else if (!strcmp(a, "--tokenizer")) o.tokenizer = v;
        else if (!strcmp(a, "--config")) config = v;
        else if (!strcmp(a, "--vocab")) bad = opt_int(a, v, 256, 1 << 24, &vocab, e, sizeof e);
        else if (!strcmp(a, "--seed")) { long l = 0; bad = opt_long(a, v, 0, 1L << 53, &l, e, sizeof e); o.seed = (unsigned long long)l; }
        else if (!strcmp(a, "--threads")) bad = opt_int(a, v, 1, 1024, &threads, e, sizeof e);
        else if (!strcmp(a, "--checkpoint-every")) bad = opt_int(a, v, 0, 1 << 30, &o.checkpoint_every, e, sizeof e);
        else if (!strcmp(a, "--max-text-bytes")) bad = opt_long(a, v, 0, 1L << 40, &o.max_train_bytes, e, sizeof e);
        else if (!strcmp(a, "--eval-tokens")) bad = opt_long(a, v, 0, 1L << 40, &o.eval_tokens, e, sizeof e);
        else if (!strcmp(a, "--init")) o.init = v;
        else if (!strcmp(a, "--stop-after")) bad = opt_int(a, v, 1, 1 << 30, &o.stop_after, e, sizeof e);
        else if (!strcmp(a, "--max-minutes")) bad = opt_real(a, v, 0, 1e9, 1, &o.max_minutes, e, sizeof e);
        else if (!strcmp(a, "--precision")) h = HP_PRECISION;
        // the training hyperparameters, in the ranges a spec allows (sweeps/hparams.h)
        else if (!strcmp(a, "--steps")) h = HP_STEPS;
        else if (!strcmp(a, "--batch")) h = HP_BATCH;
        else if (!strcmp(a, "--seq")) h = HP_SEQ;
        else if (!strcmp(a, "--lr")) h = HP_LR;
        else if (!strcmp(a, "--warmup")) h = HP_WARMUP;
        else if (!strcmp(a, "--min-lr-frac")) h = HP_MIN_LR;
        else if (!strcmp(a, "--weight-decay")) h = HP_WD;
        else if (!strcmp(a, "--clip")) h = HP_CLIP;
        else { fprintf(stderr, "sweep pretrain: unknown option %s\n%s", a, usage); return 2; }
        if (h >= 0) {
            double x = 0;
            LoraSpec no_lora;
            if (!(bad = opt_hp(a, v, h, &x, e, sizeof e))) hp_set(&o.train, &no_lora, &o.precision, h, x);
        }
        if (bad) return opt_bad("pretrain", e);
    }
    if (o.precision == MAT_PREC_INT8 && !o.ternary_qat) {
        fprintf(stderr, "sweep pretrain: --precision int8: only with --ternary-qat (int8 multiplies ternary weights; use bf16)\n");
        return 2;
    }
    if (config_by_name(&o.cfg, config)) { fprintf(stderr, "sweep pretrain: --config: unknown config '%s'\n", config); return 2; }
    if (vocab) o.cfg.vocab = vocab;
    if (o.train.steps < 1 || o.train.batch < 1 || o.train.seq < 1 || o.train.seq > o.cfg.context ||
        o.train.warmup > o.train.steps) {
        fprintf(stderr, "sweep pretrain: need steps >= 1, batch >= 1, 1 <= seq <= context (%d), warmup <= steps\n", o.cfg.context);
        return 2;
    }
    const char *bad = config_check(&o.cfg);
    if (bad) { fprintf(stderr, "sweep pretrain: --vocab/--config: %s\n", bad); return 2; }
    static char train_path[1100], eval_path[1100];
    snprintf(train_path, sizeof train_path, "%s/general/train.txt", data);
    snprintf(eval_path, sizeof eval_path, "%s/general/eval.txt", data);
    o.train_text = train_path;
    o.eval_text = eval_path;
    engine_set_threads(threads < 1 ? 1 : threads);
    return pretrain_run(&o);
}
