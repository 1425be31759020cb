// Frame parsing for the simulator (frame_info.hpp). Bounds-checked byte reads only.
#include "sim/wire/frame_info.hpp"

#include <cstdio>
#include <cstring>

namespace culvert::sim {

namespace {

uint16_t be16(const uint8_t* p) {
    return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
uint32_t be32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
           static_cast<uint32_t>(p[2]) << 8 | p[3];
}

void parse_l4(const uint8_t* base, size_t l4_off, size_t end, uint8_t proto, FrameInfo& info) {
    const uint8_t* p = base + l4_off;
    const size_t n = end > l4_off ? end - l4_off : 0;
    if (proto == 6) {
        info.l4 = L4::tcp;
        if (n < 20) return;
        const size_t hl = static_cast<size_t>(p[12] >> 4) * 4;
        if (hl < 20 || hl > n) return;
        info.has_l4 = true;
        info.src_port = be16(p);
        info.dst_port = be16(p + 2);
        info.seq = be32(p + 4);
        info.ack = be32(p + 8);
        info.tcp_flags = p[13];
        info.window = be16(p + 14);
        if (info.tcp_flags & kTcpSyn) {
            // Options: kind 0 ends, 1 pads, others are kind/length/value.
            for (size_t o = 20; o + 1 < hl;) {
                const uint8_t kind = p[o];
                if (kind == 0) break;
                if (kind == 1) {
                    ++o;
                    continue;
                }
                const uint8_t len = p[o + 1];
                if (len < 2 || o + len > hl) break;
                if (kind == 3 && len == 3) info.window_scale = p[o + 2];
                if (kind == 2 && len == 4) info.mss = be16(p + o + 2);
                o += len;
            }
        }
        info.payload_offset = l4_off + hl;
        info.payload_bytes = n - hl;
    } else if (proto == 17) {
        info.l4 = L4::udp;
        if (n < 8) return;
        info.has_l4 = true;
        info.src_port = be16(p);
        info.dst_port = be16(p + 2);
        info.payload_offset = l4_off + 8;
        info.payload_bytes = n - 8;
    } else if (proto == 1 || proto == 58) {
        info.l4 = proto == 1 ? L4::icmp : L4::icmp6;
        if (n < 4) return;
        info.has_l4 = true;
        info.icmp_type = p[0];
        info.payload_offset = l4_off + 4;
        info.payload_bytes = n - 4;
    } else {
        info.l4 = L4::other;
    }
}

}  // namespace

bool parse_frame(std::span<const std::byte> frame, FrameInfo& info) {
    info = FrameInfo{};
    const auto* f = reinterpret_cast<const uint8_t*>(frame.data());
    const size_t len = frame.size();
    if (len < 14) return false;
    info.broadcast = (f[0] & 1) != 0;
    const uint16_t type = be16(f + 12);
    if (type == 0x0806) {
        info.l3 = L3::arp;
        return true;
    }
    if (type == 0x0800 && len >= 14 + 20) {
        const uint8_t* ip = f + 14;
        const size_t hl = static_cast<size_t>(ip[0] & 0xf) * 4;
        const size_t total = be16(ip + 2);
        if ((ip[0] >> 4) != 4 || hl < 20 || total < hl || 14 + total > len) return true;
        info.l3 = L3::ipv4;
        info.ip_bytes = total;
        info.addr_bytes = 4;
        std::memcpy(info.src_ip, ip + 12, 4);
        std::memcpy(info.dst_ip, ip + 16, 4);
        const uint16_t frag = be16(ip + 6);
        info.frag_id = be16(ip + 4);
        info.more_fragments = (frag & 0x2000) != 0;
        info.frag_offset = static_cast<uint32_t>(frag & 0x1fff) * 8;
        info.fragment = info.more_fragments || info.frag_offset != 0;
        if (info.frag_offset == 0) parse_l4(f, 14 + hl, 14 + total, ip[9], info);
        return true;
    }
    if (type == 0x86dd && len >= 14 + 40) {
        const uint8_t* ip = f + 14;
        if ((ip[0] >> 4) != 6) return true;
        const size_t payload = be16(ip + 4);
        if (14 + 40 + payload > len) return true;
        info.l3 = L3::ipv6;
        info.ip_bytes = 40 + payload;
        info.addr_bytes = 16;
        std::memcpy(info.src_ip, ip + 8, 16);
        std::memcpy(info.dst_ip, ip + 24, 16);
        uint8_t next = ip[6];
        size_t off = 14 + 40;
        const size_t end = 14 + 40 + payload;
        // Hop-by-hop (MLD) and fragment headers; anything else ends the walk.
        for (int hops = 0; hops < 4; ++hops) {
            if (next == 0 && off + 8 <= end) {
                next = f[off];
                off += (static_cast<size_t>(f[off + 1]) + 1) * 8;
            } else if (next == 44 && off + 8 <= end) {
                info.fragment = true;
                const uint16_t fo = be16(f + off + 2);
                info.frag_offset = static_cast<uint32_t>(fo >> 3) * 8;
                info.more_fragments = (fo & 1) != 0;
                info.frag_id = be32(f + off + 4);
                next = f[off];
                off += 8;
            } else {
                break;
            }
        }
        if (info.frag_offset == 0 && off <= end) parse_l4(f, off, end, next, info);
        return true;
    }
    return true;
}

std::string describe(const FrameInfo& info) {
    char buf[256];
    auto addr = [](const FrameInfo& i, const uint8_t* a, char* out, size_t n) {
        if (i.addr_bytes == 4) {
            std::snprintf(out, n, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
        } else {
            // Our nodes' addresses differ in the last bytes only: short but unambiguous.
            std::snprintf(out, n, "[%02x%02x..%02x%02x]", a[0], a[1], a[14], a[15]);
        }
    };
    if (info.l3 == L3::arp) return "arp";
    if (info.l3 == L3::other) return "other";
    char s[48], d[48];
    addr(info, info.src_ip, s, sizeof s);
    addr(info, info.dst_ip, d, sizeof d);
    std::string frag;
    if (info.fragment) {
        char fb[64];
        std::snprintf(fb, sizeof fb, " frag id=%u off=%u%s", info.frag_id, info.frag_offset,
                      info.more_fragments ? "+" : "");
        frag = fb;
    }
    if (!info.has_l4) {
        std::snprintf(buf, sizeof buf, "%s %s>%s%s", info.l3 == L3::ipv4 ? "ip" : "ip6", s, d,
                      frag.c_str());
        return buf;
    }
    switch (info.l4) {
        case L4::tcp: {
            char flags[8];
            size_t k = 0;
            if (info.tcp_flags & kTcpSyn) flags[k++] = 'S';
            if (info.tcp_flags & kTcpFin) flags[k++] = 'F';
            if (info.tcp_flags & kTcpRst) flags[k++] = 'R';
            if (info.tcp_flags & kTcpPsh) flags[k++] = 'P';
            if (info.tcp_flags & kTcpAck) flags[k++] = '.';
            flags[k] = 0;
            std::snprintf(buf, sizeof buf, "tcp %s:%u>%s:%u [%s] seq=%u ack=%u win=%u len=%zu%s", s,
                          info.src_port, d, info.dst_port, flags, info.seq, info.ack, info.window,
                          info.payload_bytes, frag.c_str());
            return buf;
        }
        case L4::udp:
            std::snprintf(buf, sizeof buf, "udp %s:%u>%s:%u len=%zu%s", s, info.src_port, d,
                          info.dst_port, info.payload_bytes, frag.c_str());
            return buf;
        case L4::icmp:
        case L4::icmp6:
            std::snprintf(buf, sizeof buf, "%s %s>%s type=%u%s",
                          info.l4 == L4::icmp ? "icmp" : "icmp6", s, d, info.icmp_type,
                          frag.c_str());
            return buf;
        default:
            std::snprintf(buf, sizeof buf, "ip %s>%s%s", s, d, frag.c_str());
            return buf;
    }
}

CorruptibleBits corruptible_bits(const FrameInfo& info) {
    CorruptibleBits b;
    if (info.l3 == L3::ipv4) {
        b.first_bit = info.ip_offset * 8;
        b.end_bit = (info.ip_offset + info.ip_bytes) * 8;
    } else if (info.l3 == L3::ipv6) {
        b.first_bit = info.ip_offset * 8;
        b.end_bit = (info.ip_offset + info.ip_bytes) * 8;
        b.skip_first_bit = (info.ip_offset + 4) * 8;
        b.skip_end_bit = (info.ip_offset + 6) * 8;
    }
    return b;
}

}  // namespace culvert::sim
