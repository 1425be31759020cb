// Tests src/backends/dpdk on DPDK's net_ring virtual device (a port whose transmit ring is
// its receive ring: frames out come back in), without NIC, hugepages or root: content and
// order of bursts, lent buffers coming back, back-pressure, copies under pool pressure,
// sleep mode, open errors, and the lwIP stack on top answering ARP and ping.
#include "backends/dpdk/dpdk_backend.hpp"
#include "stack/backend_netif.hpp"
#include "tests/integration/lwip_test_driver.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

namespace culvert::backends {
namespace {

using ::testing::HasSubstr;
using Bytes = std::vector<uint8_t>;

// One EAL per process (DPDK allows no more); ctest runs each test in its own process.
void init_eal_once() {
    static bool done = false;
    if (done) return;
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const std::vector<std::string> args = {
        "--no-huge", "--no-pci", "--no-shconf", "-m", "128", "--no-telemetry",
        // lcore 0 may run on any CPU: parallel tests must not all be pinned to CPU 0.
        "--lcores", "0@(0-" + std::to_string(cpus > 1 ? cpus - 1 : 0) + ")", "--file-prefix",
        "cvt-ring-" + std::to_string(getpid()), "--log-level", "lib.eal:warning"};
    auto ok = dpdk_eal_init(args);
    ASSERT_TRUE(ok) << ok.error().message;
    // The same arguments again are fine; others are refused with a reason.
    EXPECT_TRUE(dpdk_eal_init(args));
    auto again = dpdk_eal_init(std::vector<std::string>{"--no-huge"});
    ASSERT_FALSE(again);
    EXPECT_THAT(again.error().message, HasSubstr("one EAL per process"));
    done = true;
}

// A fresh net_ring per port: a ring outlives its port (by name) with whatever was left in it.
DpdkConfig ring_config() {
    static int serial = 0;
    DpdkConfig c;
    c.vdev = "net_ring" + std::to_string(serial++);
    c.rx_descriptors = 256;
    c.tx_descriptors = 256;
    c.mempool_mbufs = 4095;
    return c;
}

std::unique_ptr<DpdkBackend> open_ring(const DpdkConfig& c) {
    auto port = DpdkBackend::open(c);
    EXPECT_TRUE(port) << (port ? "" : port.error().message);
    return port ? std::move(*port) : nullptr;
}

Bytes pattern_frame(size_t len, uint32_t seed) {
    Bytes f(len);
    for (size_t i = 0; i < len; ++i) f[i] = static_cast<uint8_t>(seed * 131 + i * 7);
    f[12] = 0x88;  // a local experimental EtherType: nobody parses these frames
    f[13] = 0xb5;
    return f;
}

Frame view(Bytes& b) {
    return Frame{reinterpret_cast<std::byte*>(b.data()), static_cast<uint16_t>(b.size())};
}

// Receives until `want` frames came (or a second passed); the frames' loans are kept.
std::vector<Frame> receive(DpdkBackend& port, size_t want) {
    std::vector<Frame> got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    std::array<Frame, 32> burst;
    while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
        const size_t n =
            port.rx_burst(std::span(burst.data(), std::min(burst.size(), want - got.size())));
        got.insert(got.end(), burst.begin(), burst.begin() + static_cast<long>(n));
    }
    return got;
}

void release(std::vector<Frame>& frames) {
    for (Frame& f : frames)
        if (f.loan.release != nullptr) f.loan.release(f.loan.handle);
    frames.clear();
}

class DpdkRing : public ::testing::Test {
  protected:
    void SetUp() override { init_eal_once(); }
};

TEST_F(DpdkRing, FramesOutComeBackInOrderWithTheirContentAndLentBuffersReturn) {
    auto port = open_ring(ring_config());
    ASSERT_TRUE(port);
    EXPECT_EQ(port->driver_name(), "net_ring");
    EXPECT_EQ(port->pollable_fd(), -1) << "busy polling by default";
    const BackendCaps caps = port->caps();
    EXPECT_TRUE(caps.link_up);
    EXPECT_EQ(caps.mtu, 1500);

    std::vector<Bytes> sent;
    for (uint32_t i = 0; i < 100; ++i)
        sent.push_back(pattern_frame(60 + (i * 97) % (1514 - 60 + 1), i));
    std::vector<Frame> frames;
    for (Bytes& b : sent) frames.push_back(view(b));
    ASSERT_EQ(port->tx_burst(frames), sent.size());
    // tx_burst copied: scribbling over our buffers now must not change what arrives.
    std::vector<Bytes> expected = sent;
    for (Bytes& b : sent) std::fill(b.begin(), b.end(), 0xee);

    std::vector<Frame> got = receive(*port, expected.size());
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i].len, expected[i].size()) << "frame " << i;
        EXPECT_EQ(std::memcmp(got[i].data, expected[i].data(), got[i].len), 0) << "frame " << i;
        EXPECT_NE(got[i].loan.release, nullptr) << "zero copy: frame " << i << " is lent";
    }
    EXPECT_EQ(port->loans_outstanding(), 100u);
    // Lent frames outlive further bursts: an empty poll does not take them back.
    std::array<Frame, 8> none;
    EXPECT_EQ(port->rx_burst(none), 0u);
    EXPECT_EQ(std::memcmp(got[99].data, expected[99].data(), got[99].len), 0);
    release(got);
    EXPECT_EQ(port->loans_outstanding(), 0u);

    const BackendStats st = port->stats();
    EXPECT_EQ(st.tx_frames, 100u);
    EXPECT_EQ(st.rx_frames, 100u);
    uint64_t bytes = 0;
    for (const Bytes& b : expected) bytes += b.size();
    EXPECT_EQ(st.tx_bytes, bytes);
    EXPECT_EQ(st.rx_bytes, bytes);
    EXPECT_EQ(st.rx_dropped + st.rx_errors + st.tx_dropped, 0u);
    bool saw_xstat = false;
    for (const NamedCounter& c : port->device_counters())
        if (c.name == "port.rx_good_packets") saw_xstat = c.value == 100;
    EXPECT_TRUE(saw_xstat) << "the port's xstats are exposed";
}

TEST_F(DpdkRing, AFullRingTakesPartOfABurstAndCopyModeFreesAtTheNextBurst) {
    DpdkConfig c = ring_config();
    c.rx_zero_copy = false;
    auto port = open_ring(c);
    ASSERT_TRUE(port);
    Bytes frame = pattern_frame(200, 1);
    std::vector<Frame> many(3000, view(frame));
    const size_t taken = port->tx_burst(many);
    // net_ring's rings hold 1024 frames: the rest is back-pressure, not loss.
    EXPECT_GT(taken, 0u);
    EXPECT_LT(taken, many.size());
    EXPECT_EQ(port->stats().tx_frames, taken);
    EXPECT_EQ(port->stats().tx_dropped, 0u);
    size_t received = 0;
    std::array<Frame, 32> burst;
    for (int i = 0; i < 1000 && received < taken; ++i) {
        const size_t n = port->rx_burst(burst);
        for (size_t k = 0; k < n; ++k) {
            EXPECT_EQ(burst[k].loan.release, nullptr) << "rx_zero_copy=false lends nothing";
            EXPECT_EQ(burst[k].len, 200);
        }
        received += n;
    }
    EXPECT_EQ(received, taken);
    EXPECT_EQ(port->loans_outstanding(), 0u);
    // Once the ring drained, the device takes a burst again.
    EXPECT_EQ(port->tx_burst(std::span(many.data(), 10)), 10u);
}

TEST_F(DpdkRing, UnderPoolPressureFramesAreCopiedInsteadOfLent) {
    DpdkConfig c = ring_config();
    c.rx_descriptors = 64;
    c.tx_descriptors = 64;
    c.mempool_mbufs = 2047;  // lent buffers beyond three quarters of this leave the pool short
    auto port = open_ring(c);
    ASSERT_TRUE(port);
    Bytes frame = pattern_frame(128, 3);
    std::vector<Frame> held;
    size_t copied = 0;
    for (int round = 0; round < 60 && copied == 0; ++round) {
        std::vector<Frame> burst(32, view(frame));
        ASSERT_EQ(port->tx_burst(burst), burst.size());
        for (Frame& f : receive(*port, burst.size())) {
            if (f.loan.release != nullptr)
                held.push_back(f);
            else
                ++copied;
        }
    }
    EXPECT_GT(copied, 0u) << "holding " << held.size() << " lent frames never switched to copies";
    EXPECT_GE(held.size(), 2047u / 2);
    EXPECT_EQ(port->loans_outstanding(), held.size());
    release(held);
    EXPECT_EQ(port->loans_outstanding(), 0u);
}

TEST_F(DpdkRing, SleepModeGivesAnFdThatWakesWithoutInterrupts) {
    DpdkConfig c = ring_config();
    c.poll = DpdkPollMode::sleep;
    c.sleep_us = 2000;
    auto port = open_ring(c);
    ASSERT_TRUE(port);
    EXPECT_FALSE(port->sleeps_on_interrupts()) << "net_ring has no receive interrupts";
    const int fd = port->pollable_fd();
    ASSERT_GE(fd, 0);
    std::array<Frame, 8> burst;
    EXPECT_EQ(port->rx_burst(burst), 0u);  // nothing: arms the timer
    pollfd p{fd, POLLIN, 0};
    const auto start = std::chrono::steady_clock::now();
    ASSERT_EQ(::poll(&p, 1, 1000), 1) << "the sleep timer never fired";
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::microseconds(1500));
    Bytes frame = pattern_frame(64, 9);
    Frame f = view(frame);
    ASSERT_EQ(port->tx_burst(std::span(&f, 1)), 1u);
    std::vector<Frame> got = receive(*port, 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(std::memcmp(got[0].data, frame.data(), frame.size()), 0);
    release(got);
}

TEST_F(DpdkRing, OpenErrorsNameTheCause) {
    DpdkConfig c = ring_config();
    c.vdev = "net_nosuch0";
    auto unknown = DpdkBackend::open(c);
    ASSERT_FALSE(unknown);
    EXPECT_THAT(unknown.error().message,
                HasSubstr("no DPDK driver for virtual device 'net_nosuch0'"));

    c.vdev.clear();
    c.port = "net_ring9";
    auto missing = DpdkBackend::open(c);
    ASSERT_FALSE(missing);
    EXPECT_THAT(missing.error().message, HasSubstr("no DPDK port named 'net_ring9'"));

    c.port = "0000:42:00.0";
    auto pci = DpdkBackend::open(c);
    ASSERT_FALSE(pci);
    EXPECT_THAT(pci.error().message, HasSubstr("vfio-pci"));

    c.port = "net_ring99";
    c.vdev = "net_ring99";
    auto both = DpdkBackend::open(c);
    ASSERT_FALSE(both);
    EXPECT_THAT(both.error().message, HasSubstr("exactly one of port="));

    const DpdkConfig once = ring_config();
    auto first = open_ring(once);
    ASSERT_TRUE(first);
    auto twice = DpdkBackend::open(once);
    ASSERT_FALSE(twice);
    EXPECT_THAT(twice.error().message, HasSubstr("exists already"));
    DpdkConfig by_name = ring_config();
    by_name.vdev.clear();
    by_name.port = once.vdev;
    auto busy = DpdkBackend::open(by_name);
    ASSERT_FALSE(busy);
    EXPECT_THAT(busy.error().message, HasSubstr("already used by another interface"));

    DpdkConfig small = ring_config();
    small.mempool_mbufs = 600;
    auto too_few = DpdkBackend::open(small);
    ASSERT_FALSE(too_few);
    EXPECT_THAT(too_few.error().message, HasSubstr("mempool_mbufs 600 is too small"));
}

// --- the stack on top: ARP and ping answered through the DPDK port ---

constexpr MacAddress kPeerMac{0x02, 0x00, 0x00, 0x00, 0x00, 0x09};
constexpr MacAddress kOurMac{0x02, 0xc7, 0x00, 0x00, 0x00, 0x02};
constexpr std::array<uint8_t, 4> kOurIp{10, 79, 0, 2};
constexpr std::array<uint8_t, 4> kPeerIp{10, 79, 0, 1};

void put16(Bytes& b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}
uint16_t get16(const Bytes& b, size_t at) {
    return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}
uint16_t checksum(const uint8_t* p, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>((p[i] << 8) | p[i + 1]);
    if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}
Bytes ethernet(const MacAddress& dst, uint16_t type, size_t payload) {
    Bytes f(14 + payload, 0);
    std::memcpy(&f[0], dst.data(), 6);
    std::memcpy(&f[6], kPeerMac.data(), 6);
    put16(f, 12, type);
    return f;
}
Bytes arp_request() {
    Bytes f = ethernet({0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0x0806, 28);
    put16(f, 14, 1);
    put16(f, 16, 0x0800);
    f[18] = 6;
    f[19] = 4;
    put16(f, 20, 1);
    std::memcpy(&f[22], kPeerMac.data(), 6);
    std::memcpy(&f[28], kPeerIp.data(), 4);
    std::memcpy(&f[38], kOurIp.data(), 4);
    return f;
}
Bytes echo_request(uint16_t seq, size_t payload) {
    Bytes f = ethernet(kOurMac, 0x0800, 28 + payload);
    uint8_t* ip = &f[14];
    ip[0] = 0x45;
    put16(f, 16, static_cast<uint16_t>(28 + payload));
    ip[8] = 64;
    ip[9] = 1;
    std::memcpy(ip + 12, kPeerIp.data(), 4);
    std::memcpy(ip + 16, kOurIp.data(), 4);
    put16(f, 24, checksum(ip, 20));
    ip[20] = 8;
    put16(f, 38, 0x4242);
    put16(f, 40, seq);
    for (size_t i = 0; i < payload; ++i) ip[28 + i] = static_cast<uint8_t>(i ^ seq);
    put16(f, 36, checksum(ip + 20, 8 + payload));
    return f;
}

// Passes everything to the DPDK port and keeps a copy of what the stack transmits: the
// tracing wrapper any backend can wear.
class Recording final : public PacketBackend {
  public:
    explicit Recording(DpdkBackend& port) : port_(port) {}
    std::vector<Bytes> sent;
    std::string_view name() const override { return port_.name(); }
    MacAddress mac() const override { return port_.mac(); }
    BackendCaps caps() const override { return port_.caps(); }
    size_t rx_burst(std::span<Frame> frames) override { return port_.rx_burst(frames); }
    size_t tx_burst(std::span<const Frame> frames) override {
        const size_t n = port_.tx_burst(frames);
        for (size_t i = 0; i < n; ++i) {
            const auto* p = reinterpret_cast<const uint8_t*>(frames[i].data);
            sent.emplace_back(p, p + frames[i].len);
        }
        return n;
    }
    int pollable_fd() const override { return port_.pollable_fd(); }
    BackendStats stats() const override { return port_.stats(); }

  private:
    DpdkBackend& port_;
};

TEST_F(DpdkRing, TheStackAnswersArpAndPingThroughThePortWithoutCopies) {
    testing::lwip_init_once();
    DpdkConfig c = ring_config();
    c.mac = kOurMac;
    auto port = open_ring(c);
    ASSERT_TRUE(port);
    EXPECT_EQ(port->mac(), kOurMac);
    Recording wire(*port);
    stack::NetifConfig nc;
    nc.ipv4 = stack::Ipv4Config{.address = kOurIp, .prefix_len = 24};
    auto netif = stack::BackendNetif::create(wire, nc);
    ASSERT_TRUE(netif) << netif.error();
    // Whatever the stack announced on coming up loops back to it: let it settle.
    for (int i = 0; i < 5; ++i) (*netif)->poll(64);
    wire.sent.clear();
    const uint64_t zero_copy_before = (*netif)->stats().rx_zero_copy;

    // A peer on the wire asks who has our address. The ring carries it to our receive side.
    Bytes request = arp_request();
    Frame f = view(request);
    ASSERT_EQ(port->tx_burst(std::span(&f, 1)), 1u);
    for (int i = 0; i < 20 && wire.sent.empty(); ++i) (*netif)->poll(64);
    ASSERT_EQ(wire.sent.size(), 1u) << "no ARP reply";
    const Bytes& reply = wire.sent[0];
    ASSERT_GE(reply.size(), 42u);
    EXPECT_TRUE(std::equal(kPeerMac.begin(), kPeerMac.end(), reply.begin())) << "to the asker";
    EXPECT_EQ(get16(reply, 12), 0x0806);
    EXPECT_EQ(get16(reply, 20), 2) << "an ARP reply";
    EXPECT_TRUE(std::equal(kOurMac.begin(), kOurMac.end(), reply.begin() + 22)) << "our MAC";
    EXPECT_TRUE(std::equal(kOurIp.begin(), kOurIp.end(), reply.begin() + 28)) << "for our IP";

    // Then it pings us: the echo reply carries the same id, sequence and payload.
    wire.sent.clear();
    Bytes ping = echo_request(7, 1000);
    f = view(ping);
    ASSERT_EQ(port->tx_burst(std::span(&f, 1)), 1u);
    for (int i = 0; i < 20 && wire.sent.empty(); ++i) (*netif)->poll(64);
    ASSERT_EQ(wire.sent.size(), 1u) << "no echo reply";
    const Bytes& pong = wire.sent[0];
    ASSERT_EQ(pong.size(), ping.size());
    EXPECT_TRUE(std::equal(kPeerMac.begin(), kPeerMac.end(), pong.begin()));
    EXPECT_TRUE(std::equal(kOurIp.begin(), kOurIp.end(), pong.begin() + 26));
    EXPECT_TRUE(std::equal(kPeerIp.begin(), kPeerIp.end(), pong.begin() + 30));
    EXPECT_EQ(checksum(&pong[14], 20), 0) << "IP header checksum";
    EXPECT_EQ(pong[34], 0) << "echo reply";
    EXPECT_EQ(checksum(&pong[34], pong.size() - 34), 0) << "ICMP checksum";
    EXPECT_TRUE(std::equal(ping.begin() + 38, ping.end(), pong.begin() + 38)) << "id, seq, payload";
    EXPECT_GE((*netif)->stats().rx_zero_copy - zero_copy_before, 2u)
        << "request and ping were lent";

    // Our own replies come back too; once lwIP let go of everything, every loan returned.
    for (int i = 0; i < 5; ++i) (*netif)->poll(64);
    netif->reset();
    EXPECT_EQ(port->loans_outstanding(), 0u) << "lwIP kept a lent buffer";
}

}  // namespace
}  // namespace culvert::backends
