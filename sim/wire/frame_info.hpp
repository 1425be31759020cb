// What a frame on the virtual wire carries, read from its bytes: Ethernet, ARP, IPv4/IPv6
// (with fragments), TCP, UDP, ICMP. For traces, for the wire's corruption model (which bits
// a checksum covers) and for scenario observers (zero windows, resets, datagram accounting).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace culvert::sim {

enum class L3 : uint8_t { other, arp, ipv4, ipv6 };
enum class L4 : uint8_t { none, tcp, udp, icmp, icmp6, other };

inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                         kTcpAck = 0x10;

struct FrameInfo {
    L3 l3 = L3::other;
    L4 l4 = L4::none;
    bool broadcast = false;  // group bit of the destination MAC
    size_t ip_offset = 14;   // where the IP header starts in the frame
    size_t ip_bytes = 0;     // the IP packet's length (header + payload), <= frame - 14
    uint8_t addr_bytes = 0;  // 4 or 16
    uint8_t src_ip[16] = {};
    uint8_t dst_ip[16] = {};
    // Fragments: offset in bytes; `first` = offset 0 (it holds the L4 header).
    bool fragment = false;
    bool more_fragments = false;
    uint32_t frag_id = 0;
    uint32_t frag_offset = 0;
    // L4 (only when the L4 header is in this frame).
    bool has_l4 = false;
    uint16_t src_port = 0, dst_port = 0;
    uint32_t seq = 0, ack = 0;
    uint8_t tcp_flags = 0;
    uint16_t window = 0;          // raw header field (unscaled)
    uint8_t window_scale = 0xff;  // a SYN's window-scale option (0xff: none, or not a SYN)
    uint16_t mss = 0;             // a SYN's MSS option (0: none, or not a SYN)
    uint8_t icmp_type = 0;
    size_t payload_offset = 0;  // L4 payload in the frame
    size_t payload_bytes = 0;
};

// Parses what it can; never reads outside `frame`. Returns false for frames too short for
// even an Ethernet header.
bool parse_frame(std::span<const std::byte> frame, FrameInfo& info);

// One short human line: "tcp 10.0.0.2:80>10.0.0.1:49152 [S.] seq=1 ack=2 win=3 len=0".
std::string describe(const FrameInfo& info);

// Bits of the frame whose corruption a checksum must catch or that carry no data at all:
// [first_bit, end_bit). Empty (0, 0) for frames no checksum protects (ARP: on a real link
// the Ethernet FCS drops those). For IPv6 the payload-length field is left out: no checksum
// covers it and a shorter value would silently truncate what the L4 checksum sees.
struct CorruptibleBits {
    size_t first_bit = 0, end_bit = 0;
    size_t skip_first_bit = 0, skip_end_bit = 0;  // a hole inside the range (IPv6 length)
};
CorruptibleBits corruptible_bits(const FrameInfo& info);

}  // namespace culvert::sim
