# sweep pretrain on the tiny config (tests/pretrain/test_pretrain.py): same bits twice, a run in pieces
# equal to an unbroken one, at fp32, bf16 and for --ternary-qat (fp32, bf16, int8, from --init); the
# record's bits per byte and QAT rows; refused checkpoints and bad options.
add_test(NAME pretrain.cli
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/pretrain/test_pretrain.py $<TARGET_FILE:sweep>
                 ${CMAKE_CURRENT_BINARY_DIR}/pretrain-work)
set_tests_properties(pretrain.cli PROPERTIES LABELS "pretrain" TIMEOUT 300 ENVIRONMENT "PYTHONDONTWRITEBYTECODE=1")
