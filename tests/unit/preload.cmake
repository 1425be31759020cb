# Tests of the LD_PRELOAD interposer (src/client/preload): its routing core against a
# recording fake Client, and the built .so preloaded into /bin/true and a socketpair program.

add_library(culvert_preload_fake_client STATIC ${CMAKE_CURRENT_LIST_DIR}/preload_fake_client.cpp)
target_include_directories(culvert_preload_fake_client PUBLIC ${CMAKE_SOURCE_DIR}/src)

if(NOT TARGET culvert-preload)
  # src/client/CMakeLists.txt (the client library, which adds preload/) is not in this tree
  # yet: build the preload folder from here, with the fake standing in for culvert_client.
  if(NOT TARGET culvert_client)
    add_library(culvert_client ALIAS culvert_preload_fake_client)
  endif()
  add_subdirectory(${CMAKE_SOURCE_DIR}/src/client/preload ${CMAKE_BINARY_DIR}/src/client/preload)
endif()

culvert_add_test(preload_interposer_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/preload_interposer_test.cpp
  LIBS culvert_preload_core culvert_preload_fake_client
  LABELS unit)

# The same interposer around the fake, so that a preloaded program's Client calls are logged.
culvert_add_preload_library(culvert-preload-fake culvert_preload_fake_client)

# Built with FORTIFY so that it calls __read_chk/__recv_chk/__recvfrom_chk like distro programs.
add_executable(preload_socketpair_prog ${CMAKE_CURRENT_LIST_DIR}/preload_socketpair_prog.cpp)
target_compile_options(preload_socketpair_prog PRIVATE -O2 -D_FORTIFY_SOURCE=2)
target_link_libraries(preload_socketpair_prog PRIVATE ${CMAKE_DL_LIBS})

# A sanitizer runtime must come first in LD_PRELOAD when the preloaded .so is instrumented.
set(CULVERT_PRELOAD_SANITIZER_RUNTIME "")
if(CULVERT_SANITIZE MATCHES "address")
  set(_culvert_runtime libasan.so)
elseif(CULVERT_SANITIZE MATCHES "thread")
  set(_culvert_runtime libtsan.so)
endif()
if(_culvert_runtime)
  execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=${_culvert_runtime}
    OUTPUT_VARIABLE CULVERT_PRELOAD_SANITIZER_RUNTIME OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()

culvert_add_test(preload_load_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/preload_load_test.cpp
  LABELS unit)
target_compile_definitions(preload_load_test PRIVATE
  CULVERT_PRELOAD_SO="$<TARGET_FILE:culvert-preload>"
  CULVERT_PRELOAD_FAKE_SO="$<TARGET_FILE:culvert-preload-fake>"
  CULVERT_SOCKETPAIR_PROG="$<TARGET_FILE:preload_socketpair_prog>"
  CULVERT_SANITIZER_RUNTIME="${CULVERT_PRELOAD_SANITIZER_RUNTIME}")
add_dependencies(preload_load_test culvert-preload culvert-preload-fake preload_socketpair_prog)
