// culvertd's DPDK interfaces: initialise the EAL once (from --dpdk-eal), then open the port
// or create the vdev, inside a named netns if configured (net_tap, net_af_packet live there).
#include "backends/dpdk/dpdk_backend.hpp"
#include "server/daemon_backends.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

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
    int saved = -1;
    if (iface.netns) {
        saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        const std::string path = "/var/run/netns/" + *iface.netns;
        const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
            const int e = errno;
            if (fd >= 0) close(fd);
            if (saved >= 0) close(saved);
            return std::unexpected("cannot enter network namespace '" + *iface.netns +
                                   "': " + std::strerror(e));
        }
        close(fd);
    }
    auto port = backends::DpdkBackend::open(dc);
    if (saved >= 0) {
        setns(saved, CLONE_NEWNET);
        close(saved);
    }
    if (!port) return std::unexpected(port.error().message);
    spdlog::info("interface {}: DPDK {}", iface.name, (*port)->describe());
    return BackendPtr(std::move(*port));
}

}  // namespace culvert::server
