# PyTorch parity: parity_driver runs the fp32 engine on weights and a batch written by
# tests/parity/compare.py, which checks it against a float64 PyTorch reference (Debian's python3-torch).
add_executable(parity_driver ${CMAKE_CURRENT_SOURCE_DIR}/parity/parity_driver.c)
target_link_libraries(parity_driver PRIVATE engine)
add_test(NAME parity.torch
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/parity/compare.py
                 --driver $<TARGET_FILE:parity_driver> --workdir ${CMAKE_CURRENT_BINARY_DIR}/parity_work)
set_tests_properties(parity.torch PROPERTIES LABELS "parity" TIMEOUT 300)
