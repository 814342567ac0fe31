# Four processes map one base file (f32 and ternary): /proc/PID/smaps shows the mapping shared four
# ways (Pss = size/4), with no private pages and no private copy of the base; then four processes (each
# with a forked job) at int8 and bf16 map the compute-ready forms of engine/matcache.h and hold no
# private copy of them; and the same for int4 files, whose products decode tiles of the mapped nibbles
# (no forms, no private copy) (tests/sharing/share_probe.c).
add_executable(share_probe ${CMAKE_CURRENT_SOURCE_DIR}/sharing/share_probe.c ${CMAKE_CURRENT_SOURCE_DIR}/unit/testlib.c)
target_link_libraries(share_probe PRIVATE engine)
add_test(NAME sharing.mmap4 COMMAND share_probe ${CMAKE_CURRENT_BINARY_DIR}/sharing-work)
set_tests_properties(sharing.mmap4 PROPERTIES LABELS "sharing" TIMEOUT 300)
