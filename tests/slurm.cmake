# Slurm end to end (label "slurm", tests/slurm/test_*.py with Debian's /usr/bin/python3 and h5py), on a
# real single-node Slurm that each test starts through scripts/start-slurm.sh (root; idempotent):
# the sbatch scripts of slurm/ run a small sweep, a warning signal mid-run requeues and resumes it, and
# the rank check refuses a launcher whose MPI ranks do not join.
# sweep-rankcheck, the product's rank check, is defined with the product (top-level CMakeLists.txt).

file(GLOB SLURM_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/slurm/test_*.py)
foreach(script ${SLURM_TESTS})
  get_filename_component(name ${script} NAME_WE)
  string(REGEX REPLACE "^test_" "" name ${name})
  add_test(NAME slurm.${name}
           COMMAND /usr/bin/python3 ${script} $<TARGET_FILE:sweep> $<TARGET_FILE:sweep-rankcheck>
                   $<TARGET_FILE:results_tool> ${CMAKE_CURRENT_BINARY_DIR}/slurm-work/${name})
  # Slurm jobs here are MPI sweeps: never two at once with the mpi tests on a 2-core machine.
  set_tests_properties(slurm.${name} PROPERTIES LABELS "slurm" TIMEOUT 300 RESOURCE_LOCK "mpi;slurm")
endforeach()
# A 3-minute allocation, a requeue and a second allocation: ~3 min on an idle machine, 9 at a load average of 20.
set_tests_properties(slurm.timelimit PROPERTIES TIMEOUT 900)
