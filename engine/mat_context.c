// A job's compute context (engine/mat.h): its precision, its private cache of converted weights,
// scratch buffers and oneDNN backend.
#include "engine/mat_impl.h"
#include "engine/ternary.h"
#include "engine/util.h"
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Converted weights, cached: one bf16 copy (or int8 trits) per weight matrix, made on first use.
// Key: address, kind, type and shape. Every use re-hashes 64 sampled 8-byte words (and scales) of
// the source, so a matrix freed and reallocated with other values at the same address is seen.
// Weights that receive weight gradients change in place by tiny amounts a sample can miss; for
// them (MAT_REAL) an epoch starts at the first forward after a mat_backward_weight, and entries
// of an older epoch are converted again: once per training step, as full FT needs.

#define CACHE_LIMIT ((size_t)6 << 30)   // a 1B model's bf16 copy and int8 trits fit

MatContext *mat_context_create(MatPrecision p) {
    MatContext *mc = xcalloc(1, sizeof *mc);
    mc->precision = (unsigned)p <= MAT_PREC_INT8 ? p : MAT_PREC_FP32;
    return mc;
}

MatPrecision mat_context_precision(const MatContext *mc) { return mc ? mc->precision : MAT_PREC_FP32; }

static uint64_t sample_hash(const Mat *W) {
    uint64_t h = fnv1a64(&W->rows, sizeof W->rows, FNV1A64_INIT);
    h = fnv1a64(&W->cols, sizeof W->cols, h);
    size_t bytes = W->type == MAT_TERNARY ? ternary_packed_bytes(W->rows, W->cols)
                                          : mat_storage_bytes(W);
    const uint8_t *p = W->data;
    if (bytes <= 64 * 8) h = fnv1a64(p, bytes, h);
    else
        for (size_t i = 0; i < 64; i++) h = fnv1a64(p + (bytes - 8) / 63 * i, 8, h);
    if (W->type == MAT_TERNARY)
        for (int i = 0; i < 8; i++) h = fnv1a64(W->scale + (size_t)(W->rows - 1) * i / 7, sizeof(float), h);
    return h;
}

static void prep_drop(MatContext *mc, int i) {
    mc->prep_bytes -= mc->prep[i].bytes;
    free(mc->prep[i].data);
    mc->prep[i] = mc->prep[--mc->n_prep];
}

void mat_cache_clear(MatContext *mc) {
    while (mc && mc->n_prep) prep_drop(mc, mc->n_prep - 1);
}

size_t mat_cache_bytes(const MatContext *mc) { return mc ? mc->prep_bytes : 0; }

void mat_context_free(MatContext *mc) {
    if (!mc) return;
    mat_cache_clear(mc);
    free(mc->prep);
    for (int i = 0; i < N_SCRATCH; i++) free(mc->scratch[i]);
    mat_dnnl_free(mc->dnnl);
    free(mc->work);
    for (int w = 1; w < MAT_MAX_WORKERS; w++) mat_context_free(mc->worker[w]);
    free(mc);
}

void mat_convert_bf16(uint16_t *out, const Mat *W) {
    const real *direct = mat_direct(W);
    size_t cols = (size_t)W->cols;
    if (direct) { mat_round_bf16(out, direct, (size_t)W->rows * cols); return; }
    int step = mat_tile_rows(W);
    real *tile = mat_tile_scratch((size_t)step * cols);
    for (int r0 = 0; r0 < W->rows; r0 += step) {
        int r1 = r0 + step < W->rows ? r0 + step : W->rows;
        mat_decode_rows(tile, W, r0, r1);
        mat_round_bf16(out + (size_t)r0 * cols, tile, (size_t)(r1 - r0) * cols);
    }
}

// The converted form of W: its ready form when it has one (mapped, shared per node), else the
// context's private copy; valid until the next call.
const void *mat_prepared(MatContext *mc, const Mat *W, PrepKind kind) {
    if (kind == PREP_BF16 && W->type == MAT_BF16) return W->data;   // already bf16: used in place
    if (kind == PREP_BF16 && W->ready_bf16) return W->ready_bf16;
    if (kind == PREP_TRITS && W->ready_i8) return W->ready_i8;
    uint64_t sample = sample_hash(W);
    Prepared *e = NULL;
    for (int i = 0; i < mc->n_prep && !e; i++)
        if (mc->prep[i].src == W->data && mc->prep[i].kind == kind) e = &mc->prep[i];
    if (e && e->sample == sample && e->type == W->type && e->rows == W->rows && e->cols == W->cols &&
        e->scale == W->scale && (W->type != MAT_REAL || e->epoch == mc->epoch)) {
        e->last_use = ++mc->uses;
        return e->data;
    }
    size_t bytes = (size_t)W->rows * W->cols * (kind == PREP_BF16 ? sizeof(uint16_t) : 1);
    if (e && e->bytes != bytes) { prep_drop(mc, (int)(e - mc->prep)); e = NULL; }
    if (!e) {
        while (mc->n_prep && mc->prep_bytes + bytes > CACHE_LIMIT) {   // least recently used first
            int lru = 0;
            for (int i = 1; i < mc->n_prep; i++)
                if (mc->prep[i].last_use < mc->prep[lru].last_use) lru = i;
            prep_drop(mc, lru);
        }
        if (mc->n_prep == mc->cap_prep) {
            mc->cap_prep = mc->cap_prep ? 2 * mc->cap_prep : 64;
            Prepared *grown = xmalloc(sizeof *mc->prep * (size_t)mc->cap_prep);
            if (mc->n_prep) memcpy(grown, mc->prep, sizeof *mc->prep * (size_t)mc->n_prep);
            free(mc->prep);
            mc->prep = grown;
        }
        e = &mc->prep[mc->n_prep++];
        // not zeroed: the conversion writes all of it; huge pages: faults were most of a first conversion's time
        *e = (Prepared){ .data = xhuge(bytes), .bytes = bytes };
        mc->prep_bytes += bytes;
    }
    e->src = W->data, e->scale = W->scale, e->type = W->type, e->rows = W->rows, e->cols = W->cols;
    e->kind = kind, e->sample = sample, e->epoch = mc->epoch, e->last_use = ++mc->uses;
    if (kind == PREP_BF16) mat_convert_bf16(e->data, W);
    else ternary_unpack_i8(e->data, W);
    return e->data;
}

// The context's scratch buffer `slot`, grown as needed.
void *mat_scratch(MatContext *mc, int slot, size_t bytes) {
    if (bytes > mc->scratch_cap[slot]) {
        free(mc->scratch[slot]);
        mc->scratch[slot] = xaligned(bytes);
        mc->scratch_cap[slot] = bytes;
    }
    return mc->scratch[slot];
}

void *mat_context_work(MatContext *mc, size_t bytes) {
    if (bytes > mc->work_cap) {
        free(mc->work);
        mc->work = xaligned(bytes);
        mc->work_cap = bytes;
    }
    return mc->work;
}

MatContext *mat_context_worker(MatContext *mc, int w) {
    if (w <= 0 || w >= MAT_MAX_WORKERS) return mc;
    if (!mc->worker[w]) mc->worker[w] = mat_context_create(mc->precision);
    return mc->worker[w];
}

// The context's oneDNN backend, made on first use; NULL when oneDNN cannot compute here.
MatDnnl *mat_use_dnnl(MatContext *mc) {
    if (!mat_dnnl_usable()) return NULL;
    mat_dnnl_set_threads(openblas_get_num_threads());
    if (!mc->dnnl) mc->dnnl = mat_dnnl_create();
    return mc->dnnl;
}
