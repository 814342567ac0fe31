// oneDNN matmul for the matrix-product layer: one primitive per (types, shape, layout), created on
// first use and kept with its memory objects, so a product costs a table lookup, three handle
// updates and the kernel; the scratchpad is ours (user mode) and grows once.
#define _GNU_SOURCE   // RTLD_DEFAULT
#include "engine/mat_dnnl.h"

#include <stdlib.h>
#include "engine/util.h"

#ifndef SWEEP_HAVE_DNNL

struct MatDnnl { int unused; };
MatDnnl *mat_dnnl_create(void) { return xcalloc(1, sizeof(MatDnnl)); }
void mat_dnnl_free(MatDnnl *d) { free(d); }
int mat_dnnl_gemm(MatDnnl *d, MatDnnlInput in, int transA, int transB, int M, int N, int K, const void *A,
                  const void *B, void *C, int accumulate) {
    (void)d; (void)in; (void)transA; (void)transB; (void)M; (void)N; (void)K; (void)A; (void)B; (void)C;
    (void)accumulate;
    return -1;
}
int mat_dnnl_available(void) { return 0; }
void mat_dnnl_set_threads(int n) { (void)n; }

#else

#include <dlfcn.h>
#include <dnnl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"

typedef struct {
    MatDnnlInput in;
    int transA, transB, M, N, K, accumulate;
    dnnl_primitive_t prim;          // NULL: oneDNN declined this product
    dnnl_memory_t a, b, c, pad;
    uint64_t last_use;
} Primitive;

enum { MAX_PRIMITIVES = 512 };

struct MatDnnl {
    dnnl_stream_t stream;   // NULL: none could be made (every product declines)
    Primitive table[MAX_PRIMITIVES];
    int n_table;
    uint64_t clock_uses;
    void *pad_buf;
    size_t pad_cap;
};

// The CPU engine: one handle per process, made once and never changed (oneDNN's own caches and
// OpenMP's thread count are the library's process-wide state, outside ours).
static dnnl_engine_t engine;
static int state;   // 1 ready, -1 unavailable
static _Thread_local int omp_threads;   // OpenMP's thread count is per calling thread

static void init_once(void) {
    state = -1;
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) return;
    state = 1;
}

static int init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_once);
    return state > 0;
}

int mat_dnnl_available(void) { return init(); }

static void (*omp_set)(int);
static void find_omp_set(void) { *(void **)&omp_set = dlsym(RTLD_DEFAULT, "omp_set_num_threads"); }

// libdnnl brings libgomp; its thread count is set through the symbol already in the process, so
// the engine needs no OpenMP flags of its own. Without this, oneDNN would use every core per rank.
void mat_dnnl_set_threads(int n) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (n < 1) n = 1;
    if (n == omp_threads) return;
    pthread_once(&once, find_omp_set);
    if (omp_set) omp_set(n);
    omp_threads = n;
}

static void destroy(Primitive *p) {
    if (p->prim) dnnl_primitive_destroy(p->prim);
    dnnl_memory_t m[4] = { p->a, p->b, p->c, p->pad };
    for (int i = 0; i < 4; i++)
        if (m[i]) dnnl_memory_destroy(m[i]);
    *p = (Primitive){ 0 };
}

static dnnl_data_type_t dnnl_type(MatDnnlInput in) {
    return in == MAT_DNNL_F32 ? dnnl_f32 : in == MAT_DNNL_BF16 ? dnnl_bf16 : dnnl_s8;
}

// Builds p's primitive and memory objects; leaves p->prim NULL when oneDNN has no kernel for it.
static void create(MatDnnl *d, Primitive *p) {
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_dims_t ad = { p->M, p->K }, bd = { p->K, p->N }, cd = { p->M, p->N };
    dnnl_data_type_t t = dnnl_type(p->in), ct = p->in == MAT_DNNL_S8 ? dnnl_s32 : dnnl_f32;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_matmul_desc_t desc;
    int ok = dnnl_memory_desc_init_by_tag(&a_md, 2, ad, t, p->transA ? dnnl_ba : dnnl_ab) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&b_md, 2, bd, t, p->transB ? dnnl_ba : dnnl_ab) == dnnl_success &&
             dnnl_memory_desc_init_by_tag(&c_md, 2, cd, ct, dnnl_ab) == dnnl_success &&
             dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md) == dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success &&
             dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success;
    if (ok && p->accumulate) {
        ok = dnnl_post_ops_create(&ops) == dnnl_success && dnnl_post_ops_append_sum(ops, 1.0f) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, ops) == dnnl_success;
    }
    ok = ok && dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) == dnnl_success;
    const char *impl = NULL;
    // the reference kernels are far slower than OpenBLAS: better to decline
    if (ok && dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl &&
        !strncmp(impl, "ref", 3))
        ok = 0;
    const dnnl_memory_desc_t *pad_md = ok ? dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0) : NULL;
    ok = ok && pad_md && dnnl_primitive_create(&p->prim, pd) == dnnl_success &&
         dnnl_memory_create(&p->a, &a_md, engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dnnl_memory_create(&p->b, &b_md, engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dnnl_memory_create(&p->c, &c_md, engine, DNNL_MEMORY_NONE) == dnnl_success &&
         dnnl_memory_create(&p->pad, pad_md, engine, DNNL_MEMORY_NONE) == dnnl_success;
    if (ok) {
        size_t need = dnnl_memory_desc_get_size(pad_md);
        if (need > d->pad_cap) {
            free(d->pad_buf);
            d->pad_buf = xaligned(need);
            d->pad_cap = need;
        }
    } else {
        Primitive keep = *p;
        destroy(p);
        p->in = keep.in, p->transA = keep.transA, p->transB = keep.transB;
        p->M = keep.M, p->N = keep.N, p->K = keep.K, p->accumulate = keep.accumulate;
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (ops) dnnl_post_ops_destroy(ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
}

static Primitive *lookup(MatDnnl *d, MatDnnlInput in, int transA, int transB, int M, int N, int K, int accumulate) {
    Primitive *p = NULL;
    for (int i = 0; i < d->n_table && !p; i++) {
        Primitive *q = &d->table[i];
        if (q->in == in && q->transA == transA && q->transB == transB && q->M == M && q->N == N && q->K == K &&
            q->accumulate == accumulate)
            p = q;
    }
    if (!p) {
        if (d->n_table < MAX_PRIMITIVES) p = &d->table[d->n_table++];
        else {   // the least recently used one makes room (evaluation batches of many sizes)
            p = &d->table[0];
            for (int i = 1; i < d->n_table; i++)
                if (d->table[i].last_use < p->last_use) p = &d->table[i];
            destroy(p);
        }
        *p = (Primitive){ .in = in, .transA = transA, .transB = transB, .M = M, .N = N, .K = K,
                          .accumulate = accumulate };
        create(d, p);
    }
    p->last_use = ++d->clock_uses;
    return p;
}

MatDnnl *mat_dnnl_create(void) {
    MatDnnl *d = xcalloc(1, sizeof *d);
    if (init() && dnnl_stream_create(&d->stream, engine, dnnl_stream_default_flags) != dnnl_success)
        d->stream = NULL;
    return d;
}

void mat_dnnl_free(MatDnnl *d) {
    if (!d) return;
    for (int i = 0; i < d->n_table; i++) destroy(&d->table[i]);
    if (d->stream) dnnl_stream_destroy(d->stream);
    free(d->pad_buf);
    free(d);
}

int mat_dnnl_gemm(MatDnnl *d, MatDnnlInput in, int transA, int transB, int M, int N, int K, const void *A,
                  const void *B, void *C, int accumulate) {
    if (M <= 0 || N <= 0 || K <= 0 || (in == MAT_DNNL_S8 && accumulate) || !init() || !d->stream) return -1;
    Primitive *p = lookup(d, in, transA, transB, M, N, K, accumulate);
    if (!p->prim) return -1;
    if (dnnl_memory_set_data_handle(p->a, (void *)A) != dnnl_success ||
        dnnl_memory_set_data_handle(p->b, (void *)B) != dnnl_success ||
        dnnl_memory_set_data_handle(p->c, C) != dnnl_success ||
        dnnl_memory_set_data_handle(p->pad, d->pad_buf) != dnnl_success)
        return -1;
    dnnl_exec_arg_t args[4] = { { DNNL_ARG_SRC, p->a }, { DNNL_ARG_WEIGHTS, p->b }, { DNNL_ARG_DST, p->c },
                                { DNNL_ARG_SCRATCHPAD, p->pad } };
    // a failure after the kernel may have written C cannot be retried elsewhere (C may accumulate)
    if (dnnl_primitive_execute(p->prim, d->stream, 4, args) != dnnl_success || dnnl_stream_wait(d->stream) != dnnl_success) {
        fprintf(stderr, "sweep: oneDNN matmul %dx%dx%d failed while running\n", M, N, K);
        exit(3);
    }
    return 0;
}

#endif
