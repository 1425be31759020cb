// "flow": flow control and bounded memory. A writer keeps writing while the reader stops
// for a while: the reader's ring fills, its advertised window closes (below one segment on the
// wire), the writer's ring fills and its socket stops being writable (EAGAIN and no
// POLLOUT, or a blocking send that waits), and memory in both stacks stays under a fixed
// bound the whole time. Then the reader resumes and every byte arrives, in order.
#include "sim/scenarios/common.hpp"
#include "sim/scenarios/scenarios.hpp"

#include <netinet/in.h>

#include <algorithm>

namespace culvert::sim::scenarios {

namespace {

// lwIP memory a node may hold for one connection: the 1 MiB window queued in culvertd, lwIP's
// 1 MiB send buffer, up to 2 MiB of out-of-order segments, plus bookkeeping. Far below what
// "unbounded" would reach while the reader sleeps.
constexpr uint64_t kHeapBoundBytes = 6ull << 20;
constexpr uint64_t kPoolBufferBound = 4096;  // received-frame buffers (1664 B each)

struct FlowPlan {
    int writer_node = 1, reader_node = 0;
    uint16_t port = 6000;
    bool ipv6 = false;
    bool writer_blocking = false;
    uint64_t total = 0;        // bytes to move
    uint64_t read_before = 0;  // the reader reads this much, then stops
    uint64_t stop_ns = 0;      // for this long
    uint64_t key = 0;
    bool listening = false;
    // Observations.
    bool stopped = false, resumed = false;
    uint64_t written_at_resume = 0, read_at_stop = 0;
    uint64_t received_at_resume = 0;  // bytes the reader's stack had taken from the wire
    uint64_t written = 0, read = 0;
    bool writer_saw_eagain = false;  // during the stop
    bool writer_pollout_while_full = false;
    bool writer_parked = false;  // a blocking send waited during the stop
    uint64_t zero_windows = 0;   // from the reader during the stop
    uint64_t max_heap = 0, max_pool = 0;
};

void writer(Process& p, FlowPlan& plan) {
    p.wait_until([&] { return plan.listening; });
    const int s = p.socket(plan.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM);
    p.check(s >= 0, "socket failed");
    p.check(p.connect(s, Endpoint::of_node(plan.reader_node, plan.ipv6, plan.port)) == 0,
            "connect failed");
    if (!plan.writer_blocking) p.set_nonblocking(s, true);
    std::vector<uint8_t> buf(65536);
    while (plan.written < plan.total) {
        const size_t n = static_cast<size_t>(
            std::min<uint64_t>(plan.total - plan.written, p.rng().log_range(1024, buf.size())));
        Pattern::fill(plan.key, plan.written, std::span<uint8_t>(buf.data(), n));
        const long r = p.send(s, std::span<const uint8_t>(buf.data(), n));
        if (r > 0) {
            plan.written += static_cast<uint64_t>(r);
            continue;
        }
        p.check(r == -EAGAIN && !plan.writer_blocking, "send failed: " + std::to_string(r));
        if (plan.stopped && !plan.resumed) {
            plan.writer_saw_eagain = true;
            // Not writable now: the ring is full (Linux: poll without POLLOUT after EAGAIN).
            if (p.readiness(s, POLLOUT) & POLLOUT) plan.writer_pollout_while_full = true;
        }
        p.wait_for(s, POLLOUT);
    }
    p.check(p.shutdown(s, SHUT_WR) == 0, "shutdown failed");
    p.wait_for(s, POLLIN);
    uint8_t b[16];
    const long r = p.recv(s, b);
    p.check(r == 0, "expected EOF from the reader, got " + std::to_string(r));
    p.check(p.close(s) == 0, "close failed");
}

void reader(Process& p, FlowPlan& plan) {
    const int l = p.socket(plan.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM);
    p.check(l >= 0, "socket failed");
    p.check(p.bind(l, Endpoint::of_node(plan.reader_node, plan.ipv6, plan.port)) == 0,
            "bind failed");
    p.check(p.listen(l, 1) == 0, "listen failed");
    plan.listening = true;
    const int s = p.accept(l, nullptr);
    p.check(s >= 0, "accept failed");
    p.close(l);
    std::vector<uint8_t> buf(65536);
    auto read_some = [&](uint64_t limit) {
        const size_t n = static_cast<size_t>(
            std::min<uint64_t>(limit - plan.read, p.rng().log_range(1024, buf.size())));
        const long r = p.recv(s, std::span<uint8_t>(buf.data(), n));
        p.check(r > 0, "recv returned " + std::to_string(r) + " after " +
                           std::to_string(plan.read) + " bytes");
        p.check(Pattern::mismatch(plan.key, plan.read,
                                  std::span<const uint8_t>(buf.data(), static_cast<size_t>(r))) < 0,
                "byte changed near offset " + std::to_string(plan.read));
        plan.read += static_cast<uint64_t>(r);
    };
    while (plan.read < plan.read_before) read_some(plan.read_before);
    plan.stopped = true;
    plan.read_at_stop = plan.read;
    p.log("reader stops for " + std::to_string(plan.stop_ns / kMs) + " ms");
    p.sleep(plan.stop_ns);
    plan.resumed = true;
    plan.written_at_resume = plan.written;
    plan.received_at_resume =
        p.world().status(p.node())["counters"]["tcp_rx_bytes"].get<uint64_t>();
    p.log("reader resumes; writer has written " + std::to_string(plan.written));
    while (plan.read < plan.total) read_some(plan.total);
    uint8_t b[16];
    p.check(p.recv(s, b) == 0, "expected EOF after " + std::to_string(plan.total) + " bytes");
    p.check(p.close(s) == 0, "close failed");
}

}  // namespace

void flow(ScenarioContext& ctx) {
    Rng& rng = ctx.rng();
    WorldConfig c = ctx.config();
    c.nodes = 2;
    World* w = ctx.make_world(c);
    if (!w) return;
    ImpairmentLimits lim;
    lim.max_loss = 0.02;
    lim.max_corrupt = 0.01;
    lim.max_partition_ns = 5 * kSec;
    impair_all(*w, rng, lim);
    for (int a = 0; a < 2; ++a)
        w->wire().link(a, 1 - a).bandwidth_bps = 0;  // fill the buffers fast
    FlowPlan plan;
    if (rng.chance(0.5)) std::swap(plan.writer_node, plan.reader_node);
    plan.port = static_cast<uint16_t>(rng.range(1024, 60000));
    plan.ipv6 = rng.chance(0.5);
    plan.writer_blocking = rng.chance(0.3);
    plan.read_before = rng.log_range(0, 256 * 1024);
    // Enough to fill both rings, the receive window and lwIP's send buffer (~2.3 MiB).
    plan.total = plan.read_before + (5ull << 19) + rng.below(1u << 19);
    plan.stop_ns = rng.range(5, 30) * kSec;
    plan.key = rng.next();
    const auto base = baseline(*w);
    // "Closed" = less than one segment (the reader's MSS): lwIP does not split segments, so
    // a window smaller than that stops the writer as surely as zero, and scaled windows
    // rarely land on exactly 0.
    uint8_t reader_shift = 0;
    uint64_t reader_mss = 536;
    w->observe_wire([&](const WireEvent& e) {
        const FrameInfo& i = *e.info;
        if (e.src != plan.reader_node || i.l4 != L4::tcp || !i.has_l4 || e.duplicate) return;
        if ((i.tcp_flags & kTcpSyn) && i.window_scale != 0xff) reader_shift = i.window_scale;
        if ((i.tcp_flags & kTcpSyn) && i.mss) reader_mss = i.mss;
        const uint64_t window = static_cast<uint64_t>(i.window) << reader_shift;
        if (plan.stopped && !plan.resumed && window < reader_mss &&
            !(i.tcp_flags & (kTcpSyn | kTcpRst)))
            plan.zero_windows++;
    });
    Process* wp = nullptr;
    w->after_each_step([&] {
        for (int n = 0; n < 2; ++n) {
            culvert_sim_node_resources r;
            w->api(n).resources(&r);
            plan.max_heap = std::max(plan.max_heap, r.heap_bytes);
            plan.max_pool = std::max(plan.max_pool, r.pbuf_pool);
        }
        if (plan.stopped && !plan.resumed && wp && wp->state() == Process::State::waiting_client)
            plan.writer_parked = true;
    });
    w->spawn(plan.reader_node, "reader", [&](Process& p) { reader(p, plan); });
    wp = &w->spawn(plan.writer_node, "writer", [&](Process& p) { writer(p, plan); });
    const bool ok = w->run();
    ctx.summary()["bytes"] = plan.total;
    ctx.summary()["stopped_after"] = plan.read_at_stop;
    ctx.summary()["buffered_while_stopped"] = plan.written_at_resume - plan.read_at_stop;
    ctx.summary()["closed_windows"] = plan.zero_windows;
    ctx.summary()["unread_in_reader_stack"] = plan.received_at_resume - plan.read_at_stop;
    ctx.summary()["writer_saw_eagain"] = plan.writer_saw_eagain;
    ctx.summary()["writer_parked"] = plan.writer_parked;
    ctx.summary()["max_lwip_heap"] = plan.max_heap;
    ctx.summary()["max_pbuf_pool"] = plan.max_pool;
    if (!ok) return;
    auto fail = [&](const std::string& m) { w->fail(Verdict::correctness, m); };
    if (plan.max_heap > kHeapBoundBytes)
        return fail("lwIP heap reached " + std::to_string(plan.max_heap) + " bytes");
    if (plan.max_pool > kPoolBufferBound)
        return fail("pbuf pool reached " + std::to_string(plan.max_pool) + " buffers");
    // Everything the writer got rid of while the reader slept sits in bounded buffers: two
    // rings (128 KiB each), the receive window (1 MiB) and lwIP's send buffer (1 MiB).
    const uint64_t buffered = plan.written_at_resume - plan.read_at_stop;
    if (buffered > (3ull << 20))
        return fail(std::to_string(buffered) + " bytes accepted while the reader slept");
    // The window must have closed if the reader's stack took in more than its ring and its
    // window hold (it may not have: a writer stuck in loss recovery fills its own buffers
    // first, and EAGAIN is then what shows the back-pressure).
    constexpr uint64_t kRingBytes = 128 * 1024, kWindowBytes = 1024 * 1024;
    const uint64_t unread = plan.received_at_resume - plan.read_at_stop;
    if (plan.zero_windows == 0 && unread + 2 * reader_mss >= kRingBytes + kWindowBytes)
        return fail("the reader's stack holds " + std::to_string(unread) +
                    " unread bytes but its window never closed (below one segment) while it slept");
    if (!plan.writer_blocking && !plan.writer_saw_eagain)
        return fail("the writer never saw EAGAIN while the reader slept");
    if (plan.writer_pollout_while_full)
        return fail("poll said POLLOUT right after send returned EAGAIN");
    if (plan.writer_blocking && !plan.writer_parked)
        return fail("a blocking writer never waited while the reader slept");
    wait_until_released(*w, base, 400 * kSec);
    check_released(*w, base);
}

}  // namespace culvert::sim::scenarios
