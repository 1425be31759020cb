// "teardown": the ways a TCP connection ends, one after another between two nodes under
// mild impairments, each checked against tcp(7): an orderly close (the active closer keeps
// TIME_WAIT; a socket held open past 2 MSL after both FINs still behaves), close with
// unread data (RST; the peer reads ECONNRESET), connect to a closed port (ECONNREFUSED), a
// listener closed with connections waiting (they are reset) and a client process killed
// mid-transfer (the peer sees EOF or a reset after a correct prefix). Then every pcb, pbuf,
// socket and segment byte must be released.
#include "sim/scenarios/common.hpp"
#include "sim/scenarios/scenarios.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cstring>

namespace culvert::sim::scenarios {

namespace {

enum class Kind { orderly, unread_close, refused, listener_close, kill };

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::orderly:
            return "orderly";
        case Kind::unread_close:
            return "unread-close";
        case Kind::refused:
            return "refused";
        case Kind::listener_close:
            return "listener-close";
        case Kind::kill:
            return "kill";
    }
    return "?";
}

struct Case {
    Kind kind = Kind::orderly;
    int server_node = 0;
    uint16_t port = 0;
    bool ipv6 = false;
    bool nonblocking_connect = false;
    bool hold = false;          // orderly: keep the socket 150 s after both FINs, then use it
    uint64_t up = 0, down = 0;  // bytes client->server, server->client
    uint64_t key = 0;
    // Hand-offs between the two halves (a test harness's barrier, not a socket).
    bool ready = false;
    bool connected = false;
    bool server_done = false;
    bool client_done = false;
    uint64_t rst_from_client = 0, rst_from_server = 0;  // RST segments sent on this port
    // culvertd's aborts (counters.tcp_resets_sent) per node when the case ended. A stray
    // segment that meets a closed port is answered with RST by lwIP itself (as by Linux),
    // which is no abort; an orderly close must cause none.
    uint64_t aborts_after[2] = {0, 0};
};

// Keepalive probes every second after 5 idle seconds: a peer whose RST was lost is found
// again (its stack answers the probe with another RST), as a real program would configure.
void fast_keepalive(Process& p, int fd) {
    p.setsockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
    p.setsockopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 5);
    p.setsockopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, 1);
    p.setsockopt_int(fd, IPPROTO_TCP, TCP_KEEPCNT, 10);
}

// Reads until EOF, checking the pattern; returns the bytes read or -errno.
long read_to_eof(Process& p, int fd, uint64_t key, uint64_t expect_max) {
    std::vector<uint8_t> buf(16384);
    uint64_t got = 0;
    for (;;) {
        const long r = p.recv(fd, buf);
        if (r < 0) return r;
        if (r == 0) return static_cast<long>(got);
        p.check(got + static_cast<uint64_t>(r) <= expect_max, "more bytes than were sent");
        p.check(Pattern::mismatch(key, got,
                                  std::span<const uint8_t>(buf.data(), static_cast<size_t>(r))) < 0,
                "a byte arrived changed");
        got += static_cast<uint64_t>(r);
    }
}

void write_all(Process& p, int fd, uint64_t key, uint64_t n) {
    std::vector<uint8_t> buf(16384);
    for (uint64_t off = 0; off < n;) {
        const size_t k = static_cast<size_t>(std::min<uint64_t>(n - off, buf.size()));
        Pattern::fill(key, off, std::span<uint8_t>(buf.data(), k));
        const long r = p.send(fd, std::span<const uint8_t>(buf.data(), k));
        p.check(r > 0, "send failed: " + std::to_string(r));
        off += static_cast<uint64_t>(r);
    }
}

int connect_to(Process& p, Case& c) {
    p.wait_until([&] { return c.ready; });
    const int fd = p.socket(c.ipv6 ? AF_INET6 : AF_INET,
                            SOCK_STREAM | (c.nonblocking_connect ? SOCK_NONBLOCK : 0));
    p.check(fd >= 0, "socket failed");
    const Endpoint to = Endpoint::of_node(c.server_node, c.ipv6, c.port);
    int r = p.connect(fd, to);
    if (c.nonblocking_connect && r == -EINPROGRESS) {
        p.wait_for(fd, POLLOUT);
        int err = 0;
        p.getsockopt_int(fd, SOL_SOCKET, SO_ERROR, &err);
        r = -err;
        if (r == 0) p.set_nonblocking(fd, false);
    }
    if (r != 0) {
        p.check(p.close(fd) == 0, "close failed");
        return r;
    }
    return fd;
}

int listen_on(Process& p, Case& c) {
    const int l = p.socket(c.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM);
    p.check(l >= 0, "socket failed");
    p.setsockopt_int(l, SOL_SOCKET, SO_REUSEADDR, 1);
    p.check(p.bind(l, Endpoint::of_node(c.server_node, c.ipv6, c.port)) == 0, "bind failed");
    p.check(p.listen(l, 4) == 0, "listen failed");
    c.ready = true;
    return l;
}

void server_half(Process& p, Case& c) {
    switch (c.kind) {
        case Kind::orderly: {
            const int l = listen_on(p, c);
            const int s = p.accept(l, nullptr);
            p.check(s >= 0, "accept failed");
            p.close(l);
            const long up = read_to_eof(p, s, c.key, c.up);
            p.check(up == static_cast<long>(c.up),
                    "orderly: read " + std::to_string(up) + " of " + std::to_string(c.up));
            write_all(p, s, c.key + 1, c.down);
            p.check(p.close(s) == 0, "close failed");
            break;
        }
        case Kind::unread_close: {
            const int l = listen_on(p, c);
            const int s = p.accept(l, nullptr);
            p.check(s >= 0, "accept failed");
            p.close(l);
            fast_keepalive(p, s);
            write_all(p, s, c.key, c.down);
            // The client closes with our bytes unread: its stack resets the connection.
            const long r = read_to_eof(p, s, c.key + 1, 0);
            p.check(
                r == -ECONNRESET,
                "unread-close: the peer's reset should read ECONNRESET, got " + std::to_string(r));
            const uint8_t one = 1;
            const long w = p.send(s, std::span<const uint8_t>(&one, 1), MSG_NOSIGNAL);
            p.check(w == -EPIPE || w == -ECONNRESET,
                    "send after a reset should fail with EPIPE, got " + std::to_string(w));
            p.check(p.close(s) == 0, "close failed");
            break;
        }
        case Kind::refused:
            c.ready = true;  // nobody listens on c.port
            break;
        case Kind::listener_close: {
            const int l = listen_on(p, c);
            p.wait_until([&] { return c.connected; });
            p.sleep(10 * kMs);
            p.check(p.close(l) == 0, "close failed");  // the queued connection is reset
            break;
        }
        case Kind::kill:
            break;  // handled in run_kill
    }
    c.server_done = true;
}

void client_half(Process& p, Case& c) {
    switch (c.kind) {
        case Kind::orderly: {
            const int s = connect_to(p, c);
            p.check(s >= 0, "connect failed: " + std::to_string(s));
            write_all(p, s, c.key, c.up);
            p.check(p.shutdown(s, SHUT_WR) == 0, "shutdown failed");
            const long down = read_to_eof(p, s, c.key + 1, c.down);
            p.check(down == static_cast<long>(c.down),
                    "orderly: read " + std::to_string(down) + " of " + std::to_string(c.down));
            if (c.hold) {
                // Both FINs are done: lwIP keeps TIME_WAIT for 2 MSL and then frees the pcb
                // on its own. The socket must stay usable and harmless meanwhile and after.
                p.sleep(150 * kSec);
                int err = -1;
                p.check(p.getsockopt_int(s, SOL_SOCKET, SO_ERROR, &err) == 0 && err == 0,
                        "SO_ERROR after TIME_WAIT");
                uint8_t b[8];
                const long r = p.recv(s, b, MSG_DONTWAIT);
                p.check(r == 0, "recv after EOF should return 0, got " + std::to_string(r));
                const long w = p.send(s, std::span<const uint8_t>(b, 1), MSG_NOSIGNAL);
                p.check(w == -EPIPE,
                        "send after shutdown should fail with EPIPE, got " + std::to_string(w));
            }
            p.check(p.close(s) == 0, "close failed");
            break;
        }
        case Kind::unread_close: {
            const int s = connect_to(p, c);
            p.check(s >= 0, "connect failed: " + std::to_string(s));
            p.wait_for(s, POLLIN);
            p.check(p.fionread(s) > 0, "POLLIN without data");
            p.check(p.close(s) == 0, "close failed");  // with unread data: RST
            break;
        }
        case Kind::refused: {
            const int s = connect_to(p, c);
            p.check(
                s == -ECONNREFUSED,
                "connect to a closed port should fail with ECONNREFUSED, got " + std::to_string(s));
            break;
        }
        case Kind::listener_close: {
            const int s = connect_to(p, c);
            p.check(s >= 0, "connect failed: " + std::to_string(s));
            c.connected = true;
            p.wait_until([&] { return c.server_done; });
            // Our send (retransmitted if lost) meets no connection: RST. As on Linux, the
            // reset's ECONNRESET goes to whichever call comes first; after it, recv reads
            // EOF and send fails.
            const uint8_t one = 1;
            const long w = p.send(s, std::span<const uint8_t>(&one, 1), MSG_NOSIGNAL);
            uint8_t b[8];
            const long r = p.recv(s, b);
            const bool reset_on_send =
                (w == -ECONNRESET || w == -EPIPE) && (r == 0 || r == -ECONNRESET);
            const bool reset_on_recv = w == 1 && r == -ECONNRESET;
            p.check(reset_on_send || reset_on_recv,
                    "a connection reset by a closing listener: send " + std::to_string(w) +
                        ", recv " + std::to_string(r));
            p.check(p.close(s) == 0, "close failed");
            break;
        }
        case Kind::kill:
            break;
    }
    c.client_done = true;
}

// The client process on `victim` dies with a connection open both ways; the survivor reads
// a correct prefix, then EOF or ECONNRESET.
void run_kill(Process& p, Case& c, bool victim, std::vector<bool>& killed) {
    if (!victim) {
        const int l = listen_on(p, c);
        const int s = p.accept(l, nullptr);
        p.check(s >= 0, "accept failed");
        p.close(l);
        p.set_nonblocking(s, true);
        fast_keepalive(p, s);
        std::vector<uint8_t> buf(16384);
        uint64_t got = 0, sent = 0;
        bool reset = false;
        for (;;) {
            if (sent < c.down) {
                const size_t k = static_cast<size_t>(std::min<uint64_t>(c.down - sent, buf.size()));
                Pattern::fill(c.key + 1, sent, std::span<uint8_t>(buf.data(), k));
                const long w = p.send(s, std::span<const uint8_t>(buf.data(), k), MSG_NOSIGNAL);
                if (w > 0)
                    sent += static_cast<uint64_t>(w);
                else if (w == -EPIPE || w == -ECONNRESET)
                    reset = true;
                else
                    p.check(w == -EAGAIN, "send failed: " + std::to_string(w));
            }
            const long r = p.recv(s, buf);
            if (r == 0) break;
            if (r == -ECONNRESET) {
                reset = true;
                break;
            }
            if (r > 0) {
                p.check(Pattern::mismatch(
                            c.key, got,
                            std::span<const uint8_t>(buf.data(), static_cast<size_t>(r))) < 0,
                        "kill: a byte arrived changed");
                got += static_cast<uint64_t>(r);
                continue;
            }
            p.check(r == -EAGAIN, "recv failed: " + std::to_string(r));
            if (reset) break;
            p.wait_for(s, sent < c.down ? POLLIN | POLLOUT : POLLIN);
        }
        p.check(got <= c.up, "kill: more bytes than were sent");
        p.log("survivor read " + std::to_string(got) + " bytes, " + (reset ? "reset" : "EOF"));
        p.close(s);
        return;
    }
    const int s = connect_to(p, c);
    p.check(s >= 0, "connect failed: " + std::to_string(s));
    p.set_nonblocking(s, true);
    std::vector<uint8_t> buf(16384);
    uint64_t sent = 0;
    // Write some, let some arrive, then die (the stacks carry on without this process).
    const uint64_t die_after = c.up / 2;
    while (sent < die_after) {
        const size_t k = static_cast<size_t>(std::min<uint64_t>(die_after - sent, buf.size()));
        Pattern::fill(c.key, sent, std::span<uint8_t>(buf.data(), k));
        const long w = p.send(s, std::span<const uint8_t>(buf.data(), k));
        if (w > 0)
            sent += static_cast<uint64_t>(w);
        else
            p.wait_for(s, POLLOUT);
    }
    p.sleep(p.rng().log_range(1, 200) * kMs);
    p.log("killed");
    p.world().api(p.node()).kill_client();
    killed[static_cast<size_t>(p.node())] = true;
}

}  // namespace

void teardown(ScenarioContext& ctx) {
    Rng& rng = ctx.rng();
    WorldConfig cfg = ctx.config();
    cfg.nodes = 2;
    World* w = ctx.make_world(cfg);
    if (!w) return;
    ImpairmentLimits lim;
    lim.max_loss = 0.05;
    lim.max_partition_ns = 5 * kSec;
    lim.partitions_before_ns = 30 * kSec;
    impair_all(*w, rng, lim);
    const auto base = baseline(*w);

    std::vector<Case> cases;
    const int n = static_cast<int>(rng.range(1, 4));
    for (int i = 0; i < n; ++i) {
        Case c;
        c.kind = static_cast<Kind>(rng.below(4));  // kill comes last, if at all
        if (i == 0 && rng.chance(0.3)) {
            c.kind = Kind::orderly;
            c.hold = true;
        }
        cases.push_back(c);
    }
    if (rng.chance(0.3)) cases.push_back(Case{Kind::kill});
    for (size_t i = 0; i < cases.size(); ++i) {
        Case& c = cases[i];
        c.server_node = static_cast<int>(rng.below(2));
        c.port = static_cast<uint16_t>(10000 + i);
        c.ipv6 = rng.chance(0.5);
        c.nonblocking_connect = rng.chance(0.5);
        c.up = rng.log_range(0, 64 * 1024);
        c.down = rng.log_range(1, 64 * 1024);
        c.key = rng.next();
        w->note(std::string("case ") + std::to_string(i) + " " + kind_name(c.kind) +
                (c.hold ? " hold" : "") + " server=node" + std::to_string(c.server_node) +
                " port=" + std::to_string(c.port));
    }
    w->observe_wire([&](const WireEvent& e) {
        if (e.info->l4 != L4::tcp || !e.info->has_l4 || e.duplicate) return;
        if (!(e.info->tcp_flags & kTcpRst)) return;
        for (auto& c : cases) {
            if (e.info->src_port == c.port) c.rst_from_server++;
            if (e.info->dst_port == c.port) c.rst_from_client++;
        }
    });
    std::vector<bool> killed(2, false);
    const int victim = static_cast<int>(rng.below(2));
    for (int node = 0; node < 2; ++node) {
        w->spawn(node, "node" + std::to_string(node), [&, node](Process& p) {
            for (auto& c : cases) {
                if (c.kind == Kind::kill) {
                    c.server_node = 1 - victim;
                    run_kill(p, c, node == victim, killed);
                    continue;
                }
                if (node == c.server_node)
                    server_half(p, c);
                else
                    client_half(p, c);
                // The next case starts when both halves of this one are done.
                p.wait_until([&] { return c.server_done && c.client_done; });
                if (node == 0)
                    for (int n = 0; n < 2; ++n)
                        c.aborts_after[n] =
                            p.world().status(n)["counters"]["tcp_resets_sent"].get<uint64_t>();
            }
        });
    }
    if (!w->run()) return;
    for (size_t i = 0; i < cases.size(); ++i) {
        const Case& c = cases[i];
        for (int n = 0; n < 2; ++n) {
            const uint64_t before =
                i == 0 ? base[static_cast<size_t>(n)]["counters"]["tcp_resets_sent"].get<uint64_t>()
                       : cases[i - 1].aborts_after[n];
            if (c.kind == Kind::orderly && c.aborts_after[n] != before)
                w->fail(Verdict::correctness, "an orderly close made node " + std::to_string(n) +
                                                  " abort (port " + std::to_string(c.port) + ")");
        }
        if (c.kind == Kind::unread_close && c.rst_from_client == 0)
            w->fail(Verdict::correctness,
                    "close with unread data sent no RST (port " + std::to_string(c.port) + ")");
    }
    ctx.summary()["cases"] = cases.size();
    if (w->failure()) return;
    wait_until_released(*w, base, 400 * kSec);
    check_released(*w, base, killed);
}

}  // namespace culvert::sim::scenarios
