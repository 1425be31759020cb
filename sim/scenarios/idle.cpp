// "idle": an established connection with keepalive sits idle for ten virtual minutes (one
// side blocked in recv the whole time), then both sides exchange data and close. Time
// jumps from one lwIP timer to the next, so the ten minutes cost a few thousand steps.
#include "sim/scenarios/common.hpp"
#include "sim/scenarios/scenarios.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cstring>

namespace culvert::sim::scenarios {

void idle(ScenarioContext& ctx) {
    Rng& rng = ctx.rng();
    WorldConfig c = ctx.config();
    c.nodes = 2;
    c.deadline_ns = 900 * kSec;
    World* w = ctx.make_world(c);
    if (!w) return;
    for (int a = 0; a < 2; ++a)
        w->wire().link(a, 1 - a).latency_ns = rng.log_range(10'000, 50 * kMs);
    const uint64_t idle_ns = 600 * kSec;
    const uint16_t port = static_cast<uint16_t>(rng.range(1024, 60000));
    const bool keepidle = rng.chance(0.5);  // probes every 75 s, or lwIP's 2-hour default
    bool listening = false;
    uint64_t idle_started = 0, idle_ended = 0;
    const char hello[] = "hello after ten minutes";
    w->spawn(0, "server", [&](Process& p) {
        const int l = p.socket(AF_INET, SOCK_STREAM);
        p.check(p.bind(l, Endpoint::of_node(0, false, port)) == 0, "bind failed");
        p.check(p.listen(l, 1) == 0, "listen failed");
        listening = true;
        const int s = p.accept(l, nullptr);
        p.check(s >= 0, "accept failed");
        p.close(l);
        char buf[64] = {};
        // Blocked in recv for the whole idle period.
        const long r = p.recv(s, std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf), sizeof hello),
                              MSG_WAITALL);
        p.check(r == static_cast<long>(sizeof hello) && std::memcmp(buf, hello, sizeof hello) == 0,
                "recv after idling: " + std::to_string(r));
        p.check(p.send(s, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(hello),
                                                   sizeof hello)) == sizeof hello,
                "send failed");
        uint8_t b[8];
        p.check(p.recv(s, b) == 0, "expected EOF");
        p.close(s);
    });
    w->spawn(1, "client", [&](Process& p) {
        p.wait_until([&] { return listening; });
        const int s = p.socket(AF_INET, SOCK_STREAM);
        p.setsockopt_int(s, SOL_SOCKET, SO_KEEPALIVE, 1);
        p.check(p.connect(s, Endpoint::of_node(0, false, port)) == 0, "connect failed");
        if (keepidle) p.setsockopt_int(s, IPPROTO_TCP, TCP_KEEPIDLE, 60);
        idle_started = p.now_ns();
        p.sleep(idle_ns);
        idle_ended = p.now_ns();
        p.check(p.send(s, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(hello),
                                                   sizeof hello)) == sizeof hello,
                "send failed");
        char buf[64] = {};
        const long r = p.recv(s, std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf), sizeof hello),
                              MSG_WAITALL);
        p.check(r == static_cast<long>(sizeof hello), "reply after idling: " + std::to_string(r));
        p.shutdown(s, SHUT_WR);
        uint8_t b[8];
        p.check(p.recv(s, b) == 0, "expected EOF");
        p.close(s);
    });
    uint64_t keepalives = 0;
    w->observe_wire([&](const WireEvent& e) {
        if (e.info->l4 == L4::tcp && e.sent_ns > idle_started && idle_started && !idle_ended)
            keepalives++;
    });
    const bool ok = w->run();
    ctx.summary()["idle_s"] = (idle_ended - idle_started) / kSec;
    ctx.summary()["tcp_frames_while_idle"] = keepalives;
    ctx.summary()["steps"] = w->steps();
    if (!ok) return;
    if (keepidle && keepalives < 8)
        w->fail(Verdict::correctness,
                "only " + std::to_string(keepalives) + " keepalive frames in ten idle minutes");
}

}  // namespace culvert::sim::scenarios
