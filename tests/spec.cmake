# sweep plan at the command line: tests/spec/*.json (bad specs, each with its expected one-line error
# in a .err beside it) exit 2 with that line; the bundled specs in sweeps/ plan, as text and JSON.
add_test(NAME spec.cli COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/spec/run.sh $<TARGET_FILE:sweep> $<TARGET_FILE:test_spec>)
set_tests_properties(spec.cli PROPERTIES LABELS "spec" TIMEOUT 120)
