// Address mapping and the ISN/port bridge for replay (rewrite.hpp).
#include "cli/replay/rewrite.hpp"

#include <algorithm>
#include <cstring>

namespace culvert::replay {
namespace {

template <size_t N>
bool replace(std::span<uint8_t> f, size_t at, const std::vector<std::pair<std::array<uint8_t, N>, std::array<uint8_t, N>>>& pairs) {
    if (at + N > f.size()) return false;
    for (const auto& [from, to] : pairs) {
        if (std::memcmp(f.data() + at, from.data(), N) == 0) {
            if (from == to) return false;
            std::memcpy(f.data() + at, to.data(), N);
            return true;
        }
    }
    return false;
}

Ip6 solicited_node(const Ip6& a) {
    Ip6 s{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, a[13], a[14], a[15]};
    return s;
}

}  // namespace

Ip6 link_local_of(const Mac& m) {
    return Ip6{0xfe, 0x80, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(m[0] ^ 0x02), m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]};
}

void AddressMap::complete() {
    for (const auto& [from, to] : std::vector(macs)) ipv6.emplace_back(link_local_of(from), link_local_of(to));
    for (const auto& [from, to] : std::vector(ipv6)) {
        const Ip6 sf = solicited_node(from), st = solicited_node(to);
        if (sf != st) ipv6.emplace_back(sf, st);
        const Mac mf{0x33, 0x33, 0xff, from[13], from[14], from[15]};
        const Mac mt{0x33, 0x33, 0xff, to[13], to[14], to[15]};
        if (mf != mt) macs.emplace_back(mf, mt);
    }
}

bool AddressMap::apply(Bytes& frame) const {
    if (empty()) return false;
    auto before_layout = parse_layout(frame);
    const Bytes before = frame;
    std::span<uint8_t> f(frame);
    bool changed = false;
    changed |= replace(f, 0, macs);
    changed |= replace(f, 6, macs);
    if (!before_layout) return changed;
    const Layout& l = *before_layout;
    if (l.arp) {
        changed |= replace(f, l.l3 + 8, macs);
        changed |= replace(f, l.l3 + 14, ipv4);
        changed |= replace(f, l.l3 + 18, macs);
        changed |= replace(f, l.l3 + 24, ipv4);
        return changed;
    }
    if (l.ipv4) {
        changed |= replace(f, l.l3 + 12, ipv4);
        changed |= replace(f, l.l3 + 16, ipv4);
    }
    if (l.ipv6) {
        changed |= replace(f, l.l3 + 8, ipv6);
        changed |= replace(f, l.l3 + 24, ipv6);
        if (l.has_l4 && !l.fragment && l.proto == kProtoIcmpv6 && l.l4_len >= 8) {
            const uint8_t type = f[l.l4];
            size_t options = 0;
            if (type == 130 || type == 131 || type == 132) {  // MLDv1: the group address
                changed |= replace(f, l.l4 + 8, ipv6);
            } else if (type == 133) {
                options = l.l4 + 8;
            } else if (type == 134) {
                options = l.l4 + 16;
            } else if (type == 135 || type == 136) {  // NS/NA: the target address
                changed |= replace(f, l.l4 + 8, ipv6);
                options = l.l4 + 24;
            } else if (type == 137) {
                changed |= replace(f, l.l4 + 8, ipv6);
                changed |= replace(f, l.l4 + 24, ipv6);
                options = l.l4 + 40;
            }
            // Source/target link-layer address options carry a MAC.
            const size_t end = l.l4 + l.l4_len;
            while (options != 0 && options + 8 <= end && f[options + 1] != 0) {
                const size_t len = static_cast<size_t>(f[options + 1]) * 8;
                if (options + len > end) break;
                if ((f[options] == 1 || f[options] == 2) && len == 8) changed |= replace(f, options + 2, macs);
                options += len;
            }
        }
    }
    if (changed) update_checksums(f, l, before);
    return changed;
}

bool Side::owns(ByteView f, size_t at, bool v6) const {
    if (v6) {
        return std::any_of(ipv6.begin(), ipv6.end(), [&](const Ip6& a) { return std::memcmp(f.data() + at, a.data(), 16) == 0; }) ||
               (mac && std::memcmp(f.data() + at, link_local_of(*mac).data(), 16) == 0);
    }
    return std::any_of(ipv4.begin(), ipv4.end(), [&](const Ip4& a) { return std::memcmp(f.data() + at, a.data(), 4) == 0; });
}

FlowMapper::Key FlowMapper::key(uint8_t proto, ByteView cip, uint16_t cport, ByteView pip, uint16_t pport) {
    Key k;
    k.push_back(static_cast<char>(proto));
    k.append(reinterpret_cast<const char*>(cip.data()), cip.size());
    k.push_back(static_cast<char>(cport >> 8));
    k.push_back(static_cast<char>(cport));
    k.append(reinterpret_cast<const char*>(pip.data()), pip.size());
    k.push_back(static_cast<char>(pport >> 8));
    k.push_back(static_cast<char>(pport));
    return k;
}

FlowMapper::Key FlowMapper::endpoint(uint8_t proto, ByteView cip, ByteView pip, uint16_t pport) {
    return key(proto, cip, 0, pip, pport);
}

namespace {

struct Addrs {
    ByteView src, dst;
};

std::optional<Addrs> addrs(ByteView f, const Layout& l) {
    if (l.ipv4) return Addrs{f.subspan(l.l3 + 12, 4), f.subspan(l.l3 + 16, 4)};
    if (l.ipv6) return Addrs{f.subspan(l.l3 + 8, 16), f.subspan(l.l3 + 24, 16)};
    return std::nullopt;
}

bool transport(const Layout& l) {
    return l.has_l4 && !l.fragment &&
           ((l.proto == kProtoTcp && l.l4_len >= 20) || (l.proto == kProtoUdp && l.l4_len >= 8));
}

// Shifts the SACK blocks of a TCP header by `delta`.
void shift_sack(std::span<uint8_t> f, const Layout& l, uint32_t delta) {
    const size_t t = l.l4;
    const size_t doff = static_cast<size_t>(f[t + 12] >> 4) * 4;
    if (doff < 20 || doff > l.l4_len) return;
    size_t p = t + 20;
    while (p < t + doff) {
        if (f[p] == 0) break;
        if (f[p] == 1) {
            ++p;
            continue;
        }
        if (p + 2 > t + doff || f[p + 1] < 2 || p + f[p + 1] > t + doff) break;
        if (f[p] == 5)
            for (size_t b = p + 2; b + 8 <= p + f[p + 1]; b += 4) write32(f, b, read32(f, b) + delta);
        p += f[p + 1];
    }
}

}  // namespace

void FlowMapper::learn_recorded(const std::vector<Bytes>& peer_frames) {
    for (const Bytes& frame : peer_frames) {
        auto l = parse_layout(frame);
        if (!l || !transport(*l)) continue;
        auto a = addrs(frame, *l);
        if (!culvert_.owns(frame, l->ipv4 ? l->l3 + 16 : l->l3 + 24, l->ipv6)) continue;
        const uint16_t sport = read16(frame, l->l4), dport = read16(frame, l->l4 + 2);
        const Key k = key(l->proto, a->dst, dport, a->src, sport);
        auto [it, fresh] = flows_.try_emplace(k);
        Flow& flow = it->second;
        if (fresh) {
            flow.port_rec = dport;
            if (l->proto == kProtoTcp) {
                const uint8_t flags = frame[l->l4 + 13];
                flow.culvert_opened = !((flags & 0x02) && !(flags & 0x10));
            } else {
                flow.culvert_opened = true;  // UDP: pairs by first use (see on_culvert_frame)
            }
            unpaired_[endpoint(l->proto, a->dst, a->src, sport)].push_back(k);
        }
        if (l->proto == kProtoTcp && !flow.isn_rec && (frame[l->l4 + 13] & 0x10))
            flow.isn_rec = read32(frame, l->l4 + 8) - 1;
    }
}

void FlowMapper::on_culvert_frame(ByteView frame) {
    auto l = parse_layout(frame);
    if (!l || !transport(*l)) return;
    auto a = addrs(frame, *l);
    if (!culvert_.owns(frame, l->ipv4 ? l->l3 + 12 : l->l3 + 8, l->ipv6)) return;
    const uint16_t sport = read16(frame, l->l4), dport = read16(frame, l->l4 + 2);
    const Key now = key(l->proto, a->src, sport, a->dst, dport);
    Flow* flow = nullptr;
    if (auto it = now_to_rec_.find(now); it != now_to_rec_.end()) {
        flow = &flows_[it->second];
    } else {
        // A flow culvert has not used yet this run: the next recorded one to the same peer
        // endpoint. A passive TCP open keeps its (listening) port: look it up directly.
        auto& queue = unpaired_[endpoint(l->proto, a->src, a->dst, dport)];
        auto pick = queue.end();
        for (auto q = queue.begin(); q != queue.end(); ++q) {
            const Flow& f = flows_[*q];
            if (f.paired) continue;
            if (l->proto == kProtoTcp && !f.culvert_opened && f.port_rec != sport) continue;
            pick = q;
            break;
        }
        if (pick == queue.end()) return;
        const Key rec = *pick;
        queue.erase(pick);
        flow = &flows_[rec];
        flow->paired = true;
        flow->port_now = sport;
        now_to_rec_[now] = rec;
        rec_to_now_[rec] = now;
    }
    if (l->proto == kProtoTcp && (frame[l->l4 + 13] & 0x02) && flow->isn_rec && !flow->isn_delta)
        flow->isn_delta = read32(frame, l->l4 + 4) - *flow->isn_rec;
}

void FlowMapper::rewrite_peer_frame(Bytes& frame) const {
    auto l = parse_layout(frame);
    if (!l || !transport(*l)) return;
    auto a = addrs(frame, *l);
    const Key rec = key(l->proto, a->dst, read16(frame, l->l4 + 2), a->src, read16(frame, l->l4));
    auto it = rec_to_now_.find(rec);
    if (it == rec_to_now_.end()) return;
    const Flow& flow = flows_.at(rec);
    const Bytes before = frame;
    std::span<uint8_t> f(frame);
    write16(f, l->l4 + 2, flow.port_now);
    if (l->proto == kProtoTcp && flow.isn_delta && *flow.isn_delta != 0) {
        if (f[l->l4 + 13] & 0x10) write32(f, l->l4 + 8, read32(f, l->l4 + 8) + *flow.isn_delta);
        shift_sack(f, *l, *flow.isn_delta);
    }
    if (frame != before) update_checksums(f, *l, before);
}

void FlowMapper::unmap_culvert_frame(Bytes& frame) const {
    auto l = parse_layout(frame);
    if (!l || !transport(*l)) return;
    auto a = addrs(frame, *l);
    const Key now = key(l->proto, a->src, read16(frame, l->l4), a->dst, read16(frame, l->l4 + 2));
    auto it = now_to_rec_.find(now);
    if (it == now_to_rec_.end()) return;
    const Flow& flow = flows_.at(it->second);
    const Bytes before = frame;
    std::span<uint8_t> f(frame);
    write16(f, l->l4, flow.port_rec);
    if (l->proto == kProtoTcp && flow.isn_delta)
        write32(f, l->l4 + 4, read32(f, l->l4 + 4) - *flow.isn_delta);
    if (frame != before) update_checksums(f, *l, before);
}

std::vector<std::string> FlowMapper::describe() const {
    std::vector<std::string> out;
    for (const auto& [rec, now] : rec_to_now_) {
        const Flow& f = flows_.at(rec);
        std::string s = std::string(rec[0] == kProtoTcp ? "TCP" : "UDP") + " culvert port " +
                        std::to_string(f.port_rec) + " -> " + std::to_string(f.port_now);
        if (f.isn_delta) s += ", ISN shifted by " + std::to_string(static_cast<int32_t>(*f.isn_delta));
        out.push_back(s);
    }
    return out;
}

}  // namespace culvert::replay
