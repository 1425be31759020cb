// culvertd's configuration: what the command line and an optional TOML file ask for,
// parsed and validated once here so that the server core, the backends and the stack
// loop can trust every value they are handed (DESIGN §3, §5).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace culvert::server {

using MacAddress = std::array<uint8_t, 6>;
using Ipv6Address = std::array<uint8_t, 16>;  // network byte order, as inet_pton writes it

// An interface address with its prefix. The IPv4 address is in HOST byte order
// (10.0.0.2 == 0x0a000002): comparisons and masks read naturally; convert with htonl()
// when handing it to lwIP, whose ip4_addr_t holds network order.
struct Ipv4Prefix {
    uint32_t address = 0;
    uint8_t prefix_len = 0;
    bool operator==(const Ipv4Prefix&) const = default;
};
struct Ipv6Prefix {
    Ipv6Address address{};
    uint8_t prefix_len = 0;
    bool operator==(const Ipv6Prefix&) const = default;
};

// A DPDK interface's port and how to run it (backend "dpdk"; see docs/dpdk.md). Exactly
// one of port and vdev is set.
struct DpdkInterfaceConfig {
    std::string port;  // an ethdev the EAL knows: PCI address ("0000:01:00.0"), name or number
    std::string vdev;  // a virtual device to create, DPDK devargs: "net_memif0,role=server,..."
    uint16_t queues = 1;
    uint16_t rx_descriptors = 1024;
    uint16_t tx_descriptors = 1024;
    uint32_t mempool_mbufs = 16383;
    uint16_t mtu = 0;         // 0: the port's
    bool busy_poll = true;    // poll=busy (default) or poll=sleep
    uint32_t sleep_us = 100;  // poll=sleep on a port without receive interrupts: poll period
    bool rx_zero_copy = true;
    bool checksum_offload = true;
    bool use_port_mac = true;  // no mac= given: the port's own MAC, not default_mac(name)
    bool operator==(const DpdkInterfaceConfig&) const = default;
};

struct InterfaceConfig {
    std::string name;     // the TAP device name; for dpdk, culvert's name for the port
    std::string backend;  // one of available_backends()
    MacAddress mac{};     // culvert's own MAC; default_mac(name) unless configured
    std::optional<Ipv4Prefix> ipv4;
    std::optional<uint32_t> ipv4_gateway;  // host byte order; inside ipv4's subnet
    std::vector<Ipv6Prefix> ipv6;
    std::optional<Ipv6Address> ipv6_gateway;
    std::optional<std::string> capture;  // pcap file to mirror frames into
    std::optional<std::string> capture_filter;  // BPF expression: capture only what matches
    std::optional<std::string> input;   // pcap backend: capture whose frames are received
    std::optional<std::string> output;  // pcap backend: file the transmitted frames go to
    std::optional<std::string> netns;    // network namespace to open the TAP (or DPDK port) in
    std::optional<DpdkInterfaceConfig> dpdk;  // set exactly when backend == "dpdk"
    bool operator==(const InterfaceConfig&) const = default;
};

inline constexpr size_t kMiB = size_t{1} << 20;
inline constexpr size_t kDefaultSegmentBytes = 256 * kMiB;
// A client segment holds its channels' rings (two 128 KiB rings per TCP socket): below
// 1 MiB a client could barely open a few sockets; above 64 GiB is surely a typo.
inline constexpr size_t kMinSegmentMib = 1;
inline constexpr size_t kMaxSegmentMib = 64 * 1024;

struct Config {
    std::string socket_path;  // default_socket_path() unless configured
    std::vector<InterfaceConfig> interfaces;
    std::string log_level = "info";               // one of log_levels()
    size_t segment_bytes = kDefaultSegmentBytes;  // per-client shared segment
    uint64_t seed = 0;       // 0: the server draws one from the clock at start (and prints it)
    bool foreground = true;  // no daemon mode exists yet; nothing sets this to false
    // DPDK EAL arguments (without argv[0]); used once, when the first dpdk interface opens.
    std::vector<std::string> dpdk_eal_args;
    bool operator==(const Config&) const = default;
};

// What culvertd's command line asked for when it is not "run with this configuration":
// --help / --version (exit_code 0, message for stdout) or a bad command line or
// configuration (exit_code 2, message for stderr).
struct StartupExit {
    int exit_code = 2;
    std::string message;
};

// culvertd [--config FILE] [--socket PATH] [--log-level L] [--segment-mib N] [--seed N]
//          [--dpdk-eal "ARGS"] [--iface SPEC]...
// SPEC: BACKEND:NAME[,mac=MAC][,ip=A.B.C.D/N][,gw=A.B.C.D][,ip6=X::Y/N]...[,gw6=X::Y]
//       [,netns=NS][,capture=FILE][,capture_filter=BPF][,input=FILE][,output=FILE]
//       (ip6 may repeat; input and output belong to the pcap backend)
//       dpdk only: port=P | vdev=DEVARGS (';' for the devargs' own commas), queues=N,
//       rx_desc=N, tx_desc=N, mbufs=N, mtu=N, poll=busy|sleep, sleep_us=N,
//       rx_zero_copy=true|false, csum_offload=true|false
// With --config FILE, the TOML file is read first and every option given on the command
// line overrides it; --iface options, if any, replace the file's interfaces as a whole.
// main() should use this one: it tells --help/--version (exit 0) from errors (exit 2).
std::expected<Config, StartupExit> parse_command_line(int argc, char** argv);

// The same, for callers that only care about "a Config or why not": --help and --version
// come back as an error whose text is the help or version text.
std::expected<Config, std::string> parse_config(int argc, char** argv);

// The TOML form (top-level keys socket, log_level, segment_mib, seed, dpdk_eal (string or
// array of strings); [[interface]] tables with keys backend, name, mac, ip, gw, ip6 (string
// or array), gw6, netns, capture, capture_filter, input, output and the dpdk keys above,
// numbers and booleans as TOML values or strings). source_name prefixes error messages (a file name). The result is fully
// validated, including "at least one interface".
std::expected<Config, std::string> parse_config_toml(std::string_view toml_text,
                                                     std::string_view source_name = "config");

// One --iface SPEC (see above), validated, with the default MAC filled in.
std::expected<InterfaceConfig, std::string> parse_interface_spec(std::string_view spec);

// Checks what no single field can: at least one interface, unique interface names.
// parse_command_line and parse_config_toml call it; exposed for configs built in code.
std::expected<void, std::string> validate_config(const Config& config);

// DESIGN §3: $CULVERT_SOCKET if set and non-empty; else /run/culvert/culvertd.sock as
// root; else $XDG_RUNTIME_DIR/culvert/culvertd.sock; else (no XDG_RUNTIME_DIR, e.g. a
// bare `su` shell) /tmp/culvert-<uid>/culvertd.sock.
std::string default_socket_path();
// The same decision with its inputs explicit (nullopt: the variable is not set).
std::string default_socket_path_for(std::optional<std::string_view> culvert_socket,
                                    std::optional<std::string_view> xdg_runtime_dir, uid_t euid);

// Building blocks, each returning a message that quotes the bad text and says why.
std::expected<MacAddress, std::string> parse_mac(std::string_view text);
std::expected<uint32_t, std::string> parse_ipv4(std::string_view text);  // host order
std::expected<Ipv6Address, std::string> parse_ipv6(std::string_view text);
std::expected<Ipv4Prefix, std::string> parse_ipv4_prefix(std::string_view text);
std::expected<Ipv6Prefix, std::string> parse_ipv6_prefix(std::string_view text);

// A locally administered unicast MAC, 02:c7:xx:xx:xx:xx ("c7" for culvert), whose last
// four bytes hash the interface name: stable across restarts, distinct per interface.
MacAddress default_mac(std::string_view interface_name);

std::string format_mac(const MacAddress& mac);
std::string format_ipv4(uint32_t address);  // host order in, dotted quad out
std::string format_ipv6(const Ipv6Address& address);
// One line per setting, for culvertd to log at start (DESIGN: runs print their settings).
std::string describe_config(const Config& config);

// The accepted values, in the order help texts list them.
std::span<const std::string_view> log_levels();
std::span<const std::string_view> available_backends();

// "culvertd 0.1.0"
std::string_view version_string();

}  // namespace culvert::server
