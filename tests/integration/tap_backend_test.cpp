// Tests src/backends/tap and src/stack/backend_netif against the real Linux kernel: each
// test enters a fresh anonymous network namespace (gone with the process whatever happens),
// opens a TAP there, and exchanges real traffic with the kernel on the TAP's other side.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <ifaddrs.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "backends/tap/tap_backend.hpp"
#include "stack/backend_netif.hpp"
#include "tests/integration/lwip_test_driver.hpp"

extern char** environ;

namespace {

using culvert::backends::BackendStats;
using culvert::backends::Frame;
using culvert::backends::MacAddress;
using culvert::backends::TapBackend;
using culvert::backends::TapConfig;
using culvert::stack::BackendNetif;
using culvert::stack::NetifConfig;
using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;

constexpr MacAddress kOurMac{0x02, 0x63, 0x76, 0x00, 0x00, 0x02};
constexpr uint16_t kTestEthertype = 0x88b5;  // IEEE "local experimental"

// Why this process cannot run the tests, or "".
std::string missing_privileges() {
    if (geteuid() != 0) return "needs root (network namespaces and TAP devices)";
    if (access("/dev/net/tun", R_OK | W_OK) != 0) return "needs /dev/net/tun";
    return {};
}

bool under_ci() {
    const char* ci = std::getenv("CI");
    return ci != nullptr && *ci != '\0' && std::string(ci) != "false" && std::string(ci) != "0";
}

// A child process (`/bin/sh -c cmd`) with its output captured in a temporary file.
class Child {
  public:
    explicit Child(const std::string& cmd) {
        char path[] = "/tmp/culvert-tap-test-XXXXXX";
        const int out = mkstemp(path);
        if (out < 0) return;
        path_ = path;
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out, 1);
        posix_spawn_file_actions_adddup2(&actions, out, 2);
        const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
        if (posix_spawn(&pid_, "/bin/sh", &actions, nullptr, const_cast<char**>(argv), environ) !=
            0) {
            pid_ = -1;
        }
        posix_spawn_file_actions_destroy(&actions);
        close(out);
    }
    ~Child() {
        if (pid_ > 0 && !exited_) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        if (!path_.empty()) unlink(path_.c_str());
    }
    bool started() const { return pid_ > 0; }
    // True once the child has exited; status() is then its exit code (-1: killed).
    bool exited() {
        if (pid_ <= 0 || exited_) return true;
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            exited_ = true;
            status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        return exited_;
    }
    int status() const { return status_; }
    std::string output() const {
        std::ifstream in(path_);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

  private:
    pid_t pid_ = -1;
    bool exited_ = false;
    int status_ = -1;
    std::string path_;
};

// Runs a short command to completion (no lwIP pumping); returns its exit code.
int run(const std::string& cmd, std::string* output = nullptr) {
    Child child(cmd);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!child.exited() && Clock::now() < deadline) usleep(2000);
    if (output != nullptr) *output = child.output();
    return child.exited() ? child.status() : -1;
}

// Kernel counters of an interface in the current network namespace.
struct KernelCounters {
    uint64_t rx_packets = 0, tx_packets = 0;
    bool found = false;
};
KernelCounters kernel_counters(const std::string& ifname) {
    KernelCounters k;
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return k;
    for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
        if (i->ifa_addr != nullptr && i->ifa_addr->sa_family == AF_PACKET &&
            i->ifa_data != nullptr && ifname == i->ifa_name) {
            const auto* s = static_cast<const rtnl_link_stats*>(i->ifa_data);
            k = {s->rx_packets, s->tx_packets, true};
        }
    }
    freeifaddrs(list);
    return k;
}

// A raw socket on the kernel's side of an interface, for frames of one ethertype.
int packet_socket(const std::string& ifname, uint16_t ethertype) {
    const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, static_cast<int>(htons(ethertype)));
    if (fd < 0) return -1;
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ethertype);
    addr.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

Bytes test_frame(size_t bytes, uint8_t tag) {
    Bytes f(bytes, 0);
    std::memcpy(&f[0], kOurMac.data(), 6);
    const MacAddress src{0x02, 0x00, 0x00, 0x00, 0x00, 0x77};
    std::memcpy(&f[6], src.data(), 6);
    f[12] = kTestEthertype >> 8;
    f[13] = kTestEthertype & 0xff;
    for (size_t i = 14; i < bytes; ++i) f[i] = static_cast<uint8_t>(tag + i);
    return f;
}

bool wait_readable(int fd, int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, timeout_ms) == 1;
}

// Every test runs in a fresh network namespace of its own thread; TearDown returns.
class TapNetnsTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (const std::string why = missing_privileges(); !why.empty()) {
            if (under_ci()) FAIL() << why << ": CI must run this test, not skip it";
            GTEST_SKIP() << why;
        }
        original_netns_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        ASSERT_GE(original_netns_, 0) << std::strerror(errno);
        // Anonymous: no name to clean up; the kernel frees it (and its TAPs) once the last
        // thread, child and fd in it are gone, also when this process crashes.
        ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET): " << std::strerror(errno);
        in_netns_ = true;
        start_ = Clock::now();
    }
    void TearDown() override {
        if (in_netns_) {
            EXPECT_EQ(setns(original_netns_, CLONE_NEWNET), 0) << std::strerror(errno);
        }
        if (original_netns_ >= 0) close(original_netns_);
    }
    uint32_t now_ms() const {
        return static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_).count());
    }
    static void expect_ok(const std::string& cmd) {
        std::string out;
        ASSERT_EQ(run(cmd, &out), 0) << cmd << "\n" << out;
    }

    int original_netns_ = -1;
    bool in_netns_ = false;
    Clock::time_point start_;
};

// A TAP "cvt0" with the kernel at 10.77.0.1/fd77::1 and lwIP at 10.77.0.2/fd77::2.
class TapLwipTest : public TapNetnsTest {
  protected:
    void SetUp() override {
        TapNetnsTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        culvert::testing::lwip_init_once();
        TapConfig config;
        config.name = "cvt0";
        config.mac = kOurMac;
        auto tap = TapBackend::open(config);
        ASSERT_TRUE(tap.has_value()) << tap.error().message;
        tap_ = std::move(*tap);
        expect_ok("ip addr add 10.77.0.1/24 dev cvt0 && ip -6 addr add fd77::1/64 dev cvt0 nodad");

        NetifConfig nc;
        nc.ipv4 = culvert::stack::Ipv4Config{.address = {10, 77, 0, 2}, .prefix_len = 24};
        nc.ipv6 = {{0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}};
        auto nif = BackendNetif::create(*tap_, nc);
        ASSERT_TRUE(nif.has_value()) << nif.error();
        netif_ = std::move(*nif);
        pool_used_at_start_ = culvert::testing::lwip_counters().pool_pbufs_used;
    }
    void TearDown() override {
        netif_.reset();
        tap_.reset();
        if (!IsSkipped()) {
            EXPECT_EQ(culvert::testing::lwip_counters().pool_pbufs_used, pool_used_at_start_)
                << "leaked pool pbufs";
        }
        TapNetnsTest::TearDown();
    }

    // Runs cmd in the namespace while driving lwIP like the stack loop does; returns the
    // command's exit code (-1 on timeout) and leaves its output in *output.
    int run_while_pumping(const std::string& cmd, std::string* output, int timeout_ms = 20000) {
        Child child(cmd);
        if (!child.started()) return -1;
        const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
        while (!child.exited() && Clock::now() < deadline) pump(5);
        pump(0);
        *output = child.output();
        return child.exited() ? child.status() : -1;
    }
    void pump(int wait_ms) {
        wait_readable(tap_->pollable_fd(), wait_ms);
        while (netif_->poll(64) > 0) {
        }
        culvert::testing::lwip_advance_to(now_ms());
    }
    // Every frame the backend delivered is accounted for by the netif, and vice versa.
    void expect_backend_and_netif_agree() {
        const BackendStats b = tap_->stats();
        const auto& n = netif_->stats();
        EXPECT_EQ(b.rx_frames,
                  n.rx_frames + n.rx_too_short + n.rx_too_long + n.rx_no_pbuf + n.rx_refused);
        EXPECT_EQ(b.tx_frames + b.tx_dropped, n.tx_frames);
        EXPECT_EQ(n.rx_no_pbuf, 0u);
        EXPECT_EQ(n.tx_busy, 0u);
    }
    // The kernel counts what it queued to and took from our fd: it must match our counts.
    void expect_kernel_agrees() {
        const KernelCounters k = kernel_counters("cvt0");
        ASSERT_TRUE(k.found);
        const BackendStats b = tap_->stats();
        EXPECT_EQ(k.tx_packets, b.rx_frames + b.rx_errors) << "kernel sent, we received";
        EXPECT_EQ(k.rx_packets, b.tx_frames) << "we sent, kernel received";
    }

    std::unique_ptr<TapBackend> tap_;
    std::unique_ptr<BackendNetif> netif_;
    uint64_t pool_used_at_start_ = 0;
};

TEST_F(TapLwipTest, KernelPingsLwipOverIpv4) {
    const auto before = culvert::testing::lwip_counters();
    std::string out;
    EXPECT_EQ(run_while_pumping("ping -n -c 3 -i 0.2 -w 10 10.77.0.2", &out), 0) << out;
    EXPECT_NE(out.find("3 packets transmitted, 3 received"), std::string::npos) << out;
    const auto after = culvert::testing::lwip_counters();
    EXPECT_EQ(after.icmp_xmit - before.icmp_xmit, 3u) << "lwIP sent the three echo replies";
    // At least: ARP request + 3 echo requests in, ARP reply + 3 echo replies out.
    EXPECT_GE(netif_->stats().rx_frames, 4u);
    EXPECT_GE(netif_->stats().tx_frames, 4u);
    expect_backend_and_netif_agree();
    expect_kernel_agrees();
}

TEST_F(TapLwipTest, KernelPingsLwipOverIpv6GlobalAndLinkLocal) {
    const auto before = culvert::testing::lwip_counters();
    std::string out;
    EXPECT_EQ(run_while_pumping("ping -6 -n -c 3 -i 0.2 -w 10 fd77::2", &out), 0) << out;
    EXPECT_NE(out.find("3 packets transmitted, 3 received"), std::string::npos) << out;
    // fe80:: + EUI-64 of 02:63:76:00:00:02 (universal/local bit flipped).
    EXPECT_EQ(run_while_pumping("ping -6 -n -c 1 -w 10 fe80::63:76ff:fe00:2%cvt0", &out), 0) << out;
    EXPECT_NE(out.find("1 packets transmitted, 1 received"), std::string::npos) << out;
    const auto after = culvert::testing::lwip_counters();
    EXPECT_EQ(after.icmp6_xmit - before.icmp6_xmit, 4u) << "lwIP sent the four echo replies";
    expect_backend_and_netif_agree();
    expect_kernel_agrees();
}

TEST_F(TapLwipTest, FullSizeFramesCrossTheTapBothWays) {
    const BackendStats before = tap_->stats();
    std::string out;
    // 1472 + 8 (ICMP) + 20 (IP) = 1500: a 1514-byte frame each way; -M do forbids
    // fragmenting, so only whole frames can pass.
    EXPECT_EQ(run_while_pumping("ping -n -c 2 -i 0.2 -w 10 -s 1472 -M do 10.77.0.2", &out), 0)
        << out;
    EXPECT_NE(out.find("1480 bytes from 10.77.0.2"), std::string::npos) << out;
    // 1452 + 8 (ICMPv6) + 40 (IPv6) = 1500.
    EXPECT_EQ(run_while_pumping("ping -6 -n -c 2 -i 0.2 -w 10 -s 1452 -M do fd77::2", &out), 0)
        << out;
    EXPECT_NE(out.find("1460 bytes from fd77::2"), std::string::npos) << out;
    const BackendStats after = tap_->stats();
    EXPECT_GE(after.rx_bytes - before.rx_bytes, 4u * 1514);
    EXPECT_GE(after.tx_bytes - before.tx_bytes, 4u * 1514);
    EXPECT_EQ(netif_->stats().rx_too_long, 0u);
    EXPECT_EQ(netif_->stats().tx_too_long, 0u);
    expect_backend_and_netif_agree();
    expect_kernel_agrees();
}

// The kernel sends frames of any length up to its MTU; frames over the netif's MTU + 18
// are dropped and counted above the backend, frames over the backend's buffers inside it.
TEST_F(TapNetnsTest, OversizedFramesFromTheKernelAreDroppedAndCounted) {
    culvert::testing::lwip_init_once();
    // A persistent TAP whose kernel MTU (1600) is above the stack's (1500).
    expect_ok(
        "ip tuntap add mode tap name cvt1 && ip link set cvt1 mtu 1600 && "
        "sysctl -qw net.ipv6.conf.cvt1.disable_ipv6=1");
    TapConfig config;
    config.name = "cvt1";
    config.mac = kOurMac;
    auto tap = TapBackend::open(config);
    ASSERT_TRUE(tap.has_value()) << tap.error().message;
    EXPECT_EQ((*tap)->caps().mtu, 1600);
    EXPECT_EQ((*tap)->max_rx_frame_bytes(), 1618u);
    NetifConfig nc;
    nc.ipv4 = culvert::stack::Ipv4Config{.address = {10, 77, 1, 2}, .prefix_len = 24};
    nc.mtu = 1500;
    auto nif = BackendNetif::create(**tap, nc);
    ASSERT_TRUE(nif.has_value()) << nif.error();
    const auto lwip_before = culvert::testing::lwip_counters();
    const auto netif_before = (*nif)->stats();

    const int sock = packet_socket("cvt1", kTestEthertype);
    ASSERT_GE(sock, 0) << std::strerror(errno);
    const Bytes longest_ok = test_frame(1518, 1), too_long = test_frame(1519, 2),
                jumbo = test_frame(1614, 3);
    for (const Bytes* f : {&longest_ok, &too_long, &jumbo}) {
        ASSERT_EQ(send(sock, f->data(), f->size(), 0), static_cast<ssize_t>(f->size()))
            << std::strerror(errno);
    }
    // Raised after open: a frame longer than the backend's buffers can only be counted.
    expect_ok("ip link set cvt1 mtu 3000");
    const Bytes truncated = test_frame(2514, 4);
    ASSERT_EQ(send(sock, truncated.data(), truncated.size(), 0),
              static_cast<ssize_t>(truncated.size()))
        << std::strerror(errno);
    close(sock);

    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while ((*tap)->stats().rx_frames + (*tap)->stats().rx_errors < 4 && Clock::now() < deadline) {
        wait_readable((*tap)->pollable_fd(), 10);
        (*nif)->poll(64);
    }
    const auto& s = (*nif)->stats();
    EXPECT_EQ(s.rx_too_long - netif_before.rx_too_long, 2u);
    EXPECT_EQ(s.rx_frames - netif_before.rx_frames, 1u);
    EXPECT_EQ(s.rx_bytes - netif_before.rx_bytes, 1518u);
    EXPECT_EQ(culvert::testing::lwip_counters().link_recv - lwip_before.link_recv, 1u)
        << "only the 1518-byte frame reached lwIP";
    EXPECT_EQ((*tap)->stats().rx_errors, 1u) << "the 2514-byte frame overran the buffers";
    const KernelCounters k = kernel_counters("cvt1");
    EXPECT_EQ(k.tx_packets, (*tap)->stats().rx_frames + (*tap)->stats().rx_errors);
    nif->reset();
    tap->reset();
    EXPECT_NE(if_nametoindex("cvt1"), 0u) << "an attached persistent TAP outlives the backend";
}

TEST_F(TapNetnsTest, RxBurstReturnsQueuedFramesInOrderAndTxBurstReachesTheKernel) {
    TapConfig config;
    config.name = "cvt0";
    config.mac = kOurMac;
    config.rx_pool_frames = 4;
    config.bring_up = false;
    auto opened = TapBackend::open(config);
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    TapBackend& tap = **opened;
    EXPECT_EQ(tap.name(), "cvt0");
    EXPECT_FALSE(tap.caps().link_up) << "bring_up=false leaves it down";
    // No IPv6 on the kernel side: it would send its own frames (MLD, RS) at link up.
    expect_ok("sysctl -qw net.ipv6.conf.cvt0.disable_ipv6=1 && ip link set cvt0 up");
    EXPECT_TRUE(tap.caps().link_up);

    const int sock = packet_socket("cvt0", kTestEthertype);
    ASSERT_GE(sock, 0) << std::strerror(errno);
    std::vector<Bytes> sent;
    for (uint8_t i = 0; i < 6; ++i) {
        sent.push_back(test_frame(60 + i * 100, i));
        ASSERT_EQ(send(sock, sent.back().data(), sent.back().size(), 0),
                  static_cast<ssize_t>(sent.back().size()));
    }
    ASSERT_TRUE(wait_readable(tap.pollable_fd(), 2000));

    std::array<Frame, 8> frames{};
    // A span of 3 takes three frames; the next burst takes the three left, in order.
    ASSERT_EQ(tap.rx_burst(std::span(frames.data(), 3)), 3u);
    for (size_t i = 0; i < 3; ++i) {
        ASSERT_EQ(frames[i].len, sent[i].size()) << "frame " << i;
        EXPECT_EQ(std::memcmp(frames[i].data, sent[i].data(), sent[i].size()), 0) << "frame " << i;
    }
    ASSERT_EQ(tap.rx_burst(frames), 3u);
    for (size_t i = 0; i < 3; ++i) {
        ASSERT_EQ(frames[i].len, sent[3 + i].size()) << "frame " << 3 + i;
        EXPECT_EQ(std::memcmp(frames[i].data, sent[3 + i].data(), sent[3 + i].size()), 0);
    }
    EXPECT_EQ(tap.rx_burst(frames), 0u);
    uint64_t sent_bytes = 0;
    for (const Bytes& f : sent) sent_bytes += f.size();
    EXPECT_EQ(tap.stats().rx_frames, 6u);
    EXPECT_EQ(tap.stats().rx_bytes, sent_bytes);

    // More frames than the pool holds: one burst returns the pool's worth.
    for (uint8_t i = 0; i < 6; ++i) ASSERT_GT(send(sock, sent[i].data(), sent[i].size(), 0), 0);
    ASSERT_TRUE(wait_readable(tap.pollable_fd(), 2000));
    EXPECT_EQ(tap.rx_burst(frames), 4u);
    EXPECT_EQ(tap.rx_burst(frames), 2u);

    // Transmit: the kernel's packet socket sees exactly what we wrote, in order.
    std::vector<Bytes> out{test_frame(64, 10), test_frame(1514, 11), test_frame(300, 12)};
    std::vector<Frame> views;
    for (Bytes& f : out)
        views.push_back(
            Frame{reinterpret_cast<std::byte*>(f.data()), static_cast<uint16_t>(f.size())});
    EXPECT_EQ(tap.tx_burst(views), 3u);
    for (const Bytes& f : out) {
        ASSERT_TRUE(wait_readable(sock, 2000));
        std::array<uint8_t, 2048> buf{};
        const ssize_t n = recv(sock, buf.data(), buf.size(), 0);
        ASSERT_EQ(n, static_cast<ssize_t>(f.size()));
        EXPECT_EQ(std::memcmp(buf.data(), f.data(), f.size()), 0);
    }
    EXPECT_EQ(tap.stats().tx_frames, 3u);
    EXPECT_EQ(tap.stats().tx_bytes, 64u + 1514 + 300);
    close(sock);
}

// A TCP segment from 10.77.3.2:40000 to the kernel's 10.77.3.1:40001, as lwIP sends it with
// transmit checksum offload (TCP checksum left zero, IPv4 header checksum valid).
Bytes tcp_segment(const MacAddress& dst_mac, uint32_t seq, size_t payload, uint8_t flags) {
    Bytes f(14 + 20 + 20 + payload, 0);
    std::memcpy(&f[0], dst_mac.data(), 6);
    std::memcpy(&f[6], kOurMac.data(), 6);
    f[12] = 0x08;
    uint8_t* ip = &f[14];
    const size_t total = 20 + 20 + payload;
    ip[0] = 0x45;
    ip[2] = static_cast<uint8_t>(total >> 8);
    ip[3] = static_cast<uint8_t>(total & 0xff);
    ip[5] = static_cast<uint8_t>(seq);  // IP IDs differ between segments
    ip[6] = 0x40;                       // DF
    ip[8] = 64;
    ip[9] = 6;
    const uint8_t addrs[8] = {10, 77, 3, 2, 10, 77, 3, 1};
    std::memcpy(ip + 12, addrs, 8);
    uint32_t sum = 0;
    for (size_t i = 0; i < 20; i += 2) sum += (ip[i] << 8) | ip[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    ip[10] = static_cast<uint8_t>(~sum >> 8);
    ip[11] = static_cast<uint8_t>(~sum & 0xff);
    uint8_t* tcp = ip + 20;
    tcp[0] = 40000 >> 8, tcp[1] = 40000 & 0xff, tcp[2] = 40001 >> 8, tcp[3] = 40001 & 0xff;
    for (int i = 0; i < 4; ++i) tcp[4 + i] = static_cast<uint8_t>(seq >> (24 - 8 * i));
    tcp[11] = 1;  // ack 1
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14] = 0x10;  // window
    for (size_t i = 0; i < payload; ++i) tcp[20 + i] = static_cast<uint8_t>((seq + i) * 7);
    return f;
}

uint64_t device_counter(const TapBackend& tap, const std::string& name) {
    for (const auto& c : tap.device_counters())
        if (c.name == name) return c.value;
    return UINT64_MAX;
}

// With offloads, full-size segments of one flow in sequence leave as one GSO frame at
// tx_flush: the kernel's IP layer accepts it (lengths and header checksum right) and a raw
// socket sees the segments' payloads joined, in order; a segment that does not continue
// them (a gap, or a SYN) leaves on its own.
TEST_F(TapNetnsTest, WithOffloadsConsecutiveTcpSegmentsLeaveAsOneFrameTheKernelAccepts) {
    TapConfig config;
    config.name = "cvt0";
    config.mac = kOurMac;
    config.offloads = true;
    auto opened = TapBackend::open(config);
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    TapBackend& tap = **opened;
    EXPECT_TRUE(tap.offloads());
    EXPECT_TRUE(tap.caps().tx_csum_l4);
    EXPECT_EQ(tap.max_rx_frame_bytes(), 65535u);
    expect_ok("sysctl -qw net.ipv6.conf.cvt0.disable_ipv6=1 && ip addr add 10.77.3.1/24 dev cvt0");
    MacAddress kernel_mac{};
    {
        // sysfs shows the host's namespace: ask the kernel in ours.
        const int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ifreq req{};
        std::strcpy(req.ifr_name, "cvt0");
        ASSERT_EQ(ioctl(ctl, SIOCGIFHWADDR, &req), 0) << std::strerror(errno);
        std::memcpy(kernel_mac.data(), req.ifr_hwaddr.sa_data, 6);
        close(ctl);
    }
    const int raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
    ASSERT_GE(raw, 0) << std::strerror(errno);

    const uint32_t seq = 1000;
    std::vector<Bytes> segs{tcp_segment(kernel_mac, seq, 1000, 0x10),
                            tcp_segment(kernel_mac, seq + 1000, 1000, 0x10),
                            tcp_segment(kernel_mac, seq + 2000, 600, 0x18),
                            tcp_segment(kernel_mac, seq + 5000, 1000, 0x10)};  // a gap
    std::vector<Frame> views;
    for (Bytes& f : segs)
        views.push_back(
            Frame{reinterpret_cast<std::byte*>(f.data()), static_cast<uint16_t>(f.size())});
    EXPECT_EQ(tap.tx_burst(views), 4u);
    tap.tx_flush();

    // First the three joined segments as one IP packet, then the one after the gap.
    const std::vector<std::pair<uint32_t, size_t>> want{{seq, 2600}, {seq + 5000, 1000}};
    for (const auto& [first_seq, payload] : want) {
        ASSERT_TRUE(wait_readable(raw, 2000)) << "seq " << first_seq;
        std::vector<uint8_t> buf(70000);
        const ssize_t n = recv(raw, buf.data(), buf.size(), 0);
        ASSERT_EQ(n, static_cast<ssize_t>(40 + payload)) << "seq " << first_seq;
        const uint8_t* tcp = &buf[20];
        const uint32_t got_seq = (uint32_t{tcp[4]} << 24) | (tcp[5] << 16) | (tcp[6] << 8) | tcp[7];
        EXPECT_EQ(got_seq, first_seq);
        for (size_t i = 0; i < payload; ++i) {
            ASSERT_EQ(tcp[20 + i], static_cast<uint8_t>((first_seq + i) * 7)) << "byte " << i;
        }
        if (payload == 2600) {
            EXPECT_EQ(tcp[13], 0x18) << "the last segment's PSH survives";
        }
    }
    EXPECT_EQ(tap.stats().tx_frames, 4u) << "counted per segment the caller gave";
    EXPECT_EQ(device_counter(tap, "tx_merged_frames"), 1u);
    close(raw);
}

TEST_F(TapNetnsTest, LinkDownIsReportedAndItsTransmitDropsCounted) {
    TapConfig config;
    config.name = "cvt0";
    config.mac = kOurMac;
    auto opened = TapBackend::open(config);
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    TapBackend& tap = **opened;
    EXPECT_TRUE(tap.caps().link_up);
    EXPECT_EQ(tap.caps().mtu, 1500);
    expect_ok("ip link set cvt0 down");
    EXPECT_FALSE(tap.caps().link_up);

    Bytes f = test_frame(60, 0);
    const Frame view{reinterpret_cast<std::byte*>(f.data()), static_cast<uint16_t>(f.size())};
    // A NIC with no link drops what it is given: taken, not sent, counted.
    EXPECT_EQ(tap.tx_burst(std::span(&view, 1)), 1u);
    EXPECT_EQ(tap.stats().tx_dropped, 1u);
    EXPECT_EQ(tap.stats().tx_frames, 0u);
    expect_ok("ip link set cvt0 up");
    EXPECT_TRUE(tap.caps().link_up);
    EXPECT_EQ(tap.tx_burst(std::span(&view, 1)), 1u);
    EXPECT_EQ(tap.stats().tx_frames, 1u);
}

TEST_F(TapNetnsTest, CreatedTapIsRemovedWhenTheBackendCloses) {
    TapConfig config;  // empty name: the kernel picks one
    auto opened = TapBackend::open(config);
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    const std::string name((*opened)->name());
    EXPECT_EQ(name.rfind("tap", 0), 0u) << name;
    EXPECT_NE(if_nametoindex(name.c_str()), 0u);
    opened->reset();
    EXPECT_EQ(if_nametoindex(name.c_str()), 0u) << name << " outlived its backend";
}

// Without CAP_NET_ADMIN a process may attach a TAP made for its uid, and nothing else.
TEST_F(TapNetnsTest, UnprivilegedUserAttachesOnlyATapMadeForIt) {
    constexpr uid_t kNobody = 65534;
    expect_ok("ip tuntap add mode tap user 65534 name cvtu0 && ip link set cvtu0 up");
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // Exit codes tell the parent which step went wrong.
        if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) _exit(10);
        TapConfig config;
        config.name = "cvtu0";
        auto mine = TapBackend::open(config);
        if (!mine.has_value()) _exit(11);
        if (!(*mine)->caps().link_up) _exit(12);
        config.name = "cvtu1";
        auto other = TapBackend::open(config);
        if (other.has_value()) _exit(13);
        if (other.error().errno_value != EPERM) _exit(14);
        if (other.error().message.find("CAP_NET_ADMIN") == std::string::npos) _exit(15);
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "10: dropping root, 11: attach refused, 12: link down, "
                                         "13: create allowed, 14: errno, 15: message";
}

TEST_F(TapNetnsTest, AttachErrorsAreValuesWithReasons) {
    TapConfig config;
    config.name = "lo";
    auto r = TapBackend::open(config);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().errno_value, EINVAL);
    EXPECT_NE(r.error().message.find("not a TAP"), std::string::npos) << r.error().message;

    config.name = "cvt0";
    auto first = TapBackend::open(config);
    ASSERT_TRUE(first.has_value()) << first.error().message;
    r = TapBackend::open(config);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().errno_value, EBUSY);
    EXPECT_NE(r.error().message.find("already attached"), std::string::npos) << r.error().message;
    first->reset();

    // Our MAC must not be the kernel side's: the kernel is the peer.
    expect_ok("ip tuntap add mode tap name cvt2 && ip link set cvt2 address 02:63:76:00:00:09");
    config.name = "cvt2";
    config.mac = {0x02, 0x63, 0x76, 0x00, 0x00, 0x09};
    r = TapBackend::open(config);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("kernel side's MAC"), std::string::npos) << r.error().message;
}

}  // namespace
