# `mpirun ... sweep run` end to end (tests/mpi/test_*.py, Debian's /usr/bin/python3 with h5py): each
# script builds tiny users and a tiny base in its own directory and checks one promise of the runner.
# They share one resource lock: two MPI sweeps at once on a 2-core machine would time each other out.
add_executable(results_tool ${CMAKE_CURRENT_SOURCE_DIR}/mpi/results_tool.c)
target_link_libraries(results_tool PRIVATE sweepcore)
file(GLOB MPI_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/mpi/test_*.py)
foreach(script ${MPI_TESTS})
  get_filename_component(name ${script} NAME_WE)
  string(REGEX REPLACE "^test_" "" name ${name})
  add_test(NAME mpi.${name}
           COMMAND /usr/bin/python3 ${script} $<TARGET_FILE:sweep> $<TARGET_FILE:results_tool>
                   ${CMAKE_CURRENT_BINARY_DIR}/mpi-work/${name})
  set_tests_properties(mpi.${name} PROPERTIES LABELS "mpi" TIMEOUT 300 RESOURCE_LOCK mpi)
endforeach()
# The thousand-user test is also in label "scale" (issue #15).
set_tests_properties(mpi.thousand PROPERTIES LABELS "mpi;scale" TIMEOUT 900)
# mpi.rank0 runs two sweeps (100 and 600 users): about 70 s at load 20, given room.
set_tests_properties(mpi.rank0 PROPERTIES TIMEOUT 900)
# mpi/wire.h's pieces between two ranks, with a piece of 7 bytes (wire_test --big: 2^31 + 13 bytes
# with the production piece, by hand: ~4.3 GB).
add_executable(wire_test ${CMAKE_CURRENT_SOURCE_DIR}/mpi/wire_test.c)
target_link_libraries(wire_test PRIVATE sweepcore)
add_test(NAME mpi.wire COMMAND ${MPIEXEC_EXECUTABLE} --oversubscribe -np 2 $<TARGET_FILE:wire_test>)
set_tests_properties(mpi.wire PROPERTIES LABELS "mpi" TIMEOUT 120 RESOURCE_LOCK mpi
                     ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
