// culvertd's one place that knows the concrete backends: opens the backend an interface's
// configuration names. Each backend has its own daemon_backend_<name>.cpp with open_<name>.
#pragma once

#include "backends/backend.hpp"
#include "server/config.hpp"

#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace culvert::server {

using BackendPtr = std::unique_ptr<backends::PacketBackend>;

// `config` carries process-wide settings some backends need (DPDK's EAL arguments).
std::expected<BackendPtr, std::string> open_backend(const Config& config, const InterfaceConfig& iface);

// While alive, the calling thread is in the named network namespace (a backend that makes
// a kernel interface makes it there); leave() or the destructor returns it to ours.
class NetnsScope {
public:
    // No name: stays where it is.
    static std::expected<NetnsScope, std::string> enter(const std::optional<std::string>& name);
    NetnsScope(NetnsScope&& other) noexcept : saved_(std::exchange(other.saved_, -1)) {}
    NetnsScope& operator=(NetnsScope&&) = delete;
    ~NetnsScope() { leave(); }
    void leave();

private:
    explicit NetnsScope(int saved) : saved_(saved) {}
    int saved_ = -1;  // our own namespace, while in another
};

std::expected<BackendPtr, std::string> open_tap(const InterfaceConfig& iface);
std::expected<BackendPtr, std::string> open_dpdk(const Config& config, const InterfaceConfig& iface);
std::expected<BackendPtr, std::string> open_pcap(const InterfaceConfig& iface);

}  // namespace culvert::server
