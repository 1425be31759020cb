// The whole service in one thread under a virtual clock: culvertd's Stack and the real
// client library (the code the preload uses) over lwIP's loopback, driven through the
// client's idle hook. Deterministic and fast: the seed of the simulator (DESIGN §6).
#include "backends/backend.hpp"
#include "client/client.hpp"
#include "server/stack.hpp"
#include "stack/backend_netif.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

namespace {

using culvert::client::Client;

// A wire to nowhere: every packet this test sends goes to our own address and lwIP loops
// it back before it reaches a backend.
class NullBackend final : public culvert::backends::PacketBackend {
public:
    std::string_view name() const override { return "null"; }
    culvert::backends::MacAddress mac() const override { return {0x02, 0x63, 0x76, 0, 0, 9}; }
    culvert::backends::BackendCaps caps() const override {
        culvert::backends::BackendCaps c{};
        c.mtu = 1500;
        c.link_up = true;
        return c;
    }
    size_t rx_burst(std::span<culvert::backends::Frame>) override { return 0; }
    size_t tx_burst(std::span<const culvert::backends::Frame> f) override { return f.size(); }
    int pollable_fd() const override { return -1; }
    culvert::backends::BackendStats stats() const override { return {}; }
};

struct World {
    uint64_t now_ms = 0;
    uint64_t limit_ms = 0;
    std::unique_ptr<culvert::server::Stack> stack;
    uint64_t steps = 0;
};
World* g_world = nullptr;

// One scheduler step: run what is ready; if nothing is, jump to the next lwIP timer.
bool drive(void*) {
    World& w = *g_world;
    const uint64_t next = w.stack->step(0);
    ++w.steps;
    if (w.now_ms >= w.limit_ms) return false;
    w.now_ms = std::min({next == UINT64_MAX ? w.now_ms + 1000 : std::max(next, w.now_ms + 1), w.now_ms + 250,
                         w.limit_ms});
    return true;
}

class InProcessService : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        static World world;
        g_world = &world;
        char dir[] = "/tmp/culvert-inproc-XXXXXX";
        ASSERT_NE(mkdtemp(dir), nullptr);
        const std::string path = std::string(dir) + "/culvertd.sock";
        culvert::server::StackSettings settings;
        settings.socket_path = path;
        settings.segment_bytes = 64u << 20;
        settings.seed = 42;
        settings.clock_ms = [] { return g_world->now_ms; };
        auto stack = culvert::server::Stack::create(settings);
        ASSERT_TRUE(stack) << stack.error();
        world.stack = std::move(*stack);
        culvert::stack::NetifConfig nc;
        nc.ipv4 = culvert::stack::Ipv4Config{{10, 0, 0, 2}, 24, std::nullopt};
        nc.ipv6.push_back({0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2});
        nc.make_default = true;
        auto r = world.stack->add_interface(std::make_unique<NullBackend>(), nc);
        ASSERT_TRUE(r) << r.error();
        setenv("CULVERT_SOCKET", path.c_str(), 1);
        Client::instance().set_idle_hook(drive, nullptr);
    }
    void SetUp() override { g_world->limit_ms = g_world->now_ms + 60'000; }

    static nlohmann::json status() { return nlohmann::json::parse(g_world->stack->status_json()); }

    static sockaddr_in v4(uint16_t port) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        inet_pton(AF_INET, "10.0.0.2", &a.sin_addr);
        return a;
    }
};

culvert::client::Result<size_t> send_bytes(int fd, const void* data, size_t len, int flags = 0,
                                           const sockaddr_in* to = nullptr) {
    iovec v{const_cast<void*>(data), len};
    msghdr m{};
    m.msg_name = const_cast<sockaddr_in*>(to);
    m.msg_namelen = to ? sizeof *to : 0;
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    return Client::instance().sendmsg(fd, &m, flags);
}

culvert::client::Result<size_t> recv_bytes(int fd, void* data, size_t len, int flags = 0) {
    iovec v{data, len};
    msghdr m{};
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    return Client::instance().recvmsg(fd, &m, flags);
}

std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
    std::vector<uint8_t> v(n);
    std::mt19937 rng(seed);
    for (auto& b : v) b = static_cast<uint8_t>(rng());
    return v;
}

TEST_F(InProcessService, TcpStreamArrivesIntactBothWaysOverLoopback) {
    auto& c = Client::instance();
    auto listener = c.socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_TRUE(listener) << std::strerror(listener.error());
    auto addr = v4(8080);
    ASSERT_TRUE(c.bind(*listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr));
    ASSERT_TRUE(c.listen(*listener, 8));
    auto client = c.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_TRUE(client);
    auto conn = c.connect(*client, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ASSERT_FALSE(conn);
    ASSERT_EQ(conn.error(), EINPROGRESS);
    sockaddr_in peer{};
    socklen_t peer_len = sizeof peer;
    auto server = c.accept4(*listener, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_NONBLOCK);
    ASSERT_TRUE(server) << std::strerror(server.error());
    EXPECT_EQ(peer.sin_family, AF_INET);

    // The connect completes: the fd becomes writable and SO_ERROR is 0.
    pollfd p{*client, POLLOUT, 0};
    for (int i = 0; i < 100 && ::poll(&p, 1, 0) == 0; ++i) drive(nullptr);
    ASSERT_TRUE(p.revents & POLLOUT);
    int err = -1;
    socklen_t len = sizeof err;
    ASSERT_TRUE(c.getsockopt(*client, SOL_SOCKET, SO_ERROR, &err, &len));
    EXPECT_EQ(err, 0);

    const auto up = pattern(3 << 20, 1), down = pattern(1 << 20, 2);
    std::vector<uint8_t> got_up, got_down;
    size_t sent_up = 0, sent_down = 0;
    uint8_t buf[65536];
    while (got_up.size() < up.size() || got_down.size() < down.size()) {
        ASSERT_LT(g_world->now_ms, g_world->limit_ms) << "no progress: up " << got_up.size() << " down " << got_down.size();
        auto send_some = [&](int fd, const std::vector<uint8_t>& data, size_t& sent) {
            if (sent == data.size()) return;
            auto n = send_bytes(fd, data.data() + sent, std::min<size_t>(data.size() - sent, 100000));
            if (n) sent += *n;
            else ASSERT_EQ(n.error(), EAGAIN);
        };
        auto recv_some = [&](int fd, std::vector<uint8_t>& out) {
            auto n = recv_bytes(fd, buf, sizeof buf);
            if (n) out.insert(out.end(), buf, buf + *n);
            else ASSERT_EQ(n.error(), EAGAIN);
        };
        send_some(*client, up, sent_up);
        send_some(*server, down, sent_down);
        recv_some(*server, got_up);
        recv_some(*client, got_down);
        drive(nullptr);
    }
    EXPECT_TRUE(got_up == up);
    EXPECT_TRUE(got_down == down);

    // Orderly close: the peer reads EOF (0) and the fd reports POLLIN|POLLRDHUP.
    ASSERT_TRUE(c.close(*client));
    pollfd e{*server, POLLIN | POLLRDHUP, 0};
    for (int i = 0; i < 100 && ::poll(&e, 1, 0) == 0; ++i) drive(nullptr);
    EXPECT_TRUE(e.revents & POLLIN);
    EXPECT_TRUE(e.revents & POLLRDHUP);
    auto eof = recv_bytes(*server, buf, sizeof buf);
    ASSERT_TRUE(eof);
    EXPECT_EQ(*eof, 0u);
    ASSERT_TRUE(c.close(*server));
    ASSERT_TRUE(c.close(*listener));

    // After TIME_WAIT (2 MSL of virtual time) nothing is left: no pcbs, no pbufs.
    g_world->limit_ms = g_world->now_ms + 300'000;
    while (drive(nullptr)) {
        if (status()["lwip"]["tcp_pcbs"] == 0) break;
    }
    auto st = status();
    EXPECT_EQ(st["sockets"], 0);
    EXPECT_EQ(st["orphans"], 0);
    EXPECT_EQ(st["lwip"]["tcp_pcbs"], 0) << st.dump();
    EXPECT_EQ(st["lwip"]["pbuf_pool"], 0) << st.dump();
}

TEST_F(InProcessService, UdpDatagramsArriveWholeWithTheirSourceAndTruncationIsReported) {
    auto& c = Client::instance();
    auto a = c.socket(AF_INET6, SOCK_DGRAM, 0);  // dual-stack
    auto b = c.socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_TRUE(a && b);
    sockaddr_in6 any6{};
    any6.sin6_family = AF_INET6;
    any6.sin6_port = htons(9000);
    ASSERT_TRUE(c.bind(*a, reinterpret_cast<sockaddr*>(&any6), sizeof any6));
    auto to = v4(9000);
    for (size_t size : {1u, 100u, 1472u, 2048u, 9000u}) {
        const auto d = pattern(size, static_cast<uint32_t>(size));
        auto n = send_bytes(*b, d.data(), d.size(), 0, &to);
        ASSERT_TRUE(n) << size << ": " << std::strerror(n.error());
        EXPECT_EQ(*n, size);

        std::vector<uint8_t> got(65536);
        sockaddr_in6 from{};
        iovec rv{got.data(), got.size()};
        msghdr rm{};
        rm.msg_name = &from;
        rm.msg_namelen = sizeof from;
        rm.msg_iov = &rv;
        rm.msg_iovlen = 1;
        // A peek first: it must not consume.
        auto peeked = c.recvmsg(*a, &rm, MSG_PEEK);
        ASSERT_TRUE(peeked);
        EXPECT_EQ(*peeked, size);
        auto r = c.recvmsg(*a, &rm, 0);
        ASSERT_TRUE(r);
        ASSERT_EQ(*r, size);
        got.resize(*r);
        EXPECT_TRUE(got == d) << size;
        EXPECT_EQ(from.sin6_family, AF_INET6);
        EXPECT_TRUE(IN6_IS_ADDR_V4MAPPED(&from.sin6_addr)) << "an IPv4 peer of a dual-stack socket";
    }
    // Truncation: a 1000-byte datagram into a 10-byte buffer, MSG_TRUNC returns its length.
    const auto d = pattern(1000, 7);
    ASSERT_TRUE(send_bytes(*b, d.data(), d.size(), 0, &to));
    uint8_t small[10];
    iovec rv{small, sizeof small};
    msghdr rm{};
    rm.msg_iov = &rv;
    rm.msg_iovlen = 1;
    auto r = c.recvmsg(*a, &rm, MSG_TRUNC);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 1000u);
    EXPECT_TRUE(rm.msg_flags & MSG_TRUNC);
    EXPECT_EQ(std::memcmp(small, d.data(), sizeof small), 0);
    ASSERT_TRUE(c.close(*a));
    ASSERT_TRUE(c.close(*b));
    EXPECT_EQ(status()["lwip"]["udp_pcbs"], 0);
}

// lwIP's pbufs hold at most 65,535 bytes, so over IPv6 culvert carries 65,487 bytes of UDP
// payload (Linux: 65,527). One more is EMSGSIZE, on the sendto and the connected path (it
// was ENOBUFS, which invites a retry that can never succeed); the same dual-stack socket
// still sends 65,507 bytes to an IPv4-mapped peer, as Linux.
TEST_F(InProcessService, Ipv6UdpCarries65487BytesAndRefusesOneMoreWithEmsgsize) {
    auto& c = Client::instance();
    auto a = c.socket(AF_INET6, SOCK_DGRAM, 0);
    auto b = c.socket(AF_INET6, SOCK_DGRAM, 0);
    ASSERT_TRUE(a && b);
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    to.sin6_port = htons(9100);
    ASSERT_TRUE(c.bind(*a, reinterpret_cast<sockaddr*>(&to), sizeof to));  // [::]:9100
    inet_pton(AF_INET6, "fd00::2", &to.sin6_addr);
    auto send_to = [&](int fd, const std::vector<uint8_t>& d, const sockaddr_in6* dest) {
        iovec v{const_cast<uint8_t*>(d.data()), d.size()};
        msghdr m{};
        m.msg_name = const_cast<sockaddr_in6*>(dest);
        m.msg_namelen = dest ? sizeof *dest : 0;
        m.msg_iov = &v;
        m.msg_iovlen = 1;
        return c.sendmsg(fd, &m, 0);
    };
    auto expect_arrives = [&](const std::vector<uint8_t>& d) {
        std::vector<uint8_t> got(65536);
        auto r = recv_bytes(*a, got.data(), got.size());
        ASSERT_TRUE(r) << std::strerror(r.error());
        got.resize(*r);
        EXPECT_TRUE(got == d) << d.size() << " bytes sent, " << *r << " received";
    };

    const auto largest = pattern(65487, 1), one_more = pattern(65488, 2);
    auto n = send_to(*b, largest, &to);
    ASSERT_TRUE(n) << std::strerror(n.error());
    EXPECT_EQ(*n, largest.size());
    expect_arrives(largest);
    n = send_to(*b, one_more, &to);
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error(), EMSGSIZE);

    ASSERT_TRUE(c.connect(*b, reinterpret_cast<sockaddr*>(&to), sizeof to));
    n = send_to(*b, one_more, nullptr);
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error(), EMSGSIZE);
    n = send_to(*b, largest, nullptr);
    ASSERT_TRUE(n) << std::strerror(n.error());
    expect_arrives(largest);

    // IPv4's limit is Linux's: 65,507, also from an AF_INET6 socket to a mapped address.
    auto v4_bytes = pattern(65507, 3);
    sockaddr_in6 mapped = to;
    inet_pton(AF_INET6, "::ffff:10.0.0.2", &mapped.sin6_addr);
    n = send_to(*a, v4_bytes, &mapped);
    ASSERT_TRUE(n) << std::strerror(n.error());
    expect_arrives(v4_bytes);
    ASSERT_TRUE(c.close(*a));
    ASSERT_TRUE(c.close(*b));
    EXPECT_EQ(status()["lwip"]["udp_pcbs"], 0);
}

TEST_F(InProcessService, SoRcvbufAndSoSndbufResizeTheRingsBeforeConnect) {
    auto& c = Client::instance();
    auto l = c.socket(AF_INET, SOCK_STREAM, 0);
    const int small = 8192, big = 1 << 20;
    ASSERT_TRUE(c.setsockopt(*l, SOL_SOCKET, SO_RCVBUF, &small, sizeof small));
    ASSERT_TRUE(c.setsockopt(*l, SOL_SOCKET, SO_SNDBUF, &big, sizeof big));
    int got = 0;
    socklen_t len = sizeof got;
    ASSERT_TRUE(c.getsockopt(*l, SOL_SOCKET, SO_RCVBUF, &got, &len));
    EXPECT_EQ(got, 2 * small) << "Linux reports twice the requested size";
    ASSERT_TRUE(c.getsockopt(*l, SOL_SOCKET, SO_SNDBUF, &got, &len));
    EXPECT_EQ(got, 2 * big);
    auto addr = v4(8082);
    ASSERT_TRUE(c.bind(*l, reinterpret_cast<sockaddr*>(&addr), sizeof addr));
    ASSERT_TRUE(c.listen(*l, 1));
    auto s = c.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_TRUE(c.setsockopt(*s, SOL_SOCKET, SO_SNDBUF, &small, sizeof small));
    (void)c.connect(*s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    auto a = c.accept4(*l, nullptr, nullptr, SOCK_NONBLOCK);
    ASSERT_TRUE(a);
    ASSERT_TRUE(c.getsockopt(*a, SOL_SOCKET, SO_RCVBUF, &got, &len));
    EXPECT_EQ(got, 2 * small) << "an accepted socket inherits the listener's sizes";
    pollfd p{*s, POLLOUT, 0};
    for (int i = 0; i < 100 && ::poll(&p, 1, 0) == 0; ++i) drive(nullptr);
    // A non-blocking write takes at most the (small) send ring at once.
    std::vector<uint8_t> data = pattern(100000, 9);
    auto n = send_bytes(*s, data.data(), data.size());
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, static_cast<size_t>(small));
    // And everything still arrives intact through the resized rings.
    std::vector<uint8_t> out;
    size_t sent = *n;
    uint8_t buf[4096];
    while (out.size() < data.size()) {
        ASSERT_LT(g_world->now_ms, g_world->limit_ms);
        if (sent < data.size()) {
            auto k = send_bytes(*s, data.data() + sent, data.size() - sent);
            if (k) sent += *k;
        }
        auto k = recv_bytes(*a, buf, sizeof buf);
        if (k) out.insert(out.end(), buf, buf + *k);
        drive(nullptr);
    }
    EXPECT_TRUE(out == data);
    c.close(*s);
    c.close(*a);
    c.close(*l);
}

// tcp(7), socket(7): SO_LINGER {1, 0} makes close() abortive: RST, the peer's recv fails
// with ECONNRESET and no TIME_WAIT is left. An orderly close leaves the closer's pcb in
// TIME_WAIT for 60 s, as Linux's TCP_TIMEWAIT_LEN.
TEST_F(InProcessService, LingerZeroResetsAndOrderlyCloseWaitsSixtySeconds) {
    auto& c = Client::instance();
    auto l = c.socket(AF_INET, SOCK_STREAM, 0);
    auto addr = v4(8083);
    ASSERT_TRUE(c.bind(*l, reinterpret_cast<sockaddr*>(&addr), sizeof addr));
    ASSERT_TRUE(c.listen(*l, 2));
    // Earlier tests' TIME_WAITs end first (virtual time is free), then the baseline.
    g_world->limit_ms = g_world->now_ms + 61'000;
    while (drive(nullptr)) {
    }
    g_world->limit_ms = g_world->now_ms + 60'000;
    const int baseline = status()["lwip"]["tcp_pcbs"];

    auto s = c.socket(AF_INET, SOCK_STREAM, 0);
    const linger abortive{1, 0};
    ASSERT_TRUE(c.setsockopt(*s, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive));
    linger got{};
    socklen_t len = sizeof got;
    ASSERT_TRUE(c.getsockopt(*s, SOL_SOCKET, SO_LINGER, &got, &len));
    EXPECT_EQ(len, sizeof got);
    EXPECT_EQ(got.l_onoff, 1);
    EXPECT_EQ(got.l_linger, 0);
    const int half = 1;
    auto short_value = c.setsockopt(*s, SOL_SOCKET, SO_LINGER, &half, sizeof half);
    ASSERT_FALSE(short_value);
    EXPECT_EQ(short_value.error(), EINVAL);
    ASSERT_TRUE(c.connect(*s, reinterpret_cast<sockaddr*>(&addr), sizeof addr));
    auto a = c.accept4(*l, nullptr, nullptr, 0);
    ASSERT_TRUE(a);
    ASSERT_TRUE(c.close(*s));
    char buf[16];
    auto r = recv_bytes(*a, buf, sizeof buf);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), ECONNRESET);
    ASSERT_TRUE(c.close(*a));
    for (int i = 0; i < 10; ++i) drive(nullptr);
    EXPECT_EQ(status()["lwip"]["tcp_pcbs"], baseline) << "no TIME_WAIT after an abortive close";

    // Orderly: the active closer waits 60 s in TIME_WAIT, then its pcb is gone.
    s = c.socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_TRUE(c.connect(*s, reinterpret_cast<sockaddr*>(&addr), sizeof addr));
    a = c.accept4(*l, nullptr, nullptr, 0);
    ASSERT_TRUE(a);
    ASSERT_TRUE(c.close(*s));
    r = recv_bytes(*a, buf, sizeof buf);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, 0u) << "EOF";
    ASSERT_TRUE(c.close(*a));
    const uint64_t closed_at = g_world->now_ms;
    g_world->limit_ms = closed_at + 55'000;
    while (drive(nullptr)) {
    }
    EXPECT_EQ(status()["lwip"]["tcp_pcbs"], baseline + 1) << "TIME_WAIT at 55 s";
    g_world->limit_ms = closed_at + 62'000;
    while (drive(nullptr)) {
    }
    EXPECT_EQ(status()["lwip"]["tcp_pcbs"], baseline) << "TIME_WAIT over at 62 s";
    c.close(*l);
}

TEST_F(InProcessService, TenVirtualMinutesOfIdleConnectionTakeLessThanASecond) {
    auto& c = Client::instance();
    auto l = c.socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_TRUE(l) << std::strerror(l.error());
    auto addr = v4(8081);
    auto b = c.bind(*l, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ASSERT_TRUE(b) << std::strerror(b.error());
    ASSERT_TRUE(c.listen(*l, 1));
    auto s = c.socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ASSERT_TRUE(c.setsockopt(*s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one));
    ASSERT_TRUE(c.connect(*s, reinterpret_cast<sockaddr*>(&addr), sizeof addr));
    auto a = c.accept4(*l, nullptr, nullptr, 0);
    ASSERT_TRUE(a);
    const auto wall = std::chrono::steady_clock::now();
    const uint64_t start = g_world->now_ms;
    g_world->limit_ms = start + 600'000;
    while (drive(nullptr)) {
    }
    const auto elapsed = std::chrono::steady_clock::now() - wall;
    EXPECT_GE(g_world->now_ms - start, 600'000u);
    EXPECT_LT(elapsed, std::chrono::seconds(1));
    // Still connected after ten idle minutes with keepalives answered.
    const char msg[] = "still there";
    g_world->limit_ms = g_world->now_ms + 10'000;
    ASSERT_TRUE(send_bytes(*s, msg, sizeof msg));
    char got[sizeof msg] = {};
    auto r = recv_bytes(*a, got, sizeof got, MSG_WAITALL);
    ASSERT_TRUE(r);
    EXPECT_STREQ(got, msg);
    c.close(*s);
    c.close(*a);
    c.close(*l);
}

}  // namespace
