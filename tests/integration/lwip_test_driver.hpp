// The little lwIP driving a test needs (init, clock, timers, counters), behind plain
// functions so test files with system network headers never include lwIP's.
#pragma once

#include <cstdint>

namespace culvert::testing {

// lwip_init() once per process (lwIP keeps global state).
void lwip_init_once();

// Sets lwIP's clock (milliseconds since the test started) and fires due timers.
void lwip_advance_to(uint32_t now_ms);

// Selected lwIP statistics, for deltas around a step.
struct LwipCounters {
    uint64_t link_recv = 0;   // frames that reached ethernet_input
    uint64_t icmp_xmit = 0;   // ICMP sent: echo replies and errors
    uint64_t icmp6_xmit = 0;  // ICMPv6 sent by icmp6.c: echo replies and errors (not ND)
    uint64_t pool_pbufs_used = 0;
};
LwipCounters lwip_counters();

}  // namespace culvert::testing
