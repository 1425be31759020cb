// Frame layout, checksums and field decoding for replay (packet.hpp).
#include "cli/replay/packet.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace culvert::replay {

uint16_t read16(ByteView b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }
uint32_t read32(ByteView b, size_t at) {
    return static_cast<uint32_t>(b[at]) << 24 | static_cast<uint32_t>(b[at + 1]) << 16 |
           static_cast<uint32_t>(b[at + 2]) << 8 | b[at + 3];
}
void write16(std::span<uint8_t> b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}
void write32(std::span<uint8_t> b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

std::string format_mac(ByteView b, size_t at) {
    char s[18];
    std::snprintf(s, sizeof s, "%02x:%02x:%02x:%02x:%02x:%02x", b[at], b[at + 1], b[at + 2],
                  b[at + 3], b[at + 4], b[at + 5]);
    return s;
}
std::string format_ip4(ByteView b, size_t at) {
    char s[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, b.data() + at, s, sizeof s);
    return s;
}
std::string format_ip6(ByteView b, size_t at) {
    char s[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, b.data() + at, s, sizeof s);
    return s;
}

namespace {

bool is_ipv6_extension(uint8_t nh) {
    return nh == 0 || nh == 43 || nh == 44 || nh == 60 || nh == 51;
}

}  // namespace

std::optional<Layout> parse_layout(ByteView f) {
    Layout l;
    if (f.size() < 14) return std::nullopt;
    size_t at = 12;
    l.ethertype = read16(f, at);
    at += 2;
    if (l.ethertype == kEtherVlan) {
        if (f.size() < 18) return std::nullopt;
        l.ethertype = read16(f, 16);
        at = 18;
    }
    l.l3 = at;
    if (l.ethertype == kEtherArp) {
        if (f.size() < at + 28) return std::nullopt;
        l.arp = true;
        l.ip_end = at + 28;
        return l;
    }
    if (l.ethertype == kEtherIpv4) {
        if (f.size() < at + 20 || f[at] >> 4 != 4) return std::nullopt;
        const size_t ihl = static_cast<size_t>(f[at] & 0x0f) * 4;
        const size_t total = read16(f, at + 2);
        if (ihl < 20 || total < ihl || f.size() < at + total) return std::nullopt;
        l.ipv4 = true;
        l.ip_end = at + total;
        const uint16_t frag = read16(f, at + 6);
        const bool more = frag & 0x2000;
        const uint16_t offset = frag & 0x1fff;
        l.fragment = more || offset != 0;
        l.proto = f[at + 9];
        if (offset == 0) {
            l.has_l4 = true;
            l.l4 = at + ihl;
            l.l4_len = total - ihl;
        }
        return l;
    }
    if (l.ethertype == kEtherIpv6) {
        if (f.size() < at + 40 || f[at] >> 4 != 6) return std::nullopt;
        const size_t payload = read16(f, at + 4);
        if (f.size() < at + 40 + payload) return std::nullopt;
        l.ipv6 = true;
        l.ip_end = at + 40 + payload;
        uint8_t nh = f[at + 6];
        size_t p = at + 40;
        while (is_ipv6_extension(nh)) {
            if (p + 8 > l.ip_end) return std::nullopt;
            size_t len;
            if (nh == 44) {  // fragment header: fixed 8 bytes
                l.fragment = true;
                if ((read16(f, p + 2) & 0xfff8) != 0) {  // a later fragment: no transport
                    l.proto = f[p];
                    return l;
                }
                len = 8;
            } else if (nh == 51) {
                len = (static_cast<size_t>(f[p + 1]) + 2) * 4;
            } else {
                len = (static_cast<size_t>(f[p + 1]) + 1) * 8;
            }
            nh = f[p];
            p += len;
            if (p > l.ip_end) return std::nullopt;
        }
        l.proto = nh;
        l.has_l4 = true;
        l.l4 = p;
        l.l4_len = l.ip_end - p;
        return l;
    }
    return l;  // another ethertype: Ethernet only
}

namespace {

uint32_t sum_words(ByteView b, size_t at, size_t len, uint32_t sum = 0) {
    for (size_t i = 0; i + 1 < len; i += 2) sum += read16(b, at + i);
    if (len & 1) sum += static_cast<uint32_t>(b[at + len - 1]) << 8;
    return sum;
}

uint16_t fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

}  // namespace

uint16_t ipv4_header_checksum(ByteView f, const Layout& l) {
    const size_t ihl = static_cast<size_t>(f[l.l3] & 0x0f) * 4;
    uint32_t sum = 0;
    for (size_t i = 0; i < ihl; i += 2)
        if (i != 10) sum += read16(f, l.l3 + i);  // the checksum field counts as zero
    return fold(sum);
}

std::optional<size_t> l4_checksum_offset(const Layout& l) {
    if (!l.has_l4 || l.fragment) return std::nullopt;
    switch (l.proto) {
        case kProtoTcp: return l.l4_len >= 20 ? std::optional<size_t>(l.l4 + 16) : std::nullopt;
        case kProtoUdp: return l.l4_len >= 8 ? std::optional<size_t>(l.l4 + 6) : std::nullopt;
        case kProtoIcmp:
        case kProtoIcmpv6: return l.l4_len >= 4 ? std::optional<size_t>(l.l4 + 2) : std::nullopt;
        default: return std::nullopt;
    }
}

std::optional<uint16_t> l4_checksum(ByteView f, const Layout& l) {
    auto field = l4_checksum_offset(l);
    if (!field) return std::nullopt;
    if (l.proto == kProtoIcmp && !l.ipv4) return std::nullopt;
    if (l.proto == kProtoIcmpv6 && !l.ipv6) return std::nullopt;
    uint64_t sum = 0;
    if (l.proto != kProtoIcmp) {  // pseudo-header
        if (l.ipv4) {
            sum += sum_words(f, l.l3 + 12, 8);
        } else {
            sum += sum_words(f, l.l3 + 8, 32);
            sum += static_cast<uint32_t>(l.l4_len >> 16);
        }
        sum += l.proto;
        sum += static_cast<uint32_t>(l.l4_len & 0xffff);
    }
    // The checksum field counts as zero; it sits at an even offset, so words stay aligned.
    sum += sum_words(f, l.l4, *field - l.l4);
    sum += sum_words(f, *field + 2, l.l4 + l.l4_len - *field - 2);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    uint16_t c = static_cast<uint16_t>(~sum);
    // UDP transmits a computed 0 as 0xffff (0 means "no checksum").
    if (l.proto == kProtoUdp && c == 0) c = 0xffff;
    return c;
}

void update_checksums(std::span<uint8_t> f, const Layout& bl, ByteView before) {
    auto l = parse_layout(f);
    if (!l) return;
    if (l->ipv4 && bl.ipv4) {
        const bool was_ok = ipv4_header_checksum(before, bl) == read16(before, bl.l3 + 10);
        const uint16_t c = ipv4_header_checksum(f, *l);
        write16(f, l->l3 + 10, was_ok ? c : static_cast<uint16_t>(c ^ 0x5555));
    }
    auto field = l4_checksum_offset(*l);
    auto before_field = l4_checksum_offset(bl);
    if (!field || !before_field) return;
    const uint16_t stored_before = read16(before, *before_field);
    if (l->proto == kProtoUdp && l->ipv4 && stored_before == 0) return;  // "no checksum"
    auto correct_before = l4_checksum(before, bl);
    auto correct = l4_checksum(f, *l);
    if (!correct || !correct_before) return;
    const bool was_ok = *correct_before == stored_before ||
                        (stored_before == 0xffff && *correct_before == 0) ||
                        (stored_before == 0 && *correct_before == 0xffff);
    write16(f, *field, was_ok ? *correct : static_cast<uint16_t>(*correct ^ 0x5555));
}

// ---- decoding into fields ----

namespace {

std::string num(uint64_t v) { return std::to_string(v); }
std::string hex(uint64_t v, int width) {
    char s[24];
    std::snprintf(s, sizeof s, "0x%0*llx", width, static_cast<unsigned long long>(v));
    return s;
}

struct Out {
    std::vector<Field>& fields;
    std::string layer;
    void add(std::string name, std::string value, bool free = false) {
        fields.push_back(Field{layer, std::move(name), std::move(value), free, false, {}});
    }
    void bytes(std::string name, ByteView b) {
        Field fl{layer, std::move(name), std::to_string(b.size()) + " bytes", false, true, {}};
        fl.bytes.assign(b.begin(), b.end());
        fields.push_back(std::move(fl));
    }
    void malformed(std::string why) { add("malformed", std::move(why)); }
};

std::string checksum_verdict(uint16_t stored, std::optional<uint16_t> correct) {
    if (!correct) return "unchecked";
    if (stored == *correct) return "valid";
    return "invalid (" + hex(stored, 4) + ", should be " + hex(*correct, 4) + ")";
}

std::string tcp_flags(uint8_t fl) {
    static const char* names[] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
    std::string s;
    for (int i = 0; i < 8; ++i)
        if (fl & (1 << i)) s += (s.empty() ? "" : ",") + std::string(names[i]);
    return s.empty() ? "none" : s;
}

void decode_tcp(ByteView f, const Layout& l, Out& o) {
    o.layer = "TCP";
    if (l.l4_len < 20) return o.malformed(num(l.l4_len) + " bytes, shorter than a TCP header");
    const size_t t = l.l4;
    const size_t doff = static_cast<size_t>(f[t + 12] >> 4) * 4;
    o.add("source port", num(read16(f, t)));
    o.add("destination port", num(read16(f, t + 2)));
    o.add("sequence number", num(read32(f, t + 4)));
    o.add("acknowledgment number", num(read32(f, t + 8)));
    o.add("header length", num(doff));
    o.add("flags", tcp_flags(f[t + 13]) + ((f[t + 12] & 0x0f) ? " +reserved" : ""));
    o.add("window", num(read16(f, t + 14)));
    o.add("checksum", checksum_verdict(read16(f, t + 16), l4_checksum(f, l)));
    o.add("urgent pointer", num(read16(f, t + 18)));
    if (doff < 20 || doff > l.l4_len) return o.malformed("header length " + num(doff) + " is bad");
    size_t p = t + 20, idx = 1;
    while (p < t + doff) {
        const uint8_t kind = f[p];
        const std::string name = "option " + num(idx++);
        if (kind == 0) {
            o.add(name, "EOL");
            break;
        }
        if (kind == 1) {
            o.add(name, "NOP");
            ++p;
            continue;
        }
        if (p + 2 > t + doff || f[p + 1] < 2 || p + f[p + 1] > t + doff) {
            o.add(name, "malformed (kind " + num(kind) + ")");
            break;
        }
        const size_t len = f[p + 1];
        std::string v;
        if (kind == 2 && len == 4) {
            v = "MSS " + num(read16(f, p + 2));
        } else if (kind == 3 && len == 3) {
            v = "window scale " + num(f[p + 2]);
        } else if (kind == 4 && len == 2) {
            v = "SACK permitted";
        } else if (kind == 5 && (len - 2) % 8 == 0) {
            v = "SACK";
            for (size_t b = p + 2; b < p + len; b += 8)
                v += " " + num(read32(f, b)) + "-" + num(read32(f, b + 4));
        } else if (kind == 8 && len == 10) {
            v = "timestamps " + num(read32(f, p + 2)) + " " + num(read32(f, p + 6));
        } else {
            v = "kind " + num(kind) + " length " + num(len);
        }
        o.add(name, v);
        p += len;
    }
    o.layer = "TCP payload";
    o.bytes("data", f.subspan(t + doff, l.l4_len - doff));
}

void decode_udp(ByteView f, const Layout& l, Out& o) {
    o.layer = "UDP";
    if (l.l4_len < 8) return o.malformed(num(l.l4_len) + " bytes, shorter than a UDP header");
    const size_t u = l.l4;
    o.add("source port", num(read16(f, u)));
    o.add("destination port", num(read16(f, u + 2)));
    o.add("length", num(read16(f, u + 4)));
    const uint16_t stored = read16(f, u + 6);
    o.add("checksum", l.ipv4 && stored == 0 ? "none" : checksum_verdict(stored, l4_checksum(f, l)));
    o.layer = "UDP payload";
    o.bytes("data", f.subspan(u + 8, l.l4_len - 8));
}

void decode_icmp(ByteView f, const Layout& l, Out& o, bool v6) {
    o.layer = v6 ? "ICMPv6" : "ICMP";
    if (l.l4_len < 4) return o.malformed(num(l.l4_len) + " bytes, shorter than an ICMP header");
    o.add("type", num(f[l.l4]));
    o.add("code", num(f[l.l4 + 1]));
    o.add("checksum", checksum_verdict(read16(f, l.l4 + 2), l4_checksum(f, l)));
    o.bytes("body", f.subspan(l.l4 + 4, l.l4_len - 4));
}

}  // namespace

std::vector<Field> decode_fields(ByteView f) {
    std::vector<Field> fields;
    Out o{fields, "Ethernet"};
    if (f.size() < 14) {
        o.malformed(num(f.size()) + " bytes, shorter than an Ethernet header");
        return fields;
    }
    o.add("destination", format_mac(f, 0));
    o.add("source", format_mac(f, 6));
    size_t at = 12;
    if (read16(f, 12) == kEtherVlan && f.size() >= 18) {
        o.add("VLAN tag", hex(read16(f, 14), 4));
        at = 16;
    }
    o.add("type", hex(read16(f, at), 4));
    auto l = parse_layout(f);
    if (!l) {
        o.layer = "network";
        o.malformed("header truncated or inconsistent");
        o.bytes("rest", f.subspan(at + 2));
        return fields;
    }
    if (l->arp) {
        o.layer = "ARP";
        const size_t a = l->l3;
        o.add("hardware type", num(read16(f, a)));
        o.add("protocol type", hex(read16(f, a + 2), 4));
        o.add("sizes", num(f[a + 4]) + "/" + num(f[a + 5]));
        o.add("operation", read16(f, a + 6) == 1 ? "request" : read16(f, a + 6) == 2 ? "reply" : num(read16(f, a + 6)));
        o.add("sender MAC", format_mac(f, a + 8));
        o.add("sender IP", format_ip4(f, a + 14));
        o.add("target MAC", format_mac(f, a + 18));
        o.add("target IP", format_ip4(f, a + 24));
    } else if (l->ipv4) {
        o.layer = "IPv4";
        const size_t i = l->l3;
        const size_t ihl = static_cast<size_t>(f[i] & 0x0f) * 4;
        o.add("header length", num(ihl));
        o.add("DSCP/ECN", hex(f[i + 1], 2));
        o.add("total length", num(read16(f, i + 2)));
        o.add("identification", num(read16(f, i + 4)), /*free=*/true);
        const uint16_t frag = read16(f, i + 6);
        o.add("flags", std::string(frag & 0x4000 ? "DF" : "") + (frag & 0x2000 ? " MF" : "") +
                           (frag & 0x8000 ? " reserved" : ""));
        o.add("fragment offset", num((frag & 0x1fff) * 8u));
        o.add("TTL", num(f[i + 8]));
        o.add("protocol", num(f[i + 9]));
        const uint16_t stored = read16(f, i + 10);
        o.add("header checksum", checksum_verdict(stored, ipv4_header_checksum(f, *l)));
        o.add("source", format_ip4(f, i + 12));
        o.add("destination", format_ip4(f, i + 16));
        if (ihl > 20) o.bytes("options", f.subspan(i + 20, ihl - 20));
    } else if (l->ipv6) {
        o.layer = "IPv6";
        const size_t i = l->l3;
        const uint32_t w = read32(f, i);
        o.add("traffic class", hex((w >> 20) & 0xff, 2));
        o.add("flow label", hex(w & 0xfffff, 5));
        o.add("payload length", num(read16(f, i + 4)));
        o.add("next header", num(f[i + 6]));
        o.add("hop limit", num(f[i + 7]));
        o.add("source", format_ip6(f, i + 8));
        o.add("destination", format_ip6(f, i + 24));
        if (l->has_l4 && l->l4 > i + 40) o.bytes("extension headers", f.subspan(i + 40, l->l4 - i - 40));
    } else {
        o.layer = "Ethernet payload";
        o.bytes("data", f.subspan(at + 2));
        return fields;
    }
    if ((l->ipv4 || l->ipv6) && !l->has_l4) {
        o.layer = "fragment";
        o.bytes("data", f.subspan(l->l3, l->ip_end - l->l3));
    } else if (l->has_l4) {
        if (l->fragment) {
            o.layer = "first fragment";
            o.bytes("data", f.subspan(l->l4, l->l4_len));
        } else if (l->proto == kProtoTcp) {
            decode_tcp(f, *l, o);
        } else if (l->proto == kProtoUdp) {
            decode_udp(f, *l, o);
        } else if (l->proto == kProtoIcmp && l->ipv4) {
            decode_icmp(f, *l, o, false);
        } else if (l->proto == kProtoIcmpv6 && l->ipv6) {
            decode_icmp(f, *l, o, true);
        } else {
            o.layer = "protocol " + num(l->proto);
            o.bytes("data", f.subspan(l->l4, l->l4_len));
        }
    }
    if (l->ip_end < f.size()) {
        o.layer = "Ethernet trailer";
        o.bytes("padding", f.subspan(l->ip_end));
    }
    return fields;
}

std::string summarize(ByteView f) {
    auto l = parse_layout(f);
    if (!l) return num(f.size()) + " bytes, malformed";
    if (l->arp) {
        const size_t a = l->l3;
        if (read16(f, a + 6) == 1)
            return "ARP who-has " + format_ip4(f, a + 24) + " tell " + format_ip4(f, a + 14);
        return "ARP " + format_ip4(f, a + 14) + " is-at " + format_mac(f, a + 8);
    }
    if (!l->ipv4 && !l->ipv6) return "ethertype " + hex(l->ethertype, 4) + ", " + num(f.size()) + " bytes";
    const std::string src = l->ipv4 ? format_ip4(f, l->l3 + 12) : format_ip6(f, l->l3 + 8);
    const std::string dst = l->ipv4 ? format_ip4(f, l->l3 + 16) : format_ip6(f, l->l3 + 24);
    std::string s = l->ipv4 ? "IPv4 " : "IPv6 ";
    if (!l->has_l4 || l->fragment) return s + src + " > " + dst + " fragment";
    if (l->proto == kProtoTcp && l->l4_len >= 20) {
        const size_t t = l->l4;
        const size_t doff = static_cast<size_t>(f[t + 12] >> 4) * 4;
        const uint8_t fl = f[t + 13];
        std::string flags;
        if (fl & 0x02) flags += 'S';
        if (fl & 0x01) flags += 'F';
        if (fl & 0x04) flags += 'R';
        if (fl & 0x08) flags += 'P';
        if (fl & 0x10) flags += '.';
        s += src + "." + num(read16(f, t)) + " > " + dst + "." + num(read16(f, t + 2)) + " TCP [" +
             flags + "] seq " + num(read32(f, t + 4));
        if (fl & 0x10) s += " ack " + num(read32(f, t + 8));
        s += " win " + num(read16(f, t + 14));
        s += " len " + num(doff <= l->l4_len ? l->l4_len - doff : 0);
        return s;
    }
    if (l->proto == kProtoUdp && l->l4_len >= 8)
        return s + src + "." + num(read16(f, l->l4)) + " > " + dst + "." +
               num(read16(f, l->l4 + 2)) + " UDP len " + num(l->l4_len - 8);
    if ((l->proto == kProtoIcmp || l->proto == kProtoIcmpv6) && l->l4_len >= 4)
        return s + src + " > " + dst + (l->proto == kProtoIcmp ? " ICMP" : " ICMPv6") + " type " +
               num(f[l->l4]) + " code " + num(f[l->l4 + 1]);
    return s + src + " > " + dst + " protocol " + num(l->proto);
}

}  // namespace culvert::replay
