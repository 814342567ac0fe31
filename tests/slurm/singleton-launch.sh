#!/usr/bin/env bash
# A broken launcher for test_rankcheck.py: srun starts the processes, but each one loses the Slurm and
# PMI variables before it runs, so MPI_Init makes it a singleton, "rank 0 of 1". That is what an MPI
# started without the PMI it needs does, silently.
exec srun --mpi=none --ntasks="$SLURM_NTASKS" \
  bash -c 'for v in $(compgen -e | grep -E "^(SLURM|PMI|PMIX)"); do unset "$v"; done; exec "$@"' launch "$@"
