culvert_add_test(tap_backend_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/tap_backend_test.cpp
  LIBS culvert_backend_tap LABELS unit)
