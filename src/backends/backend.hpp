// The abstract packet backend: the only thing the stack knows about the network (DESIGN §5).
// Burst-shaped like DPDK ethdev: rx fills an array and returns a count, tx returns how many
// frames it took; argument validation lives once above the backends (docs/backends.md).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace culvert::backends {

// A received buffer that a zero-copy backend lends instead of recycling it at the next
// rx_burst: the frame's bytes stay valid (and writable) until release(handle) is called,
// exactly once, from the stack thread. release is a plain function, not a method: lwIP may
// hold the buffer longer than the backend object lives, so the backend keeps the memory
// behind its loans alive until they come back.
struct FrameLoan {
    void (*release)(void* handle) = nullptr;
    void* handle = nullptr;
};

// Ethernet framing the backends and the stack's netif share.
inline constexpr size_t kEthHeaderBytes = 14;
// Ethernet header plus one VLAN tag: the longest frame for an MTU is mtu + kFrameOverheadBytes.
inline constexpr size_t kFrameOverheadBytes = 18;
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;
inline constexpr uint8_t kIpProtoTcp = 6;

// A view of one Ethernet frame (destination MAC first, no preamble, no FCS). From rx_burst
// it points into a buffer the backend owns; given to tx_burst it points into the caller's
// buffer, which the backend only reads. `loan` is used on receive only: when its release
// is set, the caller owns the loan and the frame outlives the next rx_burst (see FrameLoan).
struct Frame {
    std::byte* data;
    uint16_t len;
    FrameLoan loan{};
    // Receive only, set by devices with offloads (TAP with a virtio-net header): the device
    // vouches for this frame's transport checksum (Linux CHECKSUM_PARTIAL/UNNECESSARY), so
    // the stack may skip its own check for this frame. Never set on IP fragments.
    bool l4_csum_ok = false;
    // Receive only: the device merged TCP segments of one flow (GRO/LRO), so the frame may
    // be longer than mtu + 18 (up to 65535 bytes); it is otherwise a well-formed packet.
    bool coalesced = false;
};

// Counters since the backend was opened. Every frame a backend receives or is handed ends
// in exactly one of: rx_frames, rx_dropped, rx_errors (receive) / tx_frames, tx_dropped
// (transmit). Frames that tx_burst did not take are counted nowhere: the caller still has them.
struct BackendStats {
    uint64_t rx_frames = 0;  // delivered by rx_burst
    uint64_t rx_bytes = 0;
    uint64_t tx_frames = 0;  // handed to the device
    uint64_t tx_bytes = 0;
    uint64_t rx_dropped = 0;  // lost for lack of room (device queue or buffer pool)
    uint64_t tx_dropped = 0;  // taken by tx_burst but refused by the device (e.g. link down)
    uint64_t rx_errors = 0;   // bad frames: truncated, failed checksum, device read errors
};

// What the device offers. rx_csum_* true: the backend delivers only frames whose checksums
// the device verified good (it drops and counts the others), so the stack may skip its own
// check. tx_csum_* true: the device fills the checksums on transmit. "l4" is TCP: UDP
// checksums stay in software (a fragmented datagram's checksum spans several frames).
struct BackendCaps {
    uint16_t mtu = 1500;  // largest IP packet; frames may be mtu + 14 (+4 with a VLAN tag)
    bool link_up = false;
    bool rx_csum_ipv4 = false;
    bool rx_csum_l4 = false;
    bool tx_csum_ipv4 = false;
    bool tx_csum_l4 = false;
};

// An error opening or configuring a backend: the errno behind it (0 when none) and a
// message that names the device and says what to do.
struct BackendError {
    int errno_value = 0;
    std::string message;
};

using MacAddress = std::array<uint8_t, 6>;

// A device-specific counter (e.g. a DPDK extended statistic) for status output.
struct NamedCounter {
    std::string name;
    uint64_t value = 0;
};

// One packet device. Not thread-safe: one stack thread owns it and calls everything.
// rx_burst and tx_burst are the fast path: they never allocate, never block, and report
// trouble only through counters and short counts.
class PacketBackend {
  public:
    virtual ~PacketBackend() = default;

    virtual std::string_view name() const = 0;
    // The stack's own MAC address on this link (never the peer's).
    virtual MacAddress mac() const = 0;
    // Queried live (link state and MTU can change); not for the per-packet path.
    virtual BackendCaps caps() const = 0;

    // Receives up to frames.size() frames into frames[0..n) and returns n (0: nothing
    // waiting). The views stay valid until the next rx_burst call on this backend, except
    // lent frames (frame.loan.release set), which stay valid until the caller releases them.
    virtual size_t rx_burst(std::span<Frame> frames) = 0;

    // Transmits frames in order and returns how many it took, n <= frames.size(). The
    // backend copies what it takes (the caller keeps ownership of every buffer). A short
    // count is back-pressure: frames[n..) were not taken and may be offered again later.
    // Frames must be at least 14 and at most mtu + 18 bytes (checked by the caller).
    virtual size_t tx_burst(std::span<const Frame> frames) = 0;

    // Sends what tx_burst took but held back to merge (a backend that joins TCP segments into
    // one device frame, like the TAP with offloads). The stack calls it at the end of every
    // loop iteration, before it may sleep, so frames are held for microseconds at most.
    virtual void tx_flush() {}

    // An fd that polls readable (POLLIN) when rx_burst may return frames, or -1 for
    // busy-poll backends that must be polled continuously.
    virtual int pollable_fd() const = 0;

    virtual BackendStats stats() const = 0;

    // The device's own counters beyond BackendStats (names as the device reports them);
    // none by default. Slow (may ask the device): for status output, not the fast path.
    virtual std::vector<NamedCounter> device_counters() const { return {}; }
};

}  // namespace culvert::backends
