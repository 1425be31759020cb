// PacketBackend over a DPDK ethdev port (any PMD: a NIC bound to vfio-pci in production,
// net_ring/net_memif/net_tap/net_af_packet/net_pcap virtual devices in CI). This header is
// free of DPDK headers, which clash with lwIP's (struct ip6_hdr): only dpdk_*.cpp include them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend.hpp"

namespace culvert::backends {

// How the stack thread waits for a port. busy: it never sleeps and polls the port on every
// step (what DPDK users expect: lowest latency, one core at 100%). sleep: when a poll finds
// nothing the port arms its receive interrupts (PMDs that have them: memif, tap, most NICs)
// or else a timer of sleep_us, and the stack sleeps on pollable_fd() until either fires.
enum class DpdkPollMode { busy, sleep };

struct DpdkConfig {
    // Exactly one of port and vdev. port: an ethdev the EAL already knows, by name
    // ("0000:01:00.0", "net_ring0") or number ("0"); a PCI address the EAL has not probed
    // (--no-pci, or not allow-listed) is hot-plugged. vdev: a virtual device created here,
    // in DPDK's devargs syntax: "net_memif0,role=server,socket=/run/culvert/m0.sock".
    std::string port;
    std::string vdev;
    // The stack's MAC. nullopt: the port's own. Set: programmed into the port (or, if the
    // PMD cannot, the port is made promiscuous so frames to this MAC still arrive).
    std::optional<MacAddress> mac;
    uint16_t queues = 1;  // rx and tx queue pairs; >1 spreads receive over RSS
    uint16_t rx_descriptors = 1024;
    uint16_t tx_descriptors = 1024;
    // mbufs in the port's pool. Lent receive buffers (held by lwIP until it is done with a
    // frame) come from here too, so it must cover the rings plus what TCP queues hold.
    uint32_t mempool_mbufs = 16383;
    uint16_t mtu = 0;  // 0: keep the port's MTU
    DpdkPollMode poll = DpdkPollMode::busy;
    uint32_t sleep_us = 100;  // sleep mode without receive interrupts: the poll period
    // Lend receive buffers to the stack (lwIP pbufs that reference the mbufs) instead of
    // copying them. Under pool pressure (a quarter of the pool left) frames are copied anyway.
    bool rx_zero_copy = true;
    // Use checksum offloads the port offers (receive verification, transmit generation).
    bool checksum_offload = true;
};

// Initialises DPDK's EAL for this process from `args` (without argv[0]). DPDK allows this
// once per process: a later call with the same arguments succeeds and does nothing, one
// with different arguments fails. Errors name the cause (a missing --no-huge without
// hugepages, an unknown option, an unusable lcore list, ...). Takes ~200 ms.
std::expected<void, BackendError> dpdk_eal_init(std::span<const std::string> args);
bool dpdk_eal_initialised();
// Releases EAL resources (hugepage files, threads). Call once at process exit, after every
// DpdkBackend is destroyed; lent buffers must not be released afterwards.
void dpdk_eal_cleanup();

class DpdkBackend final : public PacketBackend {
  public:
    // Opens, configures and starts the port. The EAL must be initialised. Errors are values
    // whose message names the device and the cause.
    static std::expected<std::unique_ptr<DpdkBackend>, BackendError> open(const DpdkConfig& config);

    ~DpdkBackend() override;  // stops and closes the port (and removes a vdev it created)
    DpdkBackend(const DpdkBackend&) = delete;
    DpdkBackend& operator=(const DpdkBackend&) = delete;

    std::string_view name() const override;
    MacAddress mac() const override;
    BackendCaps caps() const override;
    size_t rx_burst(std::span<Frame> frames) override;
    size_t tx_burst(std::span<const Frame> frames) override;
    int pollable_fd() const override;
    BackendStats stats() const override;
    std::vector<NamedCounter> device_counters() const override;

    // One line for the log: driver, MAC, MTU, queues, offloads in use, polling, zero copy.
    std::string describe() const;
    uint16_t port_id() const;
    std::string_view driver_name() const;
    // True when sleep mode sleeps on receive interrupts rather than on a timer.
    bool sleeps_on_interrupts() const;
    // Frames lent to the stack and not yet released (tests check that all come back).
    uint64_t loans_outstanding() const;

    struct Impl;

  private:
    explicit DpdkBackend(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Parses "busy"/"sleep".
std::optional<DpdkPollMode> parse_dpdk_poll_mode(std::string_view text);

}  // namespace culvert::backends
