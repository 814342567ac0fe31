// The run state: a small text file beside the results file (OUTPUT.state) that rank 0 rewrites,
// atomically, when the set of running jobs changes (at most about once a second) and at the end.
// It is what `sweep status` knows beyond the journal: which jobs are running where, since when,
// and the scheduler's ETA. Nothing else reads it; losing it loses no result.
//
// Format (one item per line, fields separated by one space; host names hold no spaces):
//   sweep-state 1
//   pid <rank 0's pid>          host <rank 0's host>      (two lines)
//   started <unix seconds>      updated <unix seconds>    (two lines)
//   ranks <n>  total <jobs to run this run>  done <of them>  failed <of them>  (four lines)
//   eta <seconds, -1 unknown>
//   finished <0|1>
//   exit <sweep run's exit status: 0, 1, 75>                  (only once finished)
//   running <job id> <rank> <host> <unix seconds it started>   (one line per running job)
#pragma once
#include <stddef.h>

typedef struct {
    char id[17];
    int rank;
    char host[64];
    double since;
} RunningJob;

typedef struct {
    long pid;
    char host[64];
    double started, updated;
    int ranks, total, done, failed;
    double eta;                 // seconds, -1 unknown
    int finished;
    int exit_status;            // rank 0's status for the run once finished (mpirun may report another
                                // when it sees a node lost first); -1 before, or in a file without it
    int n_running;
    RunningJob *running;
} RunState;

// The state file of a results file: OUTPUT.state (static buffer).
const char *runstate_path(const char *output);
// Writes st atomically (path.tmp then rename). 0 ok, -1 with a message.
int runstate_write(const char *path, const RunState *st, char *err, size_t errlen);
// 0 read; 1 no such file; -1 unreadable or malformed (one line naming the file and the line).
int runstate_read(const char *path, RunState *st, char *err, size_t errlen);
void runstate_free(RunState *st);
// Seconds since the epoch, as a double (wall clock: the state is read from other hosts).
double runstate_now(void);
