#!/usr/bin/env bash
# A launcher that takes 8 s to start the ranks, so that test_rankcheck.py can signal a job while its
# rank check is still running.
sleep 8
exec srun --mpi=pmix --ntasks="$SLURM_NTASKS" "$@"
