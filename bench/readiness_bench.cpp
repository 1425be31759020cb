// Issue 3 (DESIGN §3): the app-visible readiness mechanism, by measurement. A level-triggered
// (redis-style) writer with a full send ring faces a slow reader: the seed's blocked eventfd
// (readable!) versus our filler-full socketpair (neither), and Linux TCP in the same run.
#include "bench_support.hpp"

#include "channels/byte_ring.hpp"
#include "channels/event_queue.hpp"
#include "channels/readiness.hpp"
#include "channels/segment.hpp"

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <ctime>
#include <vector>

namespace cb = culvert::bench;
namespace cc = culvert::channels;

namespace {

// The slow reader: every tick it takes up to kTickBudgetBytes (64 MB/s), like a server whose
// TCP peer opens its window 64 KiB at a time.
constexpr uint64_t kTickNs = 1'000'000;
constexpr size_t kTickBudgetBytes = size_t{64} * 1024;
constexpr size_t kMessageBytes = 1024;  // what the writer writes per iteration
constexpr size_t kRingBytes = cc::kDefaultRingBytes;
constexpr uint64_t kRingDataOffset = 4096;

enum class Mechanism { eventfd_block, socketpair };

struct LtShared {
    cc::ByteRingIndices tx;
    cc::EventQueueShared to_server;  // writer -> reader: data (both mechanisms)
    cc::EventQueueShared app_q;      // eventfd mechanism: the app's fd, server -> client
    cc::ReadinessShared readiness;   // socketpair mechanism
};
static_assert(sizeof(LtShared) <= kRingDataOffset);

struct LtSetup {
    Mechanism mechanism;
    int segment_fd;
    int to_server_fd;
    int app_fd;   // eventfd (seed) or the app end of the socketpair
    int peer_fd;  // socketpair only: the end culvertd (and the client library) hold
    cb::Control* control;
};

// Sleeps until the next tick; never bursts to catch up after the machine made it late.
void next_tick(uint64_t& tick_ns) {
    tick_ns += kTickNs;
    const uint64_t now = cb::now_ns();
    if (now > tick_ns + kTickNs) tick_ns = now;
    const timespec at{static_cast<time_t>(tick_ns / 1'000'000'000u),
                      static_cast<long>(tick_ns % 1'000'000'000u)};
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, nullptr) == EINTR) {
    }
}

// The child plays culvertd facing a slow TCP peer: each tick it acks the writer's
// notifications, moves one budget out of the ring, and gives the writer its POLLOUT back.
std::string ring_reader(const LtSetup& st, cb::PeerReport& report) {
    auto seg = cc::Segment::attach(::dup(st.segment_fd));
    if (!seg) return cb::format("attach: %s", std::strerror(seg.error()));
    auto shared = seg->at<LtShared>(0);
    auto data = seg->bytes(kRingDataOffset, kRingBytes);
    if (!shared || !data) return "segment too small";
    cc::ByteRingConsumer tx(&(*shared)->tx, *data);
    cc::EventQueueConsumer to_server(&(*shared)->to_server, st.to_server_fd);
    cc::EventQueueProducer app_q;
    cc::Readiness ready;
    if (st.mechanism == Mechanism::eventfd_block) {
        app_q = cc::EventQueueProducer(&(*shared)->app_q, st.app_fd);
    } else {
        ready = cc::Readiness(&(*shared)->readiness, -1, st.peer_fd);
    }
    std::vector<std::byte> buf(kTickBudgetBytes);
    uint64_t got = 0;
    cb::peer_ready();
    uint64_t tick_ns = cb::now_ns();
    while (st.control->stop.load(std::memory_order_acquire) == 0) {
        next_tick(tick_ns);
        if (const int e = to_server.ack(); e != 0) return cb::format("ack: %s", std::strerror(e));
        auto n = tx.read(buf.data(), buf.size());
        if (!n) return cb::format("ring: %s", cc::to_string(n.error()));
        got += *n;
        const int e =
            st.mechanism == Mechanism::eventfd_block ? app_q.unblock() : ready.unblock_writable();
        if (e != 0) return cb::format("unblock: %s", std::strerror(e));
    }
    report.done_ns = cb::now_ns();
    report.units = got;
    return "";
}

// What the writer measures while it waits in its event loop.
struct WaitStats {
    double wall_s = 0;
    double cpu_s = 0;
    uint64_t spurious = 0;  // wakeups with POLLIN although there was nothing to read
    uint64_t futile = 0;    // POLLOUT, yet the write that followed found no room
};

// The application's level-triggered loop until its fd is writable. on_pollin() is what its
// read() does to the fd when there is nothing to read (through the client library).
template <class OnPollin>
std::string wait_writable(int fd, WaitStats& stats, OnPollin&& on_pollin) {
    const uint64_t start_ns = cb::now_ns();
    const double start_cpu = cb::thread_cpu_s();
    std::string error;
    for (;;) {
        pollfd p{fd, POLLIN | POLLOUT, 0};
        const int ready = ::poll(&p, 1, cb::kWaitMs);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) {
            error = ready == 0 ? "never writable again (lost wakeup)" : std::strerror(errno);
            break;
        }
        if ((p.revents & POLLIN) != 0) {
            ++stats.spurious;
            on_pollin();
        }
        if ((p.revents & POLLOUT) != 0) break;
    }
    stats.cpu_s += cb::thread_cpu_s() - start_cpu;
    stats.wall_s += cb::seconds_between(start_ns, cb::now_ns());
    return error;
}

void set_lt_counters(benchmark::State& state, const WaitStats& waits, double secs,
                     double writer_cpu_s, const cb::SyscallCounts& w, const cb::PeerReport& r) {
    const auto msgs = static_cast<double>(state.iterations());
    state.counters["MB/s"] = msgs * kMessageBytes / secs / 1e6;
    state.counters["w_cpu"] = writer_cpu_s / secs;
    state.counters["cpu/wait_s"] = waits.wall_s > 0 ? waits.cpu_s / waits.wall_s : 0;
    state.counters["wait%"] = 100.0 * waits.wall_s / secs;
    state.counters["w_sys/msg"] = static_cast<double>(w.total()) / msgs;
    state.counters["r_sys/msg"] = static_cast<double>(r.syscalls.total()) / msgs;
    state.counters["spurious/msg"] = static_cast<double>(waits.spurious) / msgs;
    state.counters["futile/msg"] = static_cast<double>(waits.futile) / msgs;
}

// Stops the reader, sets the manual time (the writer's loop) and the counters.
void finish_lt(benchmark::State& state, const cb::WriterClock& writer, cb::Peer& peer,
               cb::Control* control, const WaitStats& waits) {
    const uint64_t end_ns = cb::now_ns();
    const double writer_cpu_s = cb::thread_cpu_s() - writer.start_cpu_s;
    const cb::SyscallCounts w = cb::syscall_counts();
    control->stop.store(1, std::memory_order_release);
    auto report = peer.finish(cb::kWaitMs);
    if (!report) return cb::fail(state, report.error());
    const double secs = cb::seconds_between(writer.start_ns, end_ns);
    state.SetIterationTime(secs);
    set_lt_counters(state, waits, secs, writer_cpu_s, w, *report);
}

void LtWriterRing(benchmark::State& state, Mechanism mechanism) {
    auto control = cb::SharedControl::create();
    if (!control) return cb::fail(state, control.error());
    auto seg = cc::Segment::create("culvert-bench-lt", kRingDataOffset + kRingBytes);
    if (!seg) return cb::fail(state, cb::format("segment: %s", std::strerror(seg.error())));
    auto shared = seg->emplace<LtShared>(0);
    auto data = seg->bytes(kRingDataOffset, kRingBytes);
    if (!shared || !data) return cb::fail(state, "segment layout");
    auto to_server_fd = cb::make_eventfd();
    if (!to_server_fd) return cb::fail(state, to_server_fd.error());
    cb::Fd app_fd;
    cb::Fd peer_fd;
    if (mechanism == Mechanism::eventfd_block) {
        auto fd = cb::make_eventfd();
        if (!fd) return cb::fail(state, fd.error());
        app_fd = std::move(*fd);
        cb::track_fd(app_fd.get(), cb::FdKind::eventfd);
    } else {
        auto pair = cc::Readiness::make_pair();
        if (!pair)
            return cb::fail(state, cb::format("socketpair: %s", std::strerror(pair.error())));
        app_fd = cb::Fd(pair->first);
        peer_fd = cb::Fd(pair->second);
        cb::track_fd(app_fd.get(), cb::FdKind::socketpair);
        cb::track_fd(peer_fd.get(), cb::FdKind::socketpair);
    }
    cb::track_fd(to_server_fd->get(), cb::FdKind::eventfd);
    const LtSetup st{mechanism,    seg->fd(),     to_server_fd->get(),
                     app_fd.get(), peer_fd.get(), control->operator->()};

    auto peer = cb::Peer::start([&](cb::PeerReport& r) { return ring_reader(st, r); });
    if (!peer) return cb::fail(state, peer.error());
    if (auto ready = peer->wait_ready(cb::kWaitMs); !ready) return cb::fail(state, ready.error());
    cc::ByteRingProducer tx(&(*shared)->tx, *data);
    cc::EventQueueProducer to_server(&(*shared)->to_server, st.to_server_fd);
    cc::EventQueueConsumer app_q;
    cc::Readiness ready;
    if (mechanism == Mechanism::eventfd_block) {
        app_q = cc::EventQueueConsumer(&(*shared)->app_q, st.app_fd);
    } else {
        ready = cc::Readiness(&(*shared)->readiness, st.app_fd, st.peer_fd);
    }
    // The client library's pre-emptive block and its re-check (1: still full, wait).
    auto block = [&]() -> int {
        if (mechanism == Mechanism::eventfd_block) {
            if (const int e = app_q.block(); e != 0) return -e;
            if (tx.writable().value_or(1) > 0) return -app_q.unblock();
        } else {
            if (const int e = ready.block_writable(); e != 0) return -e;
            if (tx.writable().value_or(1) > 0) return -ready.unblock_writable();
        }
        return 1;
    };
    // The app's read() with an empty receive ring: EAGAIN. The seed's client cannot ack a
    // blocked eventfd (reading it ends the block), so it acks only the spare notification an
    // unblock leaves behind; ours clears the readable byte (never there in this benchmark).
    auto on_pollin = [&] {
        if (mechanism == Mechanism::eventfd_block) {
            if (!app_q.blocked()) app_q.ack();
        } else {
            ready.ack_readable(0);
        }
    };
    const std::vector<std::byte> message(kMessageBytes, std::byte{0x5a});
    // Fill the ring first: the timed loop starts in the steady state (ring full, reader slow).
    while (tx.write(message.data(), message.size()).value_or(0) > 0) {
    }
    to_server.notify();

    WaitStats waits;
    bool woken = false;  // the last thing that happened was a POLLOUT wakeup
    cb::WriterClock writer;
    for (auto _ : state) {
        size_t off = 0;
        while (off < kMessageBytes) {
            auto n = tx.write(message.data() + off, kMessageBytes - off);
            if (!n) return cb::fail(state, cb::format("ring: %s", cc::to_string(n.error())));
            if (*n > 0) {
                off += *n;
                woken = false;
                if (const int e = to_server.notify(); e != 0) {
                    return cb::fail(state, cb::format("notify: %s", std::strerror(e)));
                }
                continue;
            }
            if (woken) ++waits.futile;
            woken = false;
            const int blocked = block();
            if (blocked < 0)
                return cb::fail(state, cb::format("block: %s", std::strerror(-blocked)));
            if (blocked == 0) continue;  // room appeared during the re-check
            if (auto e = wait_writable(st.app_fd, waits, on_pollin); !e.empty()) {
                return cb::fail(state, e);
            }
            woken = true;
        }
    }
    finish_lt(state, writer, *peer, control->operator->(), waits);
}

// Linux itself: a non-blocking loopback TCP socket in the same loop, buffers set to the ring's
// size so that the steady state comes as fast; its reader reads the same budget per tick.
void LtWriterKernelTcp(benchmark::State& state) {
    auto control = cb::SharedControl::create();
    if (!control) return cb::fail(state, control.error());
    auto pair = cb::tcp_loopback_pair(static_cast<int>(kRingBytes));
    if (!pair) return cb::fail(state, pair.error());
    const int fd = pair->first.get();
    const int reader_fd = pair->second.get();
    if (::fcntl(fd, F_SETFL, O_NONBLOCK) != 0 || ::fcntl(reader_fd, F_SETFL, O_NONBLOCK) != 0) {
        return cb::fail(state, cb::format("fcntl: %s", std::strerror(errno)));
    }
    cb::track_fd(fd, cb::FdKind::kernel_socket);
    cb::track_fd(reader_fd, cb::FdKind::kernel_socket);
    cb::Control* ctl = control->operator->();

    auto peer = cb::Peer::start([&](cb::PeerReport& report) -> std::string {
        std::vector<std::byte> buf(kTickBudgetBytes);
        uint64_t got = 0;
        cb::peer_ready();
        uint64_t tick_ns = cb::now_ns();
        while (ctl->stop.load(std::memory_order_acquire) == 0) {
            next_tick(tick_ns);
            size_t budget = kTickBudgetBytes;
            while (budget > 0) {
                const ssize_t n = ::read(reader_fd, buf.data(), budget);
                if (n < 0 && errno == EINTR) continue;
                if (n < 0 && errno == EAGAIN) break;
                if (n <= 0) return cb::format("read: %s", n == 0 ? "EOF" : std::strerror(errno));
                budget -= static_cast<size_t>(n);
                got += static_cast<uint64_t>(n);
            }
        }
        report.done_ns = cb::now_ns();
        report.units = got;
        return "";
    });
    if (!peer) return cb::fail(state, peer.error());
    if (auto ready = peer->wait_ready(cb::kWaitMs); !ready) return cb::fail(state, ready.error());
    const std::vector<std::byte> message(kMessageBytes, std::byte{0x5a});
    while (::write(fd, message.data(), message.size()) > 0) {
    }
    // A real app reads on POLLIN; Linux never reports it without data, so this never runs.
    auto on_pollin = [&] {
        char sink[256];
        (void)!::read(fd, sink, sizeof sink);
    };

    WaitStats waits;
    bool woken = false;
    cb::WriterClock writer;
    for (auto _ : state) {
        size_t off = 0;
        while (off < kMessageBytes) {
            const ssize_t n = ::write(fd, message.data() + off, kMessageBytes - off);
            if (n > 0) {
                off += static_cast<size_t>(n);
                woken = false;
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno != EAGAIN) {
                return cb::fail(state, cb::format("write: %s", std::strerror(errno)));
            }
            if (woken) ++waits.futile;
            if (auto e = wait_writable(fd, waits, on_pollin); !e.empty()) return cb::fail(state, e);
            woken = true;
        }
    }
    finish_lt(state, writer, *peer, ctl, waits);
}

}  // namespace

void cb::register_readiness_benchmarks() {
    cb::finish_registration(benchmark::RegisterBenchmark(
        "LtWriterRing/eventfd_block",
        [](benchmark::State& s) { LtWriterRing(s, Mechanism::eventfd_block); }));
    cb::finish_registration(benchmark::RegisterBenchmark(
        "LtWriterRing/socketpair",
        [](benchmark::State& s) { LtWriterRing(s, Mechanism::socketpair); }));
    cb::finish_registration(benchmark::RegisterBenchmark("LtWriterKernelTcp", LtWriterKernelTcp));
}
