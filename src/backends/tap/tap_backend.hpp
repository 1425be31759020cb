// PacketBackend over a Linux TAP device (/dev/net/tun, IFF_TAP|IFF_NO_PI): the kernel on
// the other side of the TAP is a real peer. Create it inside the network namespace it
// should live in (the caller enters the netns first).
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend.hpp"

namespace culvert::backends {

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
    size_t tx_burst(std::span<const Frame> frames) override;
    int pollable_fd() const override { return fd_; }
    BackendStats stats() const override { return stats_; }

    // Longest frame rx_burst can deliver, fixed at open from the MTU then (+18 for the
    // Ethernet header and a VLAN tag). Longer frames (the MTU was raised later) are
    // dropped and counted as rx_errors.
    size_t max_rx_frame_bytes() const { return slot_bytes_ - 1; }

  private:
    TapBackend(int fd, int ctl_fd, std::string name, const TapConfig& config, size_t slot_bytes);

    int fd_;
    int ctl_fd_;  // AF_INET datagram socket for interface ioctls (SIOCGIFMTU, SIOCGIFFLAGS)
    std::string name_;
    MacAddress mac_;
    // One contiguous pool of rx_pool_frames slots. Each slot is one byte longer than the
    // longest frame we deliver, so a read that fills it means the frame was truncated.
    size_t slot_bytes_;
    size_t slot_count_;
    std::vector<std::byte> pool_;
    BackendStats stats_{};
};

// Why a TAP name is unusable (the kernel's dev_valid_name rules), or "" when it is fine.
std::string tap_name_problem(std::string_view name);

}  // namespace culvert::backends
