# DPDK backend on virtual devices (DESIGN §5): no NIC, no hugepages.
# net_ring in-process (no root needed; each test is its own process with its own EAL).
culvert_add_test(dpdk_ring_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/dpdk_ring_test.cpp ${CMAKE_CURRENT_LIST_DIR}/lwip_test_driver.cpp
  LIBS culvert_backend_dpdk culvert_netif LABELS integration TIMEOUT 60)

# Two culvertd processes over net_memif, programs under the preload on each side (root:
# everything runs in a private network namespace).
foreach(case tcp_busy tcp_sleep_copy udp)
  add_test(NAME dpdk_memif.${case}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/dpdk_memif_test.sh ${CMAKE_BINARY_DIR}/bin ${case})
  set_tests_properties(dpdk_memif.${case} PROPERTIES LABELS integration TIMEOUT 240 RUN_SERIAL TRUE)
endforeach()
