# Tokenizer against the pure-Python reference (tests/tokenizer/bpe_ref.py), through the sweep CLI:
# Hugging Face tokenizer.json parity, training parity, byte round trips, exit 2 on bad files.
add_test(NAME tokenizer.reference
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer/check_tokenizer.py
          $<TARGET_FILE:sweep> ${CMAKE_CURRENT_BINARY_DIR}/tokenizer-work)
set_tests_properties(tokenizer.reference PROPERTIES LABELS "tokenizer" TIMEOUT 300)
