# The corpus builder (fixtures/build_corpora.py) and `sweep fixtures` on synthetic inputs: extractors on
# hand-written R/SWORD/dictd/HTML/info data, fake .deb packages built with dpkg-deb, two identical builds,
# the manifest, the errors, and the splits' hashes. Nothing is downloaded.
add_test(NAME fixtures.builder
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/fixtures/test_builder.py --sweep $<TARGET_FILE:sweep>)
set_tests_properties(fixtures.builder PROPERTIES LABELS "fixtures" TIMEOUT 120)
