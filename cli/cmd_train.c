// sweep train BASE --text FILE --format F [...]: one adapter trained in this process exactly as a sweep
// job trains it (the seeds' defaults; adapter init, batch stream, random corpus and evaluation through
// engine/job.h, as mpi/job_exec.c), so a researcher can try a format before writing a spec and can
// reproduce one cell of a sweep bit for bit.
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/commands.h"
#include "cli/options.h"
#include "engine/adamw.h"
#include "engine/adapter.h"
#include "engine/job.h"
#include "engine/mat.h"
#include "engine/modelfile.h"
#include "engine/tokenizer.h"
#include "engine/train.h"
#include "engine/util.h"
#include "sweeps/hparams.h"

#define MAX_EVALS 64

static const char usage_head[] =
    "usage: sweep train BASE --text TRAIN.txt --format norm|lora|full|steer [--eval TEXT ...] [options]\n"
    "\n"
    "Trains one adapter on a text and prints its held-out perplexities: the tool for trying a format\n"
    "before writing a spec, and for reproducing one job of a sweep. It trains exactly as a job of\n"
    "`sweep run` does (same defaults, same adapter initialisation, same batches and random corpus from\n"
    "the seed, same evaluation), so the same base, text, hyperparameters and seed give the loss curve,\n"
    "final loss, perplexities and adapter of that job, bit for bit (at the same --threads), and the\n"
    "largest change of a trained parameter from its initial value (the results file's max_param_change).\n"
    "\n"
    "  --text FILE          training text (the user's train.txt); not read under --condition random\n"
    "  --format F           norm (RMSNorm gains), lora, full (every weight), or steer (a learned\n"
    "                       vector added to the residual stream after a block; Bet 58)\n"
    "  --eval FILE          held-out text to evaluate after training (repeatable, up to 64)\n"
    "  --eval-tokens N      score only the first N tokens of each eval text (the spec's eval.tokens;\n"
    "                       default 0: all)\n"
    "  --condition C        real (default: train on --text) or random (uniform random tokens from the\n"
    "                       seed: the Bet 60 noise floor)\n"
    "  --seed N             seed of the adapter's initialisation, batches and random corpus (default 0,\n"
    "                       the seed of a spec with \"seeds\": 1)\n"
    "  -o FILE              write the trained adapter (SWAD file: sweep eval --adapter FILE reads it)\n"
    "  --json               print one JSON object on stdout (loss curve, perplexities, the largest\n"
    "                       parameter change and its tensor as a sweep records them, timings); the\n"
    "                       progress lines then go to stderr\n"
    "  --print-every N      print the loss every N steps (default 10; 0: only the last step)\n"
    "  --tokenizer FILE     tokenizer (default: the one BASE's metadata names)\n"
    "  --threads N          BLAS threads (default 1, as a sweep rank; other counts change the last bits)\n"
    "  --no-verify          skip tensor checksums when mapping BASE\n";

// the hyperparameter lines come from sweeps/hparams.h's table, defaults and all
static const char usage_tail[] =
    "\n"
    "Exit status: 0 trained; 1 training diverged (non-finite loss or gradient: nothing evaluated or\n"
    "written); 2 bad input (one line naming the file or option); 3 internal error.\n";

typedef struct {
    const char *base, *text, *tokenizer, *out;
    const char *evals[MAX_EVALS];
    int n_evals;
    JobSpec job;
    int have_format, seq_given, lora_given, steer_given;
    int print_every, json, threads, verify;
    MatPrecision precision;
} TrainArgs;

static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int bad(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("sweep train: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out) {
    char e[400];
    return opt_long(opt, s, lo, hi, out, e, sizeof e) ? bad("%s", e) : 0;
}

// The option of the hyperparameter table named o, or -1.
static int hp_of_option(const char *o) {
    for (int h = 0; h < HP_COUNT; h++) if (!strcmp(o, hp_table[h].option)) return h;
    return -1;
}

static void print_usage(void) {
    fputs(usage_head, stdout);
    JobSpec d;
    job_spec_default(&d);
    printf("\nHyperparameters (defaults: the seeds' values, as sweeps/SPEC.md; ranges as a spec's):\n");
    for (int h = 0; h < HP_COUNT; h++) {
        const HParam *p = &hp_table[h];
        char opt[40], def[40], text[240];
        const char *arg = p->kind == HP_INT ? " N" : p->kind == HP_REAL ? " X" : p->kind == HP_BOOL ? "" : " P";
        snprintf(opt, sizeof opt, "%s%s", p->option, arg);
        hp_format(def, sizeof def, h, hp_default(h));
        snprintf(text, sizeof text, p->help, def);
        printf("  %-21s%s\n", opt, text);
        if (h == HP_LR) printf("  %-21sAdamW betas (default %g,%g)\n", "--betas B1,B2", d.train.beta1, d.train.beta2);
        if (h == HP_ALPHA) {
            printf("  %-21sLoRA projections, of q,k,v,o,gate,up,down (default %s)\n", "--targets LIST",
                   d.lora.targets == LORA_ALL ? "all seven" : "some");
            printf("  %-21ssteer: the blocks (0-based) after which a vector is added, e.g. 3,5\n"
                   "  %-21s(default last: after the last block)\n", "--layers LIST", "");
        }
    }
    fputs(usage_tail, stdout);
}

static int parse_args(int argc, char **argv, TrainArgs *a) {
    memset(a, 0, sizeof *a);
    TrainConfig *tc = &a->job.train;
    LoraSpec *lora = &a->job.lora;
    job_spec_default(&a->job);
    a->print_every = 10;
    a->threads = 1;
    a->verify = 1;
    a->precision = (MatPrecision)hp_default(HP_PRECISION);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long l;
        double d = 0;
        int h, takes_value = 1;
        if (!strcmp(o, "--json")) { a->json = 1; takes_value = 0; }
        else if ((h = hp_of_option(o)) >= 0 && hp_table[h].kind == HP_BOOL) {
            hp_set(tc, lora, &a->precision, h, 1);
            takes_value = 0;
        }
        else if (!strcmp(o, "--no-verify")) { a->verify = 0; takes_value = 0; }
        else if (o[0] != '-' || !o[1]) {
            if (a->base) return bad("one base only (got %s and %s)", a->base, o);
            a->base = o;
            continue;
        }
        if (!takes_value) continue;
        if (!v) return bad("%s: needs a value (see sweep train --help)", o);
        i++;
        if (!strcmp(o, "--text")) a->text = v;
        else if (!strcmp(o, "--tokenizer")) a->tokenizer = v;
        else if (!strcmp(o, "-o") || !strcmp(o, "--output")) a->out = v;
        else if (!strcmp(o, "--eval")) {
            if (a->n_evals == MAX_EVALS) return bad("--eval: at most %d eval texts", MAX_EVALS);
            a->evals[a->n_evals++] = v;
        } else if (!strcmp(o, "--format")) {
            if (format_parse(v, &a->job.format) || a->job.format == FMT_NONE)
                return bad("--format: '%s' is not norm, lora, full or steer%s", v,
                           !strcmp(v, "none") ? " (the base itself needs no training: sweep eval BASE TEXT)" : "");
            a->have_format = 1;
        } else if (!strcmp(o, "--condition")) {
            if (!strcmp(v, "real")) a->job.random_condition = 0;
            else if (!strcmp(v, "random")) a->job.random_condition = 1;
            else return bad("--condition: '%s' is not real or random", v);
        } else if (!strcmp(o, "--targets")) {
            if (lora_targets_parse(v, &lora->targets))
                return bad("--targets: '%s' is not a list of q,k,v,o,gate,up,down", v);
            a->lora_given = 1;
        } else if (!strcmp(o, "--layers")) {
            if (steer_layers_parse(v, &a->job.steer))
                return bad("--layers: '%s' is not last or a list of block numbers below %d", v, SWEEP_MAX_LAYERS);
            a->steer_given = 1;
        } else if (!strcmp(o, "--betas")) {
            char *end, *end2 = NULL;
            errno = 0;
            double b1 = strtod(v, &end), b2 = *end == ',' ? strtod(end + 1, &end2) : NAN;
            if (errno || end == v || *end != ',' || end2 == end + 1 || *end2 || !(b1 >= 0 && b1 < HP_BETA_MAX) ||
                !(b2 >= 0 && b2 < HP_BETA_MAX))
                return bad("--betas: '%s' is not two numbers in [0, %g) as B1,B2", v, HP_BETA_MAX);
            tc->beta1 = b1;
            tc->beta2 = b2;
        } else if (!strcmp(o, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-' || s > (1ULL << 53))
                return bad("--seed: '%s' is not an integer in [0, 2^53]", v);
            a->job.seed = s;
        }
        else if (!strcmp(o, "--threads")) { if (parse_long(o, v, 1, 1024, &l)) return 2; a->threads = (int)l; }
        else if (!strcmp(o, "--print-every")) { if (parse_long(o, v, 0, 1L << 30, &l)) return 2; a->print_every = (int)l; }
        else if (!strcmp(o, "--eval-tokens")) {
            if (parse_long(o, v, 0, 1L << 40, &l)) return 2;
            if (l == 1) return bad("--eval-tokens: 1 is too few: 0 (all) or at least 2");
            a->job.eval_tokens = l;
        }
        else if ((h = hp_of_option(o)) >= 0) {
            char e[400];
            if (opt_hp(o, v, h, &d, e, sizeof e)) return bad("%s", e);
            hp_set(tc, lora, &a->precision, h, d);
            if (hp_table[h].lora_only) a->lora_given = 1;
            if (h == HP_SEQ) a->seq_given = 1;
        }
        else return bad("unknown option %s (see sweep train --help)", o);
    }
    if (!a->base) return bad("no base model file given (usage: sweep train BASE --text FILE --format F)");
    if (!a->have_format) return bad("--format: missing (norm, lora, full or steer)");
    if (!a->text && !a->job.random_condition) return bad("--text: missing (the training text; or --condition random)");
    if (a->lora_given && a->job.format != FMT_LORA)
        return bad("--rank, --alpha and --targets are LoRA settings: --format is %s", format_name(a->job.format));
    if (a->steer_given && a->job.format != FMT_STEER)
        return bad("--layers is a steer setting: --format is %s", format_name(a->job.format));
    if (tc->warmup > tc->steps) return bad("--warmup: %d is longer than --steps %d", tc->warmup, tc->steps);
    return 0;
}

// Tokens of a text file; the file must give at least `need` tokens (what it is for goes in the message).
static int tokens_of_file(Tokenizer *tok, const char *path, long need, const char *what, int **out, long *n) {
    size_t len;
    char *text = read_whole_file(path, &len);
    if (!text) return bad("%s: cannot read: %s", path, strerror(errno));
    if (tokenizer_encode(tok, text, len, out, n)) {
        free(text);
        fprintf(stderr, "sweep train: %s: out of memory while tokenising\n", path);
        return 3;
    }
    free(text);
    if (*n < need) {
        free(*out);
        return bad("%s: only %ld tokens, fewer than %s", path, *n, what);
    }
    return 0;
}

// 1 when both paths name one existing file: -o must never replace an input.
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return a && b && !stat(a, &sa) && !stat(b, &sb) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

typedef struct {
    FILE *out;
    int every, steps;
    double t0;
} Progress;

static int print_progress(void *ctx, int step, double loss, double lr) {
    Progress *p = ctx;
    if ((p->every && step % p->every == 0) || step == p->steps) {
        fprintf(p->out, "step %*d/%d  loss %.6f  lr %.4g  %.1f s\n", p->steps >= 1000 ? 6 : 3, step, p->steps, loss,
                lr, now_seconds() - p->t0);
        fflush(p->out);
    }
    return 0;
}

typedef struct {
    const char *path;
    int *tokens;
    long n;
    double ppl, nll;
    long n_pred;
} EvalText;

// The shortest decimal that reads back as exactly d: cJSON's own printing settles for 15 digits
// within an epsilon, which loses the last bits that a comparison with a sweep's results looks at.
static cJSON *exact_number(double d) {
    if (!isfinite(d)) return cJSON_CreateNull();
    char buf[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, d);
        if (strtod(buf, NULL) == d) break;
    }
    return cJSON_CreateRaw(buf);
}

static void add_number(cJSON *obj, const char *name, double d) {
    cJSON_AddItemToObject(obj, name, exact_number(d));
}

static void print_json(const TrainArgs *a, const char *tok_path, const Adapter *ad, long n_train, const float *curve,
                       const TrainResult *tr, double max_change, const char *max_tensor, const EvalText *ev, int n_ev,
                       double train_s, double eval_s, double total_s) {
    static const char *const target_names[LORA_N_TARGETS] = { "q", "k", "v", "o", "gate", "up", "down" };
    const TrainConfig *tc = &a->job.train;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "base", a->base);
    cJSON_AddStringToObject(j, "tokenizer", tok_path);
    cJSON_AddStringToObject(j, "format", format_name(a->job.format));
    cJSON_AddStringToObject(j, "condition", a->job.random_condition ? "random" : "real");
    if (a->job.random_condition) cJSON_AddNullToObject(j, "text");
    else cJSON_AddStringToObject(j, "text", a->text);
    add_number(j, "seed", (double)a->job.seed);
    cJSON_AddStringToObject(j, "precision", mat_precision_name(a->precision));
    add_number(j, "threads", a->threads);
    cJSON *t = cJSON_AddObjectToObject(j, "train");
    add_number(t, "steps", tc->steps);
    add_number(t, "batch", tc->batch);
    add_number(t, "seq", tc->seq);
    add_number(t, "lr", tc->lr);
    cJSON *betas = cJSON_AddArrayToObject(t, "betas");
    cJSON_AddItemToArray(betas, exact_number(tc->beta1));
    cJSON_AddItemToArray(betas, exact_number(tc->beta2));
    add_number(t, "eps", tc->eps);
    add_number(t, "weight_decay", tc->weight_decay);
    add_number(t, "grad_clip", tc->grad_clip);
    add_number(t, "warmup", tc->warmup);
    cJSON_AddBoolToObject(t, "cosine", tc->cosine);
    add_number(t, "min_lr_frac", tc->min_lr_frac);
    if (a->job.format == FMT_LORA) {
        cJSON *l = cJSON_AddObjectToObject(j, "lora");
        add_number(l, "rank", a->job.lora.rank);
        add_number(l, "alpha", a->job.lora.alpha);
        cJSON *tg = cJSON_AddArrayToObject(l, "targets");
        for (int i = 0; i < LORA_N_TARGETS; i++)
            if (a->job.lora.targets & (1u << i)) cJSON_AddItemToArray(tg, cJSON_CreateString(target_names[i]));
    }
    if (a->job.format == FMT_STEER) {
        char layers[512];
        steer_layers_format(&ad->steer, layers, sizeof layers);   // resolved: "last" becomes its block
        cJSON *st = cJSON_AddObjectToObject(j, "steer");
        cJSON_AddStringToObject(st, "layers", layers);
    }
    add_number(j, "trainable", (double)ad->n);
    add_number(j, "adapter_bytes_fp32", (double)adapter_bytes(ad, 4));
    add_number(j, "adapter_bytes_fp16", (double)adapter_bytes(ad, 2));
    add_number(j, "train_tokens_available", (double)n_train);
    cJSON *lc = cJSON_AddArrayToObject(j, "loss_curve");
    for (int s = 0; s < tc->steps; s++) cJSON_AddItemToArray(lc, exact_number(curve[s]));
    add_number(j, "final_loss", tr->final_loss);
    add_number(j, "steps_done", tr->steps_done);
    cJSON_AddBoolToObject(j, "diverged", tr->diverged);
    add_number(j, "max_param_change", max_change);   // null when not finite (diverged), as NaN in a results file
    cJSON_AddStringToObject(j, "max_param_tensor", max_tensor);
    cJSON *evs = cJSON_AddArrayToObject(j, "evals");
    for (int e = 0; e < n_ev; e++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", ev[e].path);
        add_number(o, "ppl", ev[e].ppl);
        add_number(o, "nll", ev[e].nll);
        add_number(o, "tokens", (double)ev[e].n_pred);
        cJSON_AddItemToArray(evs, o);
    }
    if (a->out && !tr->diverged) cJSON_AddStringToObject(j, "adapter", a->out);
    else cJSON_AddNullToObject(j, "adapter");
    add_number(j, "tokens", (double)tr->tokens);
    add_number(j, "train_seconds", train_s);
    add_number(j, "eval_seconds", eval_s);
    add_number(j, "seconds", total_s);
    add_number(j, "tokens_per_second", train_s > 0 ? tr->tokens / train_s : 0);
    char *s = cJSON_PrintUnformatted(j);
    if (!s) { fprintf(stderr, "sweep train: out of memory\n"); exit(3); }
    printf("%s\n", s);
    free(s);
    cJSON_Delete(j);
}

// The summary's line for the largest parameter change (the results file's /max_param_change), beside
// steps x lr: with Adam each step moves a parameter by about lr at most.
static void print_max_change(FILE *f, double d, const char *tensor, const JobSpec *job) {
    if (job->format == FMT_NONE) return;
    if (!isfinite(d)) { fprintf(f, "largest parameter change: not finite\n"); return; }
    fprintf(f, "largest parameter change %.6g (%s) from its initial value; steps x lr = %.6g\n", d, tensor,
            job->train.steps * job->train.lr);
}

int cmd_train(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { print_usage(); return 0; }
    TrainArgs a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    double t_start = now_seconds();
    engine_set_threads(a.threads);
    JobSpec *job = &a.job;
    TrainConfig *tc = &job->train;

    char err[1024];
    ModelFile mf;
    if (model_open(&mf, a.base, a.verify ? 0 : MODEL_SKIP_CHECKSUMS, err, sizeof err)) return bad("%s", err);
    mf.w.mc = mat_context_create(a.precision);   // the run's one job: its compute context
    engine_threads_for(a.precision);
    const Weights *base = &mf.w;
    const ModelConfig *cfg = &base->cfg;
    if (!a.seq_given && tc->seq > cfg->context) tc->seq = cfg->context;
    if (tc->seq > cfg->context) return bad("--seq: %d exceeds the context %d of %s", tc->seq, cfg->context, a.base);
    if (job->format == FMT_LORA && job->lora.rank > cfg->dim)
        return bad("--rank: %d exceeds the width %d of %s", job->lora.rank, cfg->dim, a.base);
    if (job->format == FMT_STEER && steer_layers_highest(&job->steer) >= cfg->n_layers)
        return bad("--layers: block %d is past the last block (%d) of %s", steer_layers_highest(&job->steer),
                   cfg->n_layers - 1, a.base);

    char *tok_path = a.tokenizer ? strdup(a.tokenizer) : model_tokenizer_path(&mf);
    if (!tok_path) return bad("%s: metadata field tokenizer: none recorded; give --tokenizer FILE", a.base);
    Tokenizer *tok = tokenizer_open(tok_path, err, sizeof err);
    if (!tok) return bad("%s", err);
    if (tokenizer_vocab_size(tok) > cfg->vocab)
        return bad("%s: vocab: the tokenizer has %d tokens but %s only %d", tok_path, tokenizer_vocab_size(tok),
                   a.base, cfg->vocab);

    // Every input is read and checked before training starts: a bad eval path costs no training time.
    EvalText ev[MAX_EVALS];
    memset(ev, 0, sizeof ev);
    for (int e = 0; e < a.n_evals; e++) {
        ev[e].path = a.evals[e];
        if ((rc = tokens_of_file(tok, ev[e].path, 2, "the two a perplexity needs", &ev[e].tokens, &ev[e].n))) return rc;
    }
    int *train_tokens = NULL;
    long n_train = 0;
    if (job->random_condition) {
        long n = job_random_corpus_length(job);
        if (n > JOB_MAX_RANDOM_TOKENS)
            return bad("--condition random: steps x batch x (seq + 1) = %ld random tokens, more than %ld", n,
                       JOB_MAX_RANDOM_TOKENS);
        train_tokens = job_random_corpus(job, cfg->vocab, &n_train);
    } else {
        char what[96];
        snprintf(what, sizeof what, "one window of --seq %d + 1", tc->seq);
        if ((rc = tokens_of_file(tok, a.text, (long)tc->seq + 1, what, &train_tokens, &n_train))) return rc;
    }
    tokenizer_free(tok);
    if (a.out) {
        const char *inputs[MAX_EVALS + 3] = { a.base, job->random_condition ? NULL : a.text, tok_path };
        for (int e = 0; e < a.n_evals; e++) inputs[3 + e] = a.evals[e];
        for (int k = 0; k < 3 + a.n_evals; k++)
            if (same_file(a.out, inputs[k])) return bad("-o: %s is the input %s: give another path", a.out, inputs[k]);
        // Checked now, not after the training it would waste (adapter_save writes a file beside OUT, then
        // renames it over OUT), with a name no other file has: the probe must not replace anything.
        struct stat st;
        if (stat(a.out, &st) == 0 && S_ISDIR(st.st_mode)) return bad("-o: %s is a directory", a.out);
        size_t len = strlen(a.out) + 16;
        char *probe = xmalloc(len);
        snprintf(probe, len, "%s.probe-XXXXXX", a.out);
        int fd = mkstemp(probe);   // O_CREAT | O_EXCL
        if (fd < 0) { rc = bad("-o: %s: cannot write: %s", a.out, strerror(errno)); free(probe); return rc; }
        close(fd);
        unlink(probe);
        free(probe);
    }

    Adapter ad;
    memset(&ad, 0, sizeof ad);
    if (job_adapter_init(&ad, job, base) || adamw_alloc(&ad)) {
        fprintf(stderr, "sweep train: cannot create the adapter and its optimizer state (out of memory)\n");
        return 3;
    }

    FILE *info = a.json ? stderr : stdout;
    fprintf(info, "sweep train: %s on %s: %zu trainable scalars (%zu bytes fp32), %d steps x %d x %d tokens, lr %g, "
            "seed %llu, ", format_name(job->format), a.base, ad.n, adapter_bytes(&ad, 4), tc->steps, tc->batch,
            tc->seq, tc->lr, (unsigned long long)job->seed);
    if (job->random_condition) fprintf(info, "random condition (%ld random tokens)\n", n_train);
    else fprintf(info, "%s (%ld tokens)\n", a.text, n_train);
    fflush(info);

    float *curve = xcalloc((size_t)tc->steps, sizeof *curve);
    TrainResult tr;
    Progress prog = { info, a.print_every, tc->steps, now_seconds() };
    if (job_train(base, &ad, job, train_tokens, n_train, curve, &tr, print_progress, &prog))
        return bad("%s: cannot train: a token outside the model's vocabulary of %d",
                   job->random_condition ? "random corpus" : a.text, cfg->vocab);
    free(train_tokens);
    // How far training moved the parameters, by the function sweep run records it with (engine/job.h):
    // the moments go first, so making the initial values again does not raise the peak.
    adamw_free(&ad);
    char max_tensor[96];
    double max_change = job_max_param_change(&ad, job, base, max_tensor, sizeof max_tensor);
    double train_s = tr.seconds;
    int status = 0;
    double t_eval = now_seconds();
    if (tr.diverged) {
        fprintf(info, "training diverged at step %d (non-finite loss or gradient): nothing evaluated or written\n",
                tr.steps_done);
        print_max_change(info, max_change, max_tensor, job);
        status = 1;
    } else {
        fprintf(info, "final loss %.6f after %d steps: %ld tokens in %.2f s (%.0f tokens/s)\n", tr.final_loss,
                tr.steps_done, tr.tokens, train_s, train_s > 0 ? tr.tokens / train_s : 0);
        print_max_change(info, max_change, max_tensor, job);
        for (int e = 0; e < a.n_evals; e++) {
            double t0 = now_seconds();
            ev[e].ppl = job_eval_perplexity(base, &ad, job, ev[e].tokens, ev[e].n, &ev[e].nll, &ev[e].n_pred);
            // %.4f as sweep eval prints it; a blown-up model's perplexity needs an exponent to stay readable
            fprintf(info, ev[e].ppl < 1e7 ? "eval %s: ppl %.4f" : "eval %s: ppl %.4e", ev[e].path, ev[e].ppl);
            fprintf(info, "  (nll %.5f per token, %ld predicted tokens; %.2f s)\n",
                    ev[e].n_pred ? ev[e].nll / ev[e].n_pred : NAN, ev[e].n_pred, now_seconds() - t0);
            if (!isfinite(ev[e].ppl)) status = 1;
        }
        if (a.out) {
            if (adapter_save(&ad, a.out, err, sizeof err)) {
                fprintf(stderr, "sweep train: %s\n", err);
                status = 3;
            } else {
                fprintf(info, "adapter: %s (%s, %zu scalars)\n", a.out, format_name(job->format), ad.n);
            }
        }
    }
    double eval_s = now_seconds() - t_eval;
    for (int e = 0; e < a.n_evals; e++) ev[e].nll = ev[e].n_pred ? ev[e].nll / ev[e].n_pred : NAN;
    if (a.json)
        print_json(&a, tok_path, &ad, n_train, curve, &tr, max_change, max_tensor, ev, tr.diverged ? 0 : a.n_evals,
                   train_s, eval_s, now_seconds() - t_start);
    for (int e = 0; e < a.n_evals; e++) free(ev[e].tokens);
    free(curve);
    free(tok_path);
    adapter_free(&ad);
    mat_context_free(mf.w.mc);
    model_close(&mf);
    return status;
}
