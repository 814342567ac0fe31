# sweep train (tests/train/*.py, Debian's /usr/bin/python3 with h5py), on the tiny base and texts that
# tests/mpi/common.py builds: the CLI alone (learning, the saved adapter through sweep eval, determinism,
# the random condition, bad input), and train against the jobs of a sweep run, bit for bit.
add_test(NAME train.cli
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/train/test_cli.py $<TARGET_FILE:sweep>
                 ${CMAKE_CURRENT_BINARY_DIR}/train-work/cli)
set_tests_properties(train.cli PROPERTIES LABELS "train" TIMEOUT 120 ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
# One mpirun sweep at a time on a 2-core machine: the MPI tests' lock.
add_test(NAME train.vs_run
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/train/test_vs_run.py $<TARGET_FILE:sweep>
                 ${CMAKE_CURRENT_BINARY_DIR}/train-work/vs_run)
set_tests_properties(train.vs_run PROPERTIES LABELS "train;mpi" TIMEOUT 180 RESOURCE_LOCK mpi
                     ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
