// Messages between rank 0 and the workers.
#pragma once
#include <stddef.h>
#include <mpi.h>

enum {
    TAG_READY = 1,     // worker -> 0: idle (empty; the first one carries the worker's host name)
    TAG_RESULT = 2,    // worker -> 0: an encoded JobResult (results/journal.h result_encode), by wire_send
    TAG_JOB = 3,       // 0 -> worker: int[3] {job index, attempt, 1 if a TAG_PREV follows}
    TAG_ABORT = 4,     // 0 -> worker: kill the running job and report TAG_READY
    TAG_STOP = 5,      // 0 -> worker: no more work, leave
    TAG_PREV = 6,      // 0 -> worker: the job's earlier encoded result, by wire_send: evaluate only its new texts
    TAG_HEARTBEAT = 7, // worker -> 0: empty, every --worker-timeout / 4 s while a job runs
};

// MPI counts are int: a buffer of 2^31 bytes or more (a result carrying a 1b full fine-tune's
// weights, with --keep-adapters-max that large) goes in pieces. A buffer shorter than `piece` bytes
// is one message, as it always was; a longer one is pieces of exactly `piece` bytes and a last one
// shorter (possibly empty), which the receiver reads in order (MPI keeps the messages of one
// sender, tag and communicator in order). WIRE_PIECE in production; tests pass small pieces.
#define WIRE_PIECE ((size_t)1 << 30)

void wire_send(const void *buf, size_t len, int dest, int tag, MPI_Comm comm, size_t piece);
// The message whose first piece MPI_Probe or MPI_Iprobe found (st: its status), all its pieces: a
// malloc'd buffer of *len bytes (never NULL).
unsigned char *wire_recv(const MPI_Status *st, MPI_Comm comm, size_t *len, size_t piece);
