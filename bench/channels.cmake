# Channel benchmarks (issues 2 and 3): two processes over the real rings, event queues and
# readiness, side by side with kernel sockets. bench/run_channels.sh runs them (release preset);
# docs/benchmarks.md has the results and the exact commands.
add_executable(channels_bench
  ${CMAKE_CURRENT_LIST_DIR}/channels_bench.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bench_support.cpp
  ${CMAKE_CURRENT_LIST_DIR}/syscall_count.cpp
  ${CMAKE_CURRENT_LIST_DIR}/stream_bench.cpp
  ${CMAKE_CURRENT_LIST_DIR}/dgram_bench.cpp
  ${CMAKE_CURRENT_LIST_DIR}/readiness_bench.cpp)
target_include_directories(channels_bench PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(channels_bench PRIVATE culvert_channels benchmark::benchmark Threads::Threads)
# Syscall counting (syscall_count.cpp): every call to these in the executable, culvert_channels'
# included, goes through a counting wrapper first.
target_link_options(channels_bench PRIVATE
  "LINKER:--wrap=read,--wrap=write,--wrap=poll,--wrap=send,--wrap=recv,--wrap=process_vm_writev")
