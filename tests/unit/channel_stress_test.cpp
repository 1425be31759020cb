// Two-thread AND two-process stress of the channels with real eventfds, socketpairs and
// poll(): every byte and datagram arrives exactly once, in order, unchanged (seeded content,
// seed printed first), and nobody sleeps through a wakeup. Every wait has a 2 s timeout; a
// timeout while work is pending is reported as a lost wakeup, i.e. a FAILURE.
//   - ByteRing + EventQueue: notify/ack/ack_undo for data, and for space either
//     notify/ack_wait or the seed's block/block_wait + producer unblock.
//   - BipartiteRing (recvq style) + EventQueue: datagrams with payloads addressed by offset,
//     the consumer writes into held items, the producer reclaims and checks them.
//   - ByteRings both ways + Readiness (socketpair) + EventQueue: the client poll()s app_fd
//     for POLLIN/POLLOUT exactly as an application would; block/unblock under load; EOF.
// In the two-process variant the child maps the memfd again, at another address.
#include "channels/bipartite_ring.hpp"
#include "channels/byte_ring.hpp"
#include "channels/event_queue.hpp"
#include "channels/offset_ptr.hpp"
#include "channels/readiness.hpp"
#include "channels/segment.hpp"
#include "channels/segment_allocator.hpp"

#include "channel_test_support.hpp"

#include <gtest/gtest.h>

#include <poll.h>

#include <algorithm>
#include <cinttypes>
#include <string>
#include <vector>

namespace cc = culvert::channels;
namespace ct = culvert::channels::test;

namespace {

constexpr int kWaitMs = 2000;  // any wait longer than this is a lost wakeup

template <class... Args>
std::string format(const char* fmt, Args... args) {
    char buf[512];
    std::snprintf(buf, sizeof buf, fmt, args...);
    return buf;
}

void fill_stream(std::byte* p, size_t n, uint64_t seed, uint64_t pos) {
    for (size_t i = 0; i < n; ++i) p[i] = ct::stream_byte(seed, pos + i);
}

std::string check_stream(const std::byte* p, size_t n, uint64_t seed, uint64_t pos,
                         const char* who) {
    for (size_t i = 0; i < n; ++i) {
        if (p[i] != ct::stream_byte(seed, pos + i)) {
            return format("%s: byte %" PRIu64 " of the stream is wrong", who, pos + i);
        }
    }
    return "";
}

// Splits [0, n) of `buf` into 1..8 iovecs with random cut points (zero-length ones included).
std::vector<iovec> split(std::byte* buf, size_t n, ct::Rng& rng) {
    std::vector<size_t> cuts{0, n};
    const size_t pieces = rng.range(1, 8);
    for (size_t i = 1; i < pieces; ++i) cuts.push_back(rng.range(0, n));
    std::sort(cuts.begin(), cuts.end());
    std::vector<iovec> iov;
    for (size_t i = 0; i + 1 < cuts.size(); ++i) {
        iov.push_back(iovec{buf + cuts[i], cuts[i + 1] - cuts[i]});
    }
    return iov;
}

// Writes up to `want` stream bytes from position `pos` in one of three ways. Returns the count.
std::expected<size_t, cc::ChannelError> write_stream(cc::ByteRingProducer& ring, ct::Rng& rng,
                                                     std::vector<std::byte>& scratch, uint64_t seed,
                                                     uint64_t pos, size_t want) {
    switch (rng.range(0, 2)) {
        case 0:
            fill_stream(scratch.data(), want, seed, pos);
            return ring.write(scratch.data(), want);
        case 1: {
            fill_stream(scratch.data(), want, seed, pos);
            const auto iov = split(scratch.data(), want, rng);
            return ring.write(iov);
        }
        default: {
            auto spans = ring.write_spans();
            if (!spans) return std::unexpected(spans.error());
            const size_t first = std::min(want, (*spans)[0].size());
            const size_t second = std::min(want - first, (*spans)[1].size());
            fill_stream((*spans)[0].data(), first, seed, pos);
            fill_stream((*spans)[1].data(), second, seed, pos + first);
            ring.commit(first + second);
            return first + second;
        }
    }
}

// Reads (and checks) up to `want` stream bytes at position `pos` in one of four ways.
std::expected<size_t, cc::ChannelError> read_stream(cc::ByteRingConsumer& ring, ct::Rng& rng,
                                                    std::vector<std::byte>& scratch, uint64_t seed,
                                                    uint64_t pos, size_t want, const char* who,
                                                    std::string& error) {
    switch (rng.range(0, 3)) {
        case 0: {
            auto n = ring.read(scratch.data(), want);
            if (n) error = check_stream(scratch.data(), *n, seed, pos, who);
            return n;
        }
        case 1: {
            const auto iov = split(scratch.data(), want, rng);
            auto n = ring.read(iov);
            if (n) error = check_stream(scratch.data(), *n, seed, pos, who);
            return n;
        }
        case 2: {  // peek somewhere inside (never consumes), then fall through to a real read
            const size_t skip = rng.range(0, want);
            const iovec one{scratch.data(), want - skip};
            auto peeked = ring.peek(std::span<const iovec>(&one, 1), skip);
            if (!peeked) return peeked;
            error = check_stream(scratch.data(), *peeked, seed, pos + skip, who);
            if (!error.empty()) return 0;
            [[fallthrough]];
        }
        default: {
            auto spans = ring.read_spans();
            if (!spans) return std::unexpected(spans.error());
            const size_t first = std::min(want, (*spans)[0].size());
            const size_t second = std::min(want - first, (*spans)[1].size());
            error = check_stream((*spans)[0].data(), first, seed, pos, who);
            if (error.empty()) {
                error = check_stream((*spans)[1].data(), second, seed, pos + first, who);
            }
            return ring.drop(first + second);
        }
    }
}

size_t chunk_size(ct::Rng& rng, size_t capacity, uint64_t left) {
    // Mostly below the capacity, sometimes far above it (short writes), sometimes tiny.
    const size_t cap = rng.chance(10) ? 3 * capacity : rng.chance(30) ? 16 : capacity;
    return static_cast<size_t>(std::min<uint64_t>(rng.range(1, std::max<size_t>(cap, 1)), left));
}

// Fixture pieces shared by the stream tests: a segment with everything placed by offset.
struct Placement {
    cc::Segment segment;
    cc::SegmentAllocator allocator;
    explicit Placement(size_t bytes)
        : segment(cc::Segment::create("culvert-stress", bytes).value()),
          allocator(bytes - ct::kReportBytes, 64) {}
    template <class T>
    uint64_t place() {
        const uint64_t offset =
            allocator.allocate(sizeof(T), alignof(T) < 64 ? 64 : alignof(T)).value();
        segment.emplace<T>(offset).value();
        return offset;
    }
    uint64_t place_bytes(size_t n) { return allocator.allocate(n, 64).value(); }
};

// ---------------------------------------------------------------------------------------------
// 1. ByteRing + EventQueue

struct StreamSetup {
    uint64_t ring_offset, data_offset, data_q_offset, space_q_offset;
    size_t capacity;
    uint64_t total_bytes;
    bool producer_blocks;  // wait for space with the seed's block/block_wait instead of ack_wait
    uint64_t seed;
    int data_fd, space_fd;
};

std::string stream_producer(const cc::Segment& s, const StreamSetup& st) {
    cc::ByteRingProducer ring(s.at<cc::ByteRingIndices>(st.ring_offset).value(),
                              s.bytes(st.data_offset, st.capacity).value());
    cc::EventQueueProducer data_q(s.at<cc::EventQueueShared>(st.data_q_offset).value(), st.data_fd);
    cc::EventQueueConsumer space_q(s.at<cc::EventQueueShared>(st.space_q_offset).value(),
                                   st.space_fd);
    ct::Rng rng(st.seed ^ 0x1111);
    std::vector<std::byte> scratch(3 * st.capacity + 16);
    uint64_t sent = 0;
    while (sent < st.total_bytes) {
        const size_t want = chunk_size(rng, st.capacity, st.total_bytes - sent);
        auto n = write_stream(ring, rng, scratch, st.seed, sent, want);
        if (!n) return format("producer: %s", cc::to_string(n.error()));
        if (*n > 0) {
            sent += *n;
            if (const int e = data_q.notify(); e != 0) return format("producer: notify %d", e);
            continue;
        }
        // Full: sleep until the consumer makes room, re-checking after arming the wait.
        if (!st.producer_blocks) {
            space_q.ack();
            if (ring.writable().value_or(0) > 0) continue;
            if (const int e = space_q.ack_wait(kWaitMs); e != 0) {
                return format("producer: ack_wait %s at byte %" PRIu64 " with %zu bytes writable",
                              e == ETIMEDOUT ? "TIMED OUT (lost wakeup)" : std::strerror(e), sent,
                              ring.writable().value_or(0));
            }
        } else {
            int e = 0;
            if (rng.chance(50)) {  // block, re-check, wait: by hand
                if (e = space_q.block(); e != 0) return format("producer: block %d", e);
                if (ring.writable().value_or(0) > 0) {
                    space_q.unblock();
                    continue;
                }
                e = space_q.block_wait(kWaitMs);
            } else {  // the same in one call
                e = space_q.block_wait(kWaitMs, [&] { return ring.writable().value_or(0) == 0; });
            }
            if (e != 0) {
                return format("producer: block_wait %s at byte %" PRIu64 " with %zu bytes writable",
                              e == ETIMEDOUT ? "TIMED OUT (never unblocked)" : std::strerror(e),
                              sent, ring.writable().value_or(0));
            }
            if (rng.chance(30)) space_q.ack();  // consume the "room" notifications now and then
        }
    }
    return "";
}

std::string stream_consumer(const cc::Segment& s, const StreamSetup& st) {
    cc::ByteRingConsumer ring(s.at<cc::ByteRingIndices>(st.ring_offset).value(),
                              s.bytes(st.data_offset, st.capacity).value());
    cc::EventQueueConsumer data_q(s.at<cc::EventQueueShared>(st.data_q_offset).value(), st.data_fd);
    cc::EventQueueProducer space_q(s.at<cc::EventQueueShared>(st.space_q_offset).value(),
                                   st.space_fd);
    ct::Rng rng(st.seed ^ 0x2222);
    std::vector<std::byte> scratch(3 * st.capacity + 16);
    uint64_t received = 0;
    while (received < st.total_bytes) {
        auto readable = ring.readable();
        if (!readable) return format("consumer: %s", cc::to_string(readable.error()));
        if (*readable == 0) {
            // Like a blocking recv: sleep until notified, with a real poll() or with ack_wait.
            int e = 0;
            if (rng.chance(50)) {
                pollfd p{st.data_fd, POLLIN, 0};
                const int ready = ::poll(&p, 1, kWaitMs);
                e = ready == 0 ? ETIMEDOUT : ready < 0 ? errno : 0;
                if (e == 0) e = data_q.ack();
            } else {
                e = data_q.ack_wait(kWaitMs);
            }
            if (e != 0) {
                return format("consumer: wait %s at byte %" PRIu64 " with %zu bytes readable",
                              e == ETIMEDOUT ? "TIMED OUT (lost wakeup)" : std::strerror(e),
                              received, ring.readable().value_or(0));
            }
            continue;
        }
        const size_t want = chunk_size(rng, st.capacity, st.total_bytes - received);
        std::string error;
        auto n = read_stream(ring, rng, scratch, st.seed, received, want, "consumer", error);
        if (!error.empty()) return error;
        if (!n) return format("consumer: %s", cc::to_string(n.error()));
        received += *n;
        const int e = st.producer_blocks ? space_q.unblock() : space_q.notify();
        if (e != 0) return format("consumer: space notify %d", e);
        // The seed's recv epilogue: clear the notification if the ring is empty, else keep it.
        if (ring.readable().value_or(0) == 0) {
            data_q.ack();
        } else {
            data_q.ack_undo();
        }
    }
    if (ring.readable().value_or(1) != 0) return "consumer: bytes beyond the end of the stream";
    return "";
}

void run_stream(bool processes, size_t capacity, uint64_t total_bytes, bool producer_blocks) {
    const uint64_t seed = ct::test_seed();
    Placement pl(4 * 4096 + 2 * capacity + ct::kReportBytes);
    auto data_fd = ct::make_eventfd();
    auto space_fd = ct::make_eventfd();
    StreamSetup st{};
    st.ring_offset = pl.place<cc::ByteRingIndices>();
    st.data_q_offset = pl.place<cc::EventQueueShared>();
    st.space_q_offset = pl.place<cc::EventQueueShared>();
    st.data_offset = pl.place_bytes(capacity);
    st.capacity = capacity;
    st.total_bytes = total_bytes;
    st.producer_blocks = producer_blocks;
    st.seed = seed;
    st.data_fd = data_fd.get();
    st.space_fd = space_fd.get();
    const ct::Side consumer = [&](const cc::Segment& s) { return stream_consumer(s, st); };
    const ct::Side producer = [&](const cc::Segment& s) { return stream_producer(s, st); };
    const auto result = processes ? ct::run_in_two_processes(pl.segment, consumer, producer)
                                  : ct::run_in_two_threads(pl.segment, consumer, producer);
    EXPECT_EQ(result.a, "") << "seed=" << seed;
    EXPECT_EQ(result.b, "") << "seed=" << seed;
}

// ---------------------------------------------------------------------------------------------
// 2. BipartiteRing (recvq style) + EventQueue

constexpr size_t kSlots = 16;
constexpr size_t kMaxPayload = 1536;

struct Datagram {  // a recvq item
    uint64_t seq;
    uint32_t length;
    uint32_t reserved;
    cc::OffsetPtr<std::byte> payload;  // the producer's buffer for this slot
    uint64_t consumed_seq;             // written by the consumer while it holds the item
};
using DgramShared = cc::BipartiteRingShared<Datagram, kSlots>;

struct DgramSetup {
    uint64_t ring_offset, buffers_offset, data_q_offset, space_q_offset;
    uint64_t total;
    uint64_t seed;
    int data_fd, space_fd;
};

size_t dgram_length(uint64_t seed, uint64_t seq) {
    const uint64_t r = ct::mix64(seed ^ seq);
    return (r & 7) == 0 ? 0 : static_cast<size_t>(r >> 8) % (kMaxPayload + 1);
}

std::string dgram_producer(const cc::Segment& s, const DgramSetup& st) {
    auto* shared = s.at<DgramShared>(st.ring_offset).value();
    cc::BipartiteProducer<Datagram, kSlots> ring(shared);
    cc::EventQueueProducer data_q(s.at<cc::EventQueueShared>(st.data_q_offset).value(), st.data_fd);
    cc::EventQueueConsumer space_q(s.at<cc::EventQueueShared>(st.space_q_offset).value(),
                                   st.space_fd);
    ct::Rng rng(st.seed ^ 0x3333);
    uint64_t sent = 0;
    uint64_t reclaimed = 0;
    std::string error;
    const auto check_spent = [&](size_t, Datagram& item) {
        if (error.empty() && (item.seq != reclaimed + 1 || item.consumed_seq != item.seq)) {
            error = format("producer: reclaimed item seq %" PRIu64 " consumed %" PRIu64
                           ", expected %" PRIu64,
                           item.seq, item.consumed_seq, reclaimed + 1);
        }
        ++reclaimed;
    };
    while (sent < st.total || reclaimed < st.total) {
        if (sent < st.total) {
            if (auto slot = ring.reserve()) {
                const uint64_t seq = sent + 1;
                const size_t length = dgram_length(st.seed, seq);
                const uint64_t buffer = st.buffers_offset + slot->first * kMaxPayload;
                fill_stream(s.bytes(buffer, length).value().data(), length, st.seed ^ seq, 0);
                slot->second->seq = seq;
                slot->second->length = static_cast<uint32_t>(length);
                slot->second->payload = cc::OffsetPtr<std::byte>{buffer};
                slot->second->consumed_seq = 0;
                ring.commit();
                ++sent;
                if (const int e = data_q.notify(); e != 0) return format("producer: notify %d", e);
                if (rng.chance(70)) continue;  // reclaim lazily, as the server frees spent pbufs
            }
        }
        auto n = ring.reclaim(check_spent);
        if (!error.empty()) return error;
        if (!n) return format("producer: reclaim %s", cc::to_string(n.error()));
        if (*n > 0 || (sent < st.total && ring.outstanding() < kSlots)) continue;
        // Nothing to reclaim and nothing to send: wait for the consumer to release items.
        space_q.ack();
        if (ring.spent().value_or(0) > 0) continue;
        if (const int e = space_q.ack_wait(kWaitMs); e != 0) {
            return format("producer: ack_wait %s at datagram %" PRIu64 " with %zu spent",
                          e == ETIMEDOUT ? "TIMED OUT (lost wakeup)" : std::strerror(e), sent,
                          ring.spent().value_or(0));
        }
    }
    if (ring.outstanding() != 0) return "producer: items left outstanding";
    return "";
}

std::string dgram_consumer(const cc::Segment& s, const DgramSetup& st) {
    auto* shared = s.at<DgramShared>(st.ring_offset).value();
    cc::BipartiteConsumer<Datagram, kSlots> ring(shared);
    cc::EventQueueConsumer data_q(s.at<cc::EventQueueShared>(st.data_q_offset).value(), st.data_fd);
    cc::EventQueueProducer space_q(s.at<cc::EventQueueShared>(st.space_q_offset).value(),
                                   st.space_fd);
    ct::Rng rng(st.seed ^ 0x4444);
    uint64_t received = 0;
    const auto check = [&](const Datagram& item) -> std::string {
        const Datagram copy = cc::read_once(item);  // validate a private copy
        if (copy.seq != received + 1) {
            return format("consumer: datagram %" PRIu64 " where %" PRIu64 " was due", copy.seq,
                          received + 1);
        }
        if (copy.length > kMaxPayload) return "consumer: impossible length";
        auto payload = s.bytes(copy.payload.offset, copy.length);
        if (!payload) return "consumer: payload out of bounds";
        if (copy.length != dgram_length(st.seed, copy.seq)) return "consumer: wrong length";
        return check_stream(payload->data(), copy.length, st.seed ^ copy.seq, 0, "consumer");
    };
    while (received < st.total) {
        auto available = ring.available();
        if (!available) return format("consumer: %s", cc::to_string(available.error()));
        if (*available == 0) {
            int e = 0;
            if (rng.chance(50)) {
                pollfd p{st.data_fd, POLLIN, 0};
                const int ready = ::poll(&p, 1, kWaitMs);
                e = ready == 0 ? ETIMEDOUT : ready < 0 ? errno : 0;
                if (e == 0) e = data_q.ack();
            } else {
                e = data_q.ack_wait(kWaitMs);
            }
            if (e != 0) {
                return format("consumer: wait %s at datagram %" PRIu64 " with %zu available",
                              e == ETIMEDOUT ? "TIMED OUT (lost wakeup)" : std::strerror(e),
                              received, ring.available().value_or(0));
            }
            continue;
        }
        if (rng.chance(20)) {  // MSG_PEEK first: the same datagram must come again
            auto peeked = ring.peek();
            if (!peeked) return "consumer: peek failed with items available";
            if (auto error = check(**peeked); !error.empty()) return error;
        }
        auto item = ring.unpack();
        if (!item) return format("consumer: unpack %s", cc::to_string(item.error()));
        if (auto error = check(**item); !error.empty()) return error;
        (*item)->consumed_seq = (*item)->seq;  // the consumer writes into the held item
        ring.repack();
        ++received;
        if (const int e = space_q.notify(); e != 0) return format("consumer: notify %d", e);
        if (ring.available().value_or(0) == 0) {
            data_q.ack();
        } else {
            data_q.ack_undo();
        }
    }
    return "";
}

void run_datagrams(bool processes, uint64_t total) {
    const uint64_t seed = ct::test_seed();
    Placement pl(sizeof(DgramShared) + kSlots * kMaxPayload + 4 * 4096 + ct::kReportBytes);
    auto data_fd = ct::make_eventfd();
    auto space_fd = ct::make_eventfd();
    DgramSetup st{};
    st.ring_offset = pl.place<DgramShared>();
    st.data_q_offset = pl.place<cc::EventQueueShared>();
    st.space_q_offset = pl.place<cc::EventQueueShared>();
    st.buffers_offset = pl.place_bytes(kSlots * kMaxPayload);
    st.total = total;
    st.seed = seed;
    st.data_fd = data_fd.get();
    st.space_fd = space_fd.get();
    const ct::Side consumer = [&](const cc::Segment& s) { return dgram_consumer(s, st); };
    const ct::Side producer = [&](const cc::Segment& s) { return dgram_producer(s, st); };
    const auto result = processes ? ct::run_in_two_processes(pl.segment, producer, consumer)
                                  : ct::run_in_two_threads(pl.segment, producer, consumer);
    EXPECT_EQ(result.a, "") << "seed=" << seed;
    EXPECT_EQ(result.b, "") << "seed=" << seed;
}

// ---------------------------------------------------------------------------------------------
// 3. Both directions + Readiness: the client drives its loop with poll(app_fd) only.

struct DuplexSetup {
    uint64_t rx_ring, rx_data, tx_ring, tx_data, to_server_q, readiness;
    size_t capacity;
    uint64_t total_bytes;  // each direction
    uint64_t seed;
    int app_fd, peer_fd, server_efd;
};

std::string duplex_server(const cc::Segment& s, const DuplexSetup& st) {
    cc::ByteRingProducer rx(s.at<cc::ByteRingIndices>(st.rx_ring).value(),
                            s.bytes(st.rx_data, st.capacity).value());
    cc::ByteRingConsumer tx(s.at<cc::ByteRingIndices>(st.tx_ring).value(),
                            s.bytes(st.tx_data, st.capacity).value());
    cc::EventQueueConsumer q(s.at<cc::EventQueueShared>(st.to_server_q).value(), st.server_efd);
    cc::Readiness readiness(s.at<cc::ReadinessShared>(st.readiness).value(), -1, st.peer_fd);
    ct::Rng rng(st.seed ^ 0x5555);
    std::vector<std::byte> scratch(3 * st.capacity + 16);
    const uint64_t rx_seed = st.seed ^ 0xAAAA;
    const uint64_t tx_seed = st.seed ^ 0xBBBB;
    uint64_t rx_sent = 0;
    uint64_t tx_received = 0;
    while (rx_sent < st.total_bytes || tx_received < st.total_bytes) {
        bool progress = false;
        if (rx_sent < st.total_bytes) {
            auto n = write_stream(rx, rng, scratch, rx_seed, rx_sent,
                                  chunk_size(rng, st.capacity, st.total_bytes - rx_sent));
            if (!n) return format("server: rx %s", cc::to_string(n.error()));
            if (*n > 0) {
                rx_sent += *n;
                if (const int e = readiness.signal_readable(); e != 0) {
                    return format("server: signal_readable %s", std::strerror(e));
                }
                progress = true;
            }
        }
        std::string error;
        auto n = read_stream(tx, rng, scratch, tx_seed, tx_received,
                             chunk_size(rng, st.capacity, st.total_bytes - tx_received), "server",
                             error);
        if (!error.empty()) return error;
        if (!n) return format("server: tx %s", cc::to_string(n.error()));
        if (*n > 0) {
            tx_received += *n;
            if (const int e = readiness.unblock_writable(); e != 0) {
                return format("server: unblock_writable %s", std::strerror(e));
            }
            progress = true;
        }
        if (progress) continue;
        q.ack();
        if ((rx_sent < st.total_bytes && rx.writable().value_or(0) > 0) ||
            tx.readable().value_or(0) > 0) {
            continue;
        }
        if (const int e = q.ack_wait(kWaitMs); e != 0) {
            return format("server: ack_wait %s (rx %" PRIu64 " sent, %zu writable; tx %" PRIu64
                          " received, %zu readable)",
                          e == ETIMEDOUT ? "TIMED OUT (lost wakeup)" : std::strerror(e), rx_sent,
                          rx.writable().value_or(0), tx_received, tx.readable().value_or(0));
        }
    }
    if (tx.readable().value_or(1) != 0) return "server: bytes beyond the end of the tx stream";
    if (const int e = readiness.signal_eof(); e != 0) return "server: signal_eof failed";
    return "";
}

std::string duplex_client(const cc::Segment& s, const DuplexSetup& st) {
    cc::ByteRingConsumer rx(s.at<cc::ByteRingIndices>(st.rx_ring).value(),
                            s.bytes(st.rx_data, st.capacity).value());
    cc::ByteRingProducer tx(s.at<cc::ByteRingIndices>(st.tx_ring).value(),
                            s.bytes(st.tx_data, st.capacity).value());
    cc::EventQueueProducer q(s.at<cc::EventQueueShared>(st.to_server_q).value(), st.server_efd);
    cc::Readiness readiness(s.at<cc::ReadinessShared>(st.readiness).value(), st.app_fd, st.peer_fd);
    ct::Rng rng(st.seed ^ 0x6666);
    std::vector<std::byte> scratch(3 * st.capacity + 16);
    const uint64_t rx_seed = st.seed ^ 0xAAAA;
    const uint64_t tx_seed = st.seed ^ 0xBBBB;
    uint64_t rx_received = 0;
    uint64_t tx_sent = 0;
    uint64_t blocks = 0;
    while (rx_received < st.total_bytes || tx_sent < st.total_bytes) {
        bool progress = false;
        std::string error;
        auto n = read_stream(rx, rng, scratch, rx_seed, rx_received,
                             chunk_size(rng, st.capacity, st.total_bytes - rx_received), "client",
                             error);
        if (!error.empty()) return error;
        if (!n) return format("client: rx %s", cc::to_string(n.error()));
        if (*n > 0) {
            rx_received += *n;
            q.notify();  // room in rx
            progress = true;
        }
        if (tx_sent < st.total_bytes) {
            auto w = write_stream(tx, rng, scratch, tx_seed, tx_sent,
                                  chunk_size(rng, st.capacity, st.total_bytes - tx_sent));
            if (!w) return format("client: tx %s", cc::to_string(w.error()));
            if (*w > 0) {
                tx_sent += *w;
                q.notify();  // data in tx
                progress = true;
            }
        }
        if (progress) continue;
        // Idle: arm both readiness conditions, re-check, then sleep in poll() like an app.
        short events = 0;
        if (rx_received < st.total_bytes) {
            if (const int e = readiness.ack_readable(kWaitMs); e != 0) {
                return format("client: ack_readable %s", std::strerror(e));
            }
            if (rx.readable().value_or(0) > 0) {
                readiness.signal_readable();
                continue;
            }
            events |= POLLIN;
        }
        if (tx_sent < st.total_bytes) {
            if (const int e = readiness.block_writable(); e != 0) {
                return format("client: block_writable %s", std::strerror(e));
            }
            ++blocks;
            if (tx.writable().value_or(0) > 0) {
                readiness.unblock_writable();
                continue;
            }
            events |= POLLOUT;
        }
        pollfd p{st.app_fd, events, 0};
        const int ready = ::poll(&p, 1, kWaitMs);
        if (ready <= 0) {
            return format("client: poll(%s%s) %s (rx %" PRIu64
                          " received, %zu readable; tx %" PRIu64 " sent, %zu writable)",
                          (events & POLLIN) ? "IN" : "", (events & POLLOUT) ? "OUT" : "",
                          ready == 0 ? "TIMED OUT (lost wakeup)" : std::strerror(errno),
                          rx_received, rx.readable().value_or(0), tx_sent,
                          tx.writable().value_or(0));
        }
    }
    // The server ends with EOF: app_fd must then say POLLIN|POLLRDHUP, and be writable again.
    pollfd p{st.app_fd, POLLRDHUP, 0};
    if (::poll(&p, 1, kWaitMs) != 1 || (p.revents & POLLRDHUP) == 0) return "client: no EOF";
    p = pollfd{st.app_fd, POLLIN | POLLOUT | POLLRDHUP, 0};
    ::poll(&p, 1, 0);
    if (p.revents != (POLLIN | POLLOUT | POLLRDHUP)) {
        return format("client: revents %#x at the end, expected IN|OUT|RDHUP", p.revents);
    }
    if (readiness.tx_blocked()) return "client: still tx_blocked at the end";
    if (blocks == 0) return "client: the test never blocked the writer (no coverage)";
    return "";
}

void run_duplex(bool processes, size_t capacity, uint64_t total_bytes) {
    const uint64_t seed = ct::test_seed();
    Placement pl(8 * 4096 + 2 * capacity + ct::kReportBytes);
    auto fds = cc::Readiness::make_pair();
    ASSERT_TRUE(fds.has_value());
    ct::Fd app(fds->first);
    ct::Fd peer(fds->second);
    auto server_efd = ct::make_eventfd();
    DuplexSetup st{};
    st.rx_ring = pl.place<cc::ByteRingIndices>();
    st.tx_ring = pl.place<cc::ByteRingIndices>();
    st.to_server_q = pl.place<cc::EventQueueShared>();
    st.readiness = pl.place<cc::ReadinessShared>();
    st.rx_data = pl.place_bytes(capacity);
    st.tx_data = pl.place_bytes(capacity);
    st.capacity = capacity;
    st.total_bytes = total_bytes;
    st.seed = seed;
    st.app_fd = app.get();
    st.peer_fd = peer.get();
    st.server_efd = server_efd.get();
    const ct::Side server = [&](const cc::Segment& s) { return duplex_server(s, st); };
    const ct::Side client = [&](const cc::Segment& s) { return duplex_client(s, st); };
    const auto result = processes ? ct::run_in_two_processes(pl.segment, server, client)
                                  : ct::run_in_two_threads(pl.segment, server, client);
    EXPECT_EQ(result.a, "") << "seed=" << seed;
    EXPECT_EQ(result.b, "") << "seed=" << seed;
}

}  // namespace

TEST(ChannelStress, ByteRingThreadsOddCapacity) {
    run_stream(false, 4093, 6 << 20, false);
}
TEST(ChannelStress, ByteRingThreadsDefaultCapacity) {
    run_stream(false, cc::kDefaultRingBytes, 24 << 20, false);
}
TEST(ChannelStress, ByteRingThreadsWriterBlocksEventfd) {
    run_stream(false, 4096, 6 << 20, true);
}
TEST(ChannelStress, ByteRingProcessesOddCapacity) {
    run_stream(true, 4093, 6 << 20, false);
}
TEST(ChannelStress, ByteRingProcessesWriterBlocksEventfd) {
    run_stream(true, 1000, 4 << 20, true);
}
TEST(ChannelStress, DatagramsThreads) {
    run_datagrams(false, 40000);
}
TEST(ChannelStress, DatagramsProcesses) {
    run_datagrams(true, 40000);
}
TEST(ChannelStress, ReadinessDuplexThreads) {
    run_duplex(false, 4093, 4 << 20);
}
TEST(ChannelStress, ReadinessDuplexProcesses) {
    run_duplex(true, 8192, 4 << 20);
}
