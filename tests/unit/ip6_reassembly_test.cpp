// Tests src/stack/ip6_reassembly.cpp through the real lwIP: IPv6 fragments handed to
// ip6_input in any order reach a UDP pcb once and whole (lwIP 2.1.3's own ip6_reass
// completed a datagram with a hole when a fragment came before its predecessor); overlaps
// (RFC 5722), bad lengths and timeouts discard and count; memory stays bounded; no pbuf is
// leaked at teardown.
#include "stack_hooks.h"
#include "lwip/init.h"
#include "lwip/ip6.h"
#include "lwip/ip6_addr.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"

#include "stack/ip6_reassembly.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

namespace {

using culvert::stack::ip6_reassembly_reset;
using culvert::stack::ip6_reassembly_stats;
using Bytes = std::vector<uint8_t>;

constexpr std::array<uint8_t, 16> kOurIp6{0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
constexpr std::array<uint8_t, 16> kPeerIp6{0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
constexpr uint16_t kPort = 7000;
// MTU 1500: 1500 - 40 (IPv6) - 8 (fragment header), rounded down to 8, as Linux and lwIP.
constexpr size_t kPieceBytes = 1448;

void put16(uint8_t* at, uint16_t v) {
    at[0] = static_cast<uint8_t>(v >> 8);
    at[1] = static_cast<uint8_t>(v);
}

uint32_t sum16(const uint8_t* p, size_t n, uint32_t sum = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>((p[i] << 8) | p[i + 1]);
    if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
    return sum;
}
uint16_t fold(uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

// The UDP datagram (header + payload) from the peer to us, checksum included.
Bytes udp_datagram(size_t payload_bytes, uint32_t seed) {
    Bytes u(8 + payload_bytes);
    put16(&u[0], 5000);
    put16(&u[2], kPort);
    put16(&u[4], static_cast<uint16_t>(u.size()));
    std::mt19937 rng(seed);
    for (size_t i = 8; i < u.size(); ++i) u[i] = static_cast<uint8_t>(rng());
    uint32_t sum = sum16(kPeerIp6.data(), 16);
    sum = sum16(kOurIp6.data(), 16, sum);
    sum += static_cast<uint32_t>(u.size() >> 16) + static_cast<uint32_t>(u.size() & 0xffff) + 17;
    uint16_t c = fold(sum16(u.data(), u.size(), sum));
    put16(&u[6], c == 0 ? 0xffff : c);
    return u;
}

struct FragmentSpec {
    size_t offset;  // into the fragmentable part
    size_t bytes;
    bool more;
};

// One IPv6 packet carrying `bytes` of `data` at `offset`, with a fragment header (id) and,
// if `dest_opts`, an 8-byte destination options header before it.
Bytes fragment(const Bytes& data, const FragmentSpec& f, uint32_t id, bool dest_opts = false) {
    const size_t ext = dest_opts ? 8 : 0;
    Bytes pkt(40 + ext + 8 + f.bytes, 0);
    pkt[0] = 0x60;
    put16(&pkt[4], static_cast<uint16_t>(ext + 8 + f.bytes));
    pkt[6] = dest_opts ? 60 : 44;
    pkt[7] = 64;
    std::memcpy(&pkt[8], kPeerIp6.data(), 16);
    std::memcpy(&pkt[24], kOurIp6.data(), 16);
    uint8_t* fh = &pkt[40 + ext];
    if (dest_opts) {
        uint8_t* d = &pkt[40];
        d[0] = 44;  // next: fragment header
        d[1] = 0;   // 8 bytes
        d[2] = 1;   // PadN
        d[3] = 4;
    }
    fh[0] = 17;  // UDP
    put16(&fh[2], static_cast<uint16_t>(f.offset | (f.more ? 1 : 0)));
    fh[4] = static_cast<uint8_t>(id >> 24);
    fh[5] = static_cast<uint8_t>(id >> 16);
    fh[6] = static_cast<uint8_t>(id >> 8);
    fh[7] = static_cast<uint8_t>(id);
    // Bytes past the end of `data` (a hostile fragment past the datagram) stay zero.
    const size_t have = f.offset < data.size() ? std::min(f.bytes, data.size() - f.offset) : 0;
    if (have) std::memcpy(&pkt[40 + ext + 8], data.data() + f.offset, have);
    return pkt;
}

// How lwIP (and Linux) cut `total` bytes: full pieces, then the rest with M clear.
std::vector<FragmentSpec> cut(size_t total, size_t piece = kPieceBytes) {
    std::vector<FragmentSpec> out;
    for (size_t off = 0; off < total; off += piece)
        out.push_back({off, std::min(piece, total - off), off + piece < total});
    return out;
}

class Ip6ReassemblyTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { culvert_lwip_init(); }
    void SetUp() override {
        pool_used_before_ = lwip_stats.memp[MEMP_PBUF_POOL]->used;
        mem_used_before_ = lwip_stats.mem.used;
        ASSERT_NE(netif_add_noaddr(&netif_, this, init_netif, ip6_input), nullptr);
        ip6_addr_t a;
        std::memcpy(&a.addr, kOurIp6.data(), 16);
        ip6_addr_clear_zone(&a);
        netif_ip6_addr_set(&netif_, 0, &a);
        netif_ip6_addr_set_state(&netif_, 0, IP6_ADDR_PREFERRED);
        netif_set_up(&netif_);
        netif_set_link_up(&netif_);
        pcb_ = udp_new_ip_type(IPADDR_TYPE_V6);
        ASSERT_NE(pcb_, nullptr);
        ASSERT_EQ(udp_bind(pcb_, IP6_ADDR_ANY, kPort), ERR_OK);
        udp_recv(pcb_, on_udp, this);
        sent_.clear();
        advance_ms(0);
    }
    void TearDown() override {
        ip6_reassembly_reset();
        udp_remove(pcb_);
        netif_remove(&netif_);
        EXPECT_EQ(ip6_reassembly_stats().datagrams_pending, 0u);
        EXPECT_EQ(ip6_reassembly_stats().pbufs_pending, 0u);
        EXPECT_EQ(lwip_stats.memp[MEMP_PBUF_POOL]->used, pool_used_before_) << "leaked pool pbufs";
        EXPECT_EQ(lwip_stats.mem.used, mem_used_before_) << "leaked lwIP heap";
    }

    static err_t init_netif(netif* n) {
        n->name[0] = 't';
        n->name[1] = 'r';
        n->mtu = 1500;
        n->output_ip6 = capture;
        n->flags = NETIF_FLAG_LINK_UP;
        return ERR_OK;
    }
    static err_t capture(netif* n, pbuf* p, const ip6_addr_t*) {
        auto* self = static_cast<Ip6ReassemblyTest*>(n->state);
        Bytes b(p->tot_len);
        pbuf_copy_partial(p, b.data(), p->tot_len, 0);
        self->sent_.push_back(std::move(b));
        return ERR_OK;
    }
    static void on_udp(void* arg, udp_pcb*, pbuf* p, const ip_addr_t*, u16_t) {
        auto* self = static_cast<Ip6ReassemblyTest*>(arg);
        Bytes b(p->tot_len);
        pbuf_copy_partial(p, b.data(), p->tot_len, 0);
        self->received_.push_back(std::move(b));
        pbuf_free(p);
    }

    // Hands one IPv6 packet to lwIP as a netif would (one pool pbuf, or a chain).
    void deliver(const Bytes& pkt) {
        pbuf* p = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(pkt.size()), PBUF_POOL);
        ASSERT_NE(p, nullptr);
        pbuf_take(p, pkt.data(), static_cast<u16_t>(pkt.size()));
        ip6_input(p, &netif_);
    }
    void advance_ms(uint32_t ms) {
        now_ms_ += ms;
        culvert_stack_set_now_ms(now_ms_);
        sys_check_timeouts();
    }
    // Steps lwIP's clock a second at a time, as the stack loop would wake for its timers.
    void advance_s(uint32_t s) {
        for (uint32_t i = 0; i < s; ++i) advance_ms(1000);
    }
    // ICMPv6 Time Exceeded messages lwIP sent (router solicitations and the like aside).
    std::vector<Bytes> time_exceeded() const {
        std::vector<Bytes> out;
        for (const Bytes& b : sent_)
            if (b.size() > 41 && b[6] == 58 && b[40] == 3) out.push_back(b);
        return out;
    }
    static Bytes payload_of(const Bytes& udp) { return Bytes(udp.begin() + 8, udp.end()); }

    netif netif_{};
    udp_pcb* pcb_ = nullptr;
    std::vector<Bytes> received_;
    std::vector<Bytes> sent_;
    static inline uint32_t now_ms_ = 0;  // lwIP's timers outlive a test: never step back
    uint32_t pool_used_before_ = 0;
    mem_size_t mem_used_before_ = 0;
};

// The simulator's case (culvert sim --seed 91008579 --scenario datagram): 31,380 bytes in
// 22 fragments; the wire holds back fragments 2 and 3 and delivers 3 before 2. lwIP's own
// ip6_reass took fragment 3 as completing the datagram (it never checked the gap before
// it), failed the UDP checksum, and the late fragment 2 waited 60 s for nothing.
TEST_F(Ip6ReassemblyTest, FragmentBeforeItsPredecessorWaitsForTheHoleToFill) {
    const Bytes udp = udp_datagram(31380, 1);
    const auto specs = cut(udp.size());
    ASSERT_EQ(specs.size(), 22u);
    std::vector<size_t> order{0};
    for (size_t i = 3; i < specs.size(); ++i) order.push_back(i);
    order.push_back(2);
    order.push_back(1);
    const uint32_t chkerr_before = lwip_stats.udp.chkerr;
    for (size_t k = 0; k + 1 < order.size(); ++k) {
        deliver(fragment(udp, specs[order[k]], 0x1234));
        EXPECT_TRUE(received_.empty())
            << "delivered after fragment " << order[k] + 1 << " with fragment 2 still missing";
    }
    EXPECT_EQ(lwip_stats.udp.chkerr, chkerr_before) << "a datagram with a hole reached UDP";
    deliver(fragment(udp, specs[1], 0x1234));
    ASSERT_EQ(received_.size(), 1u);
    EXPECT_EQ(received_[0], payload_of(udp));
    EXPECT_EQ(ip6_reassembly_stats().datagrams_pending, 0u);
}

// Every order of a 5-fragment datagram (120 of them) delivers it once, whole, exactly when
// its last missing fragment arrives.
TEST_F(Ip6ReassemblyTest, EveryArrivalOrderDeliversOnceWhenTheLastHoleFills) {
    const Bytes udp = udp_datagram(5000, 2);
    const auto specs = cut(udp.size(), 1024);
    ASSERT_EQ(specs.size(), 5u);
    std::vector<size_t> order(specs.size());
    std::iota(order.begin(), order.end(), 0);
    uint32_t id = 100;
    do {
        received_.clear();
        for (size_t k = 0; k < order.size(); ++k) {
            deliver(fragment(udp, specs[order[k]], id));
            ASSERT_EQ(received_.size(), k + 1 == order.size() ? 1u : 0u)
                << "order starting " << order[0] << order[1] << order[2] << order[3] << order[4];
        }
        EXPECT_EQ(received_[0], payload_of(udp));
        ++id;
    } while (std::next_permutation(order.begin(), order.end()));
    EXPECT_EQ(ip6_reassembly_stats().datagrams_pending, 0u);
}

// Large datagrams in random orders, with exact duplicates mixed in (the wire duplicates):
// each delivered once, whole.
TEST_F(Ip6ReassemblyTest, ShuffledFragmentsWithDuplicatesDeliverOnce) {
    std::mt19937 rng(7);
    for (uint32_t round = 0; round < 40; ++round) {
        const Bytes udp = udp_datagram(1000 + rng() % 64000, round);
        auto specs = cut(udp.size());
        std::vector<FragmentSpec> arrivals = specs;
        for (int d = 0; d < 3; ++d) arrivals.push_back(specs[rng() % specs.size()]);
        std::shuffle(arrivals.begin(), arrivals.end(), rng);
        received_.clear();
        for (const auto& f : arrivals) deliver(fragment(udp, f, 5000 + round));
        ASSERT_EQ(received_.size(), 1u) << "round " << round << ", " << udp.size() << " bytes";
        EXPECT_EQ(received_[0], payload_of(udp));
    }
    // A copy arriving after its datagram completed starts a reassembly of its own, which
    // expires (as on Linux).
    advance_s(62);
    EXPECT_EQ(ip6_reassembly_stats().datagrams_pending, 0u);
}

// Headers between the IPv6 header and the fragment header stay; the fragment header goes
// and the header before it names UDP.
TEST_F(Ip6ReassemblyTest, ExtensionHeaderBeforeTheFragmentHeaderIsKept) {
    const Bytes udp = udp_datagram(4000, 3);
    const auto specs = cut(udp.size());
    for (size_t i : {2, 0, 1}) deliver(fragment(udp, specs[i], 77, /*dest_opts=*/true));
    ASSERT_EQ(received_.size(), 1u);
    EXPECT_EQ(received_[0], payload_of(udp));
}

// Two datagrams with one id from one source, interleaved, never mix.
TEST_F(Ip6ReassemblyTest, InterleavedDatagramsStayApart) {
    const Bytes a = udp_datagram(3000, 4), b = udp_datagram(3000, 5);
    const auto specs = cut(a.size());
    for (size_t i : {2, 1}) {
        deliver(fragment(a, specs[i], 1));
        deliver(fragment(b, specs[i], 2));
    }
    deliver(fragment(b, specs[0], 2));
    deliver(fragment(a, specs[0], 1));
    ASSERT_EQ(received_.size(), 2u);
    EXPECT_EQ(received_[0], payload_of(b));
    EXPECT_EQ(received_[1], payload_of(a));
}

// RFC 5722: a fragment overlapping another discards the whole datagram, counted.
TEST_F(Ip6ReassemblyTest, OverlapDiscardsTheDatagramAndCountsIt) {
    const Bytes udp = udp_datagram(4000, 6);
    const auto specs = cut(udp.size());
    const auto before = ip6_reassembly_stats();
    const uint32_t proterr_before = lwip_stats.ip6_frag.proterr;
    deliver(fragment(udp, specs[0], 9));
    deliver(fragment(udp, specs[2], 9));
    deliver(fragment(udp, {specs[1].offset - 8, specs[1].bytes, true}, 9));  // overlaps 0
    EXPECT_EQ(ip6_reassembly_stats().overlaps, before.overlaps + 1);
    EXPECT_EQ(lwip_stats.ip6_frag.proterr, proterr_before + 1);
    EXPECT_EQ(ip6_reassembly_stats().datagrams_pending, 0u);
    deliver(fragment(udp, specs[1], 9));  // alone now: waits, never completes
    EXPECT_TRUE(received_.empty());
    advance_s(62);
    EXPECT_EQ(ip6_reassembly_stats().datagrams_pending, 0u);
    EXPECT_TRUE(received_.empty());
}

// Fragments that disagree on where the datagram ends discard it.
TEST_F(Ip6ReassemblyTest, InconsistentLastFragmentDiscardsTheDatagram) {
    const Bytes udp = udp_datagram(4000, 7);
    const auto specs = cut(udp.size());
    const auto before = ip6_reassembly_stats();
    deliver(fragment(udp, specs[2], 10));          // last: ends at 4008
    deliver(fragment(udp, {1448, 8, false}, 10));  // another "last", ending at 1456
    EXPECT_EQ(ip6_reassembly_stats().inconsistent, before.inconsistent + 1);
    deliver(fragment(udp, specs[0], 11));
    deliver(fragment(udp, {4096, 8, true}, 11));  // past the end,
    deliver(fragment(udp, specs[2], 11));         // which comes later
    EXPECT_EQ(ip6_reassembly_stats().inconsistent, before.inconsistent + 2);
    EXPECT_EQ(ip6_reassembly_stats().datagrams_pending, 0u);
    EXPECT_TRUE(received_.empty());
}

// Hostile lengths: no crash, nothing kept, each counted.
TEST_F(Ip6ReassemblyTest, ImpossibleFragmentsAreDroppedAndCounted) {
    const Bytes udp = udp_datagram(4000, 8);
    const auto before = ip6_reassembly_stats();
    const uint32_t dropped_before = lwip_stats.ip6_frag.drop + lwip_stats.ip6.drop;
    // Ends past 65,535 bytes: 16 bytes at 65,528.
    Bytes far = fragment(udp, {0, 16, true}, 21);
    put16(&far[42], static_cast<uint16_t>(65528 | 1));
    deliver(far);
    EXPECT_EQ(ip6_reassembly_stats().too_big, before.too_big + 1);
    // A last fragment with no data.
    deliver(fragment(udp, {1448, 0, false}, 22));
    EXPECT_EQ(ip6_reassembly_stats().malformed, before.malformed + 1);
    // A payload length shorter than the fragment header: ip6_input drops it before us.
    Bytes shortp = fragment(udp, {8, 8, true}, 23);
    put16(&shortp[4], 4);
    deliver(shortp);
    EXPECT_EQ(lwip_stats.ip6_frag.drop + lwip_stats.ip6.drop, dropped_before + 3);
    EXPECT_EQ(ip6_reassembly_stats().datagrams_pending, 0u);
    EXPECT_TRUE(received_.empty());
}

// Reassembled, a datagram must fit one pbuf chain (65,535 bytes with its headers): the
// largest UDP payload that fits is 65,487 bytes; the next size up is dropped and counted.
TEST_F(Ip6ReassemblyTest, LargestDatagramAPbufHoldsIsReassembledAndOneMoreIsNot) {
    const Bytes fits = udp_datagram(65487, 9);
    for (const auto& f : cut(fits.size())) deliver(fragment(fits, f, 30));
    ASSERT_EQ(received_.size(), 1u);
    EXPECT_EQ(received_[0], payload_of(fits));
    const auto before = ip6_reassembly_stats();
    const Bytes over = udp_datagram(65488, 10);
    for (const auto& f : cut(over.size())) deliver(fragment(over, f, 31));
    EXPECT_EQ(received_.size(), 1u);
    EXPECT_EQ(ip6_reassembly_stats().too_big, before.too_big + 1);
    advance_s(62);
    EXPECT_EQ(ip6_reassembly_stats().datagrams_pending, 0u);
}

// RFC 8200 §4.5: abandoned 60 s after its first fragment arrived, with ICMPv6 Time
// Exceeded (code 1) when the first fragment is among those held.
TEST_F(Ip6ReassemblyTest, IncompleteDatagramTimesOutWithTimeExceeded) {
    const Bytes udp = udp_datagram(4000, 11);
    const auto specs = cut(udp.size());
    const auto before = ip6_reassembly_stats();
    deliver(fragment(udp, specs[0], 40));
    deliver(fragment(udp, specs[2], 40));
    advance_s(59);
    EXPECT_EQ(ip6_reassembly_stats().datagrams_pending, 1u);
    EXPECT_TRUE(time_exceeded().empty());
    advance_s(3);
    EXPECT_EQ(ip6_reassembly_stats().datagrams_pending, 0u);
    EXPECT_EQ(ip6_reassembly_stats().timed_out, before.timed_out + 1);
    const auto te = time_exceeded();
    ASSERT_EQ(te.size(), 1u);
    const Bytes& icmp = te[0];
    ASSERT_GE(icmp.size(), 48u + 40u);
    EXPECT_EQ(0, std::memcmp(&icmp[24], kPeerIp6.data(), 16));
    EXPECT_EQ(icmp[40], 3);  // Time Exceeded
    EXPECT_EQ(icmp[41], 1);  // fragment reassembly time exceeded
    EXPECT_EQ(0, std::memcmp(&icmp[48 + 8], kPeerIp6.data(), 16)) << "quotes the first fragment";

    // Without the first fragment: abandoned silently.
    sent_.clear();
    deliver(fragment(udp, specs[1], 41));
    advance_s(62);
    EXPECT_EQ(ip6_reassembly_stats().datagrams_pending, 0u);
    EXPECT_TRUE(time_exceeded().empty());
}

// At most MEMP_NUM_REASSDATA (64) datagrams: a new one evicts the oldest, counted.
TEST_F(Ip6ReassemblyTest, DatagramCountIsBoundedByEvictingTheOldest) {
    const Bytes udp = udp_datagram(4000, 12);
    const auto specs = cut(udp.size());
    const auto before = ip6_reassembly_stats();
    for (uint32_t id = 0; id < 70; ++id) deliver(fragment(udp, specs[0], 1000 + id));
    EXPECT_EQ(ip6_reassembly_stats().datagrams_pending, 64u);
    EXPECT_EQ(ip6_reassembly_stats().evicted, before.evicted + 6);
    // The newest are the ones kept: completing id 1069 works, 1000 starts over.
    for (size_t i : {1, 2}) deliver(fragment(udp, specs[i], 1069));
    ASSERT_EQ(received_.size(), 1u);
    for (size_t i : {1, 2}) deliver(fragment(udp, specs[i], 1000));
    EXPECT_EQ(received_.size(), 1u);
}

// At most IP_REASS_MAX_PBUFS (1024) pbufs held: 8-byte fragments of one datagram stop
// being taken there, counted, and a complete datagram still gets through afterwards once
// the hog is evicted.
TEST_F(Ip6ReassemblyTest, HeldPbufsAreBoundedAndTheHogIsEvictedForOthers) {
    Bytes tiny(8 * 1100, 0x5a);
    const auto before = ip6_reassembly_stats();
    for (size_t i = 0; i < 1100; ++i) deliver(fragment(tiny, {8 * i, 8, true}, 50));
    EXPECT_EQ(ip6_reassembly_stats().pbufs_pending, 1024u);
    EXPECT_EQ(ip6_reassembly_stats().no_memory, before.no_memory + 76);
    const Bytes udp = udp_datagram(4000, 13);
    for (const auto& f : cut(udp.size())) deliver(fragment(udp, f, 51));
    ASSERT_EQ(received_.size(), 1u);
    EXPECT_EQ(received_[0], payload_of(udp));
    EXPECT_EQ(ip6_reassembly_stats().evicted, before.evicted + 1);
}

}  // namespace
