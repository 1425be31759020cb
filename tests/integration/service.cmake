# Integration: culvertd + real programs under the preload, TAP in a private netns (root).
foreach(case curl_client_v4 curl_client_v6 curl_server_v4 curl_server_v6 udp_echo_v4 udp_echo_v6 udp_echo_segment udp_echo_other_uid)
  add_test(NAME service.${case}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/service_test.sh ${CMAKE_BINARY_DIR}/bin ${case})
  set_tests_properties(service.${case} PROPERTIES LABELS integration TIMEOUT 180 RUN_SERIAL TRUE)
endforeach()
