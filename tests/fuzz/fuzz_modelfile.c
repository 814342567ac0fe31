// libFuzzer target: the model file header, metadata and tensor-table parser (model_parse), then
// every view it hands out is read once, so an accepted file can never point outside its bytes.
// Each input is parsed twice: as given, and with the header's file size and metadata checksum
// repaired and tensor checksums skipped, so that mutations of the JSON reach the table validation.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "engine/modelfile.h"
#include "engine/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }

static void parse_and_read(const uint8_t *copy, size_t size, int flags) {
    ModelFile mf;
    char err[512] = "";
    if (model_parse(&mf, copy, size, "fuzz.sweep", flags, err, sizeof err) == 0) {
        if (flags & MODEL_SKIP_CHECKSUMS) model_verify(&mf, err, sizeof err);
        Weights *w = &mf.w;
        real *row = xmalloc(sizeof(real) * (size_t)w->cfg.dim * 4 + sizeof(real) * (size_t)w->cfg.ffn_dim * 4);
        mat_decode_row(row, &w->embed, w->embed.rows - 1);
        mat_decode_row(row, &w->head, 0);
        for (int l = 0; l < w->cfg.n_layers; l++) {
            const LayerWeights *lw = &w->layer[l];
            const Mat *m[] = { &lw->q, &lw->k, &lw->v, &lw->o, &lw->gate, &lw->up, &lw->down };
            for (int i = 0; i < 7; i++) mat_decode_row(row, m[i], m[i]->rows - 1);
            volatile real sink = lw->attn_norm[w->cfg.dim - 1] + lw->ffn_norm[0] + (lw->bq ? lw->bq[0] : 0);
            (void)sink;
        }
        free(row);
        model_close(&mf);
    } else if (!err[0]) {
        __builtin_trap();   // every refusal carries a message
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    // tensors are 64-byte aligned relative to the start: give the parser an aligned copy, as mmap does
    uint8_t *copy = xaligned(size ? size : 1);
    memcpy(copy, data, size);
    parse_and_read(copy, size, 0);
    if (size >= MODEL_HEADER_BYTES) {
        uint64_t meta_len = 0;
        for (int i = 7; i >= 0; i--) meta_len = meta_len << 8 | copy[16 + i];
        put_u64(copy + 32, size);
        if (meta_len <= size - MODEL_HEADER_BYTES)
            put_u64(copy + 40, fnv1a64(copy + MODEL_HEADER_BYTES, meta_len, FNV1A64_INIT));
        parse_and_read(copy, size, MODEL_SKIP_CHECKSUMS);
    }
    free(copy);
    return 0;
}
