// Messages between rank 0 and the workers.
#pragma once
enum {
    TAG_READY = 1,     // worker -> 0: idle (empty)
    TAG_RESULT = 2,    // worker -> 0: an encoded JobResult (results/journal.h result_encode)
    TAG_JOB = 3,       // 0 -> worker: int[2] {job index, attempt}
    TAG_ABORT = 4,     // 0 -> worker: kill the running job and report TAG_READY
    TAG_STOP = 5,      // 0 -> worker: no more work, leave
};
