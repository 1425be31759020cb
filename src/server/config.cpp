// Parsing and validation of culvertd's configuration (command line with CLI11, TOML with
// toml++). Every rejection names the option or key, quotes the value and says why; the
// libraries' exceptions stay inside this file.
#include "server/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <arpa/inet.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <toml++/toml.h>

#ifndef CULVERT_VERSION
#define CULVERT_VERSION "unknown"
#endif

namespace culvert::server {
namespace {

constexpr std::array<std::string_view, 6> kLogLevels = {"trace", "debug", "info",
                                                        "warn",  "error", "off"};
// Backends the server can open.
constexpr std::array<std::string_view, 3> kBackends = {"tap", "dpdk", "pcap"};

// Keys of the dpdk backend only (DpdkInterfaceConfig).
constexpr std::array<std::string_view, 11> kDpdkKeys = {
    "port", "vdev", "queues", "rx_desc", "tx_desc", "mbufs",
    "mtu", "poll", "sleep_us", "rx_zero_copy", "csum_offload"};
constexpr std::array<std::string_view, 23> kInterfaceKeys = {
    "backend", "name", "mac", "ip", "gw", "ip6", "gw6", "netns", "capture",
    "capture_filter", "input", "output",
    "port", "vdev", "queues", "rx_desc", "tx_desc", "mbufs",
    "mtu", "poll", "sleep_us", "rx_zero_copy", "csum_offload"};
constexpr std::array<std::string_view, 6> kTopLevelKeys = {"socket", "log_level", "segment_mib",
                                                           "seed",   "dpdk_eal",  "interface"};

// IFNAMSIZ counts the terminating NUL.
constexpr size_t kMaxInterfaceNameBytes = 15;
constexpr size_t kMaxSocketPathBytes = sizeof(sockaddr_un::sun_path) - 1;
// `ip netns` keeps namespaces as files under /run/netns: a file name's limit.
constexpr size_t kMaxNetnsNameBytes = 255;

std::string join(std::span<const std::string_view> words) {
    std::string out;
    for (auto w : words) {
        if (!out.empty()) out += ", ";
        out += w;
    }
    return out;
}

bool contains(std::span<const std::string_view> words, std::string_view w) {
    return std::find(words.begin(), words.end(), w) != words.end();
}

// Whole unsigned decimal numbers only: no sign, no spaces, no trailing text.
std::optional<uint64_t> parse_decimal(std::string_view text) {
    if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

std::optional<uint8_t> parse_prefix_len(std::string_view text, unsigned max) {
    auto v = parse_decimal(text);
    if (!v || *v < 1 || *v > max) return std::nullopt;
    return static_cast<uint8_t>(*v);
}

uint32_t ipv4_mask(uint8_t prefix_len) {
    return prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - prefix_len);
}

// Address ranges an interface can never own or route through (RFC 6890).
std::optional<std::string> ipv4_unusable(uint32_t a) {
    if ((a >> 24) == 0) return "is in 0.0.0.0/8 (\"this network\")";
    if ((a >> 24) == 127) return "is a loopback address";
    if ((a >> 28) == 0xe) return "is a multicast address";
    if (a == 0xffffffff) return "is the broadcast address";
    if ((a >> 28) == 0xf) return "is in the reserved range 240.0.0.0/4";
    return std::nullopt;
}

std::optional<std::string> ipv6_unusable(const Ipv6Address& a) {
    static constexpr Ipv6Address kUnspecified{};
    static constexpr Ipv6Address kLoopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (a == kUnspecified) return "is the unspecified address";
    if (a == kLoopback) return "is the loopback address";
    if (a[0] == 0xff) return "is a multicast address";
    return std::nullopt;
}

std::string quote(std::string_view s) {
    return fmt::format("\"{}\"", s);
}

std::expected<void, std::string> check_interface_name(std::string_view name) {
    // Linux's dev_valid_name(): what the kernel would refuse, refused here with a reason.
    if (name.empty()) return std::unexpected("the interface name is empty");
    if (name.size() > kMaxInterfaceNameBytes)
        return std::unexpected(
            fmt::format("interface name {} is {} bytes long; Linux allows at most {}", quote(name),
                        name.size(), kMaxInterfaceNameBytes));
    if (name == "." || name == "..")
        return std::unexpected(fmt::format("interface name {} is not allowed", quote(name)));
    for (char c : name) {
        if (c == '/' || c == ':' || c == ',' || c == '=' || static_cast<unsigned char>(c) <= ' ' ||
            c == 0x7f)
            return std::unexpected(fmt::format(
                "interface name {} contains {}; names may not contain '/', ':', ',', '=', spaces "
                "or control characters",
                quote(name), c == ' ' ? std::string("a space") : fmt::format("'{}'", c)));
    }
    return {};
}

std::expected<void, std::string> check_netns_name(std::string_view ns) {
    if (ns.empty()) return std::unexpected("netns: the namespace name is empty");
    if (ns.size() > kMaxNetnsNameBytes || ns == "." || ns == ".." ||
        ns.find('/') != std::string_view::npos || ns.find('\0') != std::string_view::npos)
        return std::unexpected(fmt::format(
            "netns: {} is not a network namespace name (a file name under /run/netns)", quote(ns)));
    return {};
}

std::expected<void, std::string> check_backend(std::string_view backend) {
    if (contains(kBackends, backend)) return {};
    return std::unexpected(
        fmt::format("unknown backend {} (available: {})", quote(backend), join(kBackends)));
}

std::expected<void, std::string> check_dpdk_interface(const InterfaceConfig& iface) {
    if (iface.backend != "dpdk") {
        if (iface.dpdk)
            return std::unexpected(
                fmt::format("{}: applies to the dpdk backend only (this interface's backend is {})",
                            iface.dpdk->vdev.empty() && iface.dpdk->port.empty() ? "dpdk keys"
                            : iface.dpdk->vdev.empty()                           ? "port"
                                                                                 : "vdev",
                            quote(iface.backend)));
        return {};
    }
    if (!iface.dpdk || (iface.dpdk->port.empty() && iface.dpdk->vdev.empty()))
        return std::unexpected(
            "port: a dpdk interface needs port=PCI-ADDRESS|NAME (an existing port) or "
            "vdev=DEVARGS (a virtual device to create, e.g. vdev=net_ring0)");
    const auto& d = *iface.dpdk;
    if (!d.port.empty() && !d.vdev.empty())
        return std::unexpected(
            fmt::format("vdev: give either port= or vdev=, not both (port {}, vdev {})",
                        quote(d.port), quote(d.vdev)));
    if (!d.vdev.empty() && !d.vdev.starts_with("net_") && !d.vdev.starts_with("eth_"))
        return std::unexpected(fmt::format(
            "vdev: {} is not an ethdev virtual device (names start with net_, e.g. net_ring0, "
            "net_memif0,role=server,socket=/run/m.sock)",
            quote(d.vdev)));
    // The descriptors of every queue hold an mbuf each; lent buffers need more beyond them.
    const uint64_t ring_mbufs =
        uint64_t{d.queues} * (uint64_t{d.rx_descriptors} + d.tx_descriptors) + 128;
    if (d.mempool_mbufs < ring_mbufs + 1024)
        return std::unexpected(fmt::format(
            "mbufs: {} is too few for {} queue(s) of {} + {} descriptors; give at "
            "least {}",
            d.mempool_mbufs, d.queues, d.rx_descriptors, d.tx_descriptors, ring_mbufs + 1024));
    return {};
}

// Checks between the fields of one interface; the syntax of each was checked on parsing.
std::expected<void, std::string> check_interface(const InterfaceConfig& iface) {
    if (auto ok = check_backend(iface.backend); !ok) return ok;
    if (auto ok = check_interface_name(iface.name); !ok) return ok;
    if (iface.mac[0] & 0x01)
        return std::unexpected(
            fmt::format("mac: {} is a multicast MAC address; an interface needs a "
                        "unicast one (first byte even, e.g. 02:...)",
                        format_mac(iface.mac)));
    if (iface.mac == MacAddress{})
        return std::unexpected("mac: 00:00:00:00:00:00 is not a usable MAC address");
    if (iface.ipv4) {
        if (auto why = ipv4_unusable(iface.ipv4->address))
            return std::unexpected(
                fmt::format("ip: {} {}", format_ipv4(iface.ipv4->address), *why));
    }
    if (iface.ipv4_gateway) {
        const uint32_t gw = *iface.ipv4_gateway;
        if (!iface.ipv4)
            return std::unexpected(fmt::format(
                "gw: {} is given without an ip address (add ip=A.B.C.D/N)", format_ipv4(gw)));
        const auto& net = *iface.ipv4;
        if (auto why = ipv4_unusable(gw))
            return std::unexpected(fmt::format("gw: {} {}", format_ipv4(gw), *why));
        if ((gw & ipv4_mask(net.prefix_len)) != (net.address & ipv4_mask(net.prefix_len)))
            return std::unexpected(fmt::format("gw: {} is outside the interface's subnet {}/{}",
                                               format_ipv4(gw), format_ipv4(net.address),
                                               net.prefix_len));
        if (gw == net.address)
            return std::unexpected(
                fmt::format("gw: {} is the interface's own address", format_ipv4(gw)));
    }
    for (size_t i = 0; i < iface.ipv6.size(); ++i) {
        const auto& p = iface.ipv6[i];
        if (auto why = ipv6_unusable(p.address))
            return std::unexpected(fmt::format("ip6: {} {}", format_ipv6(p.address), *why));
        if (p.prefix_len < 1 || p.prefix_len > 128)
            return std::unexpected(fmt::format("ip6: prefix length {} of {} is out of range 1..128",
                                               p.prefix_len, format_ipv6(p.address)));
        for (size_t j = 0; j < i; ++j)
            if (iface.ipv6[j].address == p.address)
                return std::unexpected(
                    fmt::format("ip6: {} is given twice", format_ipv6(p.address)));
    }
    if (iface.ipv6_gateway) {
        if (auto why = ipv6_unusable(*iface.ipv6_gateway))
            return std::unexpected(
                fmt::format("gw6: {} {}", format_ipv6(*iface.ipv6_gateway), *why));
    }
    if (iface.netns)
        if (auto ok = check_netns_name(*iface.netns); !ok) return ok;
    if (iface.capture && iface.capture->empty())
        return std::unexpected("capture: the file name is empty");
    if (auto ok = check_dpdk_interface(iface); !ok) return ok;
    if (iface.capture_filter && !iface.capture)
        return std::unexpected("capture_filter: given without capture=FILE");
    for (const auto& [key, file] : {std::pair{"input", &iface.input}, {"output", &iface.output}}) {
        if (!*file) continue;
        if ((*file)->empty()) return std::unexpected(fmt::format("{}: the file name is empty", key));
        if (iface.backend != "pcap")
            return std::unexpected(
                fmt::format("{}: only the pcap backend reads or writes capture files (use "
                            "capture=FILE to record any backend)",
                            key));
    }
    if (iface.backend == "pcap" && !iface.input && !iface.output)
        return std::unexpected(
            "input: a pcap interface needs input=FILE (frames to receive), output=FILE "
            "(where sent frames go) or both");
    return {};
}

std::expected<void, std::string> check_socket_path(std::string_view path) {
    if (path.empty()) return std::unexpected("the socket path is empty");
    if (path.size() > kMaxSocketPathBytes)
        return std::unexpected(
            fmt::format("{} is {} bytes long; a unix socket path holds at most {}", quote(path),
                        path.size(), kMaxSocketPathBytes));
    if (path.find('\0') != std::string_view::npos)
        return std::unexpected("the socket path contains a NUL byte");
    return {};
}

std::expected<void, std::string> check_log_level(std::string_view level) {
    if (contains(kLogLevels, level)) return {};
    return std::unexpected(
        fmt::format("{} is not a log level (one of {})", quote(level), join(kLogLevels)));
}

std::expected<size_t, std::string> segment_bytes_from_mib(uint64_t mib) {
    if (mib < kMinSegmentMib || mib > kMaxSegmentMib)
        return std::unexpected(
            fmt::format("{} MiB is out of range {}..{}", mib, kMinSegmentMib, kMaxSegmentMib));
    return static_cast<size_t>(mib) * kMiB;
}

std::expected<uint64_t, std::string> parse_in_range(std::string_view value, uint64_t min,
                                                    uint64_t max) {
    auto v = parse_decimal(value);
    if (!v || *v < min || *v > max)
        return std::unexpected(
            fmt::format("{} is not a whole number in the range {}..{}", quote(value), min, max));
    return *v;
}

std::expected<bool, std::string> parse_bool(std::string_view value) {
    if (value == "true" || value == "yes" || value == "on" || value == "1") return true;
    if (value == "false" || value == "no" || value == "off" || value == "0") return false;
    return std::unexpected(fmt::format("{} is not true or false", quote(value)));
}

std::expected<void, std::string> apply_dpdk_key(DpdkInterfaceConfig& d, std::string_view key,
                                                std::string_view value) {
    const auto number = [&](auto& field, uint64_t min,
                            uint64_t max) -> std::expected<void, std::string> {
        auto v = parse_in_range(value, min, max);
        if (!v) return std::unexpected(v.error());
        field = static_cast<std::remove_reference_t<decltype(field)>>(*v);
        return {};
    };
    const auto flag = [&](bool& field) -> std::expected<void, std::string> {
        auto v = parse_bool(value);
        if (!v) return std::unexpected(v.error());
        field = *v;
        return {};
    };
    if (key == "port") {
        if (value.empty()) return std::unexpected("the port is empty");
        d.port = std::string(value);
    } else if (key == "vdev") {
        if (value.empty()) return std::unexpected("the vdev is empty");
        // In an --iface SPEC commas separate culvert's keys: the devargs' own commas are
        // written as ';' there (TOML strings may use either).
        d.vdev = std::string(value);
        std::replace(d.vdev.begin(), d.vdev.end(), ';', ',');
    } else if (key == "queues") {
        return number(d.queues, 1, 64);
    } else if (key == "rx_desc") {
        return number(d.rx_descriptors, 64, 32768);
    } else if (key == "tx_desc") {
        return number(d.tx_descriptors, 64, 32768);
    } else if (key == "mbufs") {
        return number(d.mempool_mbufs, 2048, 16u << 20);
    } else if (key == "mtu") {
        return number(d.mtu, 576, 9600);
    } else if (key == "poll") {
        if (value == "busy")
            d.busy_poll = true;
        else if (value == "sleep")
            d.busy_poll = false;
        else
            return std::unexpected(fmt::format("{} is not busy or sleep", quote(value)));
    } else if (key == "sleep_us") {
        return number(d.sleep_us, 1, 1000000);
    } else if (key == "rx_zero_copy") {
        return flag(d.rx_zero_copy);
    } else if (key == "csum_offload") {
        return flag(d.checksum_offload);
    }
    return {};
}

// Splits EAL arguments given as one string at whitespace (no quoting: EAL arguments
// have no spaces inside them).
std::vector<std::string> split_words(std::string_view text) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
        size_t j = i;
        while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
        if (j > i) out.emplace_back(text.substr(i, j - i));
        i = j;
    }
    return out;
}

// Applies one key=value of an interface (shared by --iface SPEC and TOML); the message
// on failure is about the value only, the caller says where it came from.
std::expected<void, std::string> apply_interface_key(InterfaceConfig& iface, bool& mac_given,
                                                     std::string_view key, std::string_view value) {
    if (key == "mac") {
        auto mac = parse_mac(value);
        if (!mac) return std::unexpected(mac.error());
        iface.mac = *mac;
        mac_given = true;
    } else if (key == "ip") {
        auto p = parse_ipv4_prefix(value);
        if (!p) return std::unexpected(p.error());
        iface.ipv4 = *p;
    } else if (key == "gw") {
        auto a = parse_ipv4(value);
        if (!a) return std::unexpected(a.error());
        iface.ipv4_gateway = *a;
    } else if (key == "ip6") {
        auto p = parse_ipv6_prefix(value);
        if (!p) return std::unexpected(p.error());
        iface.ipv6.push_back(*p);
    } else if (key == "gw6") {
        auto a = parse_ipv6(value);
        if (!a) return std::unexpected(a.error());
        iface.ipv6_gateway = *a;
    } else if (key == "netns") {
        iface.netns = std::string(value);
    } else if (key == "capture") {
        iface.capture = std::string(value);
    } else if (key == "capture_filter") {
        iface.capture_filter = std::string(value);
    } else if (key == "input") {
        iface.input = std::string(value);
    } else if (key == "output") {
        iface.output = std::string(value);
    } else if (key == "backend") {
        iface.backend = std::string(value);
    } else if (key == "name") {
        iface.name = std::string(value);
    } else if (contains(kDpdkKeys, key)) {
        if (!iface.dpdk) iface.dpdk.emplace();
        return apply_dpdk_key(*iface.dpdk, key, value);
    } else {
        return std::unexpected(fmt::format("unknown key (known: {})", join(kInterfaceKeys)));
    }
    return {};
}

// ---- TOML ----

std::string_view toml_type_name(toml::node_type t) {
    switch (t) {
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a floating-point number";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::date:
            return "a date";
        case toml::node_type::time:
            return "a time";
        case toml::node_type::date_time:
            return "a date-time";
        default:
            return "nothing";
    }
}

struct TomlReader {
    std::string_view source_name;

    std::string where(const toml::source_region& src, std::string_view path) const {
        if (src.begin.line == 0) return fmt::format("{}: {}", source_name, path);
        return fmt::format("{}:{}:{}: {}", source_name, src.begin.line, src.begin.column, path);
    }
    std::unexpected<std::string> fail(const toml::node& node, std::string_view path,
                                      std::string_view message) const {
        return std::unexpected(fmt::format("{}: {}", where(node.source(), path), message));
    }
    std::expected<std::string, std::string> string(const toml::node& node,
                                                   std::string_view path) const {
        if (auto s = node.as_string()) return s->get();
        return fail(node, path,
                    fmt::format("expected a string, found {}", toml_type_name(node.type())));
    }
    std::expected<uint64_t, std::string> unsigned_integer(const toml::node& node,
                                                          std::string_view path) const {
        // TOML integers are signed 64-bit; a seed above 2^63 can be written as a string.
        if (auto i = node.as_integer()) {
            if (i->get() < 0) return fail(node, path, fmt::format("{} is negative", i->get()));
            return static_cast<uint64_t>(i->get());
        }
        if (auto s = node.as_string()) {
            if (auto v = parse_decimal(s->get())) return *v;
            return fail(node, path, fmt::format("{} is not a whole number", quote(s->get())));
        }
        return fail(node, path,
                    fmt::format("expected an integer, found {}", toml_type_name(node.type())));
    }

    std::expected<InterfaceConfig, std::string> interface(const toml::table& table,
                                                          std::string_view path) const {
        InterfaceConfig iface;
        bool mac_given = false;
        for (auto&& [key, node] : table) {
            const std::string key_path = fmt::format("{}.{}", path, key.str());
            if (!contains(kInterfaceKeys, key.str()))
                return fail(node, key_path,
                            fmt::format("unknown key (known: {})", join(kInterfaceKeys)));
            struct Value {
                const toml::node* node;
                std::string path;
                std::string text;
            };
            std::vector<Value> values;
            if (key.str() == "ip6" && node.is_array()) {
                const auto& arr = *node.as_array();
                for (size_t i = 0; i < arr.size(); ++i) {
                    std::string item_path = fmt::format("{}[{}]", key_path, i);
                    auto s = string(arr[i], item_path);
                    if (!s) return std::unexpected(s.error());
                    values.push_back({&arr[i], std::move(item_path), std::move(*s)});
                }
            } else if (auto i = node.as_integer(); i && contains(kDpdkKeys, key.str())) {
                values.push_back({&node, key_path, std::to_string(i->get())});
            } else if (auto b = node.as_boolean(); b && contains(kDpdkKeys, key.str())) {
                values.push_back({&node, key_path, b->get() ? "true" : "false"});
            } else {
                auto s = string(node, key_path);
                if (!s) return std::unexpected(s.error());
                values.push_back({&node, key_path, std::move(*s)});
            }
            for (const auto& v : values) {
                auto ok = apply_interface_key(iface, mac_given, key.str(), v.text);
                if (!ok) return fail(*v.node, v.path, ok.error());
            }
        }
        if (iface.backend.empty())
            return std::unexpected(fmt::format("{}: missing key \"backend\" (one of {})",
                                               where(table.source(), path), join(kBackends)));
        if (iface.name.empty())
            return std::unexpected(
                fmt::format("{}: missing key \"name\" (the device name, e.g. \"tap0\")",
                            where(table.source(), path)));
        if (!mac_given) iface.mac = default_mac(iface.name);
        if (iface.dpdk) iface.dpdk->use_port_mac = !mac_given;
        if (auto ok = check_interface(iface); !ok) {
            // check_interface() starts with the key at fault ("gw: ..."): point at that line.
            const auto colon = ok.error().find(": ");
            const std::string key = ok.error().substr(0, colon);
            if (const toml::node* node = table.get(key); node && colon != std::string::npos)
                return fail(*node, fmt::format("{}.{}", path, key), ok.error().substr(colon + 2));
            return std::unexpected(fmt::format("{}: {}", where(table.source(), path), ok.error()));
        }
        return iface;
    }

    std::expected<Config, std::string> config(const toml::table& root) const {
        Config config;
        config.socket_path = default_socket_path();
        for (auto&& [key, node] : root) {
            const std::string path(key.str());
            if (!contains(kTopLevelKeys, key.str()))
                return fail(node, path,
                            fmt::format("unknown key (known: {})", join(kTopLevelKeys)));
            if (key.str() == "socket") {
                auto s = string(node, path);
                if (!s) return std::unexpected(s.error());
                if (auto ok = check_socket_path(*s); !ok) return fail(node, path, ok.error());
                config.socket_path = *s;
            } else if (key.str() == "log_level") {
                auto s = string(node, path);
                if (!s) return std::unexpected(s.error());
                if (auto ok = check_log_level(*s); !ok) return fail(node, path, ok.error());
                config.log_level = *s;
            } else if (key.str() == "segment_mib") {
                auto n = unsigned_integer(node, path);
                if (!n) return std::unexpected(n.error());
                auto bytes = segment_bytes_from_mib(*n);
                if (!bytes) return fail(node, path, bytes.error());
                config.segment_bytes = *bytes;
            } else if (key.str() == "seed") {
                auto n = unsigned_integer(node, path);
                if (!n) return std::unexpected(n.error());
                config.seed = *n;
            } else if (key.str() == "dpdk_eal") {
                config.dpdk_eal_args.clear();
                if (const auto* arr = node.as_array()) {
                    for (size_t i = 0; i < arr->size(); ++i) {
                        auto s = string((*arr)[i], fmt::format("{}[{}]", path, i));
                        if (!s) return std::unexpected(s.error());
                        config.dpdk_eal_args.push_back(std::move(*s));
                    }
                } else {
                    auto s = string(node, path);
                    if (!s) return std::unexpected(s.error());
                    config.dpdk_eal_args = split_words(*s);
                }
            } else if (key.str() == "interface") {
                const auto* arr = node.as_array();
                if (!arr || !arr->is_array_of_tables())
                    return fail(node, path,
                                fmt::format("expected [[interface]] tables, found {}",
                                            arr ? "an array of other values"
                                                : toml_type_name(node.type())));
                for (size_t i = 0; i < arr->size(); ++i) {
                    const std::string iface_path = fmt::format("interface[{}]", i);
                    auto iface = interface(*(*arr)[i].as_table(), iface_path);
                    if (!iface) return std::unexpected(iface.error());
                    for (size_t j = 0; j < config.interfaces.size(); ++j)
                        if (config.interfaces[j].name == iface->name)
                            return fail(
                                (*arr)[i], iface_path + ".name",
                                fmt::format("interface name {} is already used by interface[{}]",
                                            quote(iface->name), j));
                    config.interfaces.push_back(std::move(*iface));
                }
            }
        }
        return config;
    }
};

std::expected<Config, std::string> parse_toml_unvalidated(std::string_view text,
                                                          std::string_view source_name) {
    toml::table root;
    try {
        root = toml::parse(text, source_name);
    } catch (const toml::parse_error& e) {
        const auto& b = e.source().begin;
        return std::unexpected(
            fmt::format("{}:{}:{}: {}", source_name, b.line, b.column, e.description()));
    }
    return TomlReader{source_name}.config(root);
}

std::expected<std::string, std::string> read_file(const std::string& path) {
    // A directory opens and reads as empty on Linux: say so instead of "no interface".
    struct stat st {};
    if (stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        return std::unexpected(fmt::format("cannot read {}: Is a directory", quote(path)));
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return std::unexpected(
            fmt::format("cannot read {}: {}", quote(path), std::strerror(errno)));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad())
        return std::unexpected(
            fmt::format("cannot read {}: {}", quote(path), std::strerror(errno)));
    return text.str();
}

constexpr std::string_view kIfaceHelp =
    "Interfaces (--iface, repeatable):\n"
    "  BACKEND:NAME[,mac=MAC][,ip=A.B.C.D/N][,gw=A.B.C.D][,ip6=X::Y/N]...[,gw6=X::Y]\n"
    "              [,netns=NS][,capture=FILE[,capture_filter=BPF]]\n"
    "  pcap:NAME[,input=FILE][,output=FILE][,...]  frames from/to capture files\n"
    "  e.g. --iface tap:tap0,ip=10.0.0.2/24,gw=10.0.0.1,ip6=fd00::2/64,gw6=fd00::1\n"
    "  dpdk: port=PCI|NAME or vdev=DEVARGS (write the devargs' commas as ';'),\n"
    "        queues=N rx_desc=N tx_desc=N mbufs=N mtu=N poll=busy|sleep sleep_us=N\n"
    "        rx_zero_copy=BOOL csum_offload=BOOL; EAL arguments with --dpdk-eal.\n"
    "  e.g. --dpdk-eal \"--no-huge --no-pci -m 256 --no-shconf -l 0\"\n"
    "       --iface 'dpdk:dp0,vdev=net_memif0;role=server;socket=/run/m.sock,ip=10.0.0.2/24'\n"
    "  BACKEND is one of: {}. mac defaults to 02:c7:.. derived from NAME (dpdk: the\n"
    "  port's own MAC); ip6 may repeat.\n"
    "  capture=FILE records every frame the interface sends or receives (stack-clock\n"
    "  timestamps), capture_filter a tcpdump expression limiting it.\n"
    "  --iface options replace the interfaces of a --config file.\n"
    "Config file (TOML): top-level socket, log_level, segment_mib, seed, dpdk_eal and\n"
    "  [[interface]] tables with keys backend, name, mac, ip, gw, ip6 (string or array),\n"
    "  gw6, netns, capture, capture_filter, input, output (and the dpdk keys).\n"
    "  Command-line options override the file.\n";

}  // namespace

std::span<const std::string_view> log_levels() {
    return kLogLevels;
}
std::span<const std::string_view> available_backends() {
    return kBackends;
}
std::string_view version_string() {
    return "culvertd " CULVERT_VERSION;
}

std::expected<MacAddress, std::string> parse_mac(std::string_view text) {
    const auto bad = [&] {
        return std::unexpected(
            fmt::format("{} is not a MAC address (expected six hex bytes like 02:00:00:00:00:01)",
                        quote(text)));
    };
    if (text.size() != 17) return bad();
    MacAddress mac{};
    for (size_t i = 0; i < 6; ++i) {
        const size_t at = i * 3;
        if (i > 0 && text[at - 1] != ':') return bad();
        if (!std::isxdigit(static_cast<unsigned char>(text[at])) ||
            !std::isxdigit(static_cast<unsigned char>(text[at + 1])))
            return bad();
        std::from_chars(text.data() + at, text.data() + at + 2, mac[i], 16);
    }
    return mac;
}

std::expected<uint32_t, std::string> parse_ipv4(std::string_view text) {
    const std::string s(text);  // inet_pton wants a NUL-terminated string
    in_addr a{};
    if (s.find('\0') != std::string::npos || inet_pton(AF_INET, s.c_str(), &a) != 1)
        return std::unexpected(fmt::format(
            "{} is not an IPv4 address (expected a dotted quad like 10.0.0.1)", quote(text)));
    return ntohl(a.s_addr);
}

std::expected<Ipv6Address, std::string> parse_ipv6(std::string_view text) {
    const std::string s(text);
    Ipv6Address a{};
    if (s.find('\0') != std::string::npos || inet_pton(AF_INET6, s.c_str(), a.data()) != 1)
        return std::unexpected(
            fmt::format("{} is not an IPv6 address (expected e.g. fd00::1)", quote(text)));
    return a;
}

std::expected<Ipv4Prefix, std::string> parse_ipv4_prefix(std::string_view text) {
    const auto slash = text.find('/');
    if (slash == std::string_view::npos)
        return std::unexpected(fmt::format(
            "{} has no prefix length (write it as {}/24, for example)", quote(text), text));
    auto address = parse_ipv4(text.substr(0, slash));
    if (!address) return std::unexpected(address.error());
    const auto len_text = text.substr(slash + 1);
    auto len = parse_prefix_len(len_text, 32);
    if (!len)
        return std::unexpected(fmt::format("prefix length {} in {} is not in the range 1..32",
                                           quote(len_text), quote(text)));
    // On subnets with a broadcast address (shorter than /31, RFC 3021), an interface owns
    // neither the network address nor the broadcast address.
    const uint32_t host = *address & ~ipv4_mask(*len);
    if (*len < 31 && host == 0)
        return std::unexpected(fmt::format(
            "{} is the network address of its subnet, not a host address", quote(text)));
    if (*len < 31 && host == ~ipv4_mask(*len))
        return std::unexpected(fmt::format(
            "{} is the broadcast address of its subnet, not a host address", quote(text)));
    return Ipv4Prefix{*address, *len};
}

std::expected<Ipv6Prefix, std::string> parse_ipv6_prefix(std::string_view text) {
    const auto slash = text.find('/');
    if (slash == std::string_view::npos)
        return std::unexpected(fmt::format(
            "{} has no prefix length (write it as {}/64, for example)", quote(text), text));
    auto address = parse_ipv6(text.substr(0, slash));
    if (!address) return std::unexpected(address.error());
    const auto len_text = text.substr(slash + 1);
    auto len = parse_prefix_len(len_text, 128);
    if (!len)
        return std::unexpected(fmt::format("prefix length {} in {} is not in the range 1..128",
                                           quote(len_text), quote(text)));
    return Ipv6Prefix{*address, *len};
}

MacAddress default_mac(std::string_view interface_name) {
    // FNV-1a: tiny, stable across builds and platforms (std::hash is neither).
    uint32_t h = 2166136261u;
    for (char c : interface_name) {
        h ^= static_cast<uint8_t>(c);
        h *= 16777619u;
    }
    return {0x02,
            0xc7,
            static_cast<uint8_t>(h >> 24),
            static_cast<uint8_t>(h >> 16),
            static_cast<uint8_t>(h >> 8),
            static_cast<uint8_t>(h)};
}

std::string format_mac(const MacAddress& m) {
    return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4],
                       m[5]);
}

std::string format_ipv4(uint32_t a) {
    return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

std::string format_ipv6(const Ipv6Address& a) {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, a.data(), text, sizeof text);
    return text;
}

std::expected<InterfaceConfig, std::string> parse_interface_spec(std::string_view spec) {
    InterfaceConfig iface;
    bool mac_given = false;
    std::set<std::string, std::less<>> seen;
    size_t start = 0;
    bool first = true;
    while (start <= spec.size()) {
        size_t comma = spec.find(',', start);
        if (comma == std::string_view::npos) comma = spec.size();
        const auto item = spec.substr(start, comma - start);
        start = comma + 1;
        if (first) {
            first = false;
            const auto colon = item.find(':');
            if (colon == std::string_view::npos)
                return std::unexpected(fmt::format(
                    "{} does not start with BACKEND:NAME (e.g. tap:tap0)", quote(item)));
            iface.backend = std::string(item.substr(0, colon));
            iface.name = std::string(item.substr(colon + 1));
            if (auto ok = check_backend(iface.backend); !ok) return std::unexpected(ok.error());
            if (auto ok = check_interface_name(iface.name); !ok) return std::unexpected(ok.error());
            continue;
        }
        const auto eq = item.find('=');
        if (eq == std::string_view::npos)
            return std::unexpected(fmt::format("{} is not KEY=VALUE", quote(item)));
        const auto key = item.substr(0, eq);
        const auto value = item.substr(eq + 1);
        if (key == "backend" || key == "name")
            return std::unexpected(
                fmt::format("{}: set BACKEND:NAME at the start of the spec, not as a key", key));
        if (key != "ip6" && !seen.emplace(key).second)
            return std::unexpected(fmt::format("{}: given twice", key));
        if (auto ok = apply_interface_key(iface, mac_given, key, value); !ok)
            return std::unexpected(fmt::format("{}: {}", key, ok.error()));
    }
    if (!mac_given) iface.mac = default_mac(iface.name);
    if (iface.dpdk) iface.dpdk->use_port_mac = !mac_given;
    if (auto ok = check_interface(iface); !ok) return std::unexpected(ok.error());
    return iface;
}

std::expected<void, std::string> validate_config(const Config& config) {
    if (auto ok = check_socket_path(config.socket_path); !ok)
        return std::unexpected(fmt::format("socket: {}", ok.error()));
    if (auto ok = check_log_level(config.log_level); !ok)
        return std::unexpected(fmt::format("log level: {}", ok.error()));
    if (config.segment_bytes % kMiB != 0)
        return std::unexpected(fmt::format("segment size: {} bytes is not a whole number of MiB",
                                           config.segment_bytes));
    if (auto ok = segment_bytes_from_mib(config.segment_bytes / kMiB); !ok)
        return std::unexpected(fmt::format("segment size: {}", ok.error()));
    if (config.interfaces.empty())
        return std::unexpected(
            "no interface configured: give at least one with --iface BACKEND:NAME,... or an "
            "[[interface]] table in the --config file");
    for (size_t i = 0; i < config.interfaces.size(); ++i) {
        const auto& iface = config.interfaces[i];
        if (auto ok = check_interface(iface); !ok)
            return std::unexpected(fmt::format("interface {}: {}", quote(iface.name), ok.error()));
        for (size_t j = 0; j < i; ++j)
            if (config.interfaces[j].name == iface.name)
                return std::unexpected(
                    fmt::format("interface name {} is configured twice", quote(iface.name)));
    }
    return {};
}

std::string default_socket_path_for(std::optional<std::string_view> culvert_socket,
                                    std::optional<std::string_view> xdg_runtime_dir, uid_t euid) {
    if (culvert_socket && !culvert_socket->empty()) return std::string(*culvert_socket);
    if (euid == 0) return "/run/culvert/culvertd.sock";
    if (xdg_runtime_dir && !xdg_runtime_dir->empty())
        return fmt::format("{}/culvert/culvertd.sock", *xdg_runtime_dir);
    return fmt::format("/tmp/culvert-{}/culvertd.sock", euid);
}

std::string default_socket_path() {
    const auto env = [](const char* name) -> std::optional<std::string_view> {
        if (const char* v = std::getenv(name)) return std::string_view(v);
        return std::nullopt;
    };
    return default_socket_path_for(env("CULVERT_SOCKET"), env("XDG_RUNTIME_DIR"), geteuid());
}

std::expected<Config, std::string> parse_config_toml(std::string_view toml_text,
                                                     std::string_view source_name) {
    auto config = parse_toml_unvalidated(toml_text, source_name);
    if (!config) return config;
    if (auto ok = validate_config(*config); !ok)
        return std::unexpected(fmt::format("{}: {}", source_name, ok.error()));
    return config;
}

std::expected<Config, StartupExit> parse_command_line(int argc, char** argv) {
    CLI::App app{"culvertd: the culvert userspace TCP/IP stack service", "culvertd"};
    std::optional<std::string> config_path, socket_path, log_level, segment_mib, seed, dpdk_eal;
    std::vector<std::string> iface_specs;
    app.add_option("--config", config_path, "TOML configuration file")->type_name("FILE");
    app.add_option("--socket", socket_path,
                   "Control socket path (default: $CULVERT_SOCKET, /run/culvert/culvertd.sock as "
                   "root, else $XDG_RUNTIME_DIR/culvert/culvertd.sock)")
        ->type_name("PATH");
    app.add_option("--log-level", log_level, "One of " + join(kLogLevels) + " (default: info)")
        ->type_name("LEVEL");
    app.add_option("--segment-mib", segment_mib,
                   fmt::format("Shared segment per client in MiB, {}..{} (default: {})",
                               kMinSegmentMib, kMaxSegmentMib, kDefaultSegmentBytes / kMiB))
        ->type_name("N");
    app.add_option("--seed", seed, "Random seed; 0 draws one from the clock (default: 0)")
        ->type_name("N");
    app.add_option("--dpdk-eal", dpdk_eal,
                   "DPDK EAL arguments for dpdk interfaces, one string (e.g. \"--no-huge --no-pci "
                   "-m 256 --no-shconf -l 0\"); default: DPDK's own defaults")
        ->type_name("ARGS")
        ->allow_extra_args(false);
    app.add_option("--iface", iface_specs, "An interface (see below); repeatable")
        ->type_name("SPEC")
        ->expected(1)
        ->allow_extra_args(false)  // one SPEC per --iface: "--iface a b" leaves b unexpected
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    app.set_version_flag("--version", std::string(version_string()));
    app.footer(fmt::format(fmt::runtime(kIfaceHelp), join(kBackends)));

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        std::ostringstream out, err;
        const int code = app.exit(e, out, err);
        if (code == 0) return std::unexpected(StartupExit{0, out.str()});
        return std::unexpected(StartupExit{
            2, fmt::format("culvertd: {}\nRun culvertd --help for the options.", e.what())});
    }

    const auto fail = [](std::string message) {
        return std::unexpected(StartupExit{2, fmt::format("culvertd: {}", message)});
    };
    Config config;
    config.socket_path = default_socket_path();
    if (config_path) {
        auto text = read_file(*config_path);
        if (!text) return fail(fmt::format("--config: {}", text.error()));
        auto from_file = parse_toml_unvalidated(*text, *config_path);
        if (!from_file) return fail(from_file.error());
        config = std::move(*from_file);
    }
    if (socket_path) {
        if (auto ok = check_socket_path(*socket_path); !ok)
            return fail(fmt::format("--socket: {}", ok.error()));
        config.socket_path = *socket_path;
    }
    if (log_level) {
        if (auto ok = check_log_level(*log_level); !ok)
            return fail(fmt::format("--log-level: {}", ok.error()));
        config.log_level = *log_level;
    }
    if (segment_mib) {
        auto mib = parse_decimal(*segment_mib);
        if (!mib)
            return fail(
                fmt::format("--segment-mib: {} is not a whole number of MiB", quote(*segment_mib)));
        auto bytes = segment_bytes_from_mib(*mib);
        if (!bytes) return fail(fmt::format("--segment-mib: {}", bytes.error()));
        config.segment_bytes = *bytes;
    }
    if (seed) {
        auto n = parse_decimal(*seed);
        if (!n)
            return fail(fmt::format("--seed: {} is not a whole number in 0..{}", quote(*seed),
                                    std::numeric_limits<uint64_t>::max()));
        config.seed = *n;
    }
    if (dpdk_eal) config.dpdk_eal_args = split_words(*dpdk_eal);
    if (!iface_specs.empty()) {
        config.interfaces.clear();
        for (size_t i = 0; i < iface_specs.size(); ++i) {
            const auto& spec = iface_specs[i];
            auto iface = parse_interface_spec(spec);
            if (!iface) return fail(fmt::format("--iface {}: {}", quote(spec), iface.error()));
            for (size_t j = 0; j < i; ++j)
                if (config.interfaces[j].name == iface->name)
                    return fail(
                        fmt::format("--iface {}: interface name {} is already used by --iface {}",
                                    quote(spec), quote(iface->name), quote(iface_specs[j])));
            config.interfaces.push_back(std::move(*iface));
        }
    }
    if (auto ok = validate_config(config); !ok) return fail(ok.error());
    return config;
}

std::expected<Config, std::string> parse_config(int argc, char** argv) {
    auto config = parse_command_line(argc, argv);
    if (!config) return std::unexpected(std::move(config.error().message));
    return std::move(*config);
}

std::string describe_config(const Config& config) {
    std::string out;
    out += fmt::format("socket {}\n", config.socket_path);
    out += fmt::format("log_level {}\n", config.log_level);
    out += fmt::format("segment_mib {}\n", config.segment_bytes / kMiB);
    out += config.seed == 0 ? std::string("seed 0 (drawn from the clock at start)\n")
                            : fmt::format("seed {}\n", config.seed);
    for (const auto& iface : config.interfaces) {
        out +=
            fmt::format("interface {}:{} mac {}", iface.backend, iface.name, format_mac(iface.mac));
        if (iface.ipv4)
            out +=
                fmt::format(" ip {}/{}", format_ipv4(iface.ipv4->address), iface.ipv4->prefix_len);
        if (iface.ipv4_gateway) out += fmt::format(" gw {}", format_ipv4(*iface.ipv4_gateway));
        for (const auto& p : iface.ipv6)
            out += fmt::format(" ip6 {}/{}", format_ipv6(p.address), p.prefix_len);
        if (iface.ipv6_gateway) out += fmt::format(" gw6 {}", format_ipv6(*iface.ipv6_gateway));
        if (iface.netns) out += fmt::format(" netns {}", *iface.netns);
        if (iface.capture) out += fmt::format(" capture {}", *iface.capture);
        if (iface.capture_filter) out += fmt::format(" capture_filter \"{}\"", *iface.capture_filter);
        if (iface.input) out += fmt::format(" input {}", *iface.input);
        if (iface.output) out += fmt::format(" output {}", *iface.output);
        if (iface.dpdk) {
            const auto& d = *iface.dpdk;
            if (!d.port.empty()) out += fmt::format(" port {}", d.port);
            if (!d.vdev.empty()) out += fmt::format(" vdev {}", d.vdev);
            out += fmt::format(" queues {} rx_desc {} tx_desc {} mbufs {} poll {}", d.queues,
                               d.rx_descriptors, d.tx_descriptors, d.mempool_mbufs,
                               d.busy_poll ? "busy" : "sleep");
            if (!d.busy_poll) out += fmt::format(" sleep_us {}", d.sleep_us);
            if (d.mtu != 0) out += fmt::format(" mtu {}", d.mtu);
            if (!d.rx_zero_copy) out += " rx_zero_copy false";
            if (!d.checksum_offload) out += " csum_offload false";
            if (d.use_port_mac) out += " (port's own mac)";
        }
        out += '\n';
    }
    if (!config.dpdk_eal_args.empty()) {
        out += "dpdk_eal";
        for (const auto& a : config.dpdk_eal_args) out += " " + a;
        out += '\n';
    }
    return out;
}

}  // namespace culvert::server
