// libFuzzer target: the safetensors header parser (st_parse), then a conversion of the first and
// last elements of every float tensor it accepts.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "engine/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    StFile f;
    char err[512] = "";
    if (st_parse(&f, data, size, "fuzz.safetensors", err, sizeof err) == 0) {
        float out[4];
        for (int i = 0; i < f.n; i++) {
            size_t n = (size_t)st_numel(&f.t[i]);
            if (f.t[i].dtype == ST_OTHER || n == 0) continue;
            st_to_f32(out, &f.t[i], 0, n < 4 ? n : 4);
            st_to_f32(out, &f.t[i], n - 1, 1);
        }
        st_close(&f);
    }
    return 0;
}
