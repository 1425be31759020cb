# culvertd's --capture on a TAP (root, private netns) and its pcap backend in real time.
foreach(case capture_tap capture_filter pcap_daemon)
  add_test(NAME pcap.${case}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/pcap_capture_test.sh ${CMAKE_BINARY_DIR}/bin
            ${CMAKE_SOURCE_DIR}/tests/pcap ${case})
  set_tests_properties(pcap.${case} PROPERTIES LABELS "integration;pcap" TIMEOUT 60)
endforeach()
