// libFuzzer target: adapter files (adapter_load: header, steer block set, count, block, checksum)
// against a tiny base. Each input is loaded twice: as given, and with its trailing FNV-1a checksum
// repaired so that mutations reach the header and block-set validation. An accepted adapter is run
// through one forward pass, so its views can never point outside its block; a refusal must carry a
// message. The base is config tiny with vocab 300, the shape of the tiny base tests/mpi/common.py
// pretrains, so the .swad files `sweep train -o` writes in tests/train (build/tests/train-work/cli) are
// valid seeds of every format.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "engine/adapter.h"
#include "engine/model.h"
#include "engine/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Weights base;
static Acts *acts;
static char path[64];

static void load_and_run(const uint8_t *bytes, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(bytes, 1, size, f);
    fclose(f);
    Adapter a;
    char err[512] = "";
    if (adapter_load(&a, path, &base, err, sizeof err) == 0) {
        int tok[4] = { 1, 2, 3, 4 }, tgt[4] = { 2, 3, 4, 5 };
        Weights eff;
        adapter_apply(&a, &base, &eff);
        model_forward(&eff, &a, acts, tok, tgt, 1, 4);
        adapter_free(&a);
    } else if (!err[0]) {
        __builtin_trap();   // every refusal carries a message
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!acts) {
        ModelConfig c;
        config_tiny(&c);
        c.vocab = 300;
        real *block = xaligned(config_n_params(&c) * sizeof(real));
        weights_init_random(block, &c, 1);
        weights_carve(&base, &c, block);   // lives for the process
        acts = acts_create(&c, 1, 4);
        snprintf(path, sizeof path, "/tmp/fuzz_adapter.%d.swad", (int)getpid());
    }
    load_and_run(data, size);
    if (size >= 8) {
        uint8_t *copy = xmalloc(size);
        memcpy(copy, data, size);
        uint64_t h = fnv1a64(copy, size - 8, FNV1A64_INIT);
        memcpy(copy + size - 8, &h, 8);
        load_and_run(copy, size);
        free(copy);
    }
    return 0;
}
