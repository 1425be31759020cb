// IPv6 fragment reassembly for lwIP (RFC 8200 §4.5, RFC 5722), in place of lwIP 2.1.3's
// ip6_reass: that one checks a fragment inserted before another for overlap with its
// predecessor but not for a gap, so fragments arriving 1, 3, 2 (with the last one present)
// made a "complete" datagram with fragment 2's bytes missing (culvert sim --seed 91008579
// --scenario datagram). The linker sends ip6_input's calls here (src/stack/CMakeLists.txt).
// lwIP headers first and alone (ENVIRONMENT.md: glibc's <netinet/tcp.h> redefines TCP_MSS).
#include "lwip/icmp6.h"
#include "lwip/ip.h"
#include "lwip/ip6.h"
#include "lwip/ip6_addr.h"
#include "lwip/ip6_frag.h"
#include "lwip/pbuf.h"
#include "lwip/prot/ip6.h"
#include "lwip/stats.h"

#include "stack/ip6_reassembly.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

namespace culvert::stack {
namespace {

// The same bounds as lwIP's own reassembly (lwipopts.h): datagrams in progress, pbufs
// held by all of them together, and the 60 s lifetime in ticks of ip6_reass_tmr (1 s).
constexpr size_t kMaxDatagrams = MEMP_NUM_REASSDATA;
constexpr size_t kMaxPbufs = IP_REASS_MAX_PBUFS;
constexpr uint8_t kLifetimeTicks = IPV6_REASS_MAXAGE;
// A reassembled datagram is one pbuf chain, whose tot_len is 16 bits: its headers plus
// its data must fit in 65,535 bytes (IPv6 itself would allow 40 more).
constexpr uint32_t kMaxPacketBytes = 0xffff;
constexpr uint16_t kFragHeaderBytes = IP6_FRAG_HLEN;

struct Fragment {
    pbuf* p;  // payload at its fragment header; the headers before it still in front
    uint16_t start;
    uint16_t end;
};

struct Datagram {
    ip6_addr_t src;  // with zones, as lwIP compares them
    ip6_addr_t dest;
    uint32_t id;         // network order, compared only
    uint64_t serial;     // creation order: the oldest goes first when room is needed
    uint8_t ticks_left;  // ip6_reass_tmr ticks before it is abandoned
    uint32_t pbufs = 0;
    uint32_t data_bytes = 0;   // sum of the fragments' lengths (they never overlap)
    uint32_t total_bytes = 0;  // the fragmentable part's length, once the last fragment came
    // From the first fragment (offset 0): the bytes from the IPv6 header to the fragment
    // header, where the next-header byte naming the fragment header sits, and the next
    // header the fragment header names.
    bool have_first = false;
    uint16_t header_bytes = 0;
    uint16_t nexth_at = 0;
    uint8_t nexth = 0;
    std::vector<Fragment> fragments;  // sorted by start, never overlapping
};

struct State {
    std::vector<std::unique_ptr<Datagram>> datagrams;
    size_t pbufs = 0;
    uint64_t serial = 0;
    Ip6ReassemblyStats stats;
};

// Never destroyed: fragments held at exit stay reachable (no leak report), and nothing
// runs pbuf_free after lwIP's own globals are gone.
State& state() {
    static State* s = new State();
    return *s;
}

// Drops a fragment we will not keep (the caller of ip6_reass gave it to us).
void drop_fragment(pbuf* p) {
    IP6_FRAG_STATS_INC(ip6_frag.drop);
    pbuf_free(p);
}

// Frees every fragment of d and forgets it; `icmp` sends Time Exceeded first when the
// first fragment is here (RFC 8200 §4.5: only for a reassembly that timed out).
void discard(State& st, size_t index, bool icmp) {
    std::unique_ptr<Datagram> d = std::move(st.datagrams[index]);
    st.datagrams.erase(st.datagrams.begin() + static_cast<std::ptrdiff_t>(index));
    if (icmp && d->have_first && !d->fragments.empty() && d->fragments.front().start == 0) {
        pbuf* first = d->fragments.front().p;
        // Back to the IPv6 header: those bytes are still in front of the payload.
        if (pbuf_add_header_force(first, d->header_bytes) == 0) {
            icmp6_time_exceeded_with_addrs(first, ICMP6_TE_FRAG, &d->src, &d->dest);
        }
    }
    for (const Fragment& f : d->fragments) {
        IP6_FRAG_STATS_INC(ip6_frag.drop);
        pbuf_free(f.p);
    }
    st.pbufs -= d->pbufs;
}

// Discards the oldest datagram other than `keep` (may be null); false if there is none.
bool evict_oldest(State& st, const Datagram* keep) {
    size_t oldest = st.datagrams.size();
    for (size_t i = 0; i < st.datagrams.size(); ++i) {
        if (st.datagrams[i].get() == keep) continue;
        if (oldest == st.datagrams.size() || st.datagrams[i]->serial < st.datagrams[oldest]->serial)
            oldest = i;
    }
    if (oldest == st.datagrams.size()) return false;
    st.stats.evicted++;
    discard(st, oldest, false);
    return true;
}

size_t find(const State& st, const Datagram* d) {
    for (size_t i = 0; i < st.datagrams.size(); ++i)
        if (st.datagrams[i].get() == d) return i;
    return st.datagrams.size();
}

// Where the next-header byte that names the fragment header sits, counted from the IPv6
// header, walking the extension headers before it (ip6_input parsed them already: hop-by-
// hop, destination options, routing, all 8 * (1 + length) bytes long). 0 if the walk does
// not end exactly at the fragment header.
uint16_t find_nexth_at(const uint8_t* ip6, uint16_t header_bytes) {
    uint16_t at = 6;  // the IPv6 header's next header
    uint32_t pos = IP6_HLEN;
    while (pos < header_bytes) {
        if (pos + 2 > header_bytes) return 0;
        at = static_cast<uint16_t>(pos);
        pos += 8u * (1u + ip6[pos + 1]);
    }
    if (pos != header_bytes || ip6[at] != IP6_NEXTH_FRAGMENT) return 0;
    return at;
}

// Chains the fragments of a complete datagram into the packet lwIP's own ip6_reass would
// return: the first fragment's IPv6 and extension headers without the fragment header,
// the payload length and next header fixed, then every fragment's data in order.
pbuf* assemble(Datagram& d) {
    pbuf* first = d.fragments.front().p;
    auto* hdr = static_cast<uint8_t*>(first->payload) - d.header_bytes;
    // Slide the headers over the fragment header (RFC 8200 §4.5: it is not part of the
    // reassembled packet), as lwIP does.
    std::memmove(hdr + kFragHeaderBytes, hdr, d.header_bytes);
    hdr += kFragHeaderBytes;
    pbuf_remove_header(first, kFragHeaderBytes);
    hdr[d.nexth_at] = d.nexth;
    const auto plen = static_cast<uint16_t>(d.header_bytes - IP6_HLEN + d.total_bytes);
    hdr[4] = static_cast<uint8_t>(plen >> 8);
    hdr[5] = static_cast<uint8_t>(plen);
    uint16_t expect = d.fragments.front().end;
    for (size_t i = 1; i < d.fragments.size(); ++i) {
        Fragment& f = d.fragments[i];
        LWIP_ASSERT("ip6 reassembly: fragments are contiguous", f.start == expect);
        expect = f.end;
        pbuf_remove_header(f.p, kFragHeaderBytes);
        pbuf_cat(first, f.p);
    }
    LWIP_ASSERT("ip6 reassembly: fragments cover the datagram", expect == d.total_bytes);
    const u8_t moved = pbuf_add_header_force(first, d.header_bytes);
    LWIP_ASSERT("ip6 reassembly: headers in front of the first fragment", moved == 0);
    LWIP_UNUSED_ARG(moved);
    // ip6_input goes on from the returned header; later users of ip6_current_header()
    // (ICMPv6 errors about the extension headers) should see it, not a fragment's.
    ip_data.current_ip6_header = reinterpret_cast<ip6_hdr*>(hdr);
    return first;
}

}  // namespace

Ip6ReassemblyStats ip6_reassembly_stats() {
    const State& st = state();
    Ip6ReassemblyStats s = st.stats;
    s.datagrams_pending = st.datagrams.size();
    s.pbufs_pending = st.pbufs;
    return s;
}

void ip6_reassembly_reset() {
    State& st = state();
    while (!st.datagrams.empty()) discard(st, st.datagrams.size() - 1, false);
}

}  // namespace culvert::stack

using culvert::stack::Datagram;
using culvert::stack::Fragment;
using culvert::stack::State;

// ip6_input hands over a packet whose payload is its fragment header, with the IPv6 and
// extension headers before it in the same (first) pbuf and ip_current_header_tot_len()
// counting them and the fragment header. Takes ownership of p in every case. Returns null
// while the datagram is incomplete (or p was dropped), else the reassembled packet with its
// payload at the IPv6 header, which ip6_input parses again from the start.
extern "C" pbuf* __wrap_ip6_reass(pbuf* p) {  // NOLINT(bugprone-reserved-identifier)
    using namespace culvert::stack;
    State& st = state();
    IP6_FRAG_STATS_INC(ip6_frag.recv);

    // Everything below comes from the packet: check it before use.
    const uint16_t headers_tot = ip_current_header_tot_len();
    if (headers_tot < IP6_HLEN + kFragHeaderBytes || p->len < kFragHeaderBytes) {
        st.stats.malformed++;
        IP6_FRAG_STATS_INC(ip6_frag.lenerr);
        drop_fragment(p);
        return nullptr;
    }
    const auto header_bytes = static_cast<uint16_t>(headers_tot - kFragHeaderBytes);
    const auto* ip6 = static_cast<const uint8_t*>(p->payload) - header_bytes;
    const auto* fh = static_cast<const ip6_frag_hdr*>(p->payload);
    const uint32_t plen = static_cast<uint32_t>(ip6[4] << 8 | ip6[5]);
    const uint16_t offset_field = lwip_ntohs(fh->_fragment_offset);
    const auto start = static_cast<uint16_t>(offset_field & IP6_FRAG_OFFSET_MASK);
    const bool more = offset_field & IP6_FRAG_MORE_FLAG;
    if (IP6_HLEN + plen < headers_tot || p->tot_len < IP6_HLEN + plen - header_bytes) {
        st.stats.malformed++;
        IP6_FRAG_STATS_INC(ip6_frag.lenerr);
        drop_fragment(p);
        return nullptr;
    }
    const uint32_t len = IP6_HLEN + plen - headers_tot;  // this fragment's data
    if (p->tot_len > len + kFragHeaderBytes)
        pbuf_realloc(p, static_cast<u16_t>(len + kFragHeaderBytes));  // link-layer padding
    // A fragment with M set carries a multiple of 8 bytes; one with no data adds nothing.
    if (len == 0 || (more && len % 8 != 0)) {
        st.stats.malformed++;
        IP6_FRAG_STATS_INC(ip6_frag.proterr);
        drop_fragment(p);
        return nullptr;
    }
    const uint32_t end = start + len;

    // Which datagram: source, destination (with zones) and identification.
    Datagram* d = nullptr;
    for (auto& c : st.datagrams) {
        if (c->id == fh->_identification && ip6_addr_cmp(&c->src, ip6_current_src_addr()) &&
            ip6_addr_cmp(&c->dest, ip6_current_dest_addr())) {
            d = c.get();
            IP6_FRAG_STATS_INC(ip6_frag.cachehit);
            break;
        }
    }

    // Past what one pbuf chain can carry (a peer sending 65,528..65,535 bytes of payload):
    // the datagram can never be delivered, so nothing of it is kept.
    if (header_bytes + end > kMaxPacketBytes) {
        st.stats.too_big++;
        IP6_FRAG_STATS_INC(ip6_frag.lenerr);
        if (d) discard(st, find(st, d), false);
        drop_fragment(p);
        return nullptr;
    }

    if (!d) {
        if (st.datagrams.size() >= kMaxDatagrams) evict_oldest(st, nullptr);
        auto fresh = std::unique_ptr<Datagram>(new (std::nothrow) Datagram());
        if (!fresh) {
            st.stats.no_memory++;
            IP6_FRAG_STATS_INC(ip6_frag.memerr);
            drop_fragment(p);
            return nullptr;
        }
        ip6_addr_copy(fresh->src, *ip6_current_src_addr());
        ip6_addr_copy(fresh->dest, *ip6_current_dest_addr());
        fresh->id = fh->_identification;
        fresh->serial = st.serial++;
        fresh->ticks_left = kLifetimeTicks;
        d = fresh.get();
        st.datagrams.push_back(std::move(fresh));
    }

    // Where it goes, and whether it fits (RFC 5722: any overlap discards the datagram,
    // including fragments still to come; an exact copy is only a duplicate, as on Linux).
    auto at = std::lower_bound(d->fragments.begin(), d->fragments.end(), start,
                               [](const Fragment& f, uint16_t s) { return f.start < s; });
    if (at != d->fragments.end() && at->start == start && at->end == end) {
        st.stats.duplicates++;
        drop_fragment(p);
        return nullptr;
    }
    const bool overlaps = (at != d->fragments.end() && at->start < end) ||
                          (at != d->fragments.begin() && std::prev(at)->end > start);
    // The last fragment fixes the length: nothing may end past it, and a second "last"
    // fragment must agree.
    const uint32_t highest = d->fragments.empty() ? 0 : d->fragments.back().end;
    const bool inconsistent = (d->total_bytes != 0 && end > d->total_bytes) ||
                              (!more && d->total_bytes != 0 && end != d->total_bytes) ||
                              (!more && highest > end);
    uint16_t nexth_at = 0;
    if (start == 0) nexth_at = find_nexth_at(ip6, header_bytes);
    if (overlaps || inconsistent || (start == 0 && nexth_at == 0)) {
        if (overlaps)
            st.stats.overlaps++;
        else if (inconsistent)
            st.stats.inconsistent++;
        else
            st.stats.malformed++;
        IP6_FRAG_STATS_INC(ip6_frag.proterr);
        discard(st, find(st, d), false);
        drop_fragment(p);
        return nullptr;
    }

    // Room: the oldest other datagrams go first, as lwIP's IP_REASS_FREE_OLDEST.
    const u16_t clen = pbuf_clen(p);
    while (st.pbufs + clen > kMaxPbufs && evict_oldest(st, d)) {
    }
    if (st.pbufs + clen > kMaxPbufs) {
        st.stats.no_memory++;
        IP6_FRAG_STATS_INC(ip6_frag.memerr);
        drop_fragment(p);
        if (d->fragments.empty()) discard(st, find(st, d), false);
        return nullptr;
    }
    d->fragments.insert(at, Fragment{p, start, static_cast<uint16_t>(end)});
    d->pbufs += clen;
    st.pbufs += clen;
    d->data_bytes += len;
    if (!more) d->total_bytes = end;
    if (start == 0) {
        d->have_first = true;
        d->header_bytes = header_bytes;
        d->nexth_at = nexth_at;
        d->nexth = fh->_nexth;
    }

    // Complete when the last fragment is here and the fragments, which never overlap and
    // all end within it, add up to its length: then they cover it from 0 without a hole.
    if (d->total_bytes == 0 || d->data_bytes != d->total_bytes) return nullptr;
    const size_t index = find(st, d);
    if (d->header_bytes + d->total_bytes > kMaxPacketBytes) {
        // The first fragment's headers are longer than those of the one that fixed the end.
        st.stats.too_big++;
        IP6_FRAG_STATS_INC(ip6_frag.lenerr);
        discard(st, index, false);
        return nullptr;
    }
    std::unique_ptr<Datagram> done = std::move(st.datagrams[index]);
    st.datagrams.erase(st.datagrams.begin() + static_cast<std::ptrdiff_t>(index));
    st.pbufs -= done->pbufs;
    st.stats.reassembled++;
    return assemble(*done);
}

// lwIP's cyclic timer, every IP6_REASS_TMR_INTERVAL (1 s): abandons datagrams still
// incomplete after IPV6_REASS_MAXAGE ticks, with ICMPv6 Time Exceeded if the first fragment
// came (RFC 8200 §4.5).
extern "C" void __wrap_ip6_reass_tmr(void) {  // NOLINT(bugprone-reserved-identifier)
    using namespace culvert::stack;
    State& st = state();
    for (size_t i = 0; i < st.datagrams.size();) {
        if (st.datagrams[i]->ticks_left > 0) {
            st.datagrams[i]->ticks_left--;
            ++i;
            continue;
        }
        st.stats.timed_out++;
        discard(st, i, true);
    }
}
