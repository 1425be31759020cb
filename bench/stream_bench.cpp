// Issue 2, streams: ByteRing throughput between two processes (fork, shared memfd Segment,
// EventQueue notify-on-idle on real eventfds, both sides asleep when empty/full), side by side
// with a unix stream socketpair and loopback TCP moving the same bytes between the same processes.
#include "bench_support.hpp"

#include "channels/byte_ring.hpp"
#include "channels/event_queue.hpp"
#include "channels/segment.hpp"

#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <span>
#include <vector>

namespace cb = culvert::bench;
namespace cc = culvert::channels;

namespace {

// Every reader (ring, unix, TCP) takes up to this much per call: it drains what it can, as a
// server does.
constexpr size_t kReadChunkBytes = size_t{64} * 1024;
constexpr uint64_t kRingDataOffset = 4096;
const std::vector<int64_t> kMessageBytes = {64, 1024, int64_t{16} * 1024, int64_t{64} * 1024};

struct StreamShared {
    cc::ByteRingIndices ring;
    cc::EventQueueShared data_q;   // writer -> reader: bytes were published
    cc::EventQueueShared space_q;  // reader -> writer: room again (the seed's block/unblock)
};
static_assert(sizeof(StreamShared) <= kRingDataOffset);

// The writer sends one message buffer over and over, so stream byte p is pattern(p % msg).
uint8_t pattern(uint64_t i) {
    return static_cast<uint8_t>((i * 167 + (i >> 8) * 13 + 1) & 0xff);
}

std::vector<std::byte> make_message(size_t bytes) {
    std::vector<std::byte> m(bytes);
    for (size_t i = 0; i < bytes; ++i) m[i] = static_cast<std::byte>(pattern(i));
    return m;
}

// Samples the first and last byte of every chunk the reader gets: cheap enough not to show in
// the numbers, yet a lost, repeated or shifted chunk shows (the stress tests check every byte).
bool chunk_ok(const std::byte* p, size_t n, uint64_t pos, size_t msg_bytes) {
    return static_cast<uint8_t>(p[0]) == pattern(pos % msg_bytes) &&
           static_cast<uint8_t>(p[n - 1]) == pattern((pos + n - 1) % msg_bytes);
}

// How the writer waits for room: notify-on-idle like the data direction (the reader notifies
// after reading, the writer acks and sleeps in ack_wait), or the seed's block (the writer pushes
// its eventfd to the maximum, the reader's producer-side unblock() drains it).
enum class Space { notify, seed_block };

struct RingSetup {
    Space space;
    int segment_fd;
    size_t ring_bytes;
    int data_fd, space_fd;
    uint64_t total_bytes;
    size_t msg_bytes;
};

// The child: drains everything there is, then acks; sleeps in ack_wait while the ring is empty
// (the documented consumer loop of docs/channels.md). After every read it lets a blocked writer
// go (the producer-side unblock: a fence and a load unless the writer really blocked).
std::string ring_reader(const RingSetup& st, cb::PeerReport& report) {
    // Map the memfd again, at another address, as the other side of a channel does.
    auto seg = cc::Segment::attach(::dup(st.segment_fd));
    if (!seg) return cb::format("attach: %s", std::strerror(seg.error()));
    auto shared = seg->at<StreamShared>(0);
    auto data = seg->bytes(kRingDataOffset, st.ring_bytes);
    if (!shared || !data) return "segment too small";
    cc::ByteRingConsumer ring(&(*shared)->ring, *data);
    cc::EventQueueConsumer data_q(&(*shared)->data_q, st.data_fd);
    cc::EventQueueProducer space_q(&(*shared)->space_q, st.space_fd);
    std::vector<std::byte> buf(kReadChunkBytes);
    uint64_t got = 0;
    cb::peer_ready();
    while (got < st.total_bytes) {
        auto readable = ring.readable();
        if (!readable) return cb::format("ring: %s", cc::to_string(readable.error()));
        if (*readable == 0) {
            if (const int e = data_q.ack_wait(cb::kWaitMs); e != 0) {
                return cb::format("ack_wait: %s at byte %" PRIu64, std::strerror(e), got);
            }
            continue;
        }
        for (;;) {
            auto n = ring.read(buf.data(), buf.size());
            if (!n) return cb::format("ring: %s", cc::to_string(n.error()));
            if (*n == 0) break;
            if (!chunk_ok(buf.data(), *n, got, st.msg_bytes)) {
                return cb::format("wrong bytes in [%" PRIu64 ", +%zu)", got, *n);
            }
            got += *n;
            const int e = st.space == Space::seed_block ? space_q.unblock() : space_q.notify();
            if (e != 0) return cb::format("room: %s", std::strerror(e));
        }
        if (const int e = data_q.ack(); e != 0) return cb::format("ack: %s", std::strerror(e));
    }
    report.done_ns = cb::now_ns();
    report.units = got;
    if (got != st.total_bytes) {
        return cb::format("got %" PRIu64 " bytes, expected %" PRIu64, got, st.total_bytes);
    }
    return "";
}

void ByteRing(benchmark::State& state, size_t ring_bytes, Space space) {
    const auto msg_bytes = static_cast<size_t>(state.range(0));
    RingSetup st{};
    st.space = space;
    st.ring_bytes = ring_bytes;
    st.msg_bytes = msg_bytes;
    st.total_bytes = msg_bytes * static_cast<uint64_t>(state.max_iterations);
    auto seg = cc::Segment::create("culvert-bench-stream", kRingDataOffset + ring_bytes);
    if (!seg) return cb::fail(state, cb::format("segment: %s", std::strerror(seg.error())));
    auto shared = seg->emplace<StreamShared>(0);
    auto data = seg->bytes(kRingDataOffset, ring_bytes);
    auto data_fd = cb::make_eventfd();
    auto space_fd = cb::make_eventfd();
    if (!shared || !data) return cb::fail(state, "segment layout");
    if (!data_fd || !space_fd) return cb::fail(state, "eventfd");
    st.segment_fd = seg->fd();
    st.data_fd = data_fd->get();
    st.space_fd = space_fd->get();
    cb::track_fd(st.data_fd, cb::FdKind::eventfd);
    cb::track_fd(st.space_fd, cb::FdKind::eventfd);

    auto peer = cb::Peer::start([&](cb::PeerReport& r) { return ring_reader(st, r); });
    if (!peer) return cb::fail(state, peer.error());
    if (auto ready = peer->wait_ready(cb::kWaitMs); !ready) return cb::fail(state, ready.error());
    cc::ByteRingProducer ring(&(*shared)->ring, *data);
    cc::EventQueueProducer data_q(&(*shared)->data_q, st.data_fd);
    cc::EventQueueConsumer space_q(&(*shared)->space_q, st.space_fd);
    const auto message = make_message(msg_bytes);
    auto still_full = [&] { return ring.writable().value_or(1) == 0; };
    uint64_t full = 0;  // times the writer found the ring full

    cb::WriterClock writer;
    for (auto _ : state) {
        size_t off = 0;
        while (off < msg_bytes) {
            auto n = ring.write(message.data() + off, msg_bytes - off);
            if (!n) return cb::fail(state, cb::format("ring: %s", cc::to_string(n.error())));
            if (*n > 0) {
                off += *n;
                if (const int e = data_q.notify(); e != 0) {
                    return cb::fail(state, cb::format("notify: %s", std::strerror(e)));
                }
                continue;
            }
            ++full;
            if (st.space == Space::seed_block) {
                // Full: the seed's pre-emptive block, re-check, sleep until the reader unblocks.
                if (const int e = space_q.block_wait(cb::kWaitMs, still_full); e != 0) {
                    return cb::fail(state, cb::format("block_wait: %s", std::strerror(e)));
                }
            } else {
                // Full: ack the reader's room notifications, re-check, sleep until the next one.
                if (const int e = space_q.ack(); e != 0) {
                    return cb::fail(state, cb::format("ack: %s", std::strerror(e)));
                }
                if (!still_full()) continue;
                if (const int e = space_q.ack_wait(cb::kWaitMs); e != 0) {
                    return cb::fail(state, cb::format("ack_wait: %s", std::strerror(e)));
                }
            }
        }
    }
    auto t = cb::finish_transfer(state, writer, *peer);
    if (!t) return;
    state.counters["MB/s"] = static_cast<double>(t->report.units) / t->secs / 1e6;
    state.counters["full/msg"] =
        static_cast<double>(full) / static_cast<double>(state.iterations());
    cb::set_cost_counters(state, *t, static_cast<double>(state.iterations()));
}

// The same bytes over a kernel stream socket: the writer write()s whole messages (blocking), the
// reader read()s up to kReadChunkBytes at a time.
void kernel_stream(benchmark::State& state, cb::Fd writer_fd, cb::Fd reader_fd) {
    const auto msg_bytes = static_cast<size_t>(state.range(0));
    const uint64_t total = msg_bytes * static_cast<uint64_t>(state.max_iterations);
    cb::track_fd(writer_fd.get(), cb::FdKind::kernel_socket);
    cb::track_fd(reader_fd.get(), cb::FdKind::kernel_socket);
    auto peer = cb::Peer::start([&](cb::PeerReport& report) -> std::string {
        std::vector<std::byte> buf(kReadChunkBytes);
        uint64_t got = 0;
        cb::peer_ready();
        while (got < total) {
            const ssize_t n = ::read(reader_fd.get(), buf.data(), buf.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return cb::format("read: %s", n == 0 ? "EOF" : std::strerror(errno));
            if (!chunk_ok(buf.data(), static_cast<size_t>(n), got, msg_bytes)) {
                return cb::format("wrong bytes in [%" PRIu64 ", +%zd)", got, n);
            }
            got += static_cast<uint64_t>(n);
        }
        report.done_ns = cb::now_ns();
        report.units = got;
        return "";
    });
    if (!peer) return cb::fail(state, peer.error());
    if (auto ready = peer->wait_ready(cb::kWaitMs); !ready) return cb::fail(state, ready.error());
    const auto message = make_message(msg_bytes);

    cb::WriterClock writer;
    for (auto _ : state) {
        size_t off = 0;
        while (off < msg_bytes) {
            const ssize_t n = ::write(writer_fd.get(), message.data() + off, msg_bytes - off);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return cb::fail(state, cb::format("write: %s", std::strerror(errno)));
            off += static_cast<size_t>(n);
        }
    }
    auto t = cb::finish_transfer(state, writer, *peer);
    if (!t) return;
    state.counters["MB/s"] = static_cast<double>(t->report.units) / t->secs / 1e6;
    cb::set_cost_counters(state, *t, static_cast<double>(state.iterations()));
}

void UnixStream(benchmark::State& state) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        return cb::fail(state, cb::format("socketpair: %s", std::strerror(errno)));
    }
    kernel_stream(state, cb::Fd(sv[0]), cb::Fd(sv[1]));
}

void TcpLoopback(benchmark::State& state) {
    auto pair = cb::tcp_loopback_pair();
    if (!pair) return cb::fail(state, pair.error());
    kernel_stream(state, std::move(pair->first), std::move(pair->second));
}

}  // namespace

void cb::register_stream_benchmarks() {
    auto sizes = [](benchmark::internal::Benchmark* b) {
        for (const int64_t bytes : kMessageBytes) b->Arg(bytes);
        return cb::finish_registration(b);
    };
    // The measurement of issue 2: the default 128 KiB ring, both directions notify-on-idle.
    sizes(benchmark::RegisterBenchmark("ByteRing/128KiB", [](benchmark::State& s) {
        ByteRing(s, cc::kDefaultRingBytes, Space::notify);
    }));
    sizes(benchmark::RegisterBenchmark("UnixStream", UnixStream));
    sizes(benchmark::RegisterBenchmark("TcpLoopback", TcpLoopback));
    // What limits it: the writer waiting in the seed's block instead, and a larger ring (what
    // SO_SNDBUF will be able to ask for).
    cb::finish_registration(
        benchmark::RegisterBenchmark(
            "ByteRing/128KiB_seed_block",
            [](benchmark::State& s) { ByteRing(s, cc::kDefaultRingBytes, Space::seed_block); })
            ->Arg(1024)
            ->Arg(int64_t{64} * 1024));
    cb::finish_registration(benchmark::RegisterBenchmark("ByteRing/1MiB", [](benchmark::State& s) {
                                ByteRing(s, size_t{1024} * 1024, Space::notify);
                            })->Arg(int64_t{64} * 1024));
}
