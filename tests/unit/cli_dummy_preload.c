/* A do-nothing shared library that cli_run_test names with `culvert run --preload`:
   it proves the path reaches the program's LD_PRELOAD and that the program still runs. */
int culvert_test_dummy_preload_marker(void) {
    return 0;
}
