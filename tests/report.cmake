# sweep report end to end (Debian's python3-h5py and chromium; /usr/bin/python3): make_report_files
# writes result files with known answers from the bundled specs; test_cli.py checks verdicts, formats,
# --html, an h5py-written file and bad input; render_html.py renders the HTML page in headless
# Chromium and checks the screenshot is not blank.
add_executable(make_report_files ${CMAKE_CURRENT_SOURCE_DIR}/report/make_report_files.c)
target_link_libraries(make_report_files PRIVATE sweepcore)
add_test(NAME report.cli
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/report/test_cli.py $<TARGET_FILE:sweep>
                 $<TARGET_FILE:make_report_files> ${CMAKE_SOURCE_DIR}/sweeps ${CMAKE_CURRENT_BINARY_DIR}/report-cli)
set_tests_properties(report.cli PROPERTIES LABELS "report" TIMEOUT 180)
add_test(NAME report.chromium
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/report/render_html.py $<TARGET_FILE:sweep>
                 $<TARGET_FILE:make_report_files> ${CMAKE_SOURCE_DIR}/sweeps ${CMAKE_CURRENT_BINARY_DIR}/report-chromium)
set_tests_properties(report.chromium PROPERTIES LABELS "report" TIMEOUT 180)
