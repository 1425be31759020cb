// Dispatch from an interface's `backend` name to the backend that opens it.
#include "server/daemon_backends.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace culvert::server {

std::expected<BackendPtr, std::string> open_backend(const Config& config, const InterfaceConfig& iface) {
    if (iface.backend == "tap") return open_tap(iface);
    if (iface.backend == "dpdk") return open_dpdk(config, iface);
    if (iface.backend == "pcap") return open_pcap(iface);
    return std::unexpected("backend '" + iface.backend + "' is not available in this build");
}

std::expected<NetnsScope, std::string> NetnsScope::enter(const std::optional<std::string>& name) {
    if (!name) return NetnsScope(-1);
    const int saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    const std::string path = "/var/run/netns/" + *name;
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (saved < 0 || fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        const int e = errno;
        if (fd >= 0) close(fd);
        if (saved >= 0) close(saved);
        return std::unexpected("cannot enter network namespace '" + *name + "': " + std::strerror(e));
    }
    close(fd);
    return NetnsScope(saved);
}

void NetnsScope::leave() {
    if (saved_ < 0) return;
    setns(saved_, CLONE_NEWNET);
    close(saved_);
    saved_ = -1;
}

}  // namespace culvert::server
