# Socket-API conformance (DESIGN §7): one gtest binary, run on the kernel and under culvert
# by conformance.sh inside a private netns (root, CI); both runs must pass the same tests.
add_executable(socket_api_conformance ${CMAKE_CURRENT_LIST_DIR}/socket_api_test.cpp)
target_link_libraries(socket_api_conformance PRIVATE GTest::gtest_main Threads::Threads)
set_target_properties(socket_api_conformance PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
add_executable(conformance_peer ${CMAKE_CURRENT_LIST_DIR}/conformance_peer.cpp)
target_link_libraries(conformance_peer PRIVATE Threads::Threads)
set_target_properties(conformance_peer PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
foreach(mode kernel culvert)
  add_test(NAME conformance.${mode}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/conformance.sh ${CMAKE_BINARY_DIR}/bin ${mode})
  set_tests_properties(conformance.${mode} PROPERTIES LABELS integration TIMEOUT 120 RUN_SERIAL TRUE)
endforeach()
# Run under the (plain, see src/client/CMakeLists.txt) preload: no sanitizer runtime here.
if(CULVERT_SANITIZE)
  culvert_make_plain(socket_api_conformance)
endif()
