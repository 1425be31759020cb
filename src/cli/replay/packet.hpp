// Reading Ethernet frames for replay: where each layer starts, Internet checksums, and a
// decoding into named fields that the comparison walks and the diff prints. Pure byte
// work with no lwIP: every length is checked against the frame, so hostile captures
// decode as "malformed", never as out-of-bounds reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace culvert::replay {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline constexpr uint16_t kEtherIpv4 = 0x0800;
inline constexpr uint16_t kEtherArp = 0x0806;
inline constexpr uint16_t kEtherIpv6 = 0x86dd;
inline constexpr uint16_t kEtherVlan = 0x8100;
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmpv6 = 58;

// Where the layers of a frame are. Offsets are into the frame; every range lies inside it.
struct Layout {
    uint16_t ethertype = 0;
    size_t l3 = 0;  // network header (after Ethernet and any VLAN tag)
    bool arp = false, ipv4 = false, ipv6 = false;
    size_t ip_end = 0;  // end of the IP packet by its own length field (padding after it)
    // Transport: present for IPv4/IPv6 packets that are not a later fragment.
    bool has_l4 = false;
    uint8_t proto = 0;
    size_t l4 = 0;          // transport header
    size_t l4_len = 0;      // transport header + payload
    bool fragment = false;  // part of a fragmented datagram (IPv4 MF/offset, IPv6 frag header)
};

// nullopt: too short or inconsistent below the transport layer.
std::optional<Layout> parse_layout(ByteView frame);

uint16_t read16(ByteView b, size_t at);
uint32_t read32(ByteView b, size_t at);
void write16(std::span<uint8_t> b, size_t at, uint16_t v);
void write32(std::span<uint8_t> b, size_t at, uint32_t v);

// The checksum a header should carry (computed with its checksum field taken as zero).
// ipv4_header_checksum: the IPv4 header. l4_checksum: TCP, UDP, ICMP or ICMPv6 (with the
// pseudo-header where the protocol has one); nullopt when the layout has no such layer.
uint16_t ipv4_header_checksum(ByteView frame, const Layout& l);
std::optional<uint16_t> l4_checksum(ByteView frame, const Layout& l);
// Offset of the transport checksum field, if the layout has one.
std::optional<size_t> l4_checksum_offset(const Layout& l);
// Recomputes the IPv4 header and transport checksums after a rewrite. A checksum that was
// wrong in `before` stays wrong: rewriting must not repair a corrupt input frame.
// A UDP/IPv4 checksum of 0 ("none") stays 0.
void update_checksums(std::span<uint8_t> frame, const Layout& before_layout, ByteView before);

// One decoded field. `value` is what the comparison compares and the diff prints; `bytes`
// fields (payloads) compare their bytes and print where they first differ. Free fields are
// shown but never compared (docs/replay.md says which and why).
struct Field {
    std::string layer;
    std::string name;
    std::string value;
    bool free = false;
    bool is_bytes = false;
    Bytes bytes;
};

std::vector<Field> decode_fields(ByteView frame);
// One line in the manner of tcpdump: "IPv4 10.0.0.2.80 > 10.0.0.1.41000 TCP [S.] seq 1 ..."
std::string summarize(ByteView frame);

std::string format_mac(ByteView b, size_t at);
std::string format_ip4(ByteView b, size_t at);
std::string format_ip6(ByteView b, size_t at);

}  // namespace culvert::replay
