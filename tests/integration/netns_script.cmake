# scripts/netns.sh, the namespace helpers shell-based integration tests source.
add_test(NAME netns_script COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/netns_script_test.sh)
set_tests_properties(netns_script PROPERTIES LABELS integration TIMEOUT 60 SKIP_RETURN_CODE 77)
