#include "mpi/job_exec.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "engine/adamw.h"
#include "engine/job.h"
#include "engine/mat.h"
#include "engine/util.h"
#include "mpi/job_variants.h"
#include "sweeps/combos.h"
#include "sweeps/variants.h"

#define SET_ERR(...) errf(err, errlen, __VA_ARGS__)

// The base's tokenizer: the spec's, or the one the model file names (a path, or an object with a
// "path"), relative to the model file's own directory, never to a staged copy's. Its content hash
// goes into the token cache's keys, so an edited tokenizer never meets tokens cached under the old one.
static Tokenizer *open_base_tokenizer(const BaseEntry *b, const ModelFile *mf, uint64_t *hash, char *err,
                                      size_t errlen) {
    char path[2048];
    if (b->tokenizer[0]) {
        snprintf(path, sizeof path, "%s", b->tokenizer);
    } else {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(mf->meta, "tokenizer");
        const cJSON *name = cJSON_IsObject(t) ? cJSON_GetObjectItemCaseSensitive(t, "path") : t;
        if (!cJSON_IsString(name) || !name->valuestring[0]) {
            SET_ERR("%s: the model file names no tokenizer and the spec gives none", b->path);
            return NULL;
        }
        const char *slash = strrchr(b->path, '/');
        if (name->valuestring[0] == '/' || !slash) snprintf(path, sizeof path, "%s", name->valuestring);
        else snprintf(path, sizeof path, "%.*s/%s", (int)(slash - b->path), b->path, name->valuestring);
    }
    size_t len;
    char *bytes = read_whole_file(path, &len);
    if (!bytes) { SET_ERR("%s: cannot read: %s", path, strerror(errno)); return NULL; }
    *hash = fnv1a64(bytes, len, FNV1A64_INIT);
    free(bytes);
    return tokenizer_open(path, err, errlen);
}

int job_context_open(JobContext *ctx, const Plan *plan, const char *const *staged, int verify,
                     const char *cache_dir, char *err, size_t errlen) {
    int nb = plan->axis[AX_BASE].n;
    memset(ctx, 0, sizeof *ctx);
    ctx->plan = plan;
    ctx->bases = xcalloc(nb, sizeof *ctx->bases);
    ctx->tokenizers = xcalloc(nb, sizeof *ctx->tokenizers);
    ctx->tokenizer_hash = xcalloc(nb, sizeof *ctx->tokenizer_hash);
    ctx->ready = xcalloc((size_t)nb * (MAT_PREC_INT8 + 1), sizeof *ctx->ready);
    ctx->keep_adapter_max = SIZE_MAX;
    snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s", cache_dir);
    if (make_dirs(cache_dir)) {
        SET_ERR("%s: cannot create the cache directory: %s", cache_dir, strerror(errno));
        return -1;
    }
    char why[768];
    for (int i = 0; i < nb; i++) {
        const char *path = staged && staged[i] ? staged[i] : plan->bases[i].path;
        // Messages start with the spec field ("bases.NAME: ..."): run.c puts the spec's name before it.
        if (model_open(&ctx->bases[i], path, verify ? 0 : MODEL_SKIP_CHECKSUMS, why, sizeof why)) {
            SET_ERR("bases.%s: %s", plan->bases[i].name, why);
            return -1;
        }
        ctx->tokenizers[i] = open_base_tokenizer(&plan->bases[i], &ctx->bases[i], &ctx->tokenizer_hash[i], why,
                                                 sizeof why);
        if (!ctx->tokenizers[i]) {
            SET_ERR("bases.%s: tokenizer: %s", plan->bases[i].name, why);
            return -1;
        }
        int tv = tokenizer_vocab_size(ctx->tokenizers[i]), mv = ctx->bases[i].w.cfg.vocab;
        if (tv > mv) {
            SET_ERR("bases.%s: %s: vocab: the tokenizer has %d tokens but the model only %d", plan->bases[i].name,
                    path, tv, mv);
            return -1;
        }
        for (int f = 0; f < plan->axis[AX_FORMAT].n; f++) {
            MatPrecision p = plan->formats[f].precision;
            MatCache *c = &ctx->ready[(size_t)i * (MAT_PREC_INT8 + 1) + p];
            if (c->map || !matcache_forms_bytes(&ctx->bases[i].w, p)) continue;
            if (matcache_open(c, &ctx->bases[i], p, cache_dir, why, sizeof why)) {
                SET_ERR("bases.%s: ready forms: %s", plan->bases[i].name, why);
                return -1;
            }
        }
    }
    return 0;
}

void job_context_close(JobContext *ctx) {
    if (!ctx->plan) return;
    for (int i = 0; i < ctx->plan->axis[AX_BASE].n; i++) {
        if (ctx->tokenizers[i]) tokenizer_free(ctx->tokenizers[i]);
        model_close(&ctx->bases[i]);
        for (int p = 0; p <= MAT_PREC_INT8; p++) matcache_close(&ctx->ready[(size_t)i * (MAT_PREC_INT8 + 1) + p]);
    }
    free(ctx->ready);
    free(ctx->bases);
    free(ctx->tokenizers);
    free(ctx->tokenizer_hash);
    memset(ctx, 0, sizeof *ctx);
}

int job_test_fault(const char *id, const char *kind) {
    const char *f = getenv("SWEEP_TEST_FAULT");
    if (!f) return 0;
    size_t k = strlen(kind);
    // a comma-separated list of kind:idprefix
    for (const char *p = f; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > k + 1 && !strncmp(p, kind, k) && p[k] == ':' && !strncmp(id, p + k + 1, len - k - 1))
            return 1;
        p += len + (end ? 1 : 0);
    }
    return 0;
}

// Tokens of a text file under this base's tokenizer, through a per-node cache file so that a
// corpus is tokenised once per node, not once per job. *map_len > 0 means *out is an mmap.
static int tokens_of_file(JobContext *ctx, int base, const char *path, int **out, long *n, size_t *map_len,
                          char *err, size_t errlen) {
    size_t len;
    char *text = read_whole_file(path, &len);
    if (!text) { SET_ERR("%s: cannot read: %s", path, strerror(errno)); return -1; }
    uint64_t h = fnv1a64(text, len, FNV1A64_INIT);
    h = fnv1a64(&ctx->tokenizer_hash[base], sizeof ctx->tokenizer_hash[base], h);
    char cache[1200];
    snprintf(cache, sizeof cache, "%s/%016llx.tok", ctx->cache_dir, (unsigned long long)h);
    int fd = open(cache, O_RDONLY);
    if (fd >= 0) {
        struct stat st;
        if (!fstat(fd, &st) && st.st_size > 0 && st.st_size % sizeof(int) == 0) {
            void *m = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
            close(fd);
            if (m != MAP_FAILED) {
                free(text);
                *out = m; *n = st.st_size / sizeof(int); *map_len = st.st_size;
                return 0;
            }
        } else close(fd);
    }
    if (tokenizer_encode(ctx->tokenizers[base], text, len, out, n)) {
        free(text);
        SET_ERR("%s: out of memory while tokenising", path);
        return -1;
    }
    free(text);
    *map_len = 0;
    // Written under a private name, then renamed: concurrent ranks never see a partial cache file.
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", cache, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (f) {
        int ok = fwrite(*out, sizeof(int), *n, f) == (size_t)*n;
        ok &= fclose(f) == 0;
        if (ok) rename(tmp, cache); else unlink(tmp);
    }
    return 0;
}

static void release_tokens(int *t, long n, size_t map_len) {
    if (map_len) munmap(t, map_len); else free(t);
    (void)n;
}

static int has_flag(const char *flags, const char *name) {
    size_t n = strlen(name);
    for (const char *p = flags; (p = strstr(p, name)); p += n)
        if ((p == flags || p[-1] == ' ' || p[-1] == '\t') && (p[n] == ' ' || p[n] == '\n' || !p[n])) return 1;
    return 0;
}

// The CPU's ISA level, in the names ONEDNN_MAX_CPU_ISA takes ("" when the flags say nothing known).
static const char *isa_level(const char *flags) {
    static const struct { const char *level, *needs[4]; } levels[] = {
        { "AVX512_CORE_AMX", { "amx_tile", "amx_bf16", "amx_int8", "avx512_bf16" } },
        { "AVX512_CORE_FP16", { "avx512_fp16", "avx512_bf16", "avx512_vnni", "avx512bw" } },
        { "AVX512_CORE_BF16", { "avx512_bf16", "avx512_vnni", "avx512bw", "avx512vl" } },
        { "AVX512_CORE_VNNI", { "avx512_vnni", "avx512bw", "avx512vl", "avx512dq" } },
        { "AVX512_CORE", { "avx512f", "avx512bw", "avx512vl", "avx512dq" } },
        { "AVX2_VNNI", { "avx_vnni", "avx2", NULL } },
        { "AVX2", { "avx2", NULL } },
        { "AVX", { "avx", NULL } },
        { "SSE41", { "sse4_1", NULL } },
    };
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        int all = 1;
        for (int k = 0; k < 4 && levels[i].needs[k] && all; k++) all = has_flag(flags, levels[i].needs[k]);
        if (all) return levels[i].level;
    }
    return "";
}

// "MODEL NAME, ISA" from /proc/cpuinfo's first processor ("" where it says neither): with the library
// and its overrides, which kernels the products ran on.
static void cpu_description(char *out, size_t len) {
    out[0] = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char *line = NULL, model[96] = "";
    const char *isa = "";
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0 && !isa[0]) {
        const char *v = strchr(line, ':');
        if (!v) continue;
        v += 1 + strspn(v + 1, " \t");
        if (!strncmp(line, "model name", 10) && !model[0]) snprintf(model, sizeof model, "%.*s", (int)strcspn(v, "\n"), v);
        else if (!strncmp(line, "flags", 5)) isa = isa_level(v);
    }
    free(line);
    fclose(f);
    snprintf(out, len, "%s%s%s", model, model[0] && isa[0] ? ", " : "", isa);
}

// JobResult.backend for a job computed at precision p in this process, e.g. "onednn, AMD EPYC,
// AVX512_CORE_BF16, ONEDNN_MAX_CPU_ISA=AVX2": the products' summation order, hence a job's last
// bits, follow it.
static void describe_backend(MatPrecision p, char *out, size_t len) {
    static char cpu[128];
    static int have_cpu;
    if (!have_cpu) { cpu_description(cpu, sizeof cpu); have_cpu = 1; }
    const char *lib = mat_precision_backend(p);
    size_t at = (size_t)snprintf(out, len, "%s", lib);
    if (cpu[0] && at < len) at += (size_t)snprintf(out + at, len - at, ", %s", cpu);
    // attention and LoRA products stay on OpenBLAS at every precision: its override always matters
    static const char *const overrides[] = { "OPENBLAS_CORETYPE", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA" };
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(overrides[i]);
        if (!v || !v[0] || (i > 0 && strcmp(lib, "onednn"))) continue;
        if (at < len) at += (size_t)snprintf(out + at, len - at, ", %s=%s", overrides[i], v);
    }
}

static void fail(JobResult *r, JobStatus s, const char *msg) {
    r->status = s;
    snprintf(r->message, sizeof r->message, "%s", msg);
}

// What of plan->jobs[j] decides its numbers, in the engine's terms.
static JobSpec job_spec_of(const Plan *p, int j) {
    const Job *job = &p->jobs[j];
    const FormatVariant *fv = &p->formats[job->ax[AX_FORMAT]];
    // none's id names no seed (the file places it at the first), so nothing it computes may draw on one:
    // its noise variants draw from seed 0 whatever the spec's seeds, and files split by seeds agree
    uint64_t seed = fv->format == FMT_NONE ? 0 : job->seed;
    return (JobSpec){ .format = fv->format, .lora = fv->lora, .steer = fv->steer, .train = fv->train, .seed = seed,
                      .random_condition = p->conditions[job->ax[AX_CONDITION]] == COND_RANDOM,
                      .eval_tokens = p->eval_tokens };
}

// The job's cells, in the job's eval order, then per variant of eval.variants its bytes and its
// cells (sweeps/variants.h): copied from prev where it has the cell, else computed with the adapter
// (a none adapter: the base itself) on base, the job's view of its base (with its compute context).
// Sets r's status on failure; a variant's non-finite perplexity is recorded as data, not a failure.
// members: the adapter (1), or an ensemble's K (combination jobs, sweeps/combos.h), scored by the
// mixture of their next-token distributions (engine/ensemble.h; no variants beside combinations).
static void evaluate_cells(JobContext *ctx, int j, const Weights *base, const Adapter *members, int K,
                           const JobResult *prev, JobResult *r) {
    const Plan *p = ctx->plan;
    const Job *job = &p->jobs[j];
    const JobSpec js = job_spec_of(p, j);
    const Adapter *ad = &members[0];
    const Combo *cb = job_combo(p, job);
    int ensemble = cb && cb->kind == COMBO_ENSEMBLE;
    const Adapter **ens = xmalloc((size_t)K * sizeof *ens);
    for (int k = 0; k < K; k++) ens[k] = &members[k];
    int bi = job->ax[AX_BASE];
    char err[512];
    r->evals = xcalloc((size_t)job->n_eval + (size_t)variant_extra_cells(p, job), sizeof *r->evals);
    for (int v = 0; v < variant_count(p) && r->status == JOB_OK; v++) {
        Adapter copy;
        int owned = 0;
        const Adapter *vad = ad;
        if (v > 0) {
            EvalCell *b = &r->evals[r->n_evals++];
            variant_cell_label(b->eval, sizeof b->eval, p, v, "");
            b->ppl = b->nll = NAN;
            b->n_tokens = (long)variant_adapter_bytes(p, v, ad);
            if (!(vad = variant_adapter(p, v, &js, base, ad, &copy, &owned))) {
                fail(r, JOB_ERROR, "cannot copy the adapter for an eval variant (out of memory)");
                break;
            }
        }
        for (int e = 0; e < job->n_eval; e++) {
            const EvalEntry *ev = &p->evals[job->eval[e]];
            EvalCell *c = &r->evals[r->n_evals];
            char label[sizeof c->eval];
            if (variant_cell_label(label, sizeof label, p, v, ev->label)) {
                fail(r, JOB_ERROR, "an eval text's label is too long for its variant cells");
                break;
            }
            const EvalCell *old = NULL;
            for (int k = 0; prev && k < prev->n_evals && !old; k++)
                if (!strcmp(prev->evals[k].eval, label)) old = &prev->evals[k];
            if (old || (v > 0 && variant_same_as_identity(p, v, ad))) {
                *c = old ? *old : r->evals[e];
                snprintf(c->eval, sizeof c->eval, "%s", label);
                r->n_evals++;
                continue;
            }
            int *tokens; long n; size_t map_len;
            if (tokens_of_file(ctx, bi, ev->path, &tokens, &n, &map_len, err, sizeof err)) {
                fail(r, JOB_ERROR, err);
                break;
            }
            if (n < 2) {
                release_tokens(tokens, n, map_len);
                snprintf(err, sizeof err, "%s: fewer than two tokens to evaluate", ev->path);
                fail(r, JOB_ERROR, err);
                break;
            }
            snprintf(c->eval, sizeof c->eval, "%s", label);
            double nll;
            long count;
            c->ppl = ensemble ? job_eval_perplexity_ensemble(base, ens, K, &js, tokens, n, &nll, &count)
                              : variant_eval_perplexity(p, v, base, vad, &js, tokens, n, &nll, &count);
            c->n_tokens = count;
            c->nll = count ? nll / count : NAN;
            release_tokens(tokens, n, map_len);
            r->n_evals++;
            if (v == 0 && !isfinite(c->ppl)) {
                fail(r, JOB_DIVERGED, "perplexity is not finite");
                break;
            }
        }
        if (owned) adapter_free(&copy);
    }
    free(ens);
}

// The test hook's failures, shared by both ways of running a job; 1 when r now holds one.
static int injected_fault(const Job *job, JobResult *r) {
    if (job_test_fault(job->id, "crash")) raise(SIGSEGV);
    if (job_test_fault(job->id, "hang")) for (;;) pause();
    if (job_test_fault(job->id, "error")) { fail(r, JOB_ERROR, "injected error (SWEEP_TEST_FAULT)"); return 1; }
    return 0;
}

// The job's view of base bi: the mapped weights (and their ready forms), multiplied in mc.
static Weights *job_weights(JobContext *ctx, int bi, MatContext *mc) {
    Weights *w = xmalloc(sizeof *w);
    *w = ctx->bases[bi].w;
    w->mc = mc;
    return w;
}

static void job_weights_free(Weights *w) {
    mat_context_free(w->mc);
    free(w);
}

static void job_run(JobContext *ctx, int j, const Weights *base, JobResult *r);

void job_execute(JobContext *ctx, int j, JobResult *r) {
    const Job *job = &ctx->plan->jobs[j];
    // the job's own compute context: its precision, and nothing another job left behind
    MatContext *mc = mat_context_create(ctx->plan->formats[job->ax[AX_FORMAT]].precision);
    engine_threads_for(mat_context_precision(mc));
    Weights *base = job_weights(ctx, job->ax[AX_BASE], mc);
    job_run(ctx, j, base, r);
    job_weights_free(base);
}

static void job_run(JobContext *ctx, int j, const Weights *base, JobResult *r) {
    const Plan *p = ctx->plan;
    const Job *job = &p->jobs[j];
    const FormatVariant *fv = &p->formats[job->ax[AX_FORMAT]];
    int bi = job->ax[AX_BASE];
    const ModelConfig *cfg = &base->cfg;
    const JobSpec js = job_spec_of(p, j);
    char err[512] = "";
    double t0 = now_seconds();

    memset(r, 0, sizeof *r);
    r->job = j;
    memcpy(r->id, job->id, sizeof r->id);
    r->status = JOB_OK;

    if (injected_fault(job, r)) return;
    if (job->combo) {   // never trained: rank 0 hands it out with its combined adapter (mpi/job_combo.h)
        fail(r, JOB_ERROR, "a combination job was run without its combined adapter");
        return;
    }
    describe_backend(fv->precision, r->backend, sizeof r->backend);

    Adapter ad;
    memset(&ad, 0, sizeof ad);
    if (job_adapter_init(&ad, &js, base)) {
        fail(r, JOB_ERROR, "cannot create the adapter (out of memory)");
        return;
    }
    TrainConfig train = js.train;
    train.recompute = ctx->recompute;   // how, not what: the same bits either way
    const TrainConfig *tc = &train;
    if (fv->format != FMT_NONE) {
        int *tokens = NULL; long n = 0; size_t map_len = 0;
        if (js.random_condition) {
            tokens = job_random_corpus(&js, cfg->vocab, &n);
        } else if (tokens_of_file(ctx, bi, p->users[job->ax[AX_TRAIN_USER]].train_path, &tokens, &n, &map_len,
                                  err, sizeof err)) {
            fail(r, JOB_ERROR, err);
            adapter_free(&ad);
            return;
        }
        if (n < tc->seq + 1) {
            snprintf(err, sizeof err, "%s: only %ld tokens, fewer than one window of %d",
                     p->users[job->ax[AX_TRAIN_USER]].train_path, n, tc->seq + 1);
            fail(r, JOB_ERROR, err);
        } else if (adamw_alloc(&ad)) {
            fail(r, JOB_ERROR, "cannot allocate optimizer state (out of memory)");
        } else {
            TrainResult tr;
            r->loss_curve = xcalloc(tc->steps, sizeof(float));
            r->n_steps = tc->steps;
            JobSpec run_js = js;   // job_train reads the spec's TrainConfig: give it --recompute too
            run_js.train.recompute = ctx->recompute;
            if (job_train(base, &ad, &run_js, tokens, n, r->loss_curve, &tr, NULL, NULL)) {
                snprintf(err, sizeof err, "%s: cannot train: a token outside the model's vocabulary, or a bad "
                         "training setting", p->users[job->ax[AX_TRAIN_USER]].train_path);
                fail(r, JOB_ERROR, err);
            }
            r->tokens = tr.tokens;
            r->final_loss = tr.final_loss;
            int injected = !tr.diverged && job_test_fault(job->id, "nan");   // as if the last step blew up
            if (r->status == JOB_OK && (tr.diverged || injected)) {
                int at = injected ? tc->steps - 1 : tr.steps_done;
                snprintf(err, sizeof err, "training diverged at step %d (non-finite loss or gradient)", at);
                fail(r, JOB_DIVERGED, err);
                for (int s = at; s < tc->steps; s++) r->loss_curve[s] = NAN;
                if (injected) r->final_loss = NAN;
            }
        }
        release_tokens(tokens, n, map_len);
        // Training is over: the moments go and the gradients' pages return to the system before the
        // initial values are made again and the evaluation runs, so the job's peak is training's.
        adamw_end(&ad);
    }
    r->max_param_change = job_max_param_change(&ad, &js, base, r->max_param_tensor, sizeof r->max_param_tensor);

    r->adapter_bytes_fp32 = adapter_bytes(&ad, 4);
    r->adapter_bytes_fp16 = adapter_bytes(&ad, 2);
    // Copied after the evaluation (its activations gone), and only a block rank 0 keeps: a 1b full
    // fine-tune's 4.9 GB would otherwise be copied, encoded, piped and sent for nothing.
    int keep = r->status == JOB_OK && ad.n && ad.n <= ctx->keep_adapter_max / sizeof(float);
    if (r->status == JOB_OK) evaluate_cells(ctx, j, base, &ad, 1, NULL, r);
    if (keep) {
        r->adapter_n = ad.n;
        r->adapter = xmalloc(ad.n * sizeof(float));
        for (size_t i = 0; i < ad.n; i++) r->adapter[i] = (float)ad.params[i];
        r->adapter_ndim = 1;
        r->adapter_shape[0] = (int64_t)ad.n;
        if (fv->format == FMT_NORM || fv->format == FMT_STEER) {   // gain vectors, or one vector per steered block
            r->adapter_ndim = 2;
            r->adapter_shape[0] = (int64_t)(ad.n / (size_t)cfg->dim);
            r->adapter_shape[1] = cfg->dim;
        }
    }
    adapter_free(&ad);
    r->seconds = now_seconds() - t0;
}

int job_can_evaluate_more(const Plan *p, int j, const JobResult *prev) {
    if (!prev || prev->status != JOB_OK) return 0;
    return p->formats[p->jobs[j].ax[AX_FORMAT]].format == FMT_NONE || prev->adapter_n > 0;
}

void job_evaluate_more(JobContext *ctx, int j, const JobResult *prev, JobResult *r) {
    const Plan *p = ctx->plan;
    const Job *job = &p->jobs[j];
    const FormatVariant *fv = &p->formats[job->ax[AX_FORMAT]];
    const JobSpec js = job_spec_of(p, j);
    double t0 = now_seconds();
    const Combo *cb = job_combo(p, job);
    int ensemble = cb && cb->kind == COMBO_ENSEMBLE;
    int K = ensemble ? job->n_inputs : 1;   // an ensemble's members, end to end in prev
    Adapter *ad = xcalloc((size_t)(K > 0 ? K : 1), sizeof *ad);
    // The adapter's shape and wiring come from the spec; its values from the kept block.
    int ok = K > 0 && job_can_evaluate_more(p, j, prev);
    for (int k = 0; k < K && ok; k++)
        ok = !job_adapter_init(&ad[k], &js, &ctx->bases[job->ax[AX_BASE]].w) && ad[k].n * K == prev->adapter_n;
    if (!ok) {
        for (int k = 0; k < K; k++) adapter_free(&ad[k]);
        free(ad);
        job_execute(ctx, j, r);
        return;
    }
    engine_threads_for(fv->precision);
    Weights *base = job_weights(ctx, job->ax[AX_BASE], mat_context_create(fv->precision));
    memset(r, 0, sizeof *r);
    r->job = j;
    memcpy(r->id, job->id, sizeof r->id);
    r->status = JOB_OK;
    if (injected_fault(job, r)) {
        for (int k = 0; k < K; k++) adapter_free(&ad[k]);
        free(ad);
        job_weights_free(base);
        return;
    }
    describe_backend(fv->precision, r->backend, sizeof r->backend);
    if (prev->backend[0] && strcmp(prev->backend, r->backend)) {   // trained on one, evaluated on both
        char now[sizeof r->backend];
        snprintf(now, sizeof now, "%s", r->backend);
        snprintf(r->backend, sizeof r->backend, "%s; new cells: %s", prev->backend, now);
    }
    for (int k = 0; k < K; k++)
        for (size_t i = 0; i < ad[k].n; i++) ad[k].params[i] = (real)prev->adapter[(size_t)k * ad[k].n + i];
    r->tokens = prev->tokens;
    r->final_loss = prev->final_loss;
    r->max_param_change = prev->max_param_change;
    memcpy(r->max_param_tensor, prev->max_param_tensor, sizeof r->max_param_tensor);
    r->adapter_bytes_fp32 = prev->adapter_bytes_fp32;
    r->adapter_bytes_fp16 = prev->adapter_bytes_fp16;
    if (prev->n_steps) {
        r->n_steps = prev->n_steps;
        r->loss_curve = xmalloc(prev->n_steps * sizeof(float));
        memcpy(r->loss_curve, prev->loss_curve, prev->n_steps * sizeof(float));
    }
    // an ensemble's members are their own jobs' adapters
    if (prev->adapter_n && !ensemble && prev->adapter_n <= ctx->keep_adapter_max / sizeof(float)) {
        r->adapter_n = prev->adapter_n;
        r->adapter = xmalloc(prev->adapter_n * sizeof(float));
        memcpy(r->adapter, prev->adapter, prev->adapter_n * sizeof(float));
        r->adapter_ndim = prev->adapter_ndim;
        memcpy(r->adapter_shape, prev->adapter_shape, sizeof r->adapter_shape);
    }
    evaluate_cells(ctx, j, base, ad, K, prev, r);
    for (int k = 0; k < K; k++) adapter_free(&ad[k]);
    free(ad);
    job_weights_free(base);
    r->seconds = now_seconds() - t0;
}
