// TCP stream scenarios: "stream" (random connections, sizes, styles and impairments) and
// "bulk" (the fixed benchmark: handshake + 1 MiB + close at 5% loss).
#include "sim/scenarios/common.hpp"
#include "sim/scenarios/scenarios.hpp"

#include <algorithm>

namespace culvert::sim::scenarios {

namespace {

void run_stream(ScenarioContext& ctx, World& w, StreamPlan& plan, bool teardown) {
    const auto base = baseline(w);
    StreamTotals totals;
    w.spawn(plan.server_node, "server", [&](Process& p) { stream_server(p, plan, totals); });
    std::vector<int> clients;
    for (const auto& c : plan.conns) {
        const int n = c.client_node < 0 ? plan.client_node : c.client_node;
        if (std::find(clients.begin(), clients.end(), n) == clients.end()) clients.push_back(n);
    }
    for (int n : clients)
        w.spawn(n, "client" + std::to_string(n),
                [&](Process& p) { stream_client(p, plan, totals); });
    const bool ok = w.run();
    uint64_t planned = 0;
    for (const auto& c : plan.conns)
        if (!plan.expired.count(c.id)) planned += c.up_bytes + c.down_bytes;
    ctx.summary()["bytes_planned"] = planned;
    ctx.summary()["bytes_verified"] = totals.verified_bytes;
    ctx.summary()["connections"] = plan.conns.size();
    ctx.summary()["spurious_wakeups"] = totals.spurious_wakeups;
    ctx.summary()["half_open_expired"] = totals.half_open_expired;
    const auto wire = w.wire().total();
    ctx.summary()["wire"] = {{"frames", wire.frames},         {"lost", wire.lost},
                             {"duplicated", wire.duplicated}, {"reordered", wire.reordered},
                             {"corrupted", wire.corrupted},   {"partitioned", wire.partitioned},
                             {"queue_full", wire.queue_full}};
    if (!ok) return;
    if (totals.verified_bytes != planned)
        w.fail(Verdict::correctness, "verified " + std::to_string(totals.verified_bytes) + " of " +
                                         std::to_string(planned) + " bytes");
    if (wire.too_big) w.fail(Verdict::correctness, "a node sent a frame larger than the MTU");
    // An expired connection never reached culvertd's accept queue; one that did and was then
    // reset would be a real failure.
    const uint64_t reached = w.status(plan.server_node)["counters"]["tcp_accepted"].get<uint64_t>();
    if (reached != plan.conns.size() - plan.expired.size())
        w.fail(Verdict::correctness,
               std::to_string(reached) + " connections reached the server's accept queue, " +
                   std::to_string(plan.conns.size() - plan.expired.size()) + " were expected");
    if (!teardown || w.failure()) return;
    if (!wait_until_released(w, base, 400 * kSec)) return;
    check_released(w, base);
}

}  // namespace

void stream(ScenarioContext& ctx) {
    Rng& rng = ctx.rng();
    WorldConfig c = ctx.config();
    c.nodes = 2;
    const int conns = static_cast<int>(rng.range(1, 4));
    const uint64_t max_bytes = rng.chance(0.1) ? 1u << 20 : rng.log_range(1, 256 * 1024);
    StreamPlan plan = random_stream_plan(rng, conns, max_bytes);
    c.ipv6 = plan.ipv6 || rng.chance(0.5);
    c.mtu = static_cast<uint16_t>(rng.chance(0.7) ? 1500 : rng.range(c.ipv6 ? 1280 : 576, 1500));
    c.deadline_ns = 3600 * kSec;
    World* w = ctx.make_world(c);
    if (!w) return;
    impair_all(*w, rng, ImpairmentLimits{});
    if (rng.chance(0.5)) std::swap(plan.server_node, plan.client_node);
    run_stream(ctx, *w, plan, true);
}

void wakeup(ScenarioContext& ctx) {
    Rng& rng = ctx.rng();
    WorldConfig c = ctx.config();
    c.nodes = rng.chance(0.5) ? 3 : 2;
    c.check_readiness = true;  // the oracle after every step
    c.deadline_ns = 3600 * kSec;
    const int conns = static_cast<int>(rng.range(1, 6));
    StreamPlan plan = random_stream_plan(rng, conns, rng.log_range(1, 128 * 1024));
    plan.client_blocking = plan.server_blocking = false;  // poll loops only: every event is checked
    plan.strict_readiness = true;
    plan.watch = true;
    for (auto& cp : plan.conns)
        cp.client_node = static_cast<int>(rng.range(1, static_cast<uint64_t>(c.nodes - 1)));
    c.ipv6 = true;
    World* w = ctx.make_world(c);
    if (!w) return;
    ImpairmentLimits lim;
    lim.max_partition_ns = 5 * kSec;
    impair_all(*w, rng, lim);
    run_stream(ctx, *w, plan, false);
}

void bulk(ScenarioContext& ctx) {
    WorldConfig c = ctx.config();
    c.nodes = 2;
    c.trace_wire = true;
    World* w = ctx.make_world(c);
    if (!w) return;
    for (int a = 0; a < 2; ++a) {
        LinkConfig& l = w->wire().link(a, 1 - a);
        l.latency_ns = 1 * kMs;
        l.loss = 0.05;
    }
    StreamPlan plan;
    plan.key = ctx.rng().next();
    plan.conns.push_back(ConnPlan{0, 1u << 20, 0, false, false});
    plan.max_chunk = 65536;
    run_stream(ctx, *w, plan, false);
}

}  // namespace culvert::sim::scenarios
