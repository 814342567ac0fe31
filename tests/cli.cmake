# Every subcommand's option values through one parser (cli/options.c): out-of-range or malformed values
# exit 2 with one line naming the option.
add_test(NAME cli.options COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/cli/test_options.py $<TARGET_FILE:sweep>)
set_tests_properties(cli.options PROPERTIES LABELS "cli" TIMEOUT 120)
