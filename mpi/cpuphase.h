// Where rank 0's CPU goes, by phase: each switch charges the process CPU time since the previous
// switch to the phase that was running, so the phases sum to the CPU of the whole stretch measured.
// One clock_gettime(CLOCK_PROCESS_CPUTIME_ID) per switch (a system call, a few microseconds in a VM):
// a few per result and per job handed out, none on a turn of the loop that only looked and slept
// (hence the loop and its sleeps are one phase), never per cell. sweep run prints the sums on its
// closing "rank 0 CPU:" line; CPU time, not wall, so it means something on a loaded machine too.
#pragma once
#include <stdio.h>
#include "engine/util.h"

enum {
    CPU_LOOP,       // the main loop's turns: MPI_Iprobe and MPI_Recv, polling the runner (and decoding
                    // rank 0's own results), timeouts, the progress line, and sleeping in nanosleep or
                    // poll() on the runner's socket
    CPU_DECODE,     // result_decode of workers' results
    CPU_JOURNAL,    // take_result: bookkeeping, encoding and writing the record
    CPU_SYNC,       // journal fsyncs
    CPU_SETUP,      // reading the journal, ordering the queue, hashing inputs
    CPU_H5_START,   // writing the results file at the start
    CPU_H5_FLUSH,   // ... every --flush-every seconds
    CPU_H5_END,     // ... at the end
    CPU_STATE,      // OUTPUT.state
    CPU_DISPATCH,   // handing out a job: MPI_Send, or to rank 0's runner
    CPU_PHASES
};

static const char *const cpu_phase_names[CPU_PHASES] = {
    "loop", "decode", "journal", "sync", "setup", "h5 start", "h5 flush", "h5 end", "state", "dispatch"};

typedef struct { double at, sec[CPU_PHASES]; int cur; } CpuPhases;

static inline void cpuphase_start(CpuPhases *p, int phase) {
    for (int i = 0; i < CPU_PHASES; i++) p->sec[i] = 0;
    p->cur = phase;
    p->at = cpu_seconds();
}

// Charges the CPU since the last switch to the running phase; returns it so a caller can switch back.
static inline int cpuphase_to(CpuPhases *p, int phase) {
    if (phase == p->cur) return phase;   // nothing to charge apart: no clock read
    double now = cpu_seconds();
    int was = p->cur;
    p->sec[was] += now - p->at;
    p->at = now;
    p->cur = phase;
    return was;
}

// "name 12.3 ms (45%), ..." of the phases that took any time; total in *sum.
static inline void cpuphase_format(const CpuPhases *p, char *out, size_t n, double *sum) {
    double t = 0;
    for (int i = 0; i < CPU_PHASES; i++) t += p->sec[i];
    *sum = t;
    size_t at = 0;
    out[0] = 0;
    for (int i = 0; i < CPU_PHASES && at < n; i++) {
        if (p->sec[i] <= 0) continue;
        int k = snprintf(out + at, n - at, "%s%s %.1f ms (%.0f%%)", at ? ", " : "", cpu_phase_names[i],
                         1e3 * p->sec[i], t > 0 ? 100.0 * p->sec[i] / t : 0.0);
        if (k < 0) break;
        at += (size_t)k;
    }
}
