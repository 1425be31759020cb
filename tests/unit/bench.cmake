# Smoke test of the channel benchmarks (bench/channels.cmake): short fixed runs whose data the
# benchmarks verify, then --check asserts what holds on any machine (the syscall counters count;
# the seed's blocked eventfd reports POLLIN to a level-triggered writer, the socketpair does not).
add_test(NAME bench.channels_smoke
  COMMAND $<TARGET_FILE:channels_bench> --iterations=2000 --check)
set_tests_properties(bench.channels_smoke PROPERTIES LABELS "unit;bench" TIMEOUT 120)
