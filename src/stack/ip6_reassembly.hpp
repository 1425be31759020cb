// culvert's IPv6 reassembly, which replaces lwIP 2.1.3's ip6_reass (it can complete a
// datagram with a hole: docs/architecture.md, "lwIP workarounds"). lwIP's ip6_input calls
// it through the linker (--wrap=ip6_reass, --wrap=ip6_reass_tmr on every lwIP link).
#pragma once

#include <cstdint>

namespace culvert::stack {

// Named counters and current holdings. Fragments are also counted in lwIP's own
// ip6_frag statistics: recv for each one, drop for each one discarded (with lenerr,
// proterr or memerr saying why, once per event).
struct Ip6ReassemblyStats {
    uint64_t datagrams_pending = 0;  // incomplete datagrams held now
    uint64_t pbufs_pending = 0;      // pbufs their fragments hold now
    uint64_t reassembled = 0;        // datagrams completed and handed to lwIP
    uint64_t duplicates = 0;         // exact copies of a fragment already held, dropped
    uint64_t overlaps = 0;           // datagrams discarded for overlapping fragments (RFC 5722)
    uint64_t inconsistent = 0;       // datagrams discarded: fragments disagree on the length
    uint64_t too_big = 0;            // fragments past what one pbuf chain holds (65,535 bytes)
    uint64_t malformed = 0;          // fragments with impossible lengths or headers, dropped
    uint64_t timed_out = 0;          // datagrams abandoned after 60 s (RFC 8200 §4.5)
    uint64_t evicted = 0;            // datagrams discarded to make room (buffer full)
    uint64_t no_memory = 0;          // fragments dropped for want of memory or room
};

Ip6ReassemblyStats ip6_reassembly_stats();

// Discards every incomplete datagram (tests' teardown; nothing is sent).
void ip6_reassembly_reset();

}  // namespace culvert::stack
