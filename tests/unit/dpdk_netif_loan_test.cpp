// Tests the zero-copy receive contract the DPDK backend relies on (src/stack/backend_netif,
// FrameLoan in src/backends/backend.hpp) with an in-memory lending backend: lwIP works on the
// lent bytes themselves, each loan comes back exactly once (when lwIP frees the pbuf, or at
// once for frames the netif drops), and wrappers are recycled rather than allocated per frame.
#include "stack_hooks.h"
#include "lwip/init.h"
#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/udp.h"

#include "stack/backend_netif.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <new>
#include <vector>

// The netif makes its loan wrappers with nothrow new: counting those calls shows whether
// steady-state receive allocates.
static size_t g_nothrow_news = 0;
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    ++g_nothrow_news;
    return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}

namespace {

using culvert::backends::BackendCaps;
using culvert::backends::BackendStats;
using culvert::backends::Frame;
using culvert::backends::FrameLoan;
using culvert::backends::MacAddress;
using Bytes = std::vector<uint8_t>;

constexpr MacAddress kOurMac{0x02, 0xc7, 0, 0, 0, 2};
constexpr MacAddress kPeerMac{0x02, 0, 0, 0, 0, 9};

// Every loan handed out and how often it came back.
std::map<void*, int> g_returns;
void count_return(void* handle) {
    ++g_returns[handle];
}

// Lends each queued frame from a buffer it keeps until the loan returns.
class LendingBackend final : public culvert::backends::PacketBackend {
  public:
    std::deque<Bytes> rx_queue;
    std::deque<Bytes> lent;  // stable addresses: a deque never moves its elements
    std::string_view name() const override { return "lending"; }
    MacAddress mac() const override { return kOurMac; }
    BackendCaps caps() const override { return BackendCaps{.mtu = 1500, .link_up = true}; }
    size_t rx_burst(std::span<Frame> frames) override {
        size_t n = 0;
        while (n < frames.size() && !rx_queue.empty()) {
            lent.push_back(std::move(rx_queue.front()));
            rx_queue.pop_front();
            Bytes& b = lent.back();
            frames[n++] =
                Frame{reinterpret_cast<std::byte*>(b.data()), static_cast<uint16_t>(b.size()),
                      FrameLoan{&count_return, b.data()}};
            g_returns[b.data()] = 0;
        }
        return n;
    }
    size_t tx_burst(std::span<const Frame> frames) override { return frames.size(); }
    int pollable_fd() const override { return -1; }
    BackendStats stats() const override { return {}; }
};

void put16(Bytes& b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}

// IPv4/UDP from the peer to 10.95.0.2:7000 (UDP checksum 0: none, legal on IPv4).
Bytes datagram(const std::string& text) {
    Bytes f(14 + 20 + 8 + text.size(), 0);
    std::memcpy(&f[0], kOurMac.data(), 6);
    std::memcpy(&f[6], kPeerMac.data(), 6);
    put16(f, 12, 0x0800);
    f[14] = 0x45;
    put16(f, 16, static_cast<uint16_t>(20 + 8 + text.size()));
    f[22] = 64;
    f[23] = 17;
    const uint8_t addrs[8] = {10, 95, 0, 1, 10, 95, 0, 2};
    std::memcpy(&f[26], addrs, 8);
    uint32_t sum = 0;
    for (size_t i = 14; i < 34; i += 2) sum += static_cast<uint32_t>(f[i] << 8 | f[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    put16(f, 24, static_cast<uint16_t>(~sum));
    put16(f, 34, 5555);
    put16(f, 36, 7000);
    put16(f, 38, static_cast<uint16_t>(8 + text.size()));
    std::memcpy(&f[42], text.data(), text.size());
    return f;
}

class NetifLoans : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { culvert_lwip_init(); }
    void SetUp() override {
        g_returns.clear();
        culvert::stack::NetifConfig nc;
        nc.ipv4 = culvert::stack::Ipv4Config{.address = {10, 95, 0, 2}, .prefix_len = 24};
        auto created = culvert::stack::BackendNetif::create(backend_, nc);
        ASSERT_TRUE(created) << created.error();
        netif_ = std::move(*created);
        pcb_ = udp_new();
        ASSERT_NE(pcb_, nullptr);
        ASSERT_EQ(udp_bind(pcb_, IP_ANY_TYPE, 7000), ERR_OK);
        udp_recv(pcb_, &NetifLoans::on_datagram, this);
    }
    void TearDown() override {
        for (pbuf* p : held_) pbuf_free(p);
        held_.clear();
        udp_remove(pcb_);
        netif_.reset();
        for (const auto& [handle, returns] : g_returns)
            EXPECT_EQ(returns, 1) << "a loan came back " << returns << " times";
    }
    static void on_datagram(void* arg, udp_pcb*, pbuf* p, const ip_addr_t*, u16_t) {
        static_cast<NetifLoans*>(arg)->held_.push_back(p);  // a socket queue keeps the pbuf
    }
    LendingBackend backend_;
    std::unique_ptr<culvert::stack::BackendNetif> netif_;
    udp_pcb* pcb_ = nullptr;
    std::vector<pbuf*> held_;
};

TEST_F(NetifLoans, LwipReadsTheLentBytesAndTheLoanReturnsWhenThePbufIsFreed) {
    backend_.rx_queue.push_back(datagram("zero copy"));
    ASSERT_EQ(netif_->poll(8), 1u);
    ASSERT_EQ(held_.size(), 1u);
    const Bytes& buffer = backend_.lent.back();
    // The payload lwIP hands the socket is inside the backend's buffer: nothing was copied.
    EXPECT_EQ(static_cast<const uint8_t*>(held_[0]->payload), buffer.data() + 42);
    EXPECT_EQ(std::memcmp(held_[0]->payload, "zero copy", 9), 0);
    EXPECT_EQ(netif_->stats().rx_zero_copy, 1u);
    EXPECT_EQ(g_returns[const_cast<uint8_t*>(buffer.data())], 0) << "still in use by the socket";
    pbuf_free(held_[0]);
    held_.clear();
    EXPECT_EQ(g_returns[const_cast<uint8_t*>(buffer.data())], 1);
}

TEST_F(NetifLoans, FramesTheNetifDropsAreReturnedAtOnce) {
    backend_.rx_queue.push_back(Bytes(10, 0));             // shorter than an Ethernet header
    backend_.rx_queue.push_back(Bytes(1500 + 18 + 1, 0));  // longer than mtu + 18
    Bytes not_ours = datagram("x");
    not_ours[33] = 77;  // to 10.95.0.77: lwIP does not forward, it frees the pbuf
    backend_.rx_queue.push_back(not_ours);
    ASSERT_EQ(netif_->poll(8), 3u);
    EXPECT_EQ(netif_->stats().rx_too_short, 1u);
    EXPECT_EQ(netif_->stats().rx_too_long, 1u);
    for (const auto& [handle, returns] : g_returns) EXPECT_EQ(returns, 1);
    EXPECT_TRUE(held_.empty());
}

TEST_F(NetifLoans, WrappersAreRecycledNotAllocatedPerFrame) {
    size_t news_after_first_round = 0;
    for (int round = 0; round < 3; ++round) {
        if (round == 1) news_after_first_round = g_nothrow_news;
        for (int i = 0; i < 100; ++i)
            backend_.rx_queue.push_back(datagram("r" + std::to_string(i)));
        while (netif_->poll(32) > 0) {
        }
        ASSERT_EQ(held_.size(), 100u);
        for (pbuf* p : held_) pbuf_free(p);
        held_.clear();
    }
    EXPECT_EQ(netif_->stats().rx_zero_copy, 300u);
    EXPECT_EQ(g_returns.size(), 300u);
    // Round one made its wrappers (if earlier tests left none free); rounds two and three
    // reused them.
    EXPECT_GE(news_after_first_round, 1u) << "the counting operator new is not in use";
    EXPECT_EQ(g_nothrow_news, news_after_first_round);
}

}  // namespace
