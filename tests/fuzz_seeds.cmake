# The fuzz targets' seeds made by a real run (tests/fuzz/make_journal_seeds.py; scripts/test.sh copies
# tests/fuzz/seeds into the corpora): the committed ones hold journal record types 2 to 5, variant cells
# and failed records, and the script still makes such seeds from two tiny sweeps (an MPI run: the lock).
add_test(NAME fuzz.seeds
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/make_journal_seeds.py --check
                 $<TARGET_FILE:results_tool> ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/seeds)
set_tests_properties(fuzz.seeds PROPERTIES LABELS "fuzz" TIMEOUT 60)
add_test(NAME fuzz.seeds_regenerate
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/make_journal_seeds.py $<TARGET_FILE:sweep>
                 $<TARGET_FILE:results_tool> ${CMAKE_CURRENT_BINARY_DIR}/fuzz-seeds/out
                 ${CMAKE_CURRENT_BINARY_DIR}/fuzz-seeds/work)
set_tests_properties(fuzz.seeds_regenerate PROPERTIES LABELS "fuzz;mpi" TIMEOUT 180 RESOURCE_LOCK mpi
                     ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
