// Shared scenario pieces (common.hpp).
#include "sim/scenarios/common.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <algorithm>
#include <cstring>
#include <map>

namespace culvert::sim::scenarios {

namespace {

double uniform(Rng& rng, double hi) {
    return static_cast<double>(rng.below(1'000'000)) / 1e6 * hi;
}

}  // namespace

LinkConfig random_link(Rng& rng, const ImpairmentLimits& lim) {
    LinkConfig l;
    l.latency_ns = rng.log_range(10'000, 20 * kMs);
    switch (rng.below(8)) {
        case 0:
            break;  // clean
        case 1:
            l.loss = uniform(rng, lim.max_loss);
            break;
        case 2:
            l.jitter_ns = rng.log_range(1'000, 10 * kMs);
            l.reorder = uniform(rng, lim.max_reorder);
            l.reorder_delay_ns = rng.log_range(100'000, 20 * kMs);
            break;
        case 3:
            l.duplicate = uniform(rng, lim.max_duplicate);
            break;
        case 4:
            l.corrupt = uniform(rng, lim.max_corrupt);
            break;
        case 5:
            l.bandwidth_bps = rng.log_range(1'000'000, 1'000'000'000);
            l.queue_ns = rng.log_range(1 * kMs, 100 * kMs);
            break;
        case 6:
            break;  // partitions only (below)
        default:
            l.loss = uniform(rng, lim.max_loss / 2);
            l.duplicate = uniform(rng, lim.max_duplicate / 2);
            l.reorder = uniform(rng, lim.max_reorder / 2);
            l.corrupt = uniform(rng, lim.max_corrupt / 2);
            l.jitter_ns = rng.log_range(1'000, 5 * kMs);
            if (rng.chance(0.5)) {
                l.bandwidth_bps = rng.log_range(5'000'000, 1'000'000'000);
                l.queue_ns = rng.log_range(5 * kMs, 100 * kMs);
            }
            break;
    }
    return l;
}

void impair_all(World& world, Rng& rng, const ImpairmentLimits& lim, bool symmetric_cuts) {
    const int n = world.nodes();
    for (int a = 0; a < n; ++a)
        for (int b = 0; b < n; ++b)
            if (a != b) world.wire().link(a, b) = random_link(rng, lim);
    for (int a = 0; a < n; ++a) {
        for (int b = a + 1; b < n; ++b) {
            if (!rng.chance(0.25)) continue;
            const int cuts =
                static_cast<int>(rng.range(1, static_cast<uint64_t>(lim.max_partitions)));
            std::vector<Interval> down;
            for (int c = 0; c < cuts; ++c) {
                const uint64_t start = rng.below(lim.partitions_before_ns);
                down.push_back({start, start + rng.log_range(1 * kMs, lim.max_partition_ns)});
            }
            world.wire().link(a, b).down = down;
            if (symmetric_cuts) world.wire().link(b, a).down = down;
        }
    }
    for (int a = 0; a < n; ++a)
        for (int b = 0; b < n; ++b)
            if (a != b)
                world.note("link " + std::to_string(a) + ">" + std::to_string(b) + " " +
                           describe(world.wire().link(a, b)));
}

std::string describe(const LinkConfig& l) {
    char b[256];
    std::snprintf(
        b, sizeof b,
        "lat=%lluus jit=%lluus bw=%llu q=%lluus loss=%.4f dup=%.4f reo=%.4f/%lluus cor=%.4f",
        static_cast<unsigned long long>(l.latency_ns / 1000),
        static_cast<unsigned long long>(l.jitter_ns / 1000),
        static_cast<unsigned long long>(l.bandwidth_bps),
        static_cast<unsigned long long>(l.queue_ns / 1000), l.loss, l.duplicate, l.reorder,
        static_cast<unsigned long long>(l.reorder_delay_ns / 1000), l.corrupt);
    std::string s = b;
    for (const auto& d : l.down)
        s += " down=" + std::to_string(d.start_ns / kMs) + "-" + std::to_string(d.end_ns / kMs) +
             "ms";
    return s;
}

// --- leaks ---

std::vector<nlohmann::json> baseline(World& world) {
    std::vector<nlohmann::json> b;
    for (int i = 0; i < world.nodes(); ++i) b.push_back(world.status(i));
    return b;
}

namespace {

// The first difference from the baseline that counts as held resources, or "".
std::string held(const nlohmann::json& now, const nlohmann::json& base, bool killed) {
    auto differs = [](const nlohmann::json& a, const nlohmann::json& b) { return a != b; };
    for (const char* key : {"sockets", "orphans"})
        if (differs(now[key], base[key])) return std::string(key) + "=" + now[key].dump();
    if (differs(now["segment_bytes_in_use"], base["segment_bytes_in_use"]))
        return "segment_bytes_in_use=" + now["segment_bytes_in_use"].dump();
    if (killed && now["clients"] != 0)
        return "clients=" + now["clients"].dump() + " after the client was killed";
    for (const char* key : {"tcp_pcbs", "tcp_listen_pcbs", "udp_pcbs", "tcp_segs", "pbuf_pool",
                            "pbuf_ref", "heap_bytes"})
        if (differs(now["lwip"][key], base["lwip"][key]))
            return std::string("lwip.") + key + "=" + now["lwip"][key].dump();
    for (const auto& [pool, used] : now["lwip_stats"]["pools"].items())
        if (differs(used, base["lwip_stats"]["pools"][pool]))
            return "pool " + pool + "=" + used.dump();
    return {};
}

}  // namespace

bool wait_until_released(World& world, const std::vector<nlohmann::json>& base, uint64_t max_ns) {
    return world.run_until(world.now_ns() + max_ns, [&] {
        for (int i = 0; i < world.nodes(); ++i) {
            culvert_sim_node_resources r;
            world.api(i).resources(&r);
            const auto& b = base[static_cast<size_t>(i)]["lwip_stats"];
            uint64_t base_items = 0;
            for (const auto& [pool, used] : b["pools"].items()) base_items += used.get<uint64_t>();
            if (r.pool_items != base_items || r.heap_bytes != b["heap_bytes"].get<uint64_t>())
                return false;
        }
        return true;
    });
}

void check_released(World& world, const std::vector<nlohmann::json>& base,
                    const std::vector<bool>& killed) {
    for (int i = 0; i < world.nodes(); ++i) {
        const auto now = world.status(i);
        const bool k = static_cast<size_t>(i) < killed.size() && killed[static_cast<size_t>(i)];
        const std::string h = held(now, base[static_cast<size_t>(i)], k);
        if (!h.empty()) {
            world.note("node " + std::to_string(i) + " status " + now.dump());
            world.fail(Verdict::correctness,
                       "node " + std::to_string(i) + " still holds " + h + " after teardown");
            return;
        }
    }
}

// --- stream programs ---

namespace {

constexpr size_t kHeaderBytes = 8;
constexpr uint32_t kHeaderMagic = 0x43565354;  // "CVST"

uint64_t up_key(const StreamPlan& plan, uint32_t id) {
    return plan.key * 1000003 + id * 2;
}
uint64_t down_key(const StreamPlan& plan, uint32_t id) {
    return plan.key * 1000003 + id * 2 + 1;
}

// One connection seen from one side.
struct Conn {
    int fd = -1;
    const ConnPlan* plan = nullptr;  // the server learns it from the header
    bool client = false;
    uint64_t out_key = 0, in_key = 0, out_total = 0, in_total = 0;
    uint64_t sent = 0, received = 0;
    uint8_t header[kHeaderBytes] = {};
    size_t header_done = 0;
    bool connecting = false;
    bool out_done = false;  // shutdown(SHUT_WR) or close sent
    bool in_eof = false;
    bool closed = false;
    bool done() const { return closed; }
};

class Side {
  public:
    Side(Process& p, StreamPlan& plan, StreamTotals& totals, bool client)
        : p_(p),
          plan_(plan),
          totals_(totals),
          client_(client),
          buf_(std::max<uint64_t>(plan.max_chunk, 8192)) {}

    void set_plan(Conn& c, const ConnPlan& cp) {
        c.plan = &cp;
        c.out_key = client_ ? up_key(plan_, cp.id) : down_key(plan_, cp.id);
        c.in_key = client_ ? down_key(plan_, cp.id) : up_key(plan_, cp.id);
        c.out_total = client_ ? cp.up_bytes : cp.down_bytes;
        c.in_total = client_ ? cp.down_bytes : cp.up_bytes;
        if (client_) {
            std::memcpy(c.header, &cp.id, 4);
            std::memcpy(c.header + 4, &kHeaderMagic, 4);
        }
    }

    std::string who(const Conn& c) const {
        return "conn " + (c.plan ? std::to_string(c.plan->id) : std::string("?")) + " (" +
               p_.sock(c.fd) + ")";
    }

    bool closes_early(const Conn& c) const {
        return c.plan && (client_ ? c.plan->client_closes_early : c.plan->server_closes_early);
    }

    void think() {
        if (plan_.think_max_ns && p_.rng().chance(0.2))
            p_.sleep(p_.rng().below(plan_.think_max_ns));
    }

    // The header travels first on the client->server direction.
    bool header_pending(const Conn& c) const { return c.header_done < kHeaderBytes; }

    // Reads once (non-blocking or blocking). Returns false if the connection ended badly.
    void read_some(Conn& c, bool blocking) {
        if (!client_ && header_pending(c)) {
            const long r = p_.recv(
                c.fd, std::span<uint8_t>(c.header + c.header_done, kHeaderBytes - c.header_done),
                blocking ? MSG_WAITALL : 0);
            if (r == -EAGAIN && !blocking) return spurious(c, "POLLIN");
            if (r == 0) p_.fail(Verdict::correctness, who(c) + ": EOF inside the 8-byte header");
            if (r < 0) p_.fail(Verdict::correctness, who(c) + ": recv: " + std::to_string(r));
            c.header_done += static_cast<size_t>(r);
            if (c.header_done == kHeaderBytes) {
                uint32_t id, magic;
                std::memcpy(&id, c.header, 4);
                std::memcpy(&magic, c.header + 4, 4);
                if (magic != kHeaderMagic || id >= plan_.conns.size())
                    p_.fail(Verdict::correctness,
                            who(c) + ": bad header (id " + std::to_string(id) + ")");
                set_plan(c, plan_.conns[id]);
                p_.log("conn " + std::to_string(id) + " is " + p_.sock(c.fd));
            }
            return;
        }
        const size_t want = chunk(c.in_total);
        std::span<uint8_t> buf(buf_.data(), want);
        if (plan_.peek_sometimes && p_.rng().chance(0.1)) {
            const long r = p_.recv(c.fd, buf, MSG_PEEK | (blocking ? 0 : MSG_DONTWAIT));
            if (r > 0)
                verify(c, std::span<const uint8_t>(buf.data(), static_cast<size_t>(r)), "peeked");
        }
        int flags = 0;
        if (blocking && plan_.waitall_sometimes && p_.rng().chance(0.3)) flags = MSG_WAITALL;
        const long r = p_.recv(c.fd, buf, flags);
        if (r == -EAGAIN && !blocking) return spurious(c, "POLLIN");
        if (r < 0) return expire_or_fail(c, r, "recv");
        if (r == 0) {
            if (c.received != c.in_total)
                p_.fail(Verdict::correctness, who(c) + ": EOF after " + std::to_string(c.received) +
                                                  " of " + std::to_string(c.in_total) + " bytes");
            c.in_eof = true;
            return;
        }
        verify(c, std::span<const uint8_t>(buf.data(), static_cast<size_t>(r)), "received");
        c.received += static_cast<uint64_t>(r);
        totals_.verified_bytes += static_cast<uint64_t>(r);
    }

    // A random call size, from 1/1024 of the transfer up: a big transfer stays a few
    // thousand calls even when the plan's chunks are tiny (and with Nagle and delayed ACKs a
    // byte at a time would take virtual hours).
    size_t chunk(uint64_t total) {
        const uint64_t hi = std::max<uint64_t>(plan_.max_chunk, total / 256);
        const uint64_t lo = std::clamp<uint64_t>(total / 1024, 1, hi);
        return static_cast<size_t>(std::min<uint64_t>(p_.rng().log_range(lo, hi), buf_.size()));
    }

    void verify(const Conn& c, std::span<const uint8_t> data, const char* what) {
        if (c.received + data.size() > c.in_total)
            p_.fail(Verdict::correctness,
                    who(c) + ": " + what + " " + std::to_string(c.received + data.size()) +
                        " bytes, only " + std::to_string(c.in_total) + " were sent");
        const int64_t bad = Pattern::mismatch(c.in_key, c.received, data);
        if (bad >= 0)
            p_.fail(Verdict::correctness, who(c) + ": byte " + std::to_string(bad) + " " + what +
                                              " is not the byte sent");
    }

    void write_some(Conn& c, bool blocking) {
        if (client_ && header_pending(c)) {
            const long r = p_.send(c.fd, std::span<const uint8_t>(c.header + c.header_done,
                                                                  kHeaderBytes - c.header_done));
            if (r == -EAGAIN && !blocking) return spurious(c, "POLLOUT");
            if (r < 0) return expire_or_fail(c, r, "send");
            c.header_done += static_cast<size_t>(r);
            return;
        }
        if (c.sent < c.out_total) {
            const size_t n =
                static_cast<size_t>(std::min<uint64_t>(c.out_total - c.sent, chunk(c.out_total)));
            Pattern::fill(c.out_key, c.sent, std::span<uint8_t>(buf_.data(), n));
            const long r = p_.send(c.fd, std::span<const uint8_t>(buf_.data(), n));
            if (r == -EAGAIN && !blocking) return spurious(c, "POLLOUT");
            if (r <= 0) return expire_or_fail(c, r, "send");
            if (blocking && static_cast<size_t>(r) != n)
                p_.fail(Verdict::correctness, who(c) + ": a blocking send returned " +
                                                  std::to_string(r) + " of " + std::to_string(n));
            c.sent += static_cast<uint64_t>(r);
        }
        if (c.sent == c.out_total && !c.out_done) finish_output(c);
    }

    // All sent: FIN. Close at once if allowed and nothing more can arrive (else RST would be
    // right).
    void finish_output(Conn& c) {
        c.out_done = true;
        if (closes_early(c) && c.received == c.in_total && !header_pending(c)) {
            close(c);
            return;
        }
        if (const int r = p_.shutdown(c.fd, SHUT_WR); r != 0)
            p_.fail(Verdict::correctness, who(c) + ": shutdown failed: " + std::to_string(r));
    }

    void close(Conn& c) {
        if (plan_.watch) p_.unwatch(c.fd);
        if (const int r = p_.close(c.fd); r != 0)
            p_.fail(Verdict::correctness, who(c) + ": close failed: " + std::to_string(r));
        c.closed = true;
        totals_.conns_done++;
    }

    // A reset of a connection the server never accepted is lwIP's half-open expiry (see
    // StreamPlan::expired); anything else failing is a failure.
    void expire_or_fail(Conn& c, long r, const char* what) {
        Endpoint local;
        if (client_ && c.plan && (r == -ECONNRESET || r == -EPIPE) &&
            p_.getsockname(c.fd, &local) == 0 && !plan_.accepted_ports.count(local.port())) {
            p_.log("conn " + std::to_string(c.plan->id) +
                   " reset before the server accepted it (half-open expiry)");
            plan_.expired.insert(c.plan->id);
            totals_.half_open_expired++;
            c.out_done = c.in_eof = true;
            if (plan_.watch) p_.unwatch(c.fd);
            p_.close(c.fd);
            c.closed = true;
            return;
        }
        p_.fail(Verdict::correctness, who(c) + ": " + what + " failed: " + std::to_string(r));
    }

    void spurious(const Conn& c, const char* event) {
        totals_.spurious_wakeups++;
        if (plan_.strict_readiness)
            p_.fail(Verdict::correctness,
                    who(c) + ": poll reported " + event + " but the call returned EAGAIN");
    }

    void established(Conn& c) {
        if (plan_.nodelay) p_.setsockopt_int(c.fd, IPPROTO_TCP, TCP_NODELAY, 1);
        if (plan_.watch) p_.watch(c.fd, true);
    }

    // --- non-blocking: one poll loop over every connection ---
    void event_loop(std::vector<Conn>& conns, int listener, size_t client_conns) {
        size_t accepted = 0;
        auto expected = [&] { return listener >= 0 ? plan_.expected_accepts() : client_conns; };
        std::vector<pollfd> fds;
        std::vector<long>
            owners;  // index into conns (accepting appends: no pointers), -1: listener
        for (;;) {
            const bool all_done =
                (!listener_open(listener) || accepted >= expected()) &&
                std::all_of(conns.begin(), conns.end(), [](const Conn& c) { return c.done(); }) &&
                conns.size() >= expected();
            if (all_done) return;
            fds.clear();
            owners.clear();
            if (listener >= 0 && accepted < expected()) {
                fds.push_back({listener, POLLIN, 0});
                owners.push_back(-1);
            }
            for (size_t k = 0; k < conns.size(); ++k) {
                Conn& c = conns[k];
                if (c.done()) continue;
                short ev = 0;
                if (c.connecting) {
                    ev = POLLOUT;
                } else {
                    if (!c.in_eof) ev |= POLLIN;
                    const bool can_send = client_ || !header_pending(c);
                    if (can_send && !c.out_done &&
                        (header_pending(c) || c.sent < c.out_total || c.out_total == 0))
                        ev |= POLLOUT;
                }
                fds.push_back({c.fd, ev, 0});
                owners.push_back(static_cast<long>(k));
            }
            // With a listener, wake up now and then: a connection may expire unaccepted.
            p_.wait(fds, listener >= 0 ? 1 * kSec : UINT64_MAX);
            for (size_t i = 0; i < fds.size(); ++i) {
                const short re = fds[i].revents;
                if (!re) continue;
                if (owners[i] < 0) {
                    Endpoint peer;
                    const int fd = p_.accept(listener, &peer, SOCK_NONBLOCK);
                    if (fd == -EAGAIN) {
                        spurious(Conn{}, "POLLIN on the listener");
                        continue;
                    }
                    if (fd < 0)
                        p_.fail(Verdict::correctness, "accept failed: " + std::to_string(fd));
                    ++accepted;
                    plan_.accepted_ports.insert(peer.port());
                    Conn c;
                    c.fd = fd;
                    conns.push_back(c);
                    established(conns.back());
                    continue;
                }
                Conn& c = conns[static_cast<size_t>(owners[i])];
                if (c.connecting) {
                    int err = -1;
                    p_.getsockopt_int(c.fd, SOL_SOCKET, SO_ERROR, &err);
                    if (err != 0)
                        p_.fail(Verdict::correctness,
                                who(c) + ": connect failed: SO_ERROR " + std::to_string(err));
                    c.connecting = false;
                    established(c);
                    continue;
                }
                if (re & (POLLIN | POLLHUP | POLLERR)) read_some(c, false);
                if ((re & POLLOUT) && !c.closed && !c.out_done) write_some(c, false);
                if (!c.closed && c.in_eof && c.out_done) close(c);
                think();
            }
        }
    }
    static bool listener_open(int listener) { return listener >= 0; }

  private:
    Process& p_;
    StreamPlan& plan_;
    StreamTotals& totals_;
    bool client_;
    std::vector<uint8_t> buf_;
};

void run_blocking_conn(Side& side, Conn& c, bool client) {
    // Half duplex: the client sends everything then reads; the server reads then sends.
    // (A blocking program that did both at once could deadlock on full windows, as a real one.)
    auto send_all = [&] {
        while (!c.out_done) side.write_some(c, true);
    };
    auto read_all = [&] {
        while (!c.in_eof && !c.closed) side.read_some(c, true);
    };
    if (client) {
        send_all();
        if (!c.closed) read_all();
    } else {
        while (side.header_pending(c)) side.read_some(c, true);
        // Read up to the expected bytes; EOF may only come after the peer's shutdown.
        read_all();
        if (!c.closed) send_all();
    }
    if (!c.closed) side.close(c);
}

}  // namespace

void stream_server(Process& p, StreamPlan& plan, StreamTotals& totals) {
    Side side(p, plan, totals, false);
    const int domain = plan.ipv6 ? AF_INET6 : AF_INET;
    const int l = p.socket(domain, SOCK_STREAM | (plan.server_blocking ? 0 : SOCK_NONBLOCK));
    p.check(l >= 0, "socket failed");
    p.setsockopt_int(l, SOL_SOCKET, SO_REUSEADDR, 1);
    p.check(p.bind(l, Endpoint::of_node(plan.server_node, plan.ipv6, plan.port)) == 0,
            "bind failed");
    p.check(p.listen(l, static_cast<int>(plan.conns.size()) + 1) == 0, "listen failed");
    plan.listening = true;
    std::vector<Conn> conns;
    if (plan.server_blocking) {
        for (size_t accepted = 0; accepted < plan.expected_accepts();) {
            // Blocking accept only once one is waiting: a connection may expire unaccepted.
            if (!(p.wait_for(l, POLLIN, 1 * kSec) & POLLIN)) continue;
            Conn c;
            Endpoint peer;
            c.fd = p.accept(l, &peer);
            p.check(c.fd >= 0, "accept failed: " + std::to_string(c.fd));
            plan.accepted_ports.insert(peer.port());
            ++accepted;
            side.established(c);
            run_blocking_conn(side, c, false);
        }
    } else {
        side.event_loop(conns, l, plan.conns.size());
    }
    p.check(p.close(l) == 0, "closing the listener failed");
}

void stream_client(Process& p, StreamPlan& plan, StreamTotals& totals) {
    Side side(p, plan, totals, true);
    p.wait_until([&] { return plan.listening; });
    const int domain = plan.ipv6 ? AF_INET6 : AF_INET;
    const Endpoint server = Endpoint::of_node(plan.server_node, plan.ipv6, plan.port);
    auto mine = [&](const ConnPlan& cp) {
        return (cp.client_node < 0 ? plan.client_node : cp.client_node) == p.node();
    };
    if (plan.client_blocking) {
        for (const auto& cp : plan.conns) {
            if (!mine(cp)) continue;
            Conn c;
            side.set_plan(c, cp);
            c.fd = p.socket(domain, SOCK_STREAM);
            p.check(c.fd >= 0, "socket failed");
            const int r = p.connect(c.fd, server);
            p.check(r == 0, "connect failed: " + std::to_string(r));
            side.established(c);
            run_blocking_conn(side, c, true);
        }
        return;
    }
    std::vector<Conn> conns;
    for (const auto& cp : plan.conns) {
        if (!mine(cp)) continue;
        Conn c;
        side.set_plan(c, cp);
        c.fd = p.socket(domain, SOCK_STREAM | SOCK_NONBLOCK);
        p.check(c.fd >= 0, "socket failed");
        const int r = p.connect(c.fd, server);
        p.check(r == -EINPROGRESS || r == 0, "connect: " + std::to_string(r));
        c.connecting = r != 0;
        conns.push_back(c);
        if (r == 0) side.established(conns.back());
    }
    side.event_loop(conns, -1, conns.size());
}

StreamPlan random_stream_plan(Rng& rng, int conns, uint64_t max_bytes) {
    StreamPlan plan;
    plan.ipv6 = rng.chance(0.5);
    plan.client_blocking = rng.chance(0.4);
    plan.server_blocking = rng.chance(0.3);
    plan.max_chunk = rng.log_range(1, 256 * 1024);
    plan.nodelay = rng.chance(0.5);
    plan.peek_sometimes = rng.chance(0.3);
    plan.waitall_sometimes = rng.chance(0.3);
    plan.think_max_ns = rng.chance(0.3) ? rng.log_range(100'000, 200 * kMs) : 0;
    plan.key = rng.next();
    plan.port = static_cast<uint16_t>(rng.range(1024, 60000));
    for (int i = 0; i < conns; ++i) {
        ConnPlan c;
        c.id = static_cast<uint32_t>(i);
        c.up_bytes = rng.log_range(0, max_bytes);
        c.down_bytes = rng.log_range(0, max_bytes);
        c.client_closes_early = c.down_bytes == 0 && rng.chance(0.5);
        c.server_closes_early = c.up_bytes == 0 && rng.chance(0.5);
        plan.conns.push_back(c);
    }
    return plan;
}

}  // namespace culvert::sim::scenarios
