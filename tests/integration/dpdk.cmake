# DPDK backend on virtual devices (DESIGN §5): no NIC, no hugepages.
# net_ring in-process (no root needed; each test is its own process with its own EAL).
culvert_add_test(dpdk_ring_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/dpdk_ring_test.cpp ${CMAKE_CURRENT_LIST_DIR}/lwip_test_driver.cpp
  LIBS culvert_backend_dpdk culvert_netif LABELS integration TIMEOUT 60)

# Two culvertd processes over net_memif, programs under the preload on each side (root:
# everything runs in a private network namespace).
foreach(case tcp_sleep tcp_busy tcp_sleep_copy udp)
  add_test(NAME dpdk_memif.${case}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/dpdk_memif_test.sh ${CMAKE_BINARY_DIR}/bin ${case})
  set_tests_properties(dpdk_memif.${case} PROPERTIES LABELS integration TIMEOUT 240 RUN_SERIAL TRUE)
endforeach()

# The kernel as the peer: net_tap, and net_af_packet on a veth pair (root, private netns).
foreach(case tap af_packet)
  add_test(NAME dpdk_kernel.${case}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/dpdk_kernel_test.sh ${CMAKE_BINARY_DIR}/bin ${case})
  set_tests_properties(dpdk_kernel.${case} PROPERTIES LABELS integration TIMEOUT 180)
endforeach()

# Frames from and to capture files (net_pcap); bad configurations refused with exit code 2.
add_test(NAME dpdk_pcap COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/dpdk_pcap_test.sh ${CMAKE_BINARY_DIR}/bin)
set_tests_properties(dpdk_pcap PROPERTIES LABELS integration TIMEOUT 120)
add_test(NAME dpdk_config_errors
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/dpdk_config_errors_test.sh ${CMAKE_BINARY_DIR}/bin)
set_tests_properties(dpdk_config_errors PROPERTIES LABELS integration TIMEOUT 180)
