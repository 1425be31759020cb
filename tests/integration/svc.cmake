# Socket-service integration cases of issue 3 (svc_cases.sh): culvertd on a TAP in a private
# netns, real programs and svc_tool under the preload against kernel peers (root, CI).
add_executable(svc_tool ${CMAKE_CURRENT_LIST_DIR}/svc_tool.cpp)
target_link_libraries(svc_tool PRIVATE Threads::Threads)
set_target_properties(svc_tool PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)

set(CULVERT_SVC_CASES
  tcp_echo_client_v4 tcp_echo_client_v6 tcp_echo_server_v4 tcp_echo_server_v6
  udp_echo_server_v4 udp_echo_server_v6
  iperf_tcp_client_v4 iperf_tcp_client_v6 iperf_tcp_server_v4 iperf_tcp_server_v6
  iperf_udp_client_v4 iperf_udp_client_v6 iperf_udp_server_v4 iperf_udp_server_v6
  backpressure_v4 backpressure_v6 tcp_duplex_stress lifecycle_kill lifecycle_no_daemon threads_v4 threads_v6
  status_cli)
foreach(case ${CULVERT_SVC_CASES})
  add_test(NAME svc.${case}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/svc_cases.sh ${CMAKE_BINARY_DIR}/bin ${case})
  # RUN_SERIAL: the cases measure culvertd's counters and share the 2 CI cores.
  set_tests_properties(svc.${case} PROPERTIES LABELS integration TIMEOUT 150 RUN_SERIAL TRUE)
endforeach()
# Run under the (plain, see src/client/CMakeLists.txt) preload: no sanitizer runtime here.
if(CULVERT_SANITIZE)
  culvert_make_plain(svc_tool)
endif()
