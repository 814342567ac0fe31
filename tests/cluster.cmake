# Many nodes on one machine (label "cluster", tests/cluster/test_*.py with Debian's /usr/bin/python3
# and h5py): each test brings up a virtual cluster of 3 nodes with scripts/vcluster.sh (Linux network,
# UTS and mount namespaces; root) and takes it down when it ends; without namespaces it skips (77).
# They share the mpi and slurm locks: never two MPI sweeps at once on a 2-core machine, and the
# Slurm test of this folder stops the single-node Slurm of tests/slurm while it runs.
# cluster.slurm preloads tests/cluster/slowfence.c into one rank (a late PMIx fence release; PMIx's
# headers come with libopenmpi-dev) to check that MPI_Init under srun --mpi=pmix holds the others.
pkg_check_modules(PMIX REQUIRED IMPORTED_TARGET pmix)
add_library(cluster_slowfence MODULE ${CMAKE_CURRENT_SOURCE_DIR}/cluster/slowfence.c)
target_link_libraries(cluster_slowfence PRIVATE PkgConfig::PMIX ${CMAKE_DL_LIBS} Threads::Threads)
file(GLOB CLUSTER_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cluster/test_*.py)
foreach(script ${CLUSTER_TESTS})
  get_filename_component(name ${script} NAME_WE)
  string(REGEX REPLACE "^test_" "" name ${name})
  add_test(NAME cluster.${name}
           COMMAND /usr/bin/python3 ${script} $<TARGET_FILE:sweep> $<TARGET_FILE:results_tool>
                   $<TARGET_FILE:sweep-rankcheck> ${CMAKE_CURRENT_BINARY_DIR}/cluster-work/${name})
  set_tests_properties(cluster.${name} PROPERTIES LABELS "cluster" TIMEOUT 300 SKIP_RETURN_CODE 77
                       RESOURCE_LOCK "mpi;slurm;vcluster"
                       ENVIRONMENT "SWEEP_TEST_SLOWFENCE=$<TARGET_FILE:cluster_slowfence>")
endforeach()
# A 2-minute allocation held until its time limit's warning, a requeue and a second allocation.
set_tests_properties(cluster.slurm PROPERTIES TIMEOUT 600)
