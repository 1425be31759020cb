// The replay driver and the live app runner (runner.hpp).
#include "cli/replay/runner.hpp"

#include "backends/pcap/pcap_backend.hpp"
#include "cli/replay/compare.hpp"
#include "cli/replay/packet.hpp"
#include "cli/replay/rewrite.hpp"
#include "cli/replay/scenario.hpp"
#include "client/client.hpp"
#include "server/stack.hpp"
#include "stack/backend_netif.hpp"

#include <arpa/inet.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <ostream>

namespace culvert::replay {
namespace {

using backends::Frame;

// ---- addresses on the command line ----

struct Addr {
    bool v6 = false;
    Ip4 v4{};
    Ip6 v6addr{};
    uint8_t prefix = 0;
};

std::optional<Addr> parse_addr(std::string_view text) {
    Addr a;
    std::string host(text);
    if (auto slash = text.find('/'); slash != std::string_view::npos) {
        host = std::string(text.substr(0, slash));
        unsigned p = 0;
        auto s = text.substr(slash + 1);
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), p);
        if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
        a.prefix = static_cast<uint8_t>(std::min(p, 255u));
    }
    if (inet_pton(AF_INET, host.c_str(), a.v4.data()) == 1) {
        if (a.prefix == 0) a.prefix = 24;
        return a.prefix <= 32 ? std::optional(a) : std::nullopt;
    }
    if (inet_pton(AF_INET6, host.c_str(), a.v6addr.data()) == 1) {
        a.v6 = true;
        if (a.prefix == 0) a.prefix = 64;
        return a.prefix <= 128 ? std::optional(a) : std::nullopt;
    }
    return std::nullopt;
}

std::optional<Mac> parse_mac(std::string_view text) {
    Mac m{};
    unsigned v[6];
    if (text.size() != 17 ||
        std::sscanf(std::string(text).c_str(), "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2],
                    &v[3], &v[4], &v[5]) != 6)
        return std::nullopt;
    for (int i = 0; i < 6; ++i) m[i] = static_cast<uint8_t>(v[i]);
    return m;
}

std::pair<std::string_view, std::string_view> split_eq(std::string_view s) {
    auto eq = s.find('=');
    if (eq == std::string_view::npos) return {s, s};
    return {s.substr(0, eq), s.substr(eq + 1)};
}

// ---- the backend culvert's stack sees ----

// Wraps the pcap backend that plays the peer's frames. On the way in, peer frames get this
// run's ports and sequence numbers, and each waits until culvert has sent as many frames
// as preceded it in the recording (the capture's order within a millisecond is causal:
// the peer's ACK of a FIN comes after the FIN). On the way out, culvert's frames are
// recorded with the virtual time and teach the mapper.
class ReplayTap final : public backends::PacketBackend {
  public:
    ReplayTap(std::unique_ptr<backends::PcapBackend> inner, std::vector<size_t> sent_before,
              FlowMapper& mapper, const uint64_t& now_ms, std::optional<backends::PcapWriter> output)
        : inner_(std::move(inner)),
          sent_before_(std::move(sent_before)),
          mapper_(mapper),
          now_ms_(now_ms),
          output_(std::move(output)) {}
    std::string_view name() const override { return inner_->name(); }
    backends::MacAddress mac() const override { return inner_->mac(); }
    backends::BackendCaps caps() const override { return inner_->caps(); }
    int pollable_fd() const override { return -1; }
    backends::BackendStats stats() const override { return inner_->stats(); }

    size_t rx_burst(std::span<Frame> frames) override {
        // How many of the due frames may go now (the inner backend knows which are due).
        size_t allowed = 0;
        const size_t due = std::min(frames.size(), due_now());
        while (allowed < due && (sent_before_[delivered_ + allowed] <= sent_.size() || force_)) {
            ++allowed;
            force_ = false;
        }
        const size_t n = inner_->rx_burst(frames.first(allowed));
        slots_.resize(std::max(slots_.size(), n));
        for (size_t i = 0; i < n; ++i) {
            const auto* p = reinterpret_cast<const uint8_t*>(frames[i].data);
            slots_[i].assign(p, p + frames[i].len);
            mapper_.rewrite_peer_frame(slots_[i]);
            frames[i] = Frame{reinterpret_cast<std::byte*>(slots_[i].data()),
                              static_cast<uint16_t>(slots_[i].size())};
        }
        delivered_ += n;
        return n;
    }
    size_t tx_burst(std::span<const Frame> frames) override {
        for (const Frame& f : frames) {
            const auto* p = reinterpret_cast<const uint8_t*>(f.data);
            mapper_.on_culvert_frame(ByteView(p, f.len));
            const uint64_t t = stamps_.stamp(now_ms_ * 1000);
            sent_.push_back(TimedFrame{t, Bytes(p, p + f.len)});
            if (output_) output_->write(t, std::span(f.data, f.len));
        }
        return frames.size();
    }

    // Frames due by now that wait for culvert: true if one was released regardless (culvert
    // did not send what it sent in the recording; the comparison will say so).
    bool release_one() {
        if (due_now() == 0) return false;
        force_ = true;
        return true;
    }
    std::optional<uint64_t> next_due_ms() const {
        auto us = inner_->next_due_us();
        if (!us) return std::nullopt;
        return *us / 1000;  // stack time is whole milliseconds: the frame's own one
    }
    uint64_t activity() const { return delivered_ + sent_.size(); }
    const std::vector<TimedFrame>& sent() const { return sent_; }
    bool flush_output() { return !output_ || output_->flush(); }

  private:
    // Input frames due by now (in time order, so a prefix of what is left).
    size_t due_now() const {
        size_t n = 0;
        while (delivered_ + n < due_ms_.size() && due_ms_[delivered_ + n] <= now_ms_) ++n;
        return n;
    }

  public:
    std::vector<uint64_t> due_ms_;  // per input frame, filled by the driver

  private:
    std::unique_ptr<backends::PcapBackend> inner_;
    std::vector<size_t> sent_before_;
    FlowMapper& mapper_;
    const uint64_t& now_ms_;
    std::optional<backends::PcapWriter> output_;
    backends::OrderedStamps stamps_;
    std::vector<Bytes> slots_;
    size_t delivered_ = 0;
    bool force_ = false;
    std::vector<TimedFrame> sent_;
};

struct Driver {
    uint64_t now_ms = 0;
    server::Stack* stack = nullptr;
    uint64_t hook_calls = 0;
};
Driver* g_driver = nullptr;

// Where the client library would block (a control reply), run the stack at the same
// virtual time; a call that cannot complete gives up instead of spinning for ever.
bool idle_hook(void*) {
    g_driver->stack->step(0);
    return ++g_driver->hook_calls < 1'000'000;
}

// For a client app without at=: the time its first frame left in the recording (the SYN
// to its target, or the ARP/ND lookup of the target just before it).
std::optional<uint64_t> derive_start_ms(const std::vector<TimedFrame>& expected, const Endpoint& to) {
    for (size_t i = 0; i < expected.size(); ++i) {
        const auto& f = expected[i].bytes;
        auto l = parse_layout(f);
        if (!l || !l->has_l4 || l->fragment || l->proto != kProtoTcp || l->l4_len < 20) continue;
        const bool syn = (f[l->l4 + 13] & 0x12) == 0x02;
        const bool to_target = l->ipv6 == to.v6 && read16(f, l->l4 + 2) == to.port &&
                               std::memcmp(f.data() + (l->ipv4 ? l->l3 + 16 : l->l3 + 24),
                                           to.address.data(), to.v6 ? 16 : 4) == 0;
        if (!syn || !to_target) continue;
        uint64_t t = expected[i].t_us;
        for (size_t j = i; j-- > 0;) {
            const auto& g = expected[j].bytes;
            auto m = parse_layout(g);
            if (!m) break;
            bool lookup = false;
            if (m->arp && read16(g, m->l3 + 6) == 1 && !to.v6)
                lookup = std::memcmp(g.data() + m->l3 + 24, to.address.data(), 4) == 0;
            if (m->ipv6 && m->has_l4 && m->proto == kProtoIcmpv6 && m->l4_len >= 24 && g[m->l4] == 135 && to.v6)
                lookup = std::memcmp(g.data() + m->l4 + 8, to.address.data(), 16) == 0;
            if (!lookup) break;
            t = expected[j].t_us;
        }
        return t / 1000;
    }
    return std::nullopt;
}

std::vector<TimedFrame> relative(const std::vector<backends::PcapFrame>& frames, uint64_t base_us) {
    std::vector<TimedFrame> out;
    out.reserve(frames.size());
    for (const auto& f : frames) {
        const auto* p = reinterpret_cast<const uint8_t*>(f.bytes.data());
        out.push_back(TimedFrame{f.ts_us - base_us, Bytes(p, p + f.bytes.size())});
    }
    return out;
}

}  // namespace

int run_replay(const ReplayOptions& o, std::ostream& out, std::ostream& err) {
    const auto bad = [&](const std::string& message) {
        err << "culvert replay: " << message << "\n";
        return kReplayBadInput;
    };
    out << "culvert replay: seed " << o.seed << ", app " << o.app << ", input " << o.input
        << (o.expect ? ", expect " + *o.expect : std::string()) << "\n";

    backends::PcapReadLimits limits;
    // Frames longer than culvert's MTU are still read (a smaller --mtu is a change to
    // test: culvert drops them); longer than any Ethernet frame at that MTU is bad input.
    limits.max_frame_bytes = std::max<size_t>(o.mtu, 1500) + 18;
    auto input = backends::read_pcap_file(o.input, limits);
    if (!input) return bad(input.error().describe());
    std::vector<backends::PcapFrame> expect_frames;
    if (o.expect) {
        auto e = backends::read_pcap_file(*o.expect, limits);
        if (!e) return bad(e.error().describe());
        expect_frames = std::move(*e);
    }
    auto app = make_app(o.app);
    if (!app) return bad(app.error());
    std::optional<backends::BpfFilter> filter;
    if (o.compare_filter) {
        auto f = backends::BpfFilter::compile(*o.compare_filter);
        if (!f) return bad("--compare-filter: " + f.error());
        filter = std::move(*f);
    }

    uint64_t earliest = UINT64_MAX;
    if (!input->empty()) earliest = input->front().ts_us;
    if (!expect_frames.empty()) earliest = std::min(earliest, expect_frames.front().ts_us);
    const uint64_t base_us = earliest == UINT64_MAX ? 0 : backends::capture_time_base_us(earliest);
    auto peer = relative(*input, base_us);
    auto expected = relative(expect_frames, base_us);

    // Culvert's side: from --as/--mac, else from the recorded answer.
    AddressMap map;
    Side side;
    std::vector<Addr> culvert_addrs;
    for (const auto& spec : o.as) {
        auto [from_text, to_text] = split_eq(spec);
        auto from = parse_addr(from_text), to = parse_addr(to_text);
        if (!from || !to || from->v6 != to->v6)
            return bad("--as " + spec + ": expected ADDR[/N] or ADDR[/N]=NEWADDR[/N] (both IPv4 or both IPv6)");
        culvert_addrs.push_back(*to);
        if (to->v6) {
            side.ipv6.push_back(to->v6addr);
            if (from->v6addr != to->v6addr) map.ipv6.emplace_back(from->v6addr, to->v6addr);
        } else {
            side.ipv4.push_back(to->v4);
            if (from->v4 != to->v4) map.ipv4.emplace_back(from->v4, to->v4);
        }
    }
    std::optional<Mac> recorded_mac;
    Mac culvert_mac{};
    if (o.mac) {
        auto [from_text, to_text] = split_eq(*o.mac);
        auto from = parse_mac(from_text), to = parse_mac(to_text);
        if (!from || !to) return bad("--mac " + *o.mac + ": expected MAC or MAC=NEWMAC (aa:bb:cc:dd:ee:ff)");
        recorded_mac = *from;
        culvert_mac = *to;
        if (*from != *to) map.macs.emplace_back(*from, *to);
    } else if (!expected.empty()) {
        std::memcpy(culvert_mac.data(), expected.front().bytes.data() + 6, 6);
        recorded_mac = culvert_mac;
    } else {
        return bad("--mac is needed when there is no --expect to take culvert's MAC from");
    }
    for (const auto& spec : o.maps) {
        auto [from_text, to_text] = split_eq(spec);
        if (from_text == spec) return bad("--map " + spec + ": expected OLD=NEW");
        if (auto a = parse_mac(from_text), b = parse_mac(to_text); a && b) {
            map.macs.emplace_back(*a, *b);
            continue;
        }
        auto a = parse_addr(from_text), b = parse_addr(to_text);
        if (!a || !b || a->v6 != b->v6) return bad("--map " + spec + ": expected two MACs, IPv4 or IPv6 addresses");
        if (a->v6) map.ipv6.emplace_back(a->v6addr, b->v6addr);
        else map.ipv4.emplace_back(a->v4, b->v4);
    }
    map.complete();
    for (auto& f : peer) map.apply(f.bytes);
    for (auto& f : expected) map.apply(f.bytes);
    side.mac = culvert_mac;
    if (o.as.empty()) {
        // Culvert's addresses are the sources of its recorded frames.
        for (const auto& f : expected) {
            auto l = parse_layout(f.bytes);
            if (!l) continue;
            if (l->ipv4) {
                Ip4 a;
                std::memcpy(a.data(), f.bytes.data() + l->l3 + 12, 4);
                if (std::find(side.ipv4.begin(), side.ipv4.end(), a) == side.ipv4.end() && a != Ip4{}) {
                    side.ipv4.push_back(a);
                    Addr x;
                    x.v4 = a;
                    x.prefix = 24;
                    culvert_addrs.push_back(x);
                }
            } else if (l->ipv6) {
                Ip6 a;
                std::memcpy(a.data(), f.bytes.data() + l->l3 + 8, 16);
                const bool link_local = a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
                if (!link_local && a != Ip6{} && std::find(side.ipv6.begin(), side.ipv6.end(), a) == side.ipv6.end()) {
                    side.ipv6.push_back(a);
                    Addr x;
                    x.v6 = true;
                    x.v6addr = a;
                    x.prefix = 64;
                    culvert_addrs.push_back(x);
                }
            }
        }
        if (culvert_addrs.empty())
            return bad("cannot tell culvert's addresses: give --as ADDR (no --expect, or it has no IP frames)");
    }

    stack::NetifConfig nc;
    nc.make_default = true;
    nc.mtu = o.mtu;
    for (const Addr& a : culvert_addrs) {
        if (a.v6) {
            if (nc.ipv6.size() == 3) return bad("at most 3 IPv6 addresses for culvert's side");
            nc.ipv6.push_back(a.v6addr);
        } else {
            if (nc.ipv4) return bad("at most one IPv4 address for culvert's side");
            nc.ipv4 = stack::Ipv4Config{a.v4, a.prefix, std::nullopt};
        }
    }

    FlowMapper mapper(side);
    {
        std::vector<Bytes> peer_bytes;
        peer_bytes.reserve(peer.size());
        for (const auto& f : peer) peer_bytes.push_back(f.bytes);
        mapper.learn_recorded(peer_bytes);
    }
    if (!app.value()->start_ms) {
        if (auto to = app.value()->target()) {
            auto t = derive_start_ms(expected, *to);
            app.value()->start_ms = t.value_or(0);
        } else {
            app.value()->start_ms = 0;
        }
    }

    // The stack and its wire.
    static Driver driver;  // the idle hook outlives this call in the process-wide client
    g_driver = &driver;
    driver.now_ms = 0;
    std::error_code ec;
    char dir_template[] = "/tmp/culvert-replay-XXXXXX";
    if (!mkdtemp(dir_template)) return bad(std::string("mkdtemp: ") + std::strerror(errno));
    const std::string dir = dir_template;
    struct Cleanup {
        std::string dir;
        ~Cleanup() {
            std::error_code ec;
            std::filesystem::remove_all(dir, ec);
        }
    } cleanup{dir};
    server::StackSettings settings;
    settings.socket_path = dir + "/culvertd.sock";
    settings.segment_bytes = 64u << 20;
    settings.seed = o.seed;
    settings.clock_ms = [] { return g_driver->now_ms; };
    auto stack = server::Stack::create(settings);
    if (!stack) {
        err << "culvert replay: " << stack.error() << "\n";
        return kReplayFailed;
    }
    driver.stack = stack->get();

    backends::PcapBackendConfig pc;
    pc.name = "replay";
    std::copy(culvert_mac.begin(), culvert_mac.end(), pc.mac.begin());
    pc.mtu = o.mtu;
    for (const auto& f : peer) {
        backends::PcapFrame pf;
        pf.ts_us = f.t_us;
        const auto* p = reinterpret_cast<const std::byte*>(f.bytes.data());
        pf.bytes.assign(p, p + f.bytes.size());
        pc.input.push_back(std::move(pf));
    }
    pc.base_us = 0;
    // A frame is due in the stack millisecond it was seen in (stack time is the floor of
    // real time): the whole millisecond counts as now.
    pc.clock_us = [] { return g_driver->now_ms * 1000 + 999; };
    std::optional<backends::PcapWriter> output;
    if (o.output) {
        auto w = backends::PcapWriter::open(*o.output);
        if (!w) return bad("--output: " + w.error());
        output = std::move(*w);
    }
    auto pcap = backends::PcapBackend::open(std::move(pc));
    if (!pcap) {
        err << "culvert replay: " << pcap.error().message << "\n";
        return kReplayFailed;
    }
    // For each peer frame, how many frames culvert had sent before it in the recording.
    std::vector<size_t> sent_before;
    std::vector<uint64_t> due_ms;
    for (const auto& f : peer) {
        sent_before.push_back(static_cast<size_t>(
            std::lower_bound(expected.begin(), expected.end(), f.t_us,
                             [](const TimedFrame& e, uint64_t t) { return e.t_us < t; }) -
            expected.begin()));
        due_ms.push_back(f.t_us / 1000);
    }
    auto tap_owned = std::make_unique<ReplayTap>(std::move(*pcap), std::move(sent_before), mapper,
                                                 driver.now_ms, std::move(output));
    tap_owned->due_ms_ = std::move(due_ms);
    ReplayTap& tap = *tap_owned;
    if (auto r = (*stack)->add_interface(std::move(tap_owned), nc); !r) return bad(r.error());

    setenv("CULVERT_SOCKET", settings.socket_path.c_str(), 1);
    auto& client = client::Client::instance();
    client.set_idle_hook(&idle_hook, nullptr);

    uint64_t last_us = 0;
    if (!peer.empty()) last_us = peer.back().t_us;
    if (!expected.empty()) last_us = std::max(last_us, expected.back().t_us);
    const uint64_t end_ms = o.duration_ms ? *o.duration_ms : last_us / 1000 + o.tolerance_ms;

    bool started = false;
    std::optional<std::string> app_note;
    uint64_t next_timer = UINT64_MAX;
    for (;;) {
        // Run everything that happens at this millisecond until nothing more does.
        driver.hook_calls = 0;
        int quiet = 0;
        for (int round = 0; quiet < 2; ++round) {
            if (round > 100000) {
                err << "culvert replay: the stack does not settle at " << driver.now_ms << " ms\n";
                return kReplayFailed;
            }
            const uint64_t before = tap.activity();
            next_timer = (*stack)->step(0);
            bool progress = false;
            if (!started && driver.now_ms >= *app.value()->start_ms) {
                started = true;
                progress = true;
                if (auto r = app.value()->start(client); !r) app_note = r.error();
            }
            // The app does all it can before the stack runs again, as a live program that
            // is quicker than culvertd's next wake-up does.
            while (started && !app_note && app.value()->poll(client)) {
                progress = true;
                if (auto f = app.value()->failure()) app_note = *f;
            }
            quiet = (progress || tap.activity() != before) ? 0 : quiet + 1;
            // Quiet, but a peer frame still waits for culvert: let it go.
            if (quiet == 2 && tap.release_one()) quiet = 0;
        }
        uint64_t next = next_timer;
        if (auto due = tap.next_due_ms()) next = std::min(next, *due);
        if (!started) next = std::min(next, *app.value()->start_ms);
        if (next == UINT64_MAX || next > end_ms) break;
        driver.now_ms = std::max(next, driver.now_ms + 1);
    }
    client.set_idle_hook(nullptr, nullptr);
    const bool output_ok = tap.flush_output();
    if (app_note) out << "culvert replay: note: the app stopped: " << *app_note << "\n";
    if (o.verbose)
        for (const auto& line : mapper.describe()) out << "culvert replay: " << line << "\n";

    std::vector<TimedFrame> got;
    std::vector<Bytes> got_mapped;
    for (const auto& f : tap.sent()) {
        if (f.t_us / 1000 > end_ms) break;  // after the recording ended: nothing to compare with
        if (filter && !filter->matches(std::as_bytes(std::span(f.bytes)))) continue;
        got.push_back(f);
        got_mapped.push_back(f.bytes);
        mapper.unmap_culvert_frame(got_mapped.back());
    }
    if (o.verbose)
        for (size_t i = 0; i < got.size(); ++i)
            out << "  " << (i + 1) << "  " << format_time(got[i].t_us) << "  " << summarize(got[i].bytes) << "\n";
    if (!output_ok) err << "culvert replay: writing " << *o.output << " failed\n";
    if (!o.expect) {
        out << "culvert replay: culvert sent " << got.size() << " frames for " << peer.size()
            << " input frames" << (o.output ? " (written to " + *o.output + ")" : "") << "\n";
        return output_ok ? kReplayEqual : kReplayFailed;
    }
    if (filter)
        std::erase_if(expected, [&](const TimedFrame& f) { return !filter->matches(std::as_bytes(std::span(f.bytes))); });
    CompareOptions co;
    co.time_tolerance_us = o.tolerance_ms * 1000;
    if (auto d = compare_runs(expected, got, got_mapped, co)) {
        out << "culvert replay: DIFFERENT: " << format_difference(*d);
        out << "culvert replay: reproduce with: " << o.command_line << "\n";
        return kReplayDiffers;
    }
    out << "culvert replay: equal: " << got.size() << " frames match " << *o.expect << "\n";
    return kReplayEqual;
}

namespace {
std::atomic<bool> g_live_stop{false};
void on_live_signal(int) { g_live_stop.store(true); }
}  // namespace

int run_live(const std::string& spec, const std::optional<std::string>& socket, std::ostream& err) {
    auto app = make_app(spec);
    if (!app) {
        err << "culvert replay: " << app.error() << "\n";
        return kReplayBadInput;
    }
    if (socket) setenv("CULVERT_SOCKET", socket->c_str(), 1);
    struct sigaction sa {};
    sa.sa_handler = on_live_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    auto& c = client::Client::instance();
    if (auto r = (*app)->start(c); !r) {
        err << "culvert replay --live: " << r.error() << "\n";
        return kReplayDiffers;
    }
    while (!g_live_stop.load() && !(*app)->finished()) {
        while ((*app)->poll(c) && !(*app)->failure()) {
        }
        if (auto f = (*app)->failure()) {
            err << "culvert replay --live: " << *f << "\n";
            return kReplayDiffers;
        }
        std::vector<pollfd> fds;
        (*app)->wait_set(fds);
        ::poll(fds.data(), fds.size(), 100);
    }
    return kReplayEqual;
}

}  // namespace culvert::replay
