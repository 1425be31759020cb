culvert_add_test(lwip_options_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/lwip_options_test.cpp LIBS culvert_lwip LABELS unit)
culvert_add_test(tcp_unsent_order_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/tcp_unsent_order_test.cpp
  LIBS culvert_lwip LABELS unit)
culvert_add_test(tcp_window_update_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/tcp_window_update_test.cpp
  LIBS culvert_lwip LABELS unit)
