# DPDK backend microbenchmarks on net_ring (bench/run_dpdk.sh runs them with the side-by-side
# memif/veth measurements).
add_executable(dpdk_backend_bench ${CMAKE_CURRENT_LIST_DIR}/dpdk_backend_bench.cpp)
target_link_libraries(dpdk_backend_bench PRIVATE culvert_backend_dpdk culvert_netif benchmark::benchmark)
target_include_directories(dpdk_backend_bench PRIVATE ${CMAKE_SOURCE_DIR}/src)
