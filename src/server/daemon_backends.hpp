// culvertd's one place that knows the concrete backends: opens the backend an interface's
// configuration names. Each backend has its own daemon_backend_<name>.cpp with open_<name>.
#pragma once

#include "backends/backend.hpp"
#include "server/config.hpp"

#include <expected>
#include <memory>
#include <string>

namespace culvert::server {

using BackendPtr = std::unique_ptr<backends::PacketBackend>;

// `config` carries process-wide settings some backends need (DPDK's EAL arguments).
std::expected<BackendPtr, std::string> open_backend(const Config& config, const InterfaceConfig& iface);

std::expected<BackendPtr, std::string> open_tap(const InterfaceConfig& iface);
std::expected<BackendPtr, std::string> open_dpdk(const Config& config, const InterfaceConfig& iface);
std::expected<BackendPtr, std::string> open_pcap(const InterfaceConfig& iface);

}  // namespace culvert::server
