// mpi/wire.h between two ranks (mpirun -np 2): rank 1 sends buffers of every length around the
// piece size (empty, one short, exactly one piece, one over, several pieces and a remainder) with
// a tiny piece, and rank 0 receives them as the scheduler does (MPI_Iprobe of any source and tag,
// then wire_recv) and checks every byte. --big: one buffer of 2^31 + 13 bytes with the production
// piece (WIRE_PIECE), past MPI's int count; needs ~4.3 GB, so it is not part of ctest.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mpi/wire.h"

static unsigned char byte_at(size_t i, size_t len) { return (unsigned char)(i * 131 + len * 7 + (i >> 20)); }

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 2) {
        if (!rank) fprintf(stderr, "wire_test: run with mpirun -np 2\n");
        MPI_Finalize();
        return 2;
    }
    int big = argc > 1 && !strcmp(argv[1], "--big");
    size_t piece = big ? WIRE_PIECE : 7;
    size_t small[] = { 0, 1, 6, 7, 8, 13, 14, 15, 21, 50 };
    size_t bigs[] = { ((size_t)1 << 31) + 13 };
    size_t *lens = big ? bigs : small;
    int n = big ? 1 : (int)(sizeof small / sizeof small[0]), failed = 0;
    for (int k = 0; k < n; k++) {
        size_t len = lens[k];
        int tag = k % 2 ? 2 : 6;   // TAG_RESULT and TAG_PREV alike
        if (rank == 1) {
            unsigned char *buf = malloc(len ? len : 1);
            for (size_t i = 0; i < len; i++) buf[i] = byte_at(i, len);
            wire_send(buf, len, 0, tag, MPI_COMM_WORLD, piece);
            free(buf);
        } else {
            MPI_Status st;
            int flag = 0;
            while (!flag) MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
            size_t got;
            unsigned char *buf = wire_recv(&st, MPI_COMM_WORLD, &got, piece);
            size_t bad = got;
            for (size_t i = 0; i < got && i < len && bad == got; i++)
                if (buf[i] != byte_at(i, len)) bad = i;
            if (got != len || bad != got || st.MPI_TAG != tag) {
                fprintf(stderr, "FAIL wire: sent %zu bytes (tag %d), received %zu (tag %d), first wrong byte %zu\n", len,
                        tag, got, st.MPI_TAG, bad);
                failed++;
            }
            free(buf);
        }
    }
    // after the pieces nothing is left over: a last short message arrives as itself
    if (rank == 1) MPI_Send("end", 3, MPI_BYTE, 0, 9, MPI_COMM_WORLD);
    else {
        MPI_Status st;
        MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        int c;
        MPI_Get_count(&st, MPI_BYTE, &c);
        if (st.MPI_TAG != 9 || c != 3) { fprintf(stderr, "FAIL wire: a piece was left over\n"); failed++; }
        char e[3];
        MPI_Recv(e, 3, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        printf("wire: %d buffers (piece %zu bytes), %d failed\n", n, piece, failed);
    }
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
    return failed ? 1 : 0;
}
