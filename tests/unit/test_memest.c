// engine/memest.h against the allocations it claims to count: glibc's mallinfo2 before and after
// acts_create, adapter_init + adamw_alloc, and a full fine-tune's private bf16 copies (mat_cache_bytes
// after a training step at bf16); then mpi/memfit.h's hand-out rule on a two-node table.
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/adamw.h"
#include "engine/memest.h"
#include "engine/model.h"
#include "engine/train.h"
#include "engine/util.h"
#include "mpi/memfit.h"
#include "testlib.h"

#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void);   // ASan's runtime (sanitizer/allocator_interface.h)
#endif

// Bytes malloc holds for the program now (heap in use plus mmapped chunks); under ASan, whose
// allocator glibc's mallinfo2 does not see, the bytes ASan's allocator has handed out.
static size_t held(void) {
#if defined(__SANITIZE_ADDRESS__)
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
#endif
}

// Within 1% + 4 KiB per buffer: aligned_alloc's rounding and malloc's chunk headers.
static int close_to(size_t measured, size_t est, int buffers) {
    double slack = 0.01 * (double)est + 4096.0 * buffers;
    return (double)measured <= (double)est + slack && (double)measured + slack >= (double)est;
}

static void check_acts(const ModelConfig *c, int B, int T, int recompute, int loss_rows) {
    size_t before = held();
    Acts *a = acts_create_chunked(c, B, T, recompute, loss_rows);
    size_t got = held() - before;
    size_t est = memest_acts_bytes(c, B, T, 0, recompute, loss_rows);
    CHECK(close_to(got, est, 40), "acts_create_chunked(dim %d, B %d, T %d, recompute %d, loss rows %d): malloc holds %zu "
          "more, memest says %zu", c->dim, B, T, recompute, loss_rows, got, est);
    acts_free(a);
}

// Resident bytes of this process (/proc/self/statm), 0 when unreadable.
static size_t resident(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return rss * (size_t)sysconf(_SC_PAGESIZE);
}

// adamw_end gives back what memest's later phases leave out: the moments and the gradients' pages.
static void check_adamw_end(const Weights *base) {
    Adapter ad;
    adapter_init(&ad, FMT_FULL, NULL, base, 1);
    adamw_alloc(&ad);
    for (size_t i = 0; i < ad.n; i++) ad.grads[i] = 1, ad.m[i] = 1, ad.v[i] = 1;   // every page resident
    size_t before = resident();
    adamw_end(&ad);
    size_t after = resident(), freed = before > after ? before - after : 0;
    size_t want = ad.n * (sizeof(real) + 2 * sizeof(float));
#if defined(__SANITIZE_ADDRESS__)
    want = ad.n * sizeof(real);   // ASan's quarantine keeps freed blocks mapped: the gradients' pages only
#endif
    CHECK(freed + (size_t)(0.01 * want) + ((size_t)1 << 20) >= want, "adamw_end: %zu bytes resident fewer, the moments "
          "and gradients are %zu", freed, want);
    adapter_free(&ad);
}

// The activations of a LoRA training step with and without recomputation (TrainConfig.recompute):
// the Acts train_adapter makes and the LoRA buffers its first forward adds, against memest_job.
static void check_train_acts(const Weights *base, int recompute) {
    LoraSpec lora = { .rank = 4, .alpha = 8, .targets = LORA_ALL };
    Adapter ad;
    CHECK(adapter_init(&ad, FMT_LORA, &lora, base, 1) == 0 && adamw_alloc(&ad) == 0, "LoRA adapter");
    int n = 4000, B = 2, T = 32;
    int *tokens = xmalloc(n * sizeof *tokens);
    random_tokens(tokens, n, base->cfg.vocab, 5);
    size_t before = held();
    Acts *a = acts_create_recompute(&base->cfg, B, T, recompute);
    int *in = xmalloc((size_t)B * T * sizeof *in), *tg = xmalloc((size_t)B * T * sizeof *tg);
    for (int i = 0; i < B * T; i++) { in[i] = tokens[i]; tg[i] = tokens[i + 1]; }
    model_forward(base, &ad, a, in, tg, B, T);   // allocates the LoRA buffers
    size_t got = held() - before - 2 * (size_t)B * T * sizeof(int);
    size_t est = memest_acts_bytes(&base->cfg, B, T, lora.rank, recompute, 0);
    CHECK(close_to(got, est, 44), "LoRA step acts (recompute %d): malloc holds %zu more, memest says %zu", recompute, got,
          est);
    free(in); free(tg);
    acts_free(a);
    MemJob mj;
    memset(&mj, 0, sizeof mj);
    mj.cfg = base->cfg, mj.format = FMT_LORA, mj.lora = lora, mj.steps = 1, mj.batch = B, mj.seq = T, mj.eval_batch = 1;
    mj.recompute = recompute;
    MemEstimate e;
    memest_job(&mj, &e);
    CHECK(e.acts_train == est, "memest_job's training activations (%zu) are memest_acts_bytes' (%zu)", e.acts_train, est);
    free(tokens);
    adapter_free(&ad);
}

static void check_adapter(const Weights *base, AdapterFormat f) {
    MemJob mj;
    memset(&mj, 0, sizeof mj);
    mj.cfg = base->cfg;
    mj.format = f;
    mj.lora = (LoraSpec){ .rank = 4, .alpha = 8, .targets = LORA_ALL };
    mj.steer_blocks = 1;
    mj.steps = 1, mj.batch = 1, mj.seq = 8, mj.eval_batch = 1;
    MemEstimate e;
    memest_job(&mj, &e);
    size_t before = held();
    Adapter ad;
    CHECK(adapter_init(&ad, f, &mj.lora, base, 1) == 0 && adamw_alloc(&ad) == 0, "adapter %s", format_name(f));
    size_t got = held() - before;
    CHECK(close_to(got, e.adapter + e.optimizer, 4), "adapter %s + AdamW: malloc holds %zu more, memest says %zu",
          format_name(f), got, e.adapter + e.optimizer);
    adapter_free(&ad);
}

// A full fine-tune at bf16 converts its trainable matrices into the context's private cache.
static void check_full_copies(const Weights *base0) {
    Weights base = *base0;
    base.mc = mat_context_create(MAT_PREC_BF16);
    Adapter ad;
    adapter_init(&ad, FMT_FULL, NULL, &base, 1);
    int n = 4000;
    int *tokens = xmalloc(n * sizeof *tokens);
    random_tokens(tokens, n, base.cfg.vocab, 3);
    TrainConfig tc;
    train_config_default(&tc);
    tc.steps = 1, tc.batch = 1, tc.seq = 16;
    TrainResult tr;
    CHECK(train_adapter(&base, &ad, tokens, n, &tc, 1, NULL, &tr, NULL, NULL) == 0, "full FT step");
    MemJob mj;
    memset(&mj, 0, sizeof mj);
    mj.cfg = base.cfg, mj.format = FMT_FULL, mj.precision = MAT_PREC_BF16, mj.steps = 1, mj.batch = 1, mj.seq = 16;
    mj.eval_batch = 1;
    MemEstimate e;
    memest_job(&mj, &e);
    CHECK(mat_cache_bytes(base.mc) == e.weight_copies, "full FT bf16 copies: the context holds %zu, memest says %zu",
          mat_cache_bytes(base.mc), e.weight_copies);
    mj.precision = MAT_PREC_FP32;
    memest_job(&mj, &e);
    CHECK(e.weight_copies == 0, "fp32 makes no copies");
    free(tokens);
    adapter_free(&ad);
    mat_context_free(base.mc);
}

// The phases memest_job takes the max of, at the 1b shape (no allocation: arithmetic only). Evaluation
// holds one slot of activations and, at bf16, the logits of one chunk; a full fine-tune's peak is
// training's (parameters, gradients, two moments), the eval far below it.
static void check_phases(const ModelConfig *def) {
    ModelConfig c;
    config_1b(&c);
    MemJob mj;
    memset(&mj, 0, sizeof mj);
    mj.cfg = c, mj.format = FMT_FULL, mj.precision = MAT_PREC_BF16, mj.steps = 2, mj.batch = 1, mj.seq = 256;
    mj.recompute = 1, mj.eval_batch = 8;
    MemEstimate e;
    memest_job(&mj, &e);
    size_t n = config_n_params(&c);
    CHECK(e.loss_rows_train == 0 && e.loss_rows_eval > 0, "1b full at bf16: training holds the whole logits (%d), "
          "evaluation chunks (%d)", e.loss_rows_train, e.loss_rows_eval);
    CHECK(e.job == e.weight_copies + e.scratch + e.phase_train, "1b full: the peak is training's");
    CHECK(e.phase_train >= 4 * n * sizeof(float) && e.phase_eval < 2 * n * sizeof(float),
          "1b full: training %zu holds 4 x %zu, evaluation %zu less than 2 x", e.phase_train, n * sizeof(float),
          e.phase_eval);
    CHECK(e.acts_eval == memest_acts_bytes(&c, 8, c.context, 0, 1, model_loss_rows_at(&c, MAT_PREC_BF16, MAT_REAL)),
          "evaluation: one slot, loss chunks");
    mj.format = FMT_NORM;
    memest_job(&mj, &e);
    CHECK(e.loss_rows_train > 0 && e.loss_rows_train == e.loss_rows_eval, "1b norm with recompute at bf16: chunks");
    mj.precision = MAT_PREC_FP32;
    memest_job(&mj, &e);
    CHECK(e.loss_rows_train == 0 && e.loss_rows_eval == 0, "fp32 (OpenBLAS): the whole logits");
    (void)def;
}

static void check_memfit(void) {
    // ranks 0, 1 on node 0; ranks 2, 3 on node 1; each node holds 10 besides its jobs, limit 100
    size_t job[4] = { 60, 20, 85, 90 };   // a big job, a small one, one that fits only an empty node, one exactly
    int node_of[4] = { 0, 0, 1, 1 };
    size_t fixed[2] = { 10, 10 };
    MemFit f = { .limit = 100, .job = job, .nranks = 4, .node_of = node_of, .node_fixed = fixed };
    int idle[4] = { -1, -1, -1, -1 };
    int cand[2] = { 0, 1 };
    CHECK(memfit_node_used(&f, 0, idle) == 10, "an idle node holds its fixed part");
    CHECK(memfit_pick(&f, 0, idle, cand, 2) == 0, "an idle node takes the big job first");
    int one_big[4] = { 0, -1, -1, -1 };
    CHECK(memfit_node_used(&f, 0, one_big) == 70, "node 0 with the big job: 70");
    CHECK(memfit_pick(&f, 1, one_big, cand, 2) == 1, "beside a big job a second big one waits, the small one starts");
    CHECK(memfit_pick(&f, 2, one_big, cand, 2) == 0, "the other node is free for the big job");
    int cand_big[1] = { 0 };
    CHECK(memfit_pick(&f, 1, one_big, cand_big, 1) == -1, "only big jobs left: the rank stays idle");
    int small_small[4] = { -1, -1, 1, -1 };
    int cand_huge[1] = { 2 };
    CHECK(memfit_pick(&f, 3, small_small, cand_huge, 1) == -1, "85 beside 10 + 20 is above 100: waits");
    CHECK(memfit_pick(&f, 1, small_small, cand_huge, 1) == 0, "85 + 10 on the idle node fits");
    int cand_exact[1] = { 3 };
    CHECK(memfit_pick(&f, 0, idle, cand_exact, 1) == 0, "10 + 90 is exactly the limit: fits");
}

// One node of two ranks, fixed 10, limit 100: a big job of 70 ahead of small ones of 30 in the queue.
// Beside a small job the big one does not fit (10 + 30 + 70), two small ones do. The ranks finish in
// turn, each taking the pick; returns how many small jobs started before the big one (with hold: a
// reservation; without: none).
static int smalls_before_big(MemHold *hold) {
    size_t job[7] = { 70, 30, 30, 30, 30, 30, 30 };
    int node_of[2] = { 0, 0 };
    size_t fixed[1] = { 10 };
    MemFit f = { .limit = 100, .job = job, .nranks = 2, .node_of = node_of, .node_fixed = fixed, .hold = hold };
    if (hold) memfit_hold_init(hold, 1);
    int queue[7] = { 0, 2, 3, 4, 5, 6 }, qn = 6;
    int running[2] = { 1, -1 };   // a small job already runs on rank 0 when the big one comes first
    int smalls = 0;
    for (int turn = 0, rank = 1; turn < 20 && qn > 0; turn++, rank ^= 1) {
        running[rank] = -1;   // this rank's job ends (ranks take turns: each job outlasts the other rank's pick)
        int k = memfit_pick(&f, rank, running, queue, qn);
        if (k < 0) continue;
        int j = queue[k];
        memmove(queue + k, queue + k + 1, (size_t)(qn - k - 1) * sizeof *queue);
        qn--;
        running[rank] = j;
        if (j == 0) return smalls;
        smalls++;
    }
    return smalls;
}

static void check_reservation(void) {
    MemHold hold[1];
    int with = smalls_before_big(hold), without = smalls_before_big(NULL);
    CHECK(with == 2, "reserved: the big job waits while 2 small jobs start (one per rank), then starts: %d", with);
    CHECK(without == 5, "without a reservation every small job starts before the big one: %d", without);
    // a job that fits the node only when another node's smaller fixed part applies is never waited for
    size_t job[3] = { 95, 30, 30 };
    int node_of[2] = { 0, 0 };
    size_t fixed[1] = { 10 };
    MemFit f = { .limit = 100, .job = job, .nranks = 2, .node_of = node_of, .node_fixed = fixed, .hold = hold };
    memfit_hold_init(hold, 1);
    int cand[3] = { 0, 1, 2 }, running[2] = { -1, -1 };
    CHECK(memfit_pick(&f, 0, running, cand, 3) == 1 && hold[0].job == -1,
          "95 + 10 fits no run of this node: skipped, nothing reserved for it");
}

int main(void) {
    // Large blocks mmapped as at the 1b shape (above glibc's largest dynamic threshold, 32 MiB), so
    // that freeing one returns it: check_adamw_end measures what the job's later phases give back.
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    ModelConfig tiny, def;
    config_tiny(&tiny);
    config_default(&def);
    for (int rc = 0; rc <= 1; rc++) {
        check_acts(&tiny, 2, 12, rc, 0);
        check_acts(&def, 2, 64, rc, 0);
        check_acts(&def, 8, 256, rc, 0);
        check_acts(&def, 8, 256, rc, 64);
        check_acts(&def, 2, 64, rc, 1024);   // a chunk of more rows than the batch: one piece
    }
    CHECK(memest_acts_bytes(&def, 8, 256, 4, 1, 0) < memest_acts_bytes(&def, 8, 256, 4, 0, 0),
          "recomputing holds fewer activations");
    CHECK(memest_acts_bytes(&def, 8, 256, 4, 1, 64) < memest_acts_bytes(&def, 8, 256, 4, 1, 0),
          "loss chunks hold fewer activations");
    real *block = xaligned(config_n_params(&def) * sizeof(real));
    weights_init_random(block, &def, 7);
    Weights base;
    weights_carve(&base, &def, block);
    for (AdapterFormat f = FMT_NORM; f <= FMT_STEER; f++) check_adapter(&base, f);
    check_full_copies(&base);
    check_adamw_end(&base);
    check_phases(&def);
    check_train_acts(&base, 0);
    check_train_acts(&base, 1);
    check_memfit();
    check_reservation();
    free(block);
    return tl_finish("memest");
}
