// PacketBackend over a Linux TAP device (/dev/net/tun, IFF_TAP|IFF_NO_PI, optionally with a
// virtio-net header for offloads): the kernel on the other side of the TAP is a real peer.
// Create it inside the network namespace it should live in (the caller enters it first).
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "backends/backend.hpp"

namespace culvert::backends {

namespace tap_detail {
// An unfragmented TCP packet in an Ethernet frame (no VLAN tag: lwIP sends none), as the
// transmit path needs it for checksum offload and segment merging (tap_backend.cpp).
struct TcpView {
    size_t l4 = 0;       // offset of the TCP header
    size_t headers = 0;  // Ethernet + IP + TCP header bytes
    size_t payload = 0;  // TCP payload bytes
    uint32_t seq = 0;
    uint8_t flags = 0;
    bool ipv6 = false;
    uint32_t address_sum = 0;  // one's-complement sum of the pseudo-header's addresses
};
}  // namespace tap_detail

struct TapConfig {
    // Interface name (at most 15 bytes). An existing TAP of that name is attached; else one
    // is created, and removed again when the backend closes. Empty: the kernel picks tapN.
    std::string name;
    // The stack's MAC. The kernel's TAP MAC belongs to the peer, so ours must differ.
    MacAddress mac{0x02, 0x63, 0x76, 0x00, 0x00, 0x01};  // locally administered "cv"
    // Receive buffers: rx_burst returns at most this many frames per call.
    size_t rx_pool_frames = 32;
    // Set the interface up (IFF_UP) on open, as `ip link set NAME up` would.
    bool bring_up = true;
    // Offloads through a virtio-net header (IFF_VNET_HDR), as a VM's virtio NIC has them: the
    // kernel hands us TCP coalesced into frames of up to 64 KiB (TSO on its side of the TAP,
    // so one read carries up to ~44 segments) with checksums it vouches for, and takes our
    // TCP frames with the checksum left to it (CHECKSUM_PARTIAL). Off: plain frames of at
    // most the MTU, checksums in software both ways.
    bool offloads = false;
    // The clone device; only tests point it elsewhere.
    std::string clone_device = "/dev/net/tun";
};

class TapBackend final : public PacketBackend {
  public:
    // Opens or creates the TAP; errors (no clone device, bad name, EPERM, busy) are values.
    static std::expected<std::unique_ptr<TapBackend>, BackendError> open(const TapConfig& config);

    ~TapBackend() override;
    TapBackend(const TapBackend&) = delete;
    TapBackend& operator=(const TapBackend&) = delete;

    std::string_view name() const override { return name_; }
    MacAddress mac() const override { return mac_; }
    BackendCaps caps() const override;
    size_t rx_burst(std::span<Frame> frames) override;
    // With offloads, consecutive full-size data segments of one TCP flow are held and leave
    // as one GSO frame (up to 64 KiB) at tx_flush() or when a frame that does not continue
    // them comes: the kernel then takes ~44 segments in one write and one receive.
    size_t tx_burst(std::span<const Frame> frames) override;
    void tx_flush() override;
    int pollable_fd() const override { return fd_; }
    BackendStats stats() const override { return stats_; }
    std::vector<NamedCounter> device_counters() const override;

    // Longest frame rx_burst can deliver, fixed at open from the MTU then (+18 for the
    // Ethernet header and a VLAN tag; 65535 with offloads). Longer frames (the MTU was
    // raised later) are dropped and counted as rx_errors.
    size_t max_rx_frame_bytes() const { return slot_bytes_ - 1 - vnet_bytes_; }
    bool offloads() const { return vnet_bytes_ != 0; }

  private:
    TapBackend(int fd, int ctl_fd, std::string name, const TapConfig& config, size_t vnet_bytes,
               size_t slot_bytes);

    int fd_;
    int ctl_fd_;  // AF_INET datagram socket for interface ioctls (SIOCGIFMTU, SIOCGIFFLAGS)
    size_t vnet_bytes_;  // the virtio-net header before every frame read or written; 0: none
    std::string name_;
    MacAddress mac_;
    // One contiguous pool of rx_pool_frames slots. Each slot is one byte longer than the
    // longest frame we deliver (plus its header), so a read that fills it means the frame
    // was truncated.
    size_t slot_bytes_;
    size_t slot_count_;
    std::vector<std::byte> pool_;
    BackendStats stats_{};

    ssize_t write_frame(const void* vnet_header, const std::byte* head, size_t head_bytes,
                        const std::byte* rest, size_t rest_bytes);
    ssize_t send_now(const Frame& frame, const std::optional<tap_detail::TcpView>& tcp);
    void flush_held();

    // Transmit merging (offloads only): the held frame is the first segment's headers and
    // the payload of every segment that continued it.
    std::vector<std::byte> held_;      // 65535 bytes with offloads, else empty
    size_t held_bytes_ = 0;            // 0: nothing held
    tap_detail::TcpView held_view_{};  // of the first held segment
    size_t held_last_payload_ = 0;
    uint32_t held_next_seq_ = 0;
    uint64_t held_frames_ = 0;
    uint64_t held_frame_bytes_ = 0;     // their lengths as the caller gave them (for stats)
    uint64_t tx_merged_frames_ = 0;     // GSO frames written (each of several segments)
    uint64_t rx_coalesced_frames_ = 0;  // GSO frames the kernel handed us
};

// Why a TAP name is unusable (the kernel's dev_valid_name rules), or "" when it is fine.
std::string tap_name_problem(std::string_view name);

}  // namespace culvert::backends
