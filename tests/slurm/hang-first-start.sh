#!/usr/bin/env bash
# A launcher for test_walltime.py: mpirun, except that at the job's first start the sweep job whose
# id starts with HANG_JOB hangs (SWEEP_TEST_FAULT, mpi/job_exec.h). However fast the machine, only
# the walltime warning can then end that allocation; the requeued start runs normally.
if [[ ${SLURM_RESTART_COUNT:-0} == 0 ]]; then
  export SWEEP_TEST_FAULT=hang:$HANG_JOB
fi
exec mpirun -np "$SLURM_NTASKS" --bind-to none "$@"
