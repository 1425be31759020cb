// Tests src/stack/backend_netif: length validation above the backend, ARP/ICMP/ND answers
// with content checks, checksum offload flags taken from the backend's caps, IPv6
// addresses, back-pressure and chained pbufs on transmit; no pbuf leaks at teardown.
#include "stack_hooks.h"
#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/ip6_addr.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"

#include "stack/backend_netif.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <vector>

namespace {

using culvert::backends::BackendCaps;
using culvert::backends::BackendStats;
using culvert::backends::Frame;
using culvert::backends::MacAddress;
using culvert::stack::BackendNetif;
using culvert::stack::NetifConfig;
using Bytes = std::vector<uint8_t>;

constexpr MacAddress kOurMac{0x02, 0x63, 0x76, 0x00, 0x00, 0x01};
constexpr MacAddress kPeerMac{0x02, 0x00, 0x00, 0x00, 0x00, 0x09};
constexpr std::array<uint8_t, 4> kOurIp{10, 77, 0, 2};
constexpr std::array<uint8_t, 4> kPeerIp{10, 77, 0, 1};
constexpr std::array<uint8_t, 16> kOurIp6{0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
constexpr std::array<uint8_t, 16> kPeerIp6{0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

// An in-memory backend: tests queue frames to receive and read what was transmitted.
class FakeBackend final : public culvert::backends::PacketBackend {
  public:
    BackendCaps caps_{.mtu = 1500, .link_up = true};
    std::deque<Bytes> rx_queue;
    std::vector<Bytes> sent;
    bool accept_tx = true;

    std::string_view name() const override { return "fake"; }
    MacAddress mac() const override { return kOurMac; }
    BackendCaps caps() const override { return caps_; }
    size_t rx_burst(std::span<Frame> frames) override {
        rx_current_.clear();  // the previous burst's views end here, as the contract says
        size_t n = 0;
        while (n < frames.size() && !rx_queue.empty()) {
            rx_current_.push_back(std::move(rx_queue.front()));
            rx_queue.pop_front();
            Bytes& b = rx_current_.back();
            frames[n++] =
                Frame{reinterpret_cast<std::byte*>(b.data()), static_cast<uint16_t>(b.size())};
            ++stats_.rx_frames;
        }
        return n;
    }
    size_t tx_burst(std::span<const Frame> frames) override {
        if (!accept_tx) return 0;
        for (const Frame& f : frames) {
            const auto* p = reinterpret_cast<const uint8_t*>(f.data);
            sent.emplace_back(p, p + f.len);
            ++stats_.tx_frames;
        }
        return frames.size();
    }
    int pollable_fd() const override { return -1; }
    BackendStats stats() const override { return stats_; }

  private:
    std::vector<Bytes> rx_current_;
    BackendStats stats_{};
};

// --- frame building and parsing (network byte order by hand) ---

void put16(Bytes& b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}
uint16_t get16(const Bytes& b, size_t at) {
    return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
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

Bytes ethernet(const MacAddress& dst, const MacAddress& src, uint16_t type, size_t payload_bytes) {
    Bytes f(14 + payload_bytes, 0);
    std::memcpy(&f[0], dst.data(), 6);
    std::memcpy(&f[6], src.data(), 6);
    put16(f, 12, type);
    return f;
}

Bytes arp_request_for_us() {
    Bytes f = ethernet({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, kPeerMac, 0x0806, 28);
    put16(f, 14, 1);       // Ethernet
    put16(f, 16, 0x0800);  // IPv4
    f[18] = 6;
    f[19] = 4;
    put16(f, 20, 1);  // request
    std::memcpy(&f[22], kPeerMac.data(), 6);
    std::memcpy(&f[28], kPeerIp.data(), 4);
    std::memcpy(&f[38], kOurIp.data(), 4);
    return f;
}

Bytes echo_request(uint16_t seq, size_t payload_bytes, bool break_ip_checksum = false) {
    const size_t ip_bytes = 20 + 8 + payload_bytes;
    Bytes f = ethernet(kOurMac, kPeerMac, 0x0800, ip_bytes);
    uint8_t* ip = &f[14];
    ip[0] = 0x45;
    put16(f, 16, static_cast<uint16_t>(ip_bytes));
    ip[8] = 64;
    ip[9] = 1;
    std::memcpy(ip + 12, kPeerIp.data(), 4);
    std::memcpy(ip + 16, kOurIp.data(), 4);
    put16(f, 24, static_cast<uint16_t>(fold(sum16(ip, 20)) ^ (break_ip_checksum ? 0x5a5a : 0)));
    uint8_t* icmp = ip + 20;
    icmp[0] = 8;
    put16(f, 38, 0x1234);  // id
    put16(f, 40, seq);
    for (size_t i = 0; i < payload_bytes; ++i) icmp[8 + i] = static_cast<uint8_t>(i * 7 + seq);
    put16(f, 36, fold(sum16(icmp, 8 + payload_bytes)));
    return f;
}

uint32_t ipv6_pseudo_sum(const uint8_t* src, const uint8_t* dst, uint32_t len, uint8_t next) {
    uint32_t sum = sum16(src, 16);
    sum = sum16(dst, 16, sum);
    sum += len >> 16;
    sum += len & 0xffff;
    sum += next;
    return sum;
}

Bytes neighbour_solicitation_for_us() {
    // To the solicited-node group of fd77::2 (ff02::1:ff00:2), as the kernel sends it.
    const std::array<uint8_t, 16> group{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 2};
    Bytes f = ethernet({0x33, 0x33, 0xff, 0x00, 0x00, 0x02}, kPeerMac, 0x86dd, 40 + 32);
    uint8_t* ip = &f[14];
    ip[0] = 0x60;
    put16(f, 18, 32);
    ip[6] = 58;
    ip[7] = 255;  // RFC 4861 §7.1.1: hop limit 255 or the NS is ignored
    std::memcpy(ip + 8, kPeerIp6.data(), 16);
    std::memcpy(ip + 24, group.data(), 16);
    uint8_t* icmp = ip + 40;
    icmp[0] = 135;
    std::memcpy(icmp + 8, kOurIp6.data(), 16);
    icmp[24] = 1;  // source link-layer address option
    icmp[25] = 1;
    std::memcpy(icmp + 26, kPeerMac.data(), 6);
    const uint32_t sum = sum16(icmp, 32, ipv6_pseudo_sum(ip + 8, ip + 24, 32, 58));
    put16(f, 14 + 40 + 2, fold(sum));
    return f;
}

class BackendNetifTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { culvert_lwip_init(); }
    void SetUp() override {
        pool_used_before_ = lwip_stats.memp[MEMP_PBUF_POOL]->used;
        mem_used_before_ = lwip_stats.mem.used;
    }
    void TearDown() override {
        netif_.reset();
        EXPECT_EQ(lwip_stats.memp[MEMP_PBUF_POOL]->used, pool_used_before_) << "leaked pool pbufs";
        EXPECT_EQ(lwip_stats.mem.used, mem_used_before_) << "leaked lwIP heap";
    }
    NetifConfig config() const {
        NetifConfig c;
        c.ipv4 = culvert::stack::Ipv4Config{.address = kOurIp, .prefix_len = 24};
        c.ipv6 = {kOurIp6};
        return c;
    }
    void bring_up(const NetifConfig& c) {
        auto created = BackendNetif::create(backend_, c);
        ASSERT_TRUE(created.has_value()) << created.error();
        netif_ = std::move(*created);
        // Coming up, lwIP announces itself (gratuitous ARP, MLD reports); tests look at
        // what follows.
        startup_frames_ = std::move(backend_.sent);
        backend_.sent.clear();
        tx_frames_at_start_ = netif_->stats().tx_frames;
    }
    // Lets lwIP learn the peer from an ARP request and forgets the reply.
    void exchange_arp() {
        backend_.rx_queue.push_back(arp_request_for_us());
        ASSERT_EQ(netif_->poll(8), 1u);
        ASSERT_EQ(backend_.sent.size(), 1u);
        backend_.sent.clear();
    }

    FakeBackend backend_;
    std::unique_ptr<BackendNetif> netif_;
    std::vector<Bytes> startup_frames_;
    uint64_t tx_frames_at_start_ = 0;
    uint16_t pool_used_before_ = 0;
    mem_size_t mem_used_before_ = 0;
};

TEST_F(BackendNetifTest, FramesOutsideEthernetLengthsAreDroppedAndCountedBeforeLwip) {
    bring_up(config());
    const auto lwip_recv_before = lwip_stats.link.recv;
    backend_.rx_queue.push_back(Bytes{});
    backend_.rx_queue.push_back(Bytes(13, 0xab));
    backend_.rx_queue.push_back(ethernet(kOurMac, kPeerMac, 0x88b5, 1500 + 4 + 1));  // 1519 bytes
    backend_.rx_queue.push_back(ethernet(kOurMac, kPeerMac, 0x88b5, 0));  // 14: the shortest
    backend_.rx_queue.push_back(
        ethernet(kOurMac, kPeerMac, 0x88b5, 1500 + 4));  // 1518: the longest

    EXPECT_EQ(netif_->poll(64), 5u);
    EXPECT_EQ(netif_->stats().rx_too_short, 2u);
    EXPECT_EQ(netif_->stats().rx_too_long, 1u);
    EXPECT_EQ(netif_->stats().rx_frames, 2u);
    EXPECT_EQ(netif_->stats().rx_bytes, 14u + 1518u);
    EXPECT_EQ(lwip_stats.link.recv - lwip_recv_before, 2u) << "only the valid frames reach lwIP";
}

TEST_F(BackendNetifTest, ConfiguredMtuBoundsAcceptedFrames) {
    NetifConfig c = config();
    c.mtu = 1400;
    bring_up(c);
    EXPECT_EQ(netif_->mtu(), 1400);
    // lwIP fragments IPv4 right only when mtu - 20 is a multiple of 8 (backend_netif.cpp).
    EXPECT_EQ(netif_->lwip_netif()->mtu, 1396);
    backend_.rx_queue.push_back(ethernet(kOurMac, kPeerMac, 0x88b5, 1400 + 4));
    backend_.rx_queue.push_back(ethernet(kOurMac, kPeerMac, 0x88b5, 1400 + 5));
    EXPECT_EQ(netif_->poll(64), 2u);
    EXPECT_EQ(netif_->stats().rx_frames, 1u);
    EXPECT_EQ(netif_->stats().rx_too_long, 1u);
}

TEST_F(BackendNetifTest, PollStopsAtMaxFramesAndLeavesTheRest) {
    bring_up(config());
    for (int i = 0; i < 40; ++i)
        backend_.rx_queue.push_back(ethernet(kOurMac, kPeerMac, 0x88b5, 46));
    EXPECT_EQ(netif_->poll(35), 35u);  // crosses one internal burst boundary
    EXPECT_EQ(backend_.rx_queue.size(), 5u);
    EXPECT_EQ(netif_->poll(64), 5u);
    EXPECT_EQ(netif_->poll(64), 0u);
    EXPECT_EQ(netif_->stats().rx_frames, 40u);
}

TEST_F(BackendNetifTest, ComingUpAnnouncesOurAddressWithGratuitousArp) {
    bring_up(config());
    bool announced = false;
    for (const Bytes& f : startup_frames_) {
        if (f.size() >= 42 && get16(f, 12) == 0x0806 &&
            std::equal(kOurIp.begin(), kOurIp.end(), f.begin() + 28) &&
            std::equal(kOurIp.begin(), kOurIp.end(), f.begin() + 38)) {
            announced = true;
        }
    }
    EXPECT_TRUE(announced) << startup_frames_.size()
                           << " frames at start, none announces 10.77.0.2";
    uint64_t bytes = 0;
    for (const Bytes& f : startup_frames_) bytes += f.size();
    EXPECT_EQ(netif_->stats().tx_frames, startup_frames_.size());
    EXPECT_EQ(netif_->stats().tx_bytes, bytes);
}

TEST_F(BackendNetifTest, AnswersArpRequestWithOurMac) {
    bring_up(config());
    backend_.rx_queue.push_back(arp_request_for_us());
    ASSERT_EQ(netif_->poll(8), 1u);
    ASSERT_EQ(backend_.sent.size(), 1u);
    const Bytes& r = backend_.sent[0];
    ASSERT_GE(r.size(), 42u);
    EXPECT_TRUE(std::equal(kPeerMac.begin(), kPeerMac.end(), r.begin()));
    EXPECT_TRUE(std::equal(kOurMac.begin(), kOurMac.end(), r.begin() + 6));
    EXPECT_EQ(get16(r, 12), 0x0806);
    EXPECT_EQ(get16(r, 20), 2) << "an ARP reply";
    EXPECT_TRUE(std::equal(kOurMac.begin(), kOurMac.end(), r.begin() + 22));
    EXPECT_TRUE(std::equal(kOurIp.begin(), kOurIp.end(), r.begin() + 28));
    EXPECT_TRUE(std::equal(kPeerIp.begin(), kPeerIp.end(), r.begin() + 38));
    EXPECT_EQ(netif_->stats().tx_frames - tx_frames_at_start_, 1u);
}

TEST_F(BackendNetifTest, EchoReplyCarriesPayloadAndValidChecksums) {
    bring_up(config());
    exchange_arp();
    const Bytes request = echo_request(7, 100);
    backend_.rx_queue.push_back(request);
    ASSERT_EQ(netif_->poll(8), 1u);
    ASSERT_EQ(backend_.sent.size(), 1u);
    const Bytes& r = backend_.sent[0];
    ASSERT_EQ(r.size(), request.size());
    EXPECT_EQ(get16(r, 12), 0x0800);
    EXPECT_TRUE(std::equal(kOurIp.begin(), kOurIp.end(), r.begin() + 26));
    EXPECT_TRUE(std::equal(kPeerIp.begin(), kPeerIp.end(), r.begin() + 30));
    EXPECT_EQ(fold(sum16(&r[14], 20)), 0) << "IP header checksum";
    EXPECT_EQ(r[34], 0) << "echo reply";
    EXPECT_EQ(fold(sum16(&r[34], r.size() - 34)), 0) << "ICMP checksum";
    EXPECT_TRUE(std::equal(request.begin() + 38, request.end(), r.begin() + 38))
        << "id, seq, payload";
}

TEST_F(BackendNetifTest, TxChecksumOffloadLeavesIpChecksumToTheDevice) {
    backend_.caps_.tx_csum_ipv4 = true;
    backend_.caps_.tx_csum_l4 = true;
    bring_up(config());
    const uint16_t flags = netif_->lwip_netif()->chksum_flags;
    EXPECT_EQ(flags & (NETIF_CHECKSUM_GEN_IP | NETIF_CHECKSUM_GEN_TCP), 0);
    EXPECT_NE(flags & NETIF_CHECKSUM_GEN_ICMP, 0) << "ICMP stays in software";
    EXPECT_NE(flags & NETIF_CHECKSUM_GEN_UDP, 0) << "UDP stays in software (fragments)";
    EXPECT_EQ(flags & NETIF_CHECKSUM_CHECK_IP, NETIF_CHECKSUM_CHECK_IP);
    exchange_arp();
    backend_.rx_queue.push_back(echo_request(1, 32));
    ASSERT_EQ(netif_->poll(8), 1u);
    ASSERT_EQ(backend_.sent.size(), 1u);
    EXPECT_EQ(get16(backend_.sent[0], 24), 0) << "IP checksum left for the device";
}

TEST_F(BackendNetifTest, RxChecksumOffloadDecidesWhetherLwipChecksBadHeaders) {
    bring_up(config());
    exchange_arp();
    const auto chkerr_before = lwip_stats.ip.chkerr;
    backend_.rx_queue.push_back(echo_request(1, 32, /*break_ip_checksum=*/true));
    ASSERT_EQ(netif_->poll(8), 1u);
    EXPECT_TRUE(backend_.sent.empty()) << "software check drops the bad header";
    EXPECT_EQ(lwip_stats.ip.chkerr - chkerr_before, 1u);
    netif_.reset();

    // A device that verified checksums delivers only good frames, so lwIP skips the check.
    backend_.caps_.rx_csum_ipv4 = true;
    bring_up(config());
    EXPECT_EQ(netif_->lwip_netif()->chksum_flags & NETIF_CHECKSUM_CHECK_IP, 0);
    exchange_arp();
    backend_.rx_queue.push_back(echo_request(2, 32, /*break_ip_checksum=*/true));
    ASSERT_EQ(netif_->poll(8), 1u);
    EXPECT_EQ(backend_.sent.size(), 1u);
}

TEST_F(BackendNetifTest, Ipv6LinkLocalComesFromMacAndConfiguredAddressesArePreferred) {
    bring_up(config());
    ::netif* nif = netif_->lwip_netif();
    // EUI-64 of 02:63:76:00:00:01 with the universal/local bit flipped: fe80::63:76ff:fe00:1.
    const std::array<uint8_t, 16> link_local{0xfe, 0x80, 0,    0,    0,    0,    0,    0,
                                             0x00, 0x63, 0x76, 0xff, 0xfe, 0x00, 0x00, 0x01};
    EXPECT_EQ(std::memcmp(netif_ip6_addr(nif, 0)->addr, link_local.data(), 16), 0);
    EXPECT_EQ(netif_ip6_addr_state(nif, 0), IP6_ADDR_PREFERRED);
    EXPECT_EQ(std::memcmp(netif_ip6_addr(nif, 1)->addr, kOurIp6.data(), 16), 0);
    EXPECT_EQ(netif_ip6_addr_state(nif, 1), IP6_ADDR_PREFERRED);
    EXPECT_TRUE(ip6_addr_isinvalid(netif_ip6_addr_state(nif, 2)));
}

TEST_F(BackendNetifTest, AnswersNeighbourSolicitationWithAdvertisement) {
    bring_up(config());
    backend_.rx_queue.push_back(neighbour_solicitation_for_us());
    ASSERT_EQ(netif_->poll(8), 1u);
    const Bytes* na = nullptr;  // lwIP may also send MLD reports; find the NA
    for (const Bytes& f : backend_.sent) {
        if (f.size() >= 14 + 40 + 24 && get16(f, 12) == 0x86dd && f[20] == 58 && f[54] == 136)
            na = &f;
    }
    ASSERT_NE(na, nullptr) << "no neighbour advertisement among " << backend_.sent.size()
                           << " frames";
    const Bytes& r = *na;
    EXPECT_TRUE(std::equal(kPeerMac.begin(), kPeerMac.end(), r.begin()));
    EXPECT_TRUE(std::equal(kOurIp6.begin(), kOurIp6.end(), r.begin() + 22)) << "source";
    EXPECT_TRUE(std::equal(kPeerIp6.begin(), kPeerIp6.end(), r.begin() + 38)) << "destination";
    EXPECT_TRUE(std::equal(kOurIp6.begin(), kOurIp6.end(), r.begin() + 62)) << "target";
    EXPECT_NE(r[58] & 0x40, 0) << "solicited flag";
    const uint32_t len = get16(r, 18);
    EXPECT_EQ(fold(sum16(&r[54], len, ipv6_pseudo_sum(&r[22], &r[38], len, 58))), 0)
        << "ICMPv6 checksum";
}

TEST_F(BackendNetifTest, ChainedPbufIsGatheredIntoOneFrame) {
    bring_up(config());
    ip4_addr_t peer;
    IP4_ADDR(&peer, kPeerIp[0], kPeerIp[1], kPeerIp[2], kPeerIp[3]);
    eth_addr peer_mac;
    std::memcpy(peer_mac.addr, kPeerMac.data(), 6);
    ASSERT_EQ(etharp_add_static_entry(&peer, &peer_mac), ERR_OK);

    udp_pcb* pcb = udp_new();
    ASSERT_NE(pcb, nullptr);
    // PBUF_RAW leaves no header room, so udp_sendto chains a header pbuf in front.
    pbuf* p = pbuf_alloc(PBUF_RAW, 300, PBUF_RAM);
    ASSERT_NE(p, nullptr);
    for (uint16_t i = 0; i < 300; ++i)
        static_cast<uint8_t*>(p->payload)[i] = static_cast<uint8_t>(i);
    ip_addr_t dst;
    ip_addr_copy_from_ip4(dst, peer);
    EXPECT_EQ(udp_sendto(pcb, p, &dst, 9999), ERR_OK);
    pbuf_free(p);
    udp_remove(pcb);

    ASSERT_EQ(backend_.sent.size(), 1u);
    const Bytes& f = backend_.sent[0];
    ASSERT_EQ(f.size(), 14u + 20 + 8 + 300);
    EXPECT_EQ(f[23], 17) << "UDP";
    EXPECT_EQ(get16(f, 36), 9999);
    for (size_t i = 0; i < 300; ++i) ASSERT_EQ(f[42 + i], static_cast<uint8_t>(i)) << "byte " << i;
}

TEST_F(BackendNetifTest, BackendBackPressureReachesLwipAsErrMem) {
    bring_up(config());
    ip4_addr_t peer;
    IP4_ADDR(&peer, kPeerIp[0], kPeerIp[1], kPeerIp[2], kPeerIp[3]);
    eth_addr peer_mac;
    std::memcpy(peer_mac.addr, kPeerMac.data(), 6);
    ASSERT_EQ(etharp_add_static_entry(&peer, &peer_mac), ERR_OK);
    backend_.accept_tx = false;

    udp_pcb* pcb = udp_new();
    ASSERT_NE(pcb, nullptr);
    pbuf* p = pbuf_alloc(PBUF_TRANSPORT, 10, PBUF_RAM);
    ASSERT_NE(p, nullptr);
    ip_addr_t dst;
    ip_addr_copy_from_ip4(dst, peer);
    EXPECT_EQ(udp_sendto(pcb, p, &dst, 9999), ERR_MEM);
    pbuf_free(p);
    udp_remove(pcb);
    EXPECT_EQ(netif_->stats().tx_busy, 1u);
    EXPECT_EQ(netif_->stats().tx_frames, tx_frames_at_start_);
}

TEST_F(BackendNetifTest, LinkStateFollowsTheBackend) {
    backend_.caps_.link_up = false;
    bring_up(config());
    EXPECT_FALSE(netif_is_link_up(netif_->lwip_netif()));
    EXPECT_TRUE(netif_is_up(netif_->lwip_netif()));
    backend_.caps_.link_up = true;
    EXPECT_TRUE(netif_->refresh_link());
    EXPECT_TRUE(netif_is_link_up(netif_->lwip_netif()));
    backend_.caps_.link_up = false;
    EXPECT_FALSE(netif_->refresh_link());
    EXPECT_FALSE(netif_is_link_up(netif_->lwip_netif()));
}

// Every lwIP timer (ARP, ND, MLD, IPv4/IPv6 reassembly, TCP) fires many times. On 64-bit,
// IPv6 reassembly asserts in its first timer run unless lwipopts.h copies fragment headers.
TEST_F(BackendNetifTest, AnHourOfLwipTimersRunsClean) {
    bring_up(config());
    exchange_arp();
    const uint32_t start_ms = culvert_stack_now_ms();
    for (uint32_t elapsed_ms = 0; elapsed_ms <= 3600u * 1000; elapsed_ms += 50) {
        culvert_stack_set_now_ms(start_ms + elapsed_ms);
        sys_check_timeouts();
    }
    EXPECT_TRUE(netif_is_up(netif_->lwip_netif()));
}

TEST_F(BackendNetifTest, BadConfigurationsAreRefusedWithAReason) {
    NetifConfig c = config();
    c.mtu = 9000;
    auto r = BackendNetif::create(backend_, c);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("exceeds the backend's 1500"), std::string::npos) << r.error();

    c = config();
    c.ipv6.assign(4, kOurIp6);
    r = BackendNetif::create(backend_, c);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("at most 3"), std::string::npos) << r.error();

    c = config();
    c.ipv6 = {{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
    r = BackendNetif::create(backend_, c);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("FF02::1"), std::string::npos) << r.error();

    c = config();
    c.ipv4->prefix_len = 33;
    r = BackendNetif::create(backend_, c);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().find("33"), std::string::npos) << r.error();
    EXPECT_EQ(netif_list, nullptr) << "a refused configuration leaves no netif behind";
}

}  // namespace
