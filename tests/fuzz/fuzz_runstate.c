// libFuzzer target for the run state reader (results/runstate.h, what `sweep status` reads beside a
// running sweep): any bytes must read or fail with a message, never crash, leak or read out of bounds.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "results/runstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("runstate", 0);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) { close(fd); return 0; }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    RunState st;
    char err[256] = "";
    int rc = runstate_read(path, &st, err, sizeof err);
    if (rc == 0) {
        for (int i = 0; i < st.n_running; i++)
            if (strlen(st.running[i].id) != 16) __builtin_trap();   // what it reports came from the input's lines
        runstate_free(&st);
    } else if (rc < 0 && !err[0]) {
        __builtin_trap();
    }
    close(fd);
    return 0;
}
