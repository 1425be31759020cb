// An lwIP netif over any PacketBackend: received frames become PBUF_POOL pbufs (or, when
// the backend lends them, custom pbufs around its buffers) for ethernet_input, lwIP's
// output frames go to tx_burst. Validation of frame lengths lives
// here, once, above every backend. Not thread-safe: lwIP is NO_SYS and single-threaded.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.hpp"

// lwIP's types; this header stays free of lwIP headers (see backend_netif.cpp).
struct netif;
struct pbuf;

namespace culvert::stack {

using Ipv4Address = std::array<uint8_t, 4>;   // network order: {10, 77, 0, 2}
using Ipv6Address = std::array<uint8_t, 16>;  // network order

struct Ipv4Config {
    Ipv4Address address{};
    uint8_t prefix_len = 24;
    std::optional<Ipv4Address> gateway;
};

struct NetifConfig {
    std::optional<Ipv4Config> ipv4;
    // Addresses besides the link-local one derived from the MAC; usable at once (no DAD,
    // like `ip addr add ... nodad`). lwIP holds 4 per netif, so at most 3 here.
    std::vector<Ipv6Address> ipv6;
    // 0: the backend's MTU. Else this, which must not exceed the backend's.
    uint16_t mtu = 0;
    // Make this lwIP's default netif (the route for destinations off every subnet).
    bool make_default = false;
};

// Every received frame ends in exactly one rx_* counter; every frame lwIP sends, in one tx_*.
struct NetifStats {
    uint64_t rx_frames = 0;  // handed to lwIP
    uint64_t rx_bytes = 0;
    uint64_t rx_zero_copy = 0;  // of rx_frames: lent buffers given to lwIP without a copy
    uint64_t rx_too_short = 0;  // dropped: shorter than an Ethernet header (14 bytes)
    uint64_t rx_too_long = 0;   // dropped: longer than mtu + 18
    uint64_t rx_no_pbuf = 0;    // dropped: lwIP's PBUF_POOL is empty
    uint64_t rx_refused = 0;    // dropped: netif->input returned an error
    uint64_t tx_frames = 0;     // taken by the backend
    uint64_t tx_bytes = 0;
    uint64_t tx_busy = 0;      // the backend did not take it (lwIP got ERR_MEM)
    uint64_t tx_too_long = 0;  // lwIP built a frame over mtu + 18 (lwIP got ERR_IF)
};

class BackendNetif {
  public:
    // Adds and sets up an lwIP netif over `backend`, which must outlive it. lwip_init() must
    // have run. Errors are bad configurations (a message says which).
    static std::expected<std::unique_ptr<BackendNetif>, std::string> create(
        backends::PacketBackend& backend, const NetifConfig& config);

    ~BackendNetif();  // removes the netif from lwIP
    BackendNetif(const BackendNetif&) = delete;
    BackendNetif& operator=(const BackendNetif&) = delete;

    // Moves up to max_frames received frames into lwIP; returns how many the backend gave
    // (delivered or dropped). Never blocks. Call sys_check_timeouts() separately.
    size_t poll(size_t max_frames);

    // Reads the backend's link state into lwIP (netif_set_link_up/down) and returns it.
    // An ioctl for some backends: call it on a timer, not per packet.
    bool refresh_link();

    const NetifStats& stats() const { return stats_; }
    uint16_t mtu() const { return mtu_; }
    backends::PacketBackend& backend() { return backend_; }
    // For binding pcbs (tcp_bind_netif, udp_bind_netif) and lwIP's own netif calls.
    ::netif* lwip_netif() { return netif_.get(); }

  private:
    BackendNetif(backends::PacketBackend& backend, uint16_t mtu);
    void deliver(const backends::Frame& frame);
    // lwIP callbacks; they return err_t, which is s8_t (int8_t).
    static int8_t linkoutput(::netif* nif, ::pbuf* p);
    static int8_t init(::netif* nif);

    backends::PacketBackend& backend_;
    uint16_t mtu_;
    uint16_t lwip_mtu_;  // what lwIP fragments and sizes segments to (backend_netif.cpp)
    uint16_t checksums_ = 0;  // lwIP's per-netif checksum flags, from the backend's caps
    std::unique_ptr<::netif> netif_;
    std::vector<std::byte> tx_frame_;  // where a chained pbuf is gathered for tx_burst
    NetifStats stats_{};
    bool added_ = false;
};

}  // namespace culvert::stack
