# The `culvert` command: `culvert run` executed for real, with stand-in preload libraries.
# The stand-ins are loaded into uninstrumented programs (/usr/bin/env), so they are built
# without the sanitizer flags the asan/tsan presets add to every target.
foreach(lib culvert_test_preload_a culvert_test_preload_b)
  add_library(${lib} SHARED ${CMAKE_CURRENT_LIST_DIR}/cli_dummy_preload.c)
  set_target_properties(${lib} PROPERTIES COMPILE_OPTIONS "" LINK_OPTIONS "")
endforeach()
culvert_add_test(cli_run_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/cli_run_test.cpp
  LABELS unit)
add_dependencies(cli_run_test culvert culvert_test_preload_a culvert_test_preload_b)
target_compile_definitions(cli_run_test PRIVATE
  CULVERT_BIN="$<TARGET_FILE:culvert>"
  PRELOAD_A="$<TARGET_FILE:culvert_test_preload_a>"
  PRELOAD_B="$<TARGET_FILE:culvert_test_preload_b>"
  # What culvert falls back to in the build tree (empty until the preload target exists).
  "BUILD_TREE_PRELOAD=\"$<$<TARGET_EXISTS:${CULVERT_PRELOAD_TARGET}>:$<TARGET_FILE:${CULVERT_PRELOAD_TARGET}>>\"")
