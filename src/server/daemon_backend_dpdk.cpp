// culvertd's DPDK interfaces: initialise the EAL once (from --dpdk-eal), then open the port
// or create the vdev, inside a named netns if configured (net_tap, net_af_packet live there).
#include "backends/dpdk/dpdk_backend.hpp"
#include "server/daemon_backends.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace culvert::server {

std::expected<BackendPtr, std::string> open_dpdk(const Config& config,
                                                 const InterfaceConfig& iface) {
    if (!iface.dpdk)
        return std::unexpected("dpdk interface without a port or vdev (configuration bug)");
    if (!backends::dpdk_eal_initialised()) {
        if (auto eal = backends::dpdk_eal_init(config.dpdk_eal_args); !eal)
            return std::unexpected(eal.error().message);
        // After main returns, when every port is closed: releases hugepage files and threads.
        std::atexit(backends::dpdk_eal_cleanup);
    }
    const DpdkInterfaceConfig& d = *iface.dpdk;
    backends::DpdkConfig dc;
    dc.port = d.port;
    dc.vdev = d.vdev;
    if (!d.use_port_mac) dc.mac = iface.mac;
    dc.queues = d.queues;
    dc.rx_descriptors = d.rx_descriptors;
    dc.tx_descriptors = d.tx_descriptors;
    dc.mempool_mbufs = d.mempool_mbufs;
    dc.mtu = d.mtu;
    dc.poll = d.busy_poll ? backends::DpdkPollMode::busy : backends::DpdkPollMode::sleep;
    dc.sleep_us = d.sleep_us;
    dc.rx_zero_copy = d.rx_zero_copy;
    dc.checksum_offload = d.checksum_offload;

    // A vdev that makes or opens a kernel interface (net_tap, net_af_packet) does so in the
    // namespace the thread is in; return to ours afterwards.
    auto netns = NetnsScope::enter(iface.netns);
    if (!netns) return std::unexpected(netns.error());
    auto port = backends::DpdkBackend::open(dc);
    netns->leave();
    if (!port) return std::unexpected(port.error().message);
    spdlog::info("interface {}: DPDK {}", iface.name, (*port)->describe());
    return BackendPtr(std::move(*port));
}

}  // namespace culvert::server
