// libFuzzer target for the spec parser: any bytes give a Plan or one error line, never a crash, a
// leak or a hang. Files are never touched (SPEC_FILES_IGNORED), so paths in the input are inert.
// Seeds: sweeps/*.json and tests/spec/*.json (the bundled bets carry "published", and
// tests/spec/published_*.json its bad values).
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "sweeps/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Plan p;
    char err[1024];
    if (spec_parse((const char *)data, size, "fuzz.json", SPEC_FILES_IGNORED, &p, err, sizeof err) == 0) {
        long cells = plan_n_cells(&p);   // walk what the parse built
        if (cells < 0) __builtin_trap();
        plan_free(&p);
    } else if (!err[0] || memchr(err, '\n', strlen(err))) {
        __builtin_trap();   // an error is exactly one non-empty line
    }
    return 0;
}
