// sweep-rankcheck: every rank prints "rankcheck RANK SIZE HOST SUM" after an MPI_Allreduce over all
// ranks. Launched exactly like `sweep run`, it shows whether MPI really joined the ranks: an MPI
// started without the PMI it needs runs N singletons, each "rank 0 of 1", and every one of them
// would schedule the whole sweep on its own.
#include <mpi.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    // The sum of 1..size proves the ranks talk to each other, not just that they were told a size.
    long mine = rank + 1, sum = 0;
    MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    printf("rankcheck %d %d %s %ld\n", rank, size, host, sum);
    fflush(stdout);
    MPI_Finalize();
    return 0;
}
