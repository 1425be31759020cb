culvert_add_test(backend_netif_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/backend_netif_test.cpp
  LIBS culvert_netif LABELS unit)
culvert_add_test(ip6_reassembly_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/ip6_reassembly_test.cpp
  LIBS culvert_lwip LABELS unit)
