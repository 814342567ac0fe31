# Hugging Face import against a float64 PyTorch reference forward (tests/import/hf_import_test.py writes
# tiny random checkpoints with python3-torch and the standard library), plus exit-2 checks for bad
# checkpoints and bad model files through the sweep CLI; rope_scaling: Llama 3's RoPE scaling against
# the reference, and the same checkpoint with the scaling dropped far from it. Cases share one Python process per test
# because importing torch dominates their time.
add_executable(engine_logits ${CMAKE_CURRENT_SOURCE_DIR}/import/engine_logits.c)
target_link_libraries(engine_logits PRIVATE engine)
set(SWEEP_IMPORT_TESTS
  "logits:llama_f32 qwen2_bf16_sharded llama_f16_tied"
  "rope_scaling:llama3_rope"
  "quantize:ternary eval"
  "bad_input:bad_checkpoint bad_model")
foreach(entry ${SWEEP_IMPORT_TESTS})
  string(REPLACE ":" ";" parts "${entry}")
  list(GET parts 0 name)
  list(GET parts 1 cases)
  separate_arguments(cases)
  add_test(NAME import.${name}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/import/hf_import_test.py
                   --sweep $<TARGET_FILE:sweep> --logits $<TARGET_FILE:engine_logits>
                   --work ${CMAKE_CURRENT_BINARY_DIR}/import-work ${cases})
  set_tests_properties(import.${name} PROPERTIES LABELS "import" TIMEOUT 180)
endforeach()
