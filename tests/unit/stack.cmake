culvert_add_test(lwip_options_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/lwip_options_test.cpp LIBS culvert_lwip LABELS unit)
