# The results file read by h5py, pandas and xarray (Debian's python3-h5py, -pandas, -xarray, -h5netcdf
# belong to /usr/bin/python3): make_results writes the fixture sweep through the journal, the script checks it.
add_executable(make_results ${CMAKE_CURRENT_SOURCE_DIR}/results/make_results.c)
target_link_libraries(make_results PRIVATE sweepcore)
add_test(NAME results.python_readers
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/results/test_readers.py
                 $<TARGET_FILE:make_results> ${CMAKE_CURRENT_BINARY_DIR}/results-readers)
set_tests_properties(results.python_readers PROPERTIES LABELS "results" TIMEOUT 120)
