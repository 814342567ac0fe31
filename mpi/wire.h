// Messages between rank 0 and the workers.
#pragma once
enum {
    TAG_READY = 1,     // worker -> 0: idle (empty; the first one carries the worker's host name)
    TAG_RESULT = 2,    // worker -> 0: an encoded JobResult (results/journal.h result_encode)
    TAG_JOB = 3,       // 0 -> worker: int[3] {job index, attempt, 1 if a TAG_PREV follows}
    TAG_ABORT = 4,     // 0 -> worker: kill the running job and report TAG_READY
    TAG_STOP = 5,      // 0 -> worker: no more work, leave
    TAG_PREV = 6,      // 0 -> worker: the job's earlier encoded result: evaluate only its new texts
    TAG_HEARTBEAT = 7, // worker -> 0: empty, every --worker-timeout / 4 s while a job runs
};
