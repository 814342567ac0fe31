# sweep prune (Bet 48) on the tiny base tests/mpi/common.py pretrains: exact sparsity per row and per
# tensor, the smallest magnitudes zeroed, the file maps and evaluates, prune then quantize --ternary keeps
# the zeros, bad input exits 2 with one line.
add_test(NAME prune.cli
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/prune/test_prune.py $<TARGET_FILE:sweep>
                 ${CMAKE_CURRENT_BINARY_DIR}/prune-work)
set_tests_properties(prune.cli PROPERTIES LABELS "prune" TIMEOUT 180 ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
