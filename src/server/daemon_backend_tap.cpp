// culvertd's TAP interfaces: open (or attach) the TAP, inside a named netns if configured.
#include "backends/tap/tap_backend.hpp"
#include "server/daemon_backends.hpp"

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
    auto netns = NetnsScope::enter(iface.netns);
    if (!netns) return std::unexpected(netns.error());
    auto tap = backends::TapBackend::open(tc);
    netns->leave();
    if (!tap) return std::unexpected(tap.error().message);
    return BackendPtr(std::move(*tap));
}

}  // namespace culvert::server
