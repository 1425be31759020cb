// Address conversions between the control protocol and lwIP (addr.hpp).
#include "server/addr.hpp"

#include <cstring>

namespace culvert::server {

namespace {
bool is_v4_mapped(const uint8_t a[16]) {
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(a, prefix, 12) == 0;
}
}  // namespace

bool to_lwip(const channels::WireAddr& in, ip_addr_t& out, uint16_t& port) {
    port = in.port;
    if (in.family == kAfInet) {
        uint32_t v4;
        std::memcpy(&v4, in.addr, 4);
        ip_addr_set_ip4_u32(&out, v4);
        return true;
    }
    if (in.family == kAfInet6) {
        if (is_v4_mapped(in.addr)) {
            uint32_t v4;
            std::memcpy(&v4, in.addr + 12, 4);
            ip_addr_set_ip4_u32(&out, v4);
            return true;
        }
        uint32_t w[4];
        std::memcpy(w, in.addr, 16);
        IP_ADDR6(&out, w[0], w[1], w[2], w[3]);
        ip6_addr_clear_zone(ip_2_ip6(&out));
        return true;
    }
    return false;
}

channels::WireAddr to_wire(const ip_addr_t& addr, uint16_t port, int domain) {
    channels::WireAddr w{};
    w.port = port;
    if (IP_IS_V4(&addr)) {
        const uint32_t v4 = ip4_addr_get_u32(ip_2_ip4(&addr));
        if (domain == kAfInet6) {
            w.family = kAfInet6;
            w.addr[10] = 0xff;
            w.addr[11] = 0xff;
            std::memcpy(w.addr + 12, &v4, 4);
        } else {
            w.family = kAfInet;
            std::memcpy(w.addr, &v4, 4);
        }
    } else {
        w.family = kAfInet6;
        std::memcpy(w.addr, ip_2_ip6(&addr)->addr, 16);
    }
    return w;
}

bool is_any(const channels::WireAddr& a) {
    for (uint8_t b : a.addr)
        if (b) return false;
    return true;
}

}  // namespace culvert::server
