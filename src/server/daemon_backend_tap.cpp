// culvertd's TAP interfaces: open (or attach) the TAP, inside a named netns if configured.
#include "backends/tap/tap_backend.hpp"
#include "server/daemon_backends.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace culvert::server {

std::expected<BackendPtr, std::string> open_tap(const InterfaceConfig& iface) {
    backends::TapConfig tc;
    tc.name = iface.name;
    tc.mac = iface.mac;
    // The kernel on the TAP is local: let it coalesce TCP and skip checksums as it does for
    // a VM's virtio NIC (docs/architecture.md, "TAP offloads"). Not while capturing: a
    // capture shows frames as a wire carries them (MTU-sized, real checksums), which is
    // what `culvert replay` feeds back through a backend without offloads.
    tc.offloads = !iface.capture;
    // The TAP is created in the namespace the thread is in; return to ours afterwards.
    int saved = -1;
    if (iface.netns) {
        saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        const std::string path = "/var/run/netns/" + *iface.netns;
        const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
            const int e = errno;
            if (fd >= 0) close(fd);
            if (saved >= 0) close(saved);
            return std::unexpected("cannot enter network namespace '" + *iface.netns + "': " + std::strerror(e));
        }
        close(fd);
    }
    auto tap = backends::TapBackend::open(tc);
    if (saved >= 0) {
        setns(saved, CLONE_NEWNET);
        close(saved);
    }
    if (!tap) return std::unexpected(tap.error().message);
    return BackendPtr(std::move(*tap));
}

}  // namespace culvert::server
