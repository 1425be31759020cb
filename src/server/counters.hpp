// Named counters of culvertd: every dropped packet, refused request and failure bumps one
// (CONVENTIONS "every dropped packet or refused request bumps a named counter").
#pragma once

#include <cstdint>

namespace culvert::server {

#define CULVERT_SERVER_COUNTERS(X)                                                  \
    X(clients_accepted) X(clients_closed) X(clients_refused_version)                \
    X(requests) X(requests_malformed) X(requests_failed)                            \
    X(sockets_created) X(sockets_closed) X(tcp_accepted) X(tcp_accept_refused)      \
    X(tcp_resets_sent) X(tcp_rx_bytes) X(tcp_tx_bytes) X(tcp_write_errors)          \
    X(udp_rx_datagrams) X(udp_rx_dropped_ring_full) X(udp_tx_datagrams)             \
    X(udp_tx_errors) X(udp_tx_bad_length) X(channel_corrupt)                        \
    X(segment_alloc_failures) X(notify_errors) X(tcp_unsent_reordered)

struct Counters {
#define CULVERT_COUNTER_FIELD(name) uint64_t name = 0;
    CULVERT_SERVER_COUNTERS(CULVERT_COUNTER_FIELD)
#undef CULVERT_COUNTER_FIELD
};

}  // namespace culvert::server
