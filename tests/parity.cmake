# PyTorch parity: parity_driver runs the engine (fp32 unless --precision) on weights and a batch written by
# tests/parity/compare.py, which checks it against a float64 PyTorch reference (Debian's python3-torch).
add_executable(parity_driver ${CMAKE_CURRENT_SOURCE_DIR}/parity/parity_driver.c)
target_link_libraries(parity_driver PRIVATE engine)
add_test(NAME parity.torch
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/parity/compare.py
                 --driver $<TARGET_FILE:parity_driver> --workdir ${CMAKE_CURRENT_BINARY_DIR}/parity_work)
set_tests_properties(parity.torch PROPERTIES LABELS "parity" TIMEOUT 300)
# the same at bf16 compute precision (oneDNN or its BLAS emulation, whichever the build has), gated
# by tolerances derived from bf16's rounding in compare.py's docstring
add_test(NAME parity.torch_bf16
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/parity/compare.py --precision bf16
                 --driver $<TARGET_FILE:parity_driver> --workdir ${CMAKE_CURRENT_BINARY_DIR}/parity_work_bf16)
set_tests_properties(parity.torch_bf16 PROPERTIES LABELS "parity" TIMEOUT 300)

# sweep bench and bench/torch_peer.py on the tiny config: keys, FLOP counts, bad options (not timed)
add_test(NAME parity.bench_smoke
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/parity/bench_smoke.py
                 --sweep $<TARGET_FILE:sweep> --peer ${CMAKE_SOURCE_DIR}/bench/torch_peer.py)
set_tests_properties(parity.bench_smoke PROPERTIES LABELS "parity" TIMEOUT 120)
