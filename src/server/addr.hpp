// Conversions between the wire address (Linux sockaddr semantics, IPv4-mapped IPv6 for
// dual-stack sockets) and lwIP's ip_addr_t. lwIP headers only: no <netinet/*> here.
#pragma once

#include "channels/protocol.hpp"

#include "lwip/ip_addr.h"

#include <cstdint>

namespace culvert::server {

inline constexpr uint16_t kAfInet = 2;    // Linux AF_INET
inline constexpr uint16_t kAfInet6 = 10;  // Linux AF_INET6

// Wire -> lwIP. An IPv4-mapped IPv6 address becomes IPv4 (dual-stack). False if the family
// is not one we serve.
bool to_lwip(const channels::WireAddr& in, ip_addr_t& out, uint16_t& port);
// lwIP -> wire, in the socket's domain: IPv4 peers of an AF_INET6 socket are reported as
// ::ffff:a.b.c.d, as Linux does.
channels::WireAddr to_wire(const ip_addr_t& addr, uint16_t port, int domain);
bool is_any(const channels::WireAddr& a);

}  // namespace culvert::server
