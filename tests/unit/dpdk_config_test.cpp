// Tests of the dpdk backend's configuration in src/server/config.cpp (--dpdk-eal, the dpdk
// interface keys on the command line and in TOML, their defaults and rejections) and of
// how DPDK's log is boiled down to a reason (src/backends/dpdk/dpdk_log_capture.hpp).
#include "backends/dpdk/dpdk_log_capture.hpp"
#include "server/config.hpp"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace culvert::server {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::expected<Config, StartupExit> parse_args(std::vector<std::string> args) {
    args.insert(args.begin(), "culvertd");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return parse_command_line(static_cast<int>(args.size()), argv.data());
}

std::string rejection(std::vector<std::string> args) {
    auto result = parse_args(std::move(args));
    if (result) return "<accepted>";
    EXPECT_EQ(result.error().exit_code, 2) << result.error().message;
    return result.error().message;
}

TEST(DpdkConfig, VdevSpecWithSemicolonsBecomesDevargsAndDefaultsApply) {
    auto c = parse_args({"--dpdk-eal", " --no-huge  --no-pci -m 256 ", "--iface",
                         "dpdk:m0,vdev=net_memif0;role=server;socket=/run/m.sock,ip=10.0.0.2/24"});
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->dpdk_eal_args, (std::vector<std::string>{"--no-huge", "--no-pci", "-m", "256"}));
    ASSERT_EQ(c->interfaces.size(), 1u);
    const InterfaceConfig& i = c->interfaces[0];
    EXPECT_EQ(i.backend, "dpdk");
    ASSERT_TRUE(i.dpdk);
    EXPECT_EQ(i.dpdk->vdev, "net_memif0,role=server,socket=/run/m.sock");
    EXPECT_TRUE(i.dpdk->port.empty());
    EXPECT_EQ(i.dpdk->queues, 1);
    EXPECT_EQ(i.dpdk->rx_descriptors, 1024);
    EXPECT_EQ(i.dpdk->tx_descriptors, 1024);
    EXPECT_EQ(i.dpdk->mempool_mbufs, 16383u);
    EXPECT_TRUE(i.dpdk->busy_poll) << "DPDK ports busy-poll by default";
    EXPECT_TRUE(i.dpdk->rx_zero_copy);
    EXPECT_TRUE(i.dpdk->checksum_offload);
    EXPECT_TRUE(i.dpdk->use_port_mac) << "no mac= given: the port's own MAC";
}

TEST(DpdkConfig, EveryKeyOnTheCommandLine) {
    auto c = parse_args({"--iface",
                         "dpdk:nic0,port=0000:01:00.0,mac=02:00:00:00:00:07,queues=4,rx_desc=2048,"
                         "tx_desc=512,mbufs=65535,mtu=9000,poll=sleep,sleep_us=250,"
                         "rx_zero_copy=false,csum_offload=off"});
    ASSERT_TRUE(c) << c.error().message;
    const DpdkInterfaceConfig& d = *c->interfaces[0].dpdk;
    EXPECT_EQ(d.port, "0000:01:00.0");
    EXPECT_EQ(d.queues, 4);
    EXPECT_EQ(d.rx_descriptors, 2048);
    EXPECT_EQ(d.tx_descriptors, 512);
    EXPECT_EQ(d.mempool_mbufs, 65535u);
    EXPECT_EQ(d.mtu, 9000);
    EXPECT_FALSE(d.busy_poll);
    EXPECT_EQ(d.sleep_us, 250u);
    EXPECT_FALSE(d.rx_zero_copy);
    EXPECT_FALSE(d.checksum_offload);
    EXPECT_FALSE(d.use_port_mac);
    EXPECT_EQ(c->interfaces[0].mac, (MacAddress{2, 0, 0, 0, 0, 7}));
    EXPECT_THAT(describe_config(*c), AllOf(HasSubstr("port 0000:01:00.0"), HasSubstr("poll sleep"),
                                           HasSubstr("queues 4")));
}

TEST(DpdkConfig, BadDpdkSpecsNameTheProblem) {
    struct Case {
        std::string spec;
        std::vector<std::string> expected;
    };
    const std::vector<Case> cases = {
        {"dpdk:d0", {"port=", "vdev="}},
        {"dpdk:d0,port=0,vdev=net_ring0", {"either port= or vdev=", "not both"}},
        {"dpdk:d0,vdev=ring0", {"\"ring0\"", "net_"}},
        {"dpdk:d0,vdev=net_ring0,queues=0", {"queues", "\"0\"", "1..64"}},
        {"dpdk:d0,vdev=net_ring0,queues=x", {"queues", "\"x\""}},
        {"dpdk:d0,vdev=net_ring0,rx_desc=16", {"rx_desc", "64..32768"}},
        {"dpdk:d0,vdev=net_ring0,mbufs=3000", {"mbufs", "3000", "at least"}},
        {"dpdk:d0,vdev=net_ring0,poll=spin", {"poll", "\"spin\"", "busy or sleep"}},
        {"dpdk:d0,vdev=net_ring0,sleep_us=0", {"sleep_us", "1..1000000"}},
        {"dpdk:d0,vdev=net_ring0,rx_zero_copy=maybe",
         {"rx_zero_copy", "\"maybe\"", "true or false"}},
        {"dpdk:d0,vdev=net_ring0,mtu=100", {"mtu", "576..9600"}},
        {"dpdk:d0,vdev=", {"vdev", "empty"}},
        {"tap:t0,queues=2", {"dpdk backend only", "\"tap\""}},
        {"tap:t0,vdev=net_ring0", {"vdev", "dpdk backend only"}},
    };
    for (const auto& c : cases) {
        const std::string message = rejection({"--iface", c.spec});
        for (const auto& expected : c.expected)
            EXPECT_THAT(message, HasSubstr(expected)) << "for " << c.spec;
    }
}

TEST(DpdkConfig, TomlTakesNumbersBooleansAndEalArgsAsArray) {
    auto c = parse_config_toml(R"(
dpdk_eal = ["--no-huge", "--no-pci", "-m", "256", "--file-prefix", "x"]
[[interface]]
backend = "dpdk"
name = "m0"
vdev = "net_memif0,role=client,socket=/run/m.sock"
queues = 2
mbufs = 32767
poll = "sleep"
rx_zero_copy = false
ip = "10.0.0.2/24"
)");
    ASSERT_TRUE(c) << c.error();
    EXPECT_EQ(c->dpdk_eal_args.size(), 6u);
    const DpdkInterfaceConfig& d = *c->interfaces[0].dpdk;
    EXPECT_EQ(d.vdev, "net_memif0,role=client,socket=/run/m.sock");
    EXPECT_EQ(d.queues, 2);
    EXPECT_EQ(d.mempool_mbufs, 32767u);
    EXPECT_FALSE(d.busy_poll);
    EXPECT_FALSE(d.rx_zero_copy);

    auto s = parse_config_toml(R"(
dpdk_eal = "--no-huge  -l 0"
[[interface]]
backend = "dpdk"
name = "r0"
port = "net_ring0"
)");
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->dpdk_eal_args, (std::vector<std::string>{"--no-huge", "-l", "0"}));
    EXPECT_EQ(s->interfaces[0].dpdk->port, "net_ring0");
}

TEST(DpdkConfig, TomlRejectionsPointAtTheLine) {
    auto bad_key = parse_config_toml(
        "[[interface]]\nbackend = \"dpdk\"\nname = \"d\"\nvdev = \"net_ring0\"\nqueues = 99\n",
        "f.toml");
    ASSERT_FALSE(bad_key);
    EXPECT_THAT(bad_key.error(),
                AllOf(HasSubstr("f.toml:5"), HasSubstr("queues"), HasSubstr("1..64")));
    auto numbers_only_for_dpdk =
        parse_config_toml("[[interface]]\nbackend = \"tap\"\nname = \"t\"\nnetns = 3\n");
    ASSERT_FALSE(numbers_only_for_dpdk);
    EXPECT_THAT(numbers_only_for_dpdk.error(), HasSubstr("expected a string"));
    auto eal = parse_config_toml(
        "dpdk_eal = 5\n[[interface]]\nbackend = \"dpdk\"\nname = \"d\"\nvdev = \"net_ring0\"\n");
    ASSERT_FALSE(eal);
    EXPECT_THAT(eal.error(), HasSubstr("dpdk_eal"));
}

TEST(DpdkConfig, DpdkIsAvailableAndUnknownBackendsAreRefused) {
    const auto backends = available_backends();
    EXPECT_NE(std::find(backends.begin(), backends.end(), "dpdk"), backends.end());
    EXPECT_THAT(rejection({"--iface", "xdp:p0"}), HasSubstr("unknown backend"));
}

}  // namespace
}  // namespace culvert::server

namespace culvert::backends::dpdk_detail {
namespace {

TEST(DpdkReason, PicksTheLinesThatSayWhatFailedAndDropsKnownNoise) {
    const std::string log =
        "EAL: Detected CPU lcores: 2\n"
        "EAL: Detected NUMA nodes: 1\n"
        "rte_pmd_memif_probe(): Failed to register mp action callback: Operation not supported\n"
        "EAL: FATAL: Cannot get hugepage information.\n"
        "EAL: Cannot get hugepage information.\n";
    EXPECT_EQ(dpdk_reason(log), "EAL: Cannot get hugepage information.");
    EXPECT_EQ(dpdk_reason("EAL: a\nEAL: b\nEAL: c\n"), "EAL: b; EAL: c")
        << "no alarm words: the last lines";
    EXPECT_EQ(dpdk_reason(""), "");
    EXPECT_EQ(dpdk_reason(
                  "x: unrecognized option '--bogus'\nEAL: Invalid 'command line' arguments.\n", 1),
              "EAL: Invalid 'command line' arguments.");
}

}  // namespace
}  // namespace culvert::backends::dpdk_detail
