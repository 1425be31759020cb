# The pcap backend, capture wrapper and replay engine, without privileges: reader/writer and
# wrappers, packet decoding/rewriting/comparison, and a time-bounded mutation fuzzer of the
# capture input path (CULVERT_FUZZ_SECONDS, default 3).
culvert_add_test(pcap_file_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/pcap_file_test.cpp
  LIBS culvert_pcap culvert_capture LABELS "unit;pcap")
culvert_add_test(pcap_packet_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/pcap_packet_test.cpp
  LIBS culvert_replay culvert_pcap LABELS "unit;pcap")
target_compile_definitions(pcap_packet_test PRIVATE CULVERT_PCAP_CORPUS="${CMAKE_SOURCE_DIR}/tests/pcap")
culvert_add_test(pcap_fuzz_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pcap_fuzz_test.cpp ${CMAKE_CURRENT_LIST_DIR}/pcap_fuzz_target.cpp
  LIBS culvert_replay culvert_pcap LABELS "unit;pcap;fuzz" TIMEOUT 120)
target_compile_definitions(pcap_fuzz_test PRIVATE CULVERT_PCAP_CORPUS="${CMAKE_SOURCE_DIR}/tests/pcap")
