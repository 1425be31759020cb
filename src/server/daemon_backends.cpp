// Dispatch from an interface's `backend` name to the backend that opens it.
#include "server/daemon_backends.hpp"

namespace culvert::server {

std::expected<BackendPtr, std::string> open_backend(const Config& config, const InterfaceConfig& iface) {
    if (iface.backend == "tap") return open_tap(iface);
    if (iface.backend == "dpdk") return open_dpdk(config, iface);
    if (iface.backend == "pcap") return open_pcap(iface);
    return std::unexpected("backend '" + iface.backend + "' is not available in this build");
}

}  // namespace culvert::server
