# sweep plan at the command line: tests/spec/*.json (bad specs, each with its expected one-line error
# in a .err beside it) exit 2 with that line; the bundled specs in sweeps/ plan, as text and JSON.
add_test(NAME spec.cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/spec/run.sh $<TARGET_FILE:sweep> $<TARGET_FILE:test_spec>)
set_tests_properties(spec.cli PROPERTIES LABELS "spec" TIMEOUT 300)
# The spec field precision: defaults, a format's own, lists, --precision, and the job ids it moves.
add_test(NAME spec.precision COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/spec/test_precision.py
         $<TARGET_FILE:sweep> $<TARGET_FILE:test_spec>)
set_tests_properties(spec.precision PROPERTIES LABELS "spec" TIMEOUT 120)
# eval.others: sampled confusion designs, drawn from the job id; raising K or adding users keeps ids and draws.
add_test(NAME spec.others COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/spec/test_others.py
         $<TARGET_FILE:sweep> $<TARGET_FILE:test_spec>)
set_tests_properties(spec.others PROPERTIES LABELS "spec;scale" TIMEOUT 120)
# The spec field published (the seeds' figures) is metadata: the bundled specs' job ids without it and with another.
add_test(NAME spec.published COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/spec/test_published.py
         $<TARGET_FILE:sweep> ${CMAKE_SOURCE_DIR})
set_tests_properties(spec.published PROPERTIES LABELS "spec" TIMEOUT 120)
# eval.combos' ensemble: leave-one-user-out members drawn by eval.others' score, k only adds, order-free.
add_test(NAME spec.ensemble_draw COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/spec/test_ensemble_draw.py
         $<TARGET_FILE:sweep> $<TARGET_FILE:test_spec>)
set_tests_properties(spec.ensemble_draw PROPERTIES LABELS "spec" TIMEOUT 120)
