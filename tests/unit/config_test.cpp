// Tests of src/server/config.hpp: good and bad command lines and TOML files, defaults,
// and that every rejection names the option or key and quotes the bad value.
#include "server/config.hpp"

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace culvert::server {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Sets (or unsets, with nullopt) an environment variable for one scope.
class ScopedEnv {
  public:
    ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        if (value)
            setenv(name, value->c_str(), 1);
        else
            unsetenv(name);
    }
    ~ScopedEnv() {
        if (old_)
            setenv(name_, old_->c_str(), 1);
        else
            unsetenv(name_);
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

  private:
    const char* name_;
    std::optional<std::string> old_;
};

std::expected<Config, StartupExit> parse_args(std::vector<std::string> args) {
    args.insert(args.begin(), "culvertd");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return parse_command_line(static_cast<int>(args.size()), argv.data());
}

// The error message of a command line that must be rejected with exit status 2.
std::string rejection(std::vector<std::string> args) {
    auto result = parse_args(std::move(args));
    if (result) return "<accepted>";
    EXPECT_EQ(result.error().exit_code, 2) << result.error().message;
    return result.error().message;
}

std::string toml_rejection(std::string_view text) {
    auto result = parse_config_toml(text, "test.toml");
    if (result) return "<accepted>";
    return result.error();
}

uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    return uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d;
}

Ipv6Address ip6(std::string_view text) {
    auto a = parse_ipv6(text);
    EXPECT_TRUE(a) << text;
    return a.value_or(Ipv6Address{});
}

// A temporary file that disappears at the end of the scope.
class TempFile {
  public:
    explicit TempFile(std::string_view contents) {
        char name[] = "/tmp/culvert-config-test-XXXXXX";
        const int fd = mkstemp(name);
        EXPECT_GE(fd, 0);
        close(fd);
        path_ = name;
        std::ofstream(path_) << contents;
    }
    ~TempFile() { unlink(path_.c_str()); }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

// ---- command line: accepted ----

TEST(ConfigCommandLine, MinimalInterfaceGetsDefaults) {
    ScopedEnv socket("CULVERT_SOCKET", "/tmp/from-env.sock");
    auto config = parse_args({"--iface", "tap:tap0"});
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->socket_path, "/tmp/from-env.sock");
    EXPECT_EQ(config->log_level, "info");
    EXPECT_EQ(config->segment_bytes, 256u * 1024 * 1024);
    EXPECT_EQ(config->seed, 0u);
    EXPECT_TRUE(config->foreground);
    ASSERT_EQ(config->interfaces.size(), 1u);
    const auto& iface = config->interfaces[0];
    EXPECT_EQ(iface.backend, "tap");
    EXPECT_EQ(iface.name, "tap0");
    EXPECT_EQ(iface.mac, default_mac("tap0"));
    EXPECT_FALSE(iface.ipv4);
    EXPECT_FALSE(iface.ipv4_gateway);
    EXPECT_TRUE(iface.ipv6.empty());
    EXPECT_FALSE(iface.ipv6_gateway);
    EXPECT_FALSE(iface.netns);
    EXPECT_FALSE(iface.capture);
}

TEST(ConfigCommandLine, FullInterfaceSpec) {
    auto config =
        parse_args({"--iface",
                    "tap:tap0,mac=02:00:00:aB:cd:01,ip=10.0.0.2/24,gw=10.0.0.1,ip6=fd00::2/64,"
                    "ip6=fd01::2/48,gw6=fe80::1,netns=cvt-ns1,capture=/tmp/x.pcap"});
    ASSERT_TRUE(config) << config.error().message;
    ASSERT_EQ(config->interfaces.size(), 1u);
    const auto& iface = config->interfaces[0];
    EXPECT_EQ(iface.mac, (MacAddress{0x02, 0x00, 0x00, 0xab, 0xcd, 0x01}));
    EXPECT_EQ(iface.ipv4, (Ipv4Prefix{ip4(10, 0, 0, 2), 24}));
    EXPECT_EQ(iface.ipv4_gateway, ip4(10, 0, 0, 1));
    ASSERT_EQ(iface.ipv6.size(), 2u);
    EXPECT_EQ(iface.ipv6[0], (Ipv6Prefix{ip6("fd00::2"), 64}));
    EXPECT_EQ(iface.ipv6[1], (Ipv6Prefix{ip6("fd01::2"), 48}));
    EXPECT_EQ(iface.ipv6_gateway, ip6("fe80::1"));
    EXPECT_EQ(iface.netns, "cvt-ns1");
    EXPECT_EQ(iface.capture, "/tmp/x.pcap");
}

TEST(ConfigCommandLine, AllOptionsInBothSpellings) {
    auto config = parse_args({"--socket", "/tmp/c.sock", "--log-level=debug", "--segment-mib", "64",
                              "--seed=18446744073709551615", "--iface", "tap:a",
                              "--iface=tap:b,ip=192.168.1.1/31"});
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->socket_path, "/tmp/c.sock");
    EXPECT_EQ(config->log_level, "debug");
    EXPECT_EQ(config->segment_bytes, 64u * 1024 * 1024);
    EXPECT_EQ(config->seed, 18446744073709551615u);
    ASSERT_EQ(config->interfaces.size(), 2u);
    EXPECT_EQ(config->interfaces[0].name, "a");
    EXPECT_EQ(config->interfaces[1].name, "b");
    // /31 point-to-point links have no network or broadcast address (RFC 3021).
    EXPECT_EQ(config->interfaces[1].ipv4, (Ipv4Prefix{ip4(192, 168, 1, 1), 31}));
    EXPECT_NE(config->interfaces[0].mac, config->interfaces[1].mac);
}

TEST(ConfigCommandLine, EveryLogLevelIsAccepted) {
    for (auto level : log_levels()) {
        auto config = parse_args({"--log-level", std::string(level), "--iface", "tap:t"});
        ASSERT_TRUE(config) << config.error().message;
        EXPECT_EQ(config->log_level, level);
    }
}

TEST(ConfigCommandLine, HelpAndVersionExitZeroWithText) {
    auto help = parse_args({"--help"});
    ASSERT_FALSE(help);
    EXPECT_EQ(help.error().exit_code, 0);
    EXPECT_THAT(help.error().message,
                AllOf(HasSubstr("--iface SPEC"), HasSubstr("BACKEND:NAME"), HasSubstr("--config"),
                      HasSubstr("--segment-mib"), HasSubstr("[[interface]]")));

    auto version = parse_args({"--version", "--iface", "tap:t"});
    ASSERT_FALSE(version);
    EXPECT_EQ(version.error().exit_code, 0);
    EXPECT_THAT(version.error().message, StartsWith("culvertd 0."));

    // The plain-string API reports them as text too.
    std::vector<std::string> args = {"culvertd", "--help"};
    std::vector<char*> argv = {args[0].data(), args[1].data(), nullptr};
    auto as_string = parse_config(2, argv.data());
    ASSERT_FALSE(as_string);
    EXPECT_THAT(as_string.error(), HasSubstr("--iface SPEC"));
}

// ---- command line: rejected ----

TEST(ConfigCommandLine, NoInterfaceIsRejected) {
    EXPECT_THAT(rejection({}), AllOf(HasSubstr("no interface"), HasSubstr("--iface")));
    EXPECT_THAT(rejection({"--log-level", "warn"}), HasSubstr("no interface"));
}

TEST(ConfigCommandLine, UnknownOptionsAndStrayWordsAreRejected) {
    EXPECT_THAT(rejection({"--bogus", "--iface", "tap:t"}), HasSubstr("--bogus"));
    EXPECT_THAT(rejection({"stray", "--iface", "tap:t"}), HasSubstr("stray"));
    // One SPEC per --iface: a second word is not silently taken as another interface.
    EXPECT_THAT(rejection({"--iface", "tap:a", "tap:b"}), HasSubstr("tap:b"));
    EXPECT_THAT(rejection({"--iface"}), HasSubstr("--iface"));
    EXPECT_THAT(rejection({"--socket", "/a", "--socket", "/b", "--iface", "tap:t"}),
                HasSubstr("--socket"));
}

TEST(ConfigCommandLine, BadScalarOptionsNameOptionAndValue) {
    struct Case {
        std::vector<std::string> args;
        std::vector<std::string> expected;  // substrings of the message
    };
    const std::string long_path = "/tmp/" + std::string(120, 'x');
    const std::vector<Case> cases = {
        {{"--log-level", "verbose"}, {"--log-level", "\"verbose\"", "trace, debug"}},
        {{"--log-level", "INFO"}, {"--log-level", "\"INFO\""}},
        {{"--segment-mib", "0"}, {"--segment-mib", "0 MiB", "1..65536"}},
        {{"--segment-mib", "65537"}, {"--segment-mib", "65537"}},
        {{"--segment-mib", "abc"}, {"--segment-mib", "\"abc\""}},
        {{"--segment-mib", "-5"}, {"--segment-mib", "\"-5\""}},
        {{"--segment-mib", "12x"}, {"--segment-mib", "\"12x\""}},
        {{"--segment-mib", "99999999999999999999999"},
         {"--segment-mib", "99999999999999999999999"}},
        {{"--seed", "-1"}, {"--seed", "\"-1\""}},
        {{"--seed", "18446744073709551616"}, {"--seed", "\"18446744073709551616\""}},
        {{"--seed", "0x10"}, {"--seed", "\"0x10\""}},
        {{"--socket", ""}, {"--socket", "empty"}},
        {{"--socket", long_path}, {"--socket", long_path, "125 bytes", "at most 107"}},
    };
    for (const auto& c : cases) {
        auto args = c.args;
        args.insert(args.end(), {"--iface", "tap:t"});
        const std::string message = rejection(args);
        for (const auto& expected : c.expected)
            EXPECT_THAT(message, HasSubstr(expected)) << "for " << c.args[0] << " " << c.args[1];
    }
}

TEST(ConfigCommandLine, BadInterfaceSpecsNameTheSpecAndTheProblem) {
    struct Case {
        std::string spec;
        std::vector<std::string> expected;
    };
    const std::vector<Case> cases = {
        {"tap0", {"\"tap0\"", "BACKEND:NAME"}},
        {"foo:tap0", {"unknown backend", "\"foo\"", "tap"}},
        {"dpdk:port0", {"\"dpdk:port0\"", "port=", "vdev="}},
        {"pcap:in", {"pcap", "input=FILE"}},
        {"tap:tap0,input=x.pcap", {"input", "only the pcap backend"}},
        {"tap:tap0,capture_filter=arp", {"capture_filter", "without capture=FILE"}},
        {"tap:", {"interface name is empty"}},
        {"tap:averyveryverylongname", {"\"averyveryverylongname\"", "at most 15"}},
        {"tap:ta/p0", {"\"ta/p0\"", "'/'"}},
        {"tap:..", {"\"..\""}},
        {"tap:tap0,mac=zz", {"mac", "\"zz\"", "not a MAC address"}},
        {"tap:tap0,mac=02:00:00:00:00", {"mac", "\"02:00:00:00:00\""}},
        {"tap:tap0,mac=02:00:00:00:00:0g", {"mac", "\"02:00:00:00:00:0g\""}},
        {"tap:tap0,mac=02-00-00-00-00-01", {"mac", "\"02-00-00-00-00-01\""}},
        {"tap:tap0,mac=01:00:5e:00:00:01", {"mac", "01:00:5e:00:00:01", "multicast"}},
        {"tap:tap0,mac=00:00:00:00:00:00", {"mac", "00:00:00:00:00:00"}},
        {"tap:tap0,ip=10.0.0.2", {"ip", "\"10.0.0.2\"", "no prefix length"}},
        {"tap:tap0,ip=10.0.0.2/33", {"ip", "\"33\"", "1..32"}},
        {"tap:tap0,ip=10.0.0.2/0", {"ip", "\"0\"", "1..32"}},
        {"tap:tap0,ip=10.0.0.2/", {"ip", "\"\"", "1..32"}},
        {"tap:tap0,ip=10.0.0.2/+8", {"ip", "\"+8\""}},
        {"tap:tap0,ip=10.0.0.256/24", {"ip", "\"10.0.0.256\"", "not an IPv4 address"}},
        {"tap:tap0,ip=10.0.1/24", {"ip", "\"10.0.1\""}},
        {"tap:tap0,ip=fd00::1/24", {"ip", "\"fd00::1\"", "not an IPv4 address"}},
        {"tap:tap0,ip=10.0.0.0/24", {"ip", "\"10.0.0.0/24\"", "network address"}},
        {"tap:tap0,ip=10.0.0.255/24", {"ip", "\"10.0.0.255/24\"", "broadcast address"}},
        {"tap:tap0,ip=127.0.0.2/8", {"ip", "127.0.0.2", "loopback"}},
        {"tap:tap0,ip=224.0.0.1/24", {"ip", "224.0.0.1", "multicast"}},
        {"tap:tap0,ip=0.0.0.1/24", {"ip", "0.0.0.1"}},
        {"tap:tap0,gw=10.0.0.1", {"gw", "10.0.0.1", "without an ip"}},
        {"tap:tap0,ip=10.0.0.2/24,gw=10.0.1.1", {"gw", "10.0.1.1", "outside", "10.0.0.2/24"}},
        {"tap:tap0,ip=10.0.0.2/24,gw=10.0.0.2", {"gw", "10.0.0.2", "own address"}},
        {"tap:tap0,ip=10.0.0.2/24,gw=10.0.0.x", {"gw", "\"10.0.0.x\""}},
        {"tap:tap0,ip6=fd00::2", {"ip6", "\"fd00::2\"", "no prefix length"}},
        {"tap:tap0,ip6=fd00::2/129", {"ip6", "\"129\"", "1..128"}},
        {"tap:tap0,ip6=fd00::zz/64", {"ip6", "\"fd00::zz\"", "not an IPv6 address"}},
        {"tap:tap0,ip6=10.0.0.2/64", {"ip6", "\"10.0.0.2\""}},
        {"tap:tap0,ip6=ff02::1/64", {"ip6", "ff02::1", "multicast"}},
        {"tap:tap0,ip6=::/64", {"ip6", "::", "unspecified"}},
        {"tap:tap0,ip6=::1/128", {"ip6", "::1", "loopback"}},
        {"tap:tap0,ip6=fd00::2/64,ip6=fd00::2/64", {"ip6", "fd00::2", "twice"}},
        {"tap:tap0,gw6=nope", {"gw6", "\"nope\""}},
        {"tap:tap0,gw6=ff02::2", {"gw6", "ff02::2", "multicast"}},
        {"tap:tap0,ip=10.0.0.2/24,ip=10.0.0.3/24", {"ip", "given twice"}},
        {"tap:tap0,mac=02:00:00:00:00:01,mac=02:00:00:00:00:02", {"mac", "given twice"}},
        {"tap:tap0,colour=blue", {"colour", "unknown key", "known: backend, name, mac"}},
        {"tap:tap0,ip", {"\"ip\"", "KEY=VALUE"}},
        {"tap:tap0,", {"\"\"", "KEY=VALUE"}},
        {"tap:tap0,name=tap1", {"name", "BACKEND:NAME"}},
        {"tap:tap0,backend=tap", {"backend", "BACKEND:NAME"}},
        {"tap:tap0,netns=", {"netns", "empty"}},
        {"tap:tap0,netns=a/b", {"netns", "\"a/b\""}},
        {"tap:tap0,capture=", {"capture", "empty"}},
    };
    for (const auto& c : cases) {
        const std::string message = rejection({"--iface", c.spec});
        EXPECT_THAT(message, HasSubstr("--iface \"" + c.spec + "\"")) << "for " << c.spec;
        for (const auto& expected : c.expected)
            EXPECT_THAT(message, HasSubstr(expected)) << "for " << c.spec;
    }
}

TEST(ConfigCommandLine, DuplicateInterfaceNamesAreRejected) {
    EXPECT_THAT(rejection({"--iface", "tap:tap0", "--iface", "tap:tap0,ip=10.0.0.2/24"}),
                AllOf(HasSubstr("--iface \"tap:tap0,ip=10.0.0.2/24\""), HasSubstr("\"tap0\""),
                      HasSubstr("already used by --iface \"tap:tap0\"")));
}

// ---- TOML ----

constexpr std::string_view kFullToml = R"(
socket = "/tmp/culvert-test.sock"
log_level = "trace"
segment_mib = 32
seed = 42

[[interface]]
backend = "tap"
name = "tap0"
mac = "02:00:00:00:00:07"
ip = "10.0.0.2/24"
gw = "10.0.0.1"
ip6 = ["fd00::2/64", "fd00:1::2/64"]
gw6 = "fd00::1"
netns = "cvt-ns"
capture = "/tmp/tap0.pcap"

[[interface]]
backend = "tap"
name = "tap1"
ip6 = "fd01::2/64"
)";

TEST(ConfigToml, FullFileIsParsed) {
    auto config = parse_config_toml(kFullToml);
    ASSERT_TRUE(config) << config.error();
    EXPECT_EQ(config->socket_path, "/tmp/culvert-test.sock");
    EXPECT_EQ(config->log_level, "trace");
    EXPECT_EQ(config->segment_bytes, 32u * 1024 * 1024);
    EXPECT_EQ(config->seed, 42u);
    ASSERT_EQ(config->interfaces.size(), 2u);
    const auto& a = config->interfaces[0];
    EXPECT_EQ(a.backend, "tap");
    EXPECT_EQ(a.name, "tap0");
    EXPECT_EQ(a.mac, (MacAddress{2, 0, 0, 0, 0, 7}));
    EXPECT_EQ(a.ipv4, (Ipv4Prefix{ip4(10, 0, 0, 2), 24}));
    EXPECT_EQ(a.ipv4_gateway, ip4(10, 0, 0, 1));
    ASSERT_EQ(a.ipv6.size(), 2u);
    EXPECT_EQ(a.ipv6[1], (Ipv6Prefix{ip6("fd00:1::2"), 64}));
    EXPECT_EQ(a.ipv6_gateway, ip6("fd00::1"));
    EXPECT_EQ(a.netns, "cvt-ns");
    EXPECT_EQ(a.capture, "/tmp/tap0.pcap");
    const auto& b = config->interfaces[1];
    EXPECT_EQ(b.mac, default_mac("tap1"));
    ASSERT_EQ(b.ipv6.size(), 1u);
    EXPECT_EQ(b.ipv6[0], (Ipv6Prefix{ip6("fd01::2"), 64}));
    EXPECT_FALSE(b.ipv4);
}

TEST(ConfigToml, DefaultsAndBigSeedAsString) {
    ScopedEnv socket("CULVERT_SOCKET", "/tmp/env.sock");
    auto config = parse_config_toml(R"(
seed = "18446744073709551615"
[[interface]]
backend = "tap"
name = "t"
)");
    ASSERT_TRUE(config) << config.error();
    EXPECT_EQ(config->seed, 18446744073709551615u);
    EXPECT_EQ(config->socket_path, "/tmp/env.sock");
    EXPECT_EQ(config->log_level, "info");
    EXPECT_EQ(config->segment_bytes, kDefaultSegmentBytes);
}

TEST(ConfigToml, BadValuesNameKeyValueAndLine) {
    struct Case {
        std::string text;
        std::vector<std::string> expected;
    };
    const std::string iface = "\n[[interface]]\nbackend = \"tap\"\nname = \"t\"\n";
    const std::vector<Case> cases = {
        {"colour = 1" + iface, {"test.toml:1:", "colour", "unknown key", "known: socket"}},
        {"log_level = 3" + iface,
         {"test.toml:1:", "log_level", "expected a string, found an integer"}},
        {"log_level = \"loud\"" + iface, {"log_level", "\"loud\"", "not a log level"}},
        {"segment_mib = 0" + iface, {"segment_mib", "0 MiB", "1..65536"}},
        {"segment_mib = -1" + iface, {"segment_mib", "-1", "negative"}},
        {"segment_mib = \"abc\"" + iface, {"segment_mib", "\"abc\""}},
        {"segment_mib = 1.5" + iface, {"segment_mib", "floating-point"}},
        {"seed = -3" + iface, {"seed", "-3", "negative"}},
        {"socket = \"\"" + iface, {"socket", "empty"}},
        {"socket = 5" + iface, {"socket", "expected a string"}},
        {"[interface]\nbackend = \"tap\"\nname = \"t\"\n",
         {"interface", "[[interface]]", "a table"}},
        {"interface = [1, 2]", {"interface", "[[interface]]"}},
        {"[[interface]]\nname = \"t\"\n",
         {"test.toml:1:", "interface[0]", "missing key \"backend\""}},
        {"[[interface]]\nbackend = \"tap\"\n", {"interface[0]", "missing key \"name\""}},
        {"[[interface]]\nbackend = \"nope\"\nname = \"t\"\n",
         {"interface[0]", "\"nope\"", "unknown backend"}},
        {"[[interface]]\nbackend = \"tap\"\nname = \"t\"\nadress = \"x\"\n",
         {"test.toml:4:", "interface[0].adress", "unknown key"}},
        {"[[interface]]\nbackend = \"tap\"\nname = \"t\"\nmac = \"zz\"\n",
         {"test.toml:4:", "interface[0].mac", "\"zz\"", "not a MAC address"}},
        {"[[interface]]\nbackend = \"tap\"\nname = \"t\"\nip = \"10.0.0.2/40\"\n",
         {"test.toml:4:", "interface[0].ip", "\"40\"", "1..32"}},
        {"[[interface]]\nbackend = \"tap\"\nname = \"t\"\nip6 = [\"fd00::2/64\", \"nope/64\"]\n",
         {"test.toml:4:", "interface[0].ip6[1]", "\"nope\""}},
        {"[[interface]]\nbackend = \"tap\"\nname = \"t\"\nip6 = [\"fd00::2/64\", 7]\n",
         {"interface[0].ip6[1]", "expected a string"}},
        {"[[interface]]\nbackend = \"tap\"\nname = \"t\"\nip = \"10.0.0.2/24\"\ngw = "
         "\"10.9.0.1\"\n",
         {"test.toml:5:", "interface[0].gw", "10.9.0.1", "outside"}},
        {"[[interface]]\nbackend = \"tap\"\nname = \"t\"\nnetns = 3\n",
         {"interface[0].netns", "expected a string"}},
        {iface + iface,
         {"test.toml:6:", "interface[1].name", "\"t\"", "already used by interface[0]"}},
        {"log_level = \"info\"\n", {"no interface"}},
        {"seed = \n", {"test.toml:1:"}},
        {"seed = 1\nseed = 2\n", {"test.toml:2:"}},
    };
    for (const auto& c : cases) {
        const std::string message = toml_rejection(c.text);
        for (const auto& expected : c.expected)
            EXPECT_THAT(message, HasSubstr(expected)) << "for TOML:\n" << c.text;
    }
}

// ---- --config FILE with the command line on top ----

TEST(ConfigFile, CommandLineOverridesTheFile) {
    TempFile file(kFullToml);
    auto config = parse_args({"--config", file.path(), "--log-level", "warn", "--seed", "7"});
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->log_level, "warn");
    EXPECT_EQ(config->seed, 7u);
    EXPECT_EQ(config->socket_path, "/tmp/culvert-test.sock");  // from the file
    EXPECT_EQ(config->segment_bytes, 32u * 1024 * 1024);       // from the file
    ASSERT_EQ(config->interfaces.size(), 2u);                  // from the file

    // --iface replaces the file's interfaces as a whole.
    auto replaced = parse_args({"--config", file.path(), "--iface", "tap:other"});
    ASSERT_TRUE(replaced) << replaced.error().message;
    ASSERT_EQ(replaced->interfaces.size(), 1u);
    EXPECT_EQ(replaced->interfaces[0].name, "other");
}

TEST(ConfigFile, FileWithoutInterfacesNeedsIface) {
    TempFile file("log_level = \"debug\"\n");
    EXPECT_THAT(rejection({"--config", file.path()}), HasSubstr("no interface"));
    auto config = parse_args({"--config", file.path(), "--iface", "tap:t"});
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->log_level, "debug");
}

TEST(ConfigFile, ErrorsNameTheFile) {
    EXPECT_THAT(rejection({"--config", "/nonexistent/culvert.toml"}),
                AllOf(HasSubstr("--config"), HasSubstr("\"/nonexistent/culvert.toml\""),
                      HasSubstr("No such file or directory")));
    EXPECT_THAT(rejection({"--config", "/tmp", "--iface", "tap:t"}),
                AllOf(HasSubstr("--config"), HasSubstr("\"/tmp\""), HasSubstr("directory")));
    TempFile file("[[interface]]\nbackend = \"tap\"\nname = \"t\"\nmac = \"zz\"\n");
    EXPECT_THAT(
        rejection({"--config", file.path()}),
        AllOf(HasSubstr(file.path() + ":4:"), HasSubstr("interface[0].mac"), HasSubstr("\"zz\"")));
    // A bad file is an error even when the command line would override the bad key.
    EXPECT_THAT(rejection({"--config", file.path(), "--iface", "tap:t"}), HasSubstr("\"zz\""));
}

// ---- defaults ----

TEST(ConfigDefaults, SocketPathFollowsDesign) {
    // CULVERT_SOCKET wins for everyone.
    EXPECT_EQ(default_socket_path_for("/x/c.sock", "/run/user/1000", 1000), "/x/c.sock");
    EXPECT_EQ(default_socket_path_for("/x/c.sock", std::nullopt, 0), "/x/c.sock");
    // Root: /run/culvert, whatever XDG_RUNTIME_DIR says.
    EXPECT_EQ(default_socket_path_for(std::nullopt, "/run/user/0", 0),
              "/run/culvert/culvertd.sock");
    EXPECT_EQ(default_socket_path_for(std::nullopt, std::nullopt, 0), "/run/culvert/culvertd.sock");
    // Others: their runtime directory.
    EXPECT_EQ(default_socket_path_for(std::nullopt, "/run/user/1000", 1000),
              "/run/user/1000/culvert/culvertd.sock");
    // Empty variables count as unset.
    EXPECT_EQ(default_socket_path_for("", "/run/user/1000", 1000),
              "/run/user/1000/culvert/culvertd.sock");
    EXPECT_EQ(default_socket_path_for(std::nullopt, "", 1000), "/tmp/culvert-1000/culvertd.sock");
    EXPECT_EQ(default_socket_path_for(std::nullopt, std::nullopt, 1000),
              "/tmp/culvert-1000/culvertd.sock");
}

TEST(ConfigDefaults, SocketPathReadsTheEnvironment) {
    {
        ScopedEnv socket("CULVERT_SOCKET", "/tmp/env-socket.sock");
        EXPECT_EQ(default_socket_path(), "/tmp/env-socket.sock");
    }
    ScopedEnv no_socket("CULVERT_SOCKET", std::nullopt);
    ScopedEnv xdg("XDG_RUNTIME_DIR", "/run/user/4242");
    const std::string expected =
        geteuid() == 0 ? "/run/culvert/culvertd.sock" : "/run/user/4242/culvert/culvertd.sock";
    EXPECT_EQ(default_socket_path(), expected);
    auto config = parse_args({"--iface", "tap:t"});
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->socket_path, expected);
}

TEST(ConfigDefaults, DefaultMacIsStableLocalUnicastAndPerName) {
    const MacAddress a = default_mac("tap0");
    EXPECT_EQ(a, default_mac("tap0"));
    EXPECT_NE(a, default_mac("tap1"));
    EXPECT_EQ(a[0], 0x02);  // locally administered, unicast
    EXPECT_EQ(a[1], 0xc7);
    // FNV-1a of "tap0", so the value cannot drift between builds unnoticed.
    EXPECT_EQ(format_mac(a), "02:c7:b5:4a:63:d6");
}

// ---- building blocks ----

TEST(ConfigAddresses, ParseAndFormatRoundTrip) {
    EXPECT_EQ(parse_ipv4("192.168.1.20"), ip4(192, 168, 1, 20));
    EXPECT_EQ(format_ipv4(ip4(192, 168, 1, 20)), "192.168.1.20");
    EXPECT_FALSE(parse_ipv4("192.168.1.20 "));
    EXPECT_FALSE(parse_ipv4(std::string_view("10.0.0.1\0x", 10)));
    EXPECT_EQ(format_ipv6(ip6("FD00:0:0::0002")), "fd00::2");
    EXPECT_EQ(format_mac(*parse_mac("02:AB:cd:00:10:ff")), "02:ab:cd:00:10:ff");
    EXPECT_EQ(parse_ipv6_prefix("fd00::2/128"), (Ipv6Prefix{ip6("fd00::2"), 128}));
    EXPECT_EQ(parse_ipv4_prefix("10.1.2.3/32"), (Ipv4Prefix{ip4(10, 1, 2, 3), 32}));
}

TEST(ConfigValidate, ConfigsBuiltInCodeAreChecked) {
    Config config;
    config.socket_path = "/tmp/s.sock";
    EXPECT_THAT(validate_config(config).error(), HasSubstr("no interface"));
    InterfaceConfig iface{.name = "tap0", .backend = "tap", .mac = default_mac("tap0")};
    config.interfaces = {iface, iface};
    EXPECT_THAT(validate_config(config).error(),
                AllOf(HasSubstr("\"tap0\""), HasSubstr("configured twice")));
    config.interfaces = {iface};
    EXPECT_TRUE(validate_config(config));
    config.log_level = "chatty";
    EXPECT_THAT(validate_config(config).error(), HasSubstr("\"chatty\""));
    config.log_level = "info";
    config.segment_bytes = kMiB + 1;
    EXPECT_THAT(validate_config(config).error(), HasSubstr("segment"));
    config.segment_bytes = kMiB;
    config.interfaces[0].ipv4_gateway = ip4(10, 0, 0, 1);
    EXPECT_THAT(
        validate_config(config).error(),
        AllOf(HasSubstr("interface \"tap0\""), HasSubstr("gw"), HasSubstr("without an ip")));
}

TEST(ConfigDescribe, NamesEverySetting) {
    auto config = parse_config_toml(kFullToml);
    ASSERT_TRUE(config) << config.error();
    const std::string text = describe_config(*config);
    EXPECT_THAT(text,
                AllOf(HasSubstr("socket /tmp/culvert-test.sock\n"), HasSubstr("log_level trace\n"),
                      HasSubstr("segment_mib 32\n"), HasSubstr("seed 42\n"),
                      HasSubstr("interface tap:tap0 mac 02:00:00:00:00:07 ip 10.0.0.2/24 gw "
                                "10.0.0.1 ip6 fd00::2/64 ip6 fd00:1::2/64 gw6 fd00::1 netns "
                                "cvt-ns capture /tmp/tap0.pcap\n"),
                      HasSubstr("interface tap:tap1 mac ")));
}

}  // namespace
}  // namespace culvert::server
