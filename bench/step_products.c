// The weight products of one norm-only training step replayed through the engine's own mat_forward
// and mat_backward_input (every layer's q k v o gate up down and the tied head forward, then their
// input gradients in reverse), beside the same products each repeated alone on one warm matrix: the
// difference is what the step's order (weights cold in cache) costs, and the alone figures against
// bench/dnnl_matmul.c what the engine adds to oneDNN's kernel. A benchmark, not a test:
//   gcc -O3 -march=native -I. bench/step_products.c build/libengine.a -o /tmp/step_products
//       -ldnnl -lopenblas -lcjson -lpcre2-8 -lgomp -lm   (one line)
//   /tmp/step_products [default|1b] [bf16|int8|bf16-blocked] [steps]
// Weights are random bf16 matrices (int8: ternary ones), as a mapped base of that type; times are
// process CPU seconds (the machine is shared), summed per shape over the replayed steps.
// bf16-blocked: what keeping the weights in oneDNN's own layout would give: the same products
// (activations rounded per call, input gradients added by oneDNN's sum post-op, as the engine does)
// on oneDNN directly, each matrix reordered once per direction into the layout its primitive picks
// (weights format `any`) and its plain copy freed: two blocked copies per matrix.
// bf16-ab: both, steps alternated in one process (engine, blocked, engine, ...; three copies of the
// weights), with each way's per-step CPU times: separate runs on a shared machine differ by more
// than the effect.
#include <dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "engine/config.h"
#include "engine/mat.h"
#include "engine/ternary.h"
#include "engine/util.h"

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static uint64_t lcg = 88172645463325252ull;
static float rnd(void) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((lcg >> 40) & 0xffff) / 32768.0f - 1.0f;
}

// A random weight [rows][cols]: bf16 elements, or ternary (packed trits, row scales) for int8.
static Mat make(int rows, int cols, int ternary) {
    size_t n = (size_t)rows * cols;
    if (!ternary) {
        uint16_t *h = xaligned(n * sizeof(uint16_t));
        for (size_t i = 0; i < n; i++) h[i] = f32_to_bf16(0.02f * rnd());
        return (Mat){ MAT_BF16, rows, cols, h, NULL, NULL, NULL, 0 };
    }
    float *row = xmalloc((size_t)cols * sizeof(float));
    uint8_t *t = xaligned(ternary_packed_bytes(rows, cols));
    float *s = xmalloc((size_t)rows * sizeof(float));
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) row[c] = 0.02f * rnd();
        ternary_quantize_rows(t + ternary_packed_bytes(1, cols) * (size_t)r, s + r, row, 1, cols);
    }
    free(row);
    return (Mat){ MAT_TERNARY, rows, cols, t, s, NULL, NULL, 0 };
}

typedef struct { int op, n, out, in; double s; long calls; } Row;
static Row rows[64];
static int n_rows;

static Row *find(int op, const Mat *W) {
    for (int i = 0; i < n_rows; i++)
        if (rows[i].op == op && rows[i].out == W->rows && rows[i].in == W->cols) return &rows[i];
    return NULL;
}

static void add(int op, int n, const Mat *W, double s) {
    Row *r = find(op, W);
    if (!r) { r = &rows[n_rows++]; *r = (Row){ op, n, W->rows, W->cols, 0, 0 }; }
    r->s += s, r->calls++;
}

static int blocked_mode, use_blocked;   // 1 blocked only, 2 both alternated; use_blocked: this step's way

#define OK(call) do { if ((call) != dnnl_success) { fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #call); exit(1); } } while (0)

// bf16-blocked: one primitive per direction and shape (weights md `any`), and each matrix's two
// reordered copies
static dnnl_engine_t eng;
static dnnl_stream_t strm;
typedef struct { int op, M, N, K; dnnl_primitive_t prim; dnnl_memory_desc_t wmd; dnnl_memory_t a, b, c; } Prim;
static Prim prims[32];
static int n_prims;
typedef struct { const void *key; void *w[2]; } Blocked;
static Blocked blk[1024];
static int n_blk;
static uint16_t *xb;

static Prim *prim_for(int op, int M, int N, int K) {
    for (int i = 0; i < n_prims; i++)
        if (prims[i].op == op && prims[i].M == M && prims[i].N == N && prims[i].K == K) return &prims[i];
    Prim *p = &prims[n_prims++];
    *p = (Prim){ .op = op, .M = M, .N = N, .K = K };
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t ad = { M, K }, bd = { K, N }, cd = { M, N };
    OK(dnnl_memory_desc_init_by_tag(&a, 2, ad, dnnl_bf16, dnnl_ab));
    OK(dnnl_memory_desc_init_by_tag(&b, 2, bd, dnnl_bf16, dnnl_format_tag_any));
    OK(dnnl_memory_desc_init_by_tag(&c, 2, cd, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t d;
    OK(dnnl_matmul_desc_init(&d, &a, &b, NULL, &c));
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    OK(dnnl_primitive_attr_create(&attr));
    OK(dnnl_post_ops_create(&po));
    if (op) OK(dnnl_post_ops_append_sum(po, 1.0f));   // dx +=, as engine/mat_lowp.c
    OK(dnnl_primitive_attr_set_post_ops(attr, po));
    dnnl_primitive_desc_t pd;
    OK(dnnl_primitive_desc_create(&pd, &d, attr, eng, NULL));
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    p->wmd = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    OK(dnnl_primitive_create(&p->prim, pd));
    OK(dnnl_memory_create(&p->a, &a, eng, DNNL_MEMORY_NONE));
    OK(dnnl_memory_create(&p->b, &p->wmd, eng, DNNL_MEMORY_NONE));
    OK(dnnl_memory_create(&p->c, &c, eng, DNNL_MEMORY_NONE));
    dnnl_primitive_desc_destroy(pd);
    return p;
}

// W (bf16 [rows][cols]) reordered for both directions; its plain copy freed
static void make_blocked(Mat *W, int M) {
    Blocked *e = &blk[n_blk++];
    e->key = W;
    for (int op = 0; op < 2; op++) {
        int N = op ? W->cols : W->rows, K = op ? W->rows : W->cols;
        Prim *p = prim_for(op, M, N, K);
        dnnl_memory_desc_t plain;
        dnnl_dims_t bd = { K, N };
        OK(dnnl_memory_desc_init_by_tag(&plain, 2, bd, dnnl_bf16, op ? dnnl_ab : dnnl_ba));
        e->w[op] = xaligned(dnnl_memory_desc_get_size(&p->wmd));
        dnnl_memory_t from, to;
        OK(dnnl_memory_create(&from, &plain, eng, (void *)W->data));
        OK(dnnl_memory_create(&to, &p->wmd, eng, e->w[op]));
        dnnl_primitive_desc_t rpd;
        dnnl_primitive_t r;
        OK(dnnl_reorder_primitive_desc_create(&rpd, &plain, eng, &p->wmd, eng, NULL));
        OK(dnnl_primitive_create(&r, rpd));
        dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, to } };
        OK(dnnl_primitive_execute(r, strm, 2, args));
        OK(dnnl_stream_wait(strm));
        dnnl_primitive_destroy(r);
        dnnl_primitive_desc_destroy(rpd);
        dnnl_memory_destroy(from);
        dnnl_memory_destroy(to);
    }
    if (blocked_mode == 1) {
        free((void *)W->data);
        W->data = NULL;
    }
}

static void blocked_product(int op, float *out, const float *in, const Mat *W, int n) {
    Blocked *e = NULL;
    for (int i = 0; i < n_blk && !e; i++) if (blk[i].key == W) e = &blk[i];
    int N = op ? W->cols : W->rows, K = op ? W->rows : W->cols;
    Prim *p = prim_for(op, n, N, K);
    mat_act_round_bf16(xb, in, (size_t)n * K);
    OK(dnnl_memory_set_data_handle(p->a, xb));
    OK(dnnl_memory_set_data_handle(p->b, e->w[op]));
    OK(dnnl_memory_set_data_handle(p->c, out));
    dnnl_exec_arg_t args[3] = { { DNNL_ARG_SRC, p->a }, { DNNL_ARG_WEIGHTS, p->b }, { DNNL_ARG_DST, p->c } };
    OK(dnnl_primitive_execute(p->prim, strm, 3, args));
    OK(dnnl_stream_wait(strm));
}

static void product(MatContext *mc, int op, float *out, const float *in, const Mat *W, int n) {
    double t0 = cpu_now();
    if (use_blocked) blocked_product(op, out, in, W, n);
    else if (op == 0) mat_forward(mc, out, in, W, n, 0);
    else mat_backward_input(mc, out, in, W, n);
    add(op, n, W, cpu_now() - t0);
}

// per_step > 0: ms per step over that many steps; 0: ms per call
static void print(const char *title, int per_step) {
    printf("%s\n    op            n     out      in  %s   GFLOP/s\n", title, per_step ? " ms/step" : " ms/call");
    for (int i = 0; i < n_rows; i++) {
        Row *r = &rows[i];
        double fl = 2.0 * r->n * r->out * r->in * r->calls;
        printf("    %-8s %7d %7d %7d %9.2f %9.1f\n", r->op ? "dy W" : "x W^T", r->n, r->out, r->in,
               1e3 * r->s / (per_step ? per_step : r->calls), fl / r->s / 1e9);
    }
}

// A step's weight products in its order: every layer's forward, the head's both ways, every layer's input gradient.
static void step(MatContext *mc, float *y, const float *x, Mat (*L)[7], const Mat *head, int n_layers, int n) {
    for (int l = 0; l < n_layers; l++)
        for (int j = 0; j < 7; j++) product(mc, 0, y, x, &L[l][j], n);
    product(mc, 0, y, x, head, n);
    product(mc, 1, y, x, head, n);
    for (int l = n_layers - 1; l >= 0; l--)
        for (int j = 6; j >= 0; j--) product(mc, 1, y, x, &L[l][j], n);
}

int main(int argc, char **argv) {
    const char *config = argc > 1 ? argv[1] : "default";
    MatPrecision p = MAT_PREC_BF16;
    blocked_mode = argc > 2 && !strcmp(argv[2], "bf16-blocked") ? 1 : argc > 2 && !strcmp(argv[2], "bf16-ab") ? 2 : 0;
    use_blocked = blocked_mode == 1;
    if (argc > 2 && !blocked_mode && mat_precision_parse(argv[2], &p)) {
        fprintf(stderr, "precision: bf16, int8, bf16-blocked or bf16-ab\n");
        return 2;
    }
    int steps = argc > 3 ? atoi(argv[3]) : 3;
    ModelConfig c;
    if (config_by_name(&c, config)) { fprintf(stderr, "config: default or 1b\n"); return 2; }
    int n = c.dim >= 1024 ? 256 : 2048, d = c.dim, kv = c.dim / c.n_heads * c.n_kv_heads, f = c.ffn_dim;
    int tern = p == MAT_PREC_INT8;
    engine_set_threads(1);
    MatContext *mc = mat_context_create(p);
    engine_threads_for(p);
    Mat (*L)[7] = xmalloc(sizeof *L * (size_t)c.n_layers);
    int shape[7][2] = { { d, d }, { kv, d }, { kv, d }, { d, d }, { f, d }, { f, d }, { d, f } };
    if (blocked_mode) {
        OK(dnnl_engine_create(&eng, dnnl_cpu, 0));
        OK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
    }
    for (int l = 0; l < c.n_layers; l++)
        for (int j = 0; j < 7; j++) {
            L[l][j] = make(shape[j][0], shape[j][1], tern);
            if (blocked_mode) make_blocked(&L[l][j], n);
        }
    Mat head = make(c.vocab, d, 0);   // the tied embedding: bf16 in every precision
    if (blocked_mode) make_blocked(&head, n);
    size_t big = (size_t)n * (c.vocab > f ? c.vocab : f);
    xb = xaligned(big * sizeof(uint16_t));
    float *x = xaligned(big * sizeof(float)), *y = xaligned(big * sizeof(float));
    for (size_t i = 0; i < big; i++) x[i] = rnd();
    memset(y, 0, big * sizeof(float));

    if (blocked_mode == 2) {   // the engine's and the blocked steps alternated, first one of each untimed
        double t[2][64];
        if (steps > 64) steps = 64;
        for (int s = 0; s < 2 * (steps + 1); s++) {
            use_blocked = s & 1;
            double t0 = cpu_now();
            step(mc, y, x, L, &head, c.n_layers, n);
            if (s >= 2) t[use_blocked][s / 2 - 1] = cpu_now() - t0;
        }
        printf("config %s, bf16, n %d: products of a step, s CPU, %d steps each way alternated\n", config, n, steps);
        for (int w = 0; w < 2; w++) {
            printf("  %-22s", w ? "weights in oneDNN's:" : "engine (plain):");
            for (int i = 0; i < steps; i++) printf(" %.3f", t[w][i]);
            printf("\n");
        }
        return 0;
    }
    // the step's order; the first step converts and creates primitives, so it is not counted
    for (int s = 0; s <= steps; s++) {
        if (s == 1) n_rows = 0;
        step(mc, y, x, L, &head, c.n_layers, n);
    }
    double total = 0;
    for (int i = 0; i < n_rows; i++) total += rows[i].s;
    printf("config %s, precision %s, n %d: products of a step %.3f s CPU (mean of %d steps)\n", config,
           blocked_mode ? "bf16, weights in oneDNN's layout" : mat_precision_name(p), n, total / steps, steps);
    print("  in the step's order:", steps);

    // each shape alone, its one matrix called again and again (warm, as bench/dnnl_matmul.c)
    n_rows = 0;
    const Mat *alone[8] = { &L[0][0], &L[0][1], &L[0][4], &L[0][6], &head };
    for (int op = 0; op < 2; op++)
        for (int i = 0; i < 5; i++) {
            product(mc, op, y, x, alone[i], n);   // warm: not counted
            Row *r = find(op, alone[i]);
            if (r->calls > 1) continue;   // a shape met already (k as q when there is no grouping)
            r->s = 0, r->calls = 0;
            double t0 = cpu_now();
            int reps = 0;
            while (reps < 3 || (cpu_now() - t0 < 0.3 && reps < 50)) product(mc, op, y, x, alone[i], n), reps++;
        }
    print("  each alone, repeated on one matrix:", 0);
    mat_context_free(mc);
    return 0;
}
