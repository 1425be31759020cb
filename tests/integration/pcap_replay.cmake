# Replay regressions (no privileges): every recorded case in tests/pcap replays identically,
# and pcap_replay_test.sh checks that a change is found, a seed change is not, bad
# captures exit 2 and the --output capture reads in tshark.
set(CULVERT_PCAP_CORPUS ${CMAKE_SOURCE_DIR}/tests/pcap)
file(GLOB CULVERT_PCAP_CASES CONFIGURE_DEPENDS ${CULVERT_PCAP_CORPUS}/*.args)
foreach(args_file ${CULVERT_PCAP_CASES})
  get_filename_component(case ${args_file} NAME_WE)
  file(READ ${args_file} args_text)
  separate_arguments(args UNIX_COMMAND "${args_text}")
  add_test(NAME pcap.replay.${case}
    COMMAND $<TARGET_FILE:culvert> replay --input ${CULVERT_PCAP_CORPUS}/${case}.peer.pcap
            --expect ${CULVERT_PCAP_CORPUS}/${case}.answer.pcap ${args})
  set_tests_properties(pcap.replay.${case} PROPERTIES LABELS "integration;pcap" TIMEOUT 60
    PASS_REGULAR_EXPRESSION "equal: [0-9]+ frames match")
endforeach()
foreach(case detects_mss_change detects_app_change other_seed_still_matches bad_inputs output_reads_cleanly)
  add_test(NAME pcap.${case}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/pcap_replay_test.sh ${CMAKE_BINARY_DIR}/bin ${CULVERT_PCAP_CORPUS} ${case})
  set_tests_properties(pcap.${case} PROPERTIES LABELS "integration;pcap" TIMEOUT 60)
endforeach()
