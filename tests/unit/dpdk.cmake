# The dpdk backend's configuration keys and DPDK log reasons; no EAL is started here.
if(NOT TARGET culvert_config)
  include(${CMAKE_SOURCE_DIR}/src/server/config.cmake)
endif()
culvert_add_test(dpdk_config_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/dpdk_config_test.cpp
  LIBS culvert_config culvert_backend_dpdk LABELS unit)
# The netif's zero-copy receive (lent frames as lwIP custom pbufs), with a fake lending backend.
culvert_add_test(dpdk_netif_loan_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/dpdk_netif_loan_test.cpp
  LIBS culvert_netif LABELS unit)
