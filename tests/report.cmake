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
# Precision: each format variant against the base and formats at its own precision, a verdict per
# precision, the precision in every output format, and a file without the per-job precision column.
add_executable(test_report_precision ${CMAKE_CURRENT_SOURCE_DIR}/report/test_precision.c
               ${CMAKE_CURRENT_SOURCE_DIR}/unit/testlib.c)
target_link_libraries(test_report_precision PRIVATE sweepcore)
add_test(NAME report.precision COMMAND test_report_precision ${CMAKE_SOURCE_DIR}/sweeps)
set_tests_properties(report.precision PROPERTIES LABELS "report" TIMEOUT 60)
# The report at 1,000 users: summaries in text and markdown, one fixed-size heatmap picture in HTML
# (under 5 MB), every cell in JSON and CSV.
add_test(NAME report.scale
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/report/test_scale.py $<TARGET_FILE:sweep>
                 $<TARGET_FILE:make_report_files> ${CMAKE_CURRENT_BINARY_DIR}/report-scale)
set_tests_properties(report.scale PROPERTIES LABELS "report;scale" TIMEOUT 300)
