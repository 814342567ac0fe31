// One-thread GFLOP/s of OpenBLAS sgemm and oneDNN matmul (fp32, bf16, int8) at the engine's product
// shapes, to decide which backend each precision uses. A benchmark, not a test:
//   gcc -O2 -march=native bench/dnnl_matmul.c -o /tmp/dnnl_matmul -ldnnl -lopenblas && /tmp/dnnl_matmul
// Times are medians of per-call thread CPU time (the machine is shared; CPU time is what a quiet core
// would take at one thread). oneDNN runs on OpenMP's team, which is pinned to one thread here as the
// engine pins it per rank: with the default team (one thread per core) the calling thread's CPU time
// counted only its own share of each product, and the figures came out about twice one core's rate.
#define _GNU_SOURCE   // RTLD_DEFAULT
#include <cblas.h>
#include <dlfcn.h>
#include <dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OK(call) do { dnnl_status_t s_ = (call); if (s_ != dnnl_success) { \
    fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, __LINE__, #call, (int)s_); exit(1); } } while (0)

static dnnl_engine_t eng;
static dnnl_stream_t stream;

// the process's CPU time, every thread's: a product that ran on more threads than meant is not
// counted as faster than it was
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static double wall_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct { double cpu, wall; } Time;

// median per-call times of fn over enough repeats to fill ~0.4 s of CPU
static Time timeit(void (*fn)(void *), void *ctx) {
    double c[64], w[64];
    int n = 0;
    fn(ctx);   // warm
    double spent = 0;
    while (n < 64 && (n < 5 || spent < 0.4)) {
        double c0 = cpu_now(), w0 = wall_now();
        fn(ctx);
        c[n] = cpu_now() - c0;
        w[n] = wall_now() - w0;
        spent += c[n++];
    }
    qsort(c, n, sizeof *c, cmp);
    qsort(w, n, sizeof *w, cmp);
    return (Time){ c[n / 2], w[n / 2] };
}

static void *amalloc(size_t n) { void *p = aligned_alloc(64, (n + 63) & ~(size_t)63); memset(p, 0, n); return p; }

typedef struct { int M, N, K; float *A, *B, *C; } Sg;
static void sg_run(void *p) {
    Sg *s = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->M, s->N, s->K, 1, s->A, s->K, s->B, s->K, 0, s->C, s->N);
}

typedef struct {
    dnnl_primitive_t prim;
    dnnl_exec_arg_t args[8];
    int nargs;
} Mm;
static void mm_run(void *p) {
    Mm *m = p;
    OK(dnnl_primitive_execute(m->prim, stream, m->nargs, m->args));
    OK(dnnl_stream_wait(stream));
}

static uint16_t bf16(float f) { union { float f; uint32_t u; } v = { f }; return (uint16_t)((v.u + 0x7fff + ((v.u >> 16) & 1)) >> 16); }

typedef enum { L_BA, L_AB, L_ANY } Layout;
static const char *lname[] = { "ba", "ab", "any" };

// y[M][N] = x[M][K] . W, W given as [N][K] (ba: forward) or [K][N] (ab: backward input), or reordered
static double mm_gflops(dnnl_data_type_t dt, int M, int N, int K, Layout lay, int accumulate, double *cpu_ms) {
    dnnl_memory_desc_t src_md, wei_md, dst_md, wplain_md;
    dnnl_dims_t sd = { M, K }, wd = { K, N }, dd = { M, N };
    // int8 products land in int32: oneDNN 2.6 has no fast path for per-token (per-row) scales,
    // so the engine scales the int32 sums itself
    dnnl_data_type_t wdt = dt, ddt = dt == dnnl_s8 ? dnnl_s32 : dnnl_f32;
    OK(dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dt, dnnl_ab));
    OK(dnnl_memory_desc_init_by_tag(&wplain_md, 2, wd, wdt, lay == L_AB ? dnnl_ab : dnnl_ba));
    if (lay == L_ANY) OK(dnnl_memory_desc_init_by_tag(&wei_md, 2, wd, wdt, dnnl_format_tag_any));
    else wei_md = wplain_md;
    OK(dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, ddt, dnnl_ab));
    dnnl_matmul_desc_t d;
    OK(dnnl_matmul_desc_init(&d, &src_md, &wei_md, NULL, &dst_md));
    dnnl_primitive_attr_t attr;
    OK(dnnl_primitive_attr_create(&attr));
    dnnl_post_ops_t po;
    OK(dnnl_post_ops_create(&po));
    if (accumulate) OK(dnnl_post_ops_append_sum(po, 1.0f));
    OK(dnnl_primitive_attr_set_post_ops(attr, po));
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_primitive_desc_create(&pd, &d, attr, eng, NULL);
    if (st != dnnl_success) { fprintf(stderr, "pd create failed %d\n", st); return -1; }
    const char *impl;
    OK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
    Mm m = { 0 };
    OK(dnnl_primitive_create(&m.prim, pd));
    size_t esz = dt == dnnl_f32 ? 4 : dt == dnnl_bf16 ? 2 : 1;
    void *src = amalloc((size_t)M * K * esz), *wei = amalloc((size_t)N * K * esz), *dst = amalloc((size_t)M * N * 4);
    for (size_t i = 0; i < (size_t)M * K; i++) {
        float v = (float)((i * 7 % 13) - 6) * 0.01f;
        if (esz == 4) ((float *)src)[i] = v; else if (esz == 2) ((uint16_t *)src)[i] = bf16(v); else ((int8_t *)src)[i] = (int8_t)(i % 7 - 3);
    }
    for (size_t i = 0; i < (size_t)N * K; i++) {
        float v = (float)((i * 5 % 11) - 5) * 0.01f;
        if (esz == 4) ((float *)wei)[i] = v; else if (esz == 2) ((uint16_t *)wei)[i] = bf16(v); else ((int8_t *)wei)[i] = (int8_t)(i % 3 - 1);
    }
    const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_t msrc, mwei, mdst;
    OK(dnnl_memory_create(&msrc, &src_md, eng, src));
    OK(dnnl_memory_create(&mdst, &dst_md, eng, dst));
    void *wbuf = wei;
    if (lay == L_ANY) {   // reorder once, as a cache would
        wbuf = amalloc(dnnl_memory_desc_get_size(want));
        dnnl_memory_t mplain;
        OK(dnnl_memory_create(&mplain, &wplain_md, eng, wei));
        OK(dnnl_memory_create(&mwei, want, eng, wbuf));
        dnnl_primitive_desc_t rpd;
        OK(dnnl_reorder_primitive_desc_create(&rpd, &wplain_md, eng, want, eng, NULL));
        dnnl_primitive_t r;
        OK(dnnl_primitive_create(&r, rpd));
        dnnl_exec_arg_t ra[2] = { { DNNL_ARG_FROM, mplain }, { DNNL_ARG_TO, mwei } };
        OK(dnnl_primitive_execute(r, stream, 2, ra));
        OK(dnnl_stream_wait(stream));
        dnnl_primitive_destroy(r);
        dnnl_primitive_desc_destroy(rpd);
        dnnl_memory_destroy(mplain);
    } else OK(dnnl_memory_create(&mwei, &wei_md, eng, wei));
    m.args[m.nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_SRC, msrc };
    m.args[m.nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_WEIGHTS, mwei };
    m.args[m.nargs++] = (dnnl_exec_arg_t){ DNNL_ARG_DST, mdst };
    Time t = timeit(mm_run, &m);
    double fl = 2.0 * M * N * K;
    if (cpu_ms) *cpu_ms = t.cpu * 1e3;
    static char last_impl[128];
    if (strcmp(last_impl, impl)) { snprintf(last_impl, sizeof last_impl, "%s", impl); fprintf(stderr, "  [impl %s %s: %s]\n", dt == dnnl_f32 ? "f32" : dt == dnnl_bf16 ? "bf16" : "s8", lname[lay], impl); }
    dnnl_primitive_destroy(m.prim);
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    dnnl_post_ops_destroy(po);
    dnnl_memory_destroy(msrc); dnnl_memory_destroy(mwei); dnnl_memory_destroy(mdst);
    if (wbuf != wei) free(wbuf);
    free(src); free(wei); free(dst);
    return fl / t.cpu / 1e9;
}

static double sgemm_gflops(int M, int N, int K) {
    Sg s = { M, N, K, amalloc(sizeof(float) * M * K), amalloc(sizeof(float) * (size_t)N * K), amalloc(sizeof(float) * (size_t)M * N) };
    for (size_t i = 0; i < (size_t)M * K; i++) s.A[i] = (float)((i * 7 % 13) - 6) * 0.01f;
    for (size_t i = 0; i < (size_t)N * K; i++) s.B[i] = (float)((i * 5 % 11) - 5) * 0.01f;
    Time t = timeit(sg_run, &s);
    free(s.A); free(s.B); free(s.C);
    return 2.0 * M * N * K / t.cpu / 1e9;
}

// one OpenMP thread for oneDNN, through the libgomp libdnnl brings (engine/mat_dnnl.c does the same)
static void one_omp_thread(void) {
    void (*set)(int);
    *(void **)&set = dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    if (!set) { fprintf(stderr, "omp_set_num_threads not found: oneDNN's thread count is unknown\n"); exit(1); }
    set(1);
}

int main(int argc, char **argv) {
    openblas_set_num_threads(1);
    one_omp_thread();
    OK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    OK(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));
    printf("oneDNN effective ISA %d\n", (int)dnnl_get_effective_cpu_isa());
    int big = argc > 1 && !strcmp(argv[1], "1b");
    // the step's forward shapes (N = a weight's rows, K its columns) and its input-gradient ones (N =
    // columns, K = rows), the head's last
    int shapes_default[][3] = { { 2048, 256, 256 }, { 2048, 768, 256 }, { 2048, 8192, 256 },
                                { 2048, 256, 768 }, { 2048, 768, 768 }, { 2048, 8192, 768 }, { 2048, 256, 8192 } };
    int shapes_1b[][3] = { { 256, 2048, 2048 }, { 256, 512, 2048 }, { 256, 8192, 2048 }, { 256, 2048, 8192 },
                           { 256, 2048, 512 }, { 256, 128256, 2048 }, { 256, 2048, 128256 } };
    int (*shapes)[3] = big ? shapes_1b : shapes_default;
    int ns = 7;
    printf("| M | N | K | sgemm | dnnl f32 ba | f32 any | bf16 ba | bf16 ab | bf16 any | bf16 ab+sum | s8 ba | s8 ab | s8 any |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < ns; i++) {
        int M = shapes[i][0], N = shapes[i][1], K = shapes[i][2];
        printf("| %d | %d | %d | %.0f", M, N, K, sgemm_gflops(M, N, K));
        fflush(stdout);
        printf(" | %.0f", mm_gflops(dnnl_f32, M, N, K, L_BA, 0, NULL));
        printf(" | %.0f", mm_gflops(dnnl_f32, M, N, K, L_ANY, 0, NULL));
        printf(" | %.0f", mm_gflops(dnnl_bf16, M, N, K, L_BA, 0, NULL));
        printf(" | %.0f", mm_gflops(dnnl_bf16, M, N, K, L_AB, 0, NULL));
        printf(" | %.0f", mm_gflops(dnnl_bf16, M, N, K, L_ANY, 0, NULL));
        printf(" | %.0f", mm_gflops(dnnl_bf16, M, N, K, L_AB, 1, NULL));
        printf(" | %.0f", mm_gflops(dnnl_s8, M, N, K, L_BA, 0, NULL));
        printf(" | %.0f", mm_gflops(dnnl_s8, M, N, K, L_AB, 0, NULL));
        printf(" | %.0f |\n", mm_gflops(dnnl_s8, M, N, K, L_ANY, 0, NULL));
        fflush(stdout);
    }
    return 0;
}
