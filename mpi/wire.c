#include "mpi/wire.h"
#include <stdio.h>
#include <stdlib.h>

void wire_send(const void *buf, size_t len, int dest, int tag, MPI_Comm comm, size_t piece) {
    const unsigned char *p = buf;
    for (;;) {
        size_t n = len < piece ? len : piece;
        MPI_Send(p, (int)n, MPI_BYTE, dest, tag, comm);
        if (n < piece) return;   // the last piece: shorter than a whole one, possibly empty
        p += n;
        len -= n;
    }
}

unsigned char *wire_recv(const MPI_Status *st, MPI_Comm comm, size_t *len, size_t piece) {
    int src = st->MPI_SOURCE, tag = st->MPI_TAG, n;
    MPI_Status s = *st;
    unsigned char *buf = NULL;
    size_t have = 0;
    for (;;) {
        MPI_Get_count(&s, MPI_BYTE, &n);
        unsigned char *grown = realloc(buf, have + (size_t)n + 1);
        if (!grown) { fprintf(stderr, "sweep: out of memory receiving a message (%zu bytes)\n", have + n); exit(3); }
        buf = grown;
        MPI_Recv(buf + have, n, MPI_BYTE, src, tag, comm, MPI_STATUS_IGNORE);
        have += (size_t)n;
        if ((size_t)n < piece) break;
        MPI_Probe(src, tag, comm, &s);
    }
    *len = have;
    return buf;
}
