// libFuzzer target for the journal reader, the result decoder and the head of a result payload (which
// rank 0 re-encodes when it journals a payload as received): any bytes must parse or fail with a
// message, never crash, leak or read out of bounds.
// clang -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_journal.c results/journal.c engine/util.c
#include <stdint.h>
#include <string.h>
#include "results/journal.h"
#include "results/journal_rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    JournalContents c;
    char err[256];
    if (journal_parse(data, size, &c, err, sizeof err) == 0) {
        // what a parse reports must describe the input it was given
        if (c.valid_bytes + c.torn_bytes != size) __builtin_trap();
        for (int i = 0; i < c.n; i++)
            if (journal_find(&c, c.latest[i].id) != &c.latest[i]) __builtin_trap();
        journal_contents_free(&c);
    } else if (!err[0]) {
        __builtin_trap();
    }
    // the head rank 0 encodes anew when it journals a payload as received: within the bytes, or 0
    size_t head = jr_result_head_bytes(data, size);
    if (head > size) __builtin_trap();
    JobResult r;
    if (result_decode(data, size, &r, err, sizeof err) == 0) {
        // a decodable payload has a head, and it is what jr_encode_result_head writes of the result
        Buf b = {0};
        jr_encode_result_head(&b, &r);
        if (head == 0 || b.n != head || memcmp(b.p, data, head) != 0) __builtin_trap();
        free(b.p);
        // a decoded result encodes back to the same bytes
        unsigned char *buf;
        size_t len;
        if (result_encode(&r, &buf, &len) != 0 || len != size || memcmp(buf, data, size) != 0) __builtin_trap();
        free(buf);
        job_result_free(&r);
    }
    return 0;
}
