# TAP backend and backend netif against the real kernel: needs root and /dev/net/tun (skips
# without them, fails instead under CI). Each test makes its own anonymous network namespace.
culvert_add_test(tap_backend_integration_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/tap_backend_test.cpp ${CMAKE_CURRENT_LIST_DIR}/lwip_test_driver.cpp
  LIBS culvert_backend_tap culvert_netif LABELS integration TIMEOUT 120)
