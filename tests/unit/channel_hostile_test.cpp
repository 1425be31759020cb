// The other side is hostile: seeded random garbage is written into the shared indices, items
// and flags of every ring and queue while our side keeps operating. Every call must return a
// value or an error, stay bounded in time, and never touch memory outside the ring (the
// shared structs and data areas are exact-size heap blocks, so ASan flags any stray access;
// every span we get back is read end to end). Also: Segment::attach refuses unsealed memfds,
// Segment::at/bytes/OffsetPtr refuse offsets and counts that overflow or fall outside.
#include "channels/bipartite_ring.hpp"
#include "channels/byte_ring.hpp"
#include "channels/event_queue.hpp"
#include "channels/offset_ptr.hpp"
#include "channels/readiness.hpp"
#include "channels/segment.hpp"
#include "channels/segment_header.hpp"

#include "channel_test_support.hpp"

#include <gtest/gtest.h>

#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace cc = culvert::channels;
namespace ct = culvert::channels::test;

namespace {

// Garbage that hits the edges more often than uniform noise would.
uint64_t garbage(ct::Rng& rng, uint64_t scale) {
    switch (rng.range(0, 5)) {
        case 0:
            return rng.next();
        case 1:
            return rng.range(0, 2 * scale + 2);
        case 2:
            return UINT64_MAX - rng.range(0, 3);
        case 3:
            return scale == 0 ? 0 : scale * rng.range(1, 2) - rng.range(0, 1);
        case 4:
            return uint64_t{1} << rng.range(0, 63);
        default:
            return 0;
    }
}

// Reads every byte of a span: ASan reports it if the span reaches outside its allocation.
template <class Span>
unsigned touch(const Span& span) {
    unsigned sum = 0;
    for (auto b : span) sum += static_cast<unsigned>(b);
    return sum;
}

bool inside(const void* p, size_t n, const void* base, size_t size) {
    const auto a = reinterpret_cast<uintptr_t>(p);
    const auto b = reinterpret_cast<uintptr_t>(base);
    return a >= b && a - b <= size && n <= size - (a - b);
}

// --- ByteRing ------------------------------------------------------------------------------

void byte_ring_round(ct::Rng& rng, size_t capacity, int steps) {
    // Separate exact-size heap blocks: indices, data. Fresh views are built on garbage too.
    auto indices = std::make_unique<cc::ByteRingIndices>();
    indices->write_idx = rng.chance(50) ? 0 : garbage(rng, capacity);
    indices->read_idx = rng.chance(50) ? 0 : garbage(rng, capacity);
    std::vector<std::byte> data(capacity);
    std::vector<std::byte> scratch(2 * capacity + 8);
    cc::ByteRingProducer producer(indices.get(), data);
    cc::ByteRingConsumer consumer(indices.get(), data);
    for (int i = 0; i < steps; ++i) {
        switch (rng.range(0, 11)) {
            case 0:
                indices->write_idx.store(garbage(rng, capacity));
                break;  // hostile producer
            case 1:
                indices->read_idx.store(garbage(rng, capacity));
                break;  // hostile consumer
            case 2: {
                auto n = producer.writable();
                if (n) {
                    ASSERT_LE(*n, capacity);
                }
                break;
            }
            case 3: {
                const size_t len = rng.range(0, scratch.size());
                auto n = producer.write(scratch.data(), len);
                if (n) {
                    ASSERT_LE(*n, std::min(len, capacity));
                }
                break;
            }
            case 4: {
                std::vector<iovec> iov;
                for (size_t k = rng.range(0, 6); k > 0; --k) {
                    const size_t len = rng.range(0, capacity);
                    iov.push_back(iovec{scratch.data(), len});
                }
                auto n = producer.write(iov);
                if (n) {
                    ASSERT_LE(*n, capacity);
                }
                break;
            }
            case 5: {
                auto spans = producer.write_spans();
                if (!spans) break;
                size_t total = 0;
                for (auto& s : *spans) {
                    ASSERT_TRUE(inside(s.data(), s.size(), data.data(), capacity));
                    for (auto& b : s) b = std::byte{0x5A};  // writes are checked by ASan too
                    total += s.size();
                }
                ASSERT_LE(total, capacity);
                producer.commit(rng.range(0, total));
                break;
            }
            case 6: {
                auto n = consumer.readable();
                if (n) {
                    ASSERT_LE(*n, capacity);
                }
                break;
            }
            case 7: {
                const size_t len = rng.range(0, scratch.size());
                auto n = consumer.read(scratch.data(), len);
                if (n) {
                    ASSERT_LE(*n, std::min(len, capacity));
                }
                break;
            }
            case 8: {
                std::vector<iovec> iov;
                for (size_t k = rng.range(0, 6); k > 0; --k) {
                    iov.push_back(iovec{scratch.data(), rng.range(0, capacity)});
                }
                auto n = rng.chance(50) ? consumer.read(iov)
                                        : consumer.peek(iov, rng.range(0, 2 * capacity));
                if (n) {
                    ASSERT_LE(*n, capacity);
                }
                break;
            }
            case 9: {
                auto n = consumer.drop(rng.range(0, 2 * capacity));
                if (n) {
                    ASSERT_LE(*n, capacity);
                }
                break;
            }
            case 10: {
                auto spans = consumer.read_spans();
                if (!spans) break;
                for (auto& s : *spans) {
                    ASSERT_TRUE(inside(s.data(), s.size(), data.data(), capacity));
                    touch(s);
                }
                break;
            }
            default: {  // a peer scribbling over the data area itself
                if (capacity > 0)
                    data[rng.range(0, capacity - 1)] = static_cast<std::byte>(rng.next());
                break;
            }
        }
        // Our own published index never leaves its range, whatever the peer does.
        ASSERT_LT(indices->write_idx.load() % (uint64_t{1} << 62), uint64_t{1} << 62);
    }
}

}  // namespace

TEST(ChannelHostile, ByteRingSurvivesGarbageIndices) {
    ct::Rng rng(ct::test_seed());
    for (size_t capacity : {size_t{1}, size_t{7}, size_t{4096}, size_t{65537}}) {
        for (int round = 0; round < 40; ++round) {
            byte_ring_round(rng, capacity, 500);
            if (HasFatalFailure()) return;
        }
    }
}

TEST(ChannelHostile, ByteRingViewsOnGarbageReportCorruptIndex) {
    cc::ByteRingIndices indices{};
    std::vector<std::byte> data(100);
    indices.write_idx = 200;  // == 2 * capacity: out of range
    indices.read_idx = 5;
    cc::ByteRingProducer producer(&indices, data);
    EXPECT_EQ(producer.writable().error(), cc::ChannelError::corrupt_index);
    EXPECT_EQ(producer.write("x", 1).error(), cc::ChannelError::corrupt_index);
    EXPECT_EQ(producer.write_spans().error(), cc::ChannelError::corrupt_index);
    cc::ByteRingConsumer consumer(&indices, data);
    EXPECT_EQ(consumer.readable().error(), cc::ChannelError::corrupt_index);
    indices.write_idx = 106;  // 101 bytes ahead of the reader: more than the capacity
    EXPECT_EQ(consumer.readable().error(), cc::ChannelError::corrupt_index);
    EXPECT_EQ(consumer.drop(1).error(), cc::ChannelError::corrupt_index);
    indices.write_idx = 105;  // exactly full: legal
    EXPECT_EQ(consumer.readable().value(), 100u);
    indices.read_idx = 199;                      // a consumer "ahead" of a fresh producer at 0
    cc::ByteRingProducer fresh(&indices, data);  // takes write_idx 105 as its own
    EXPECT_EQ(fresh.writable().error(), cc::ChannelError::corrupt_index);
}

TEST(ChannelHostile, ByteRingSurvivesAConcurrentScribbler) {
    ct::Rng rng(ct::test_seed());
    constexpr size_t kCapacity = 4093;
    auto indices = std::make_unique<cc::ByteRingIndices>();
    std::vector<std::byte> data(kCapacity);
    std::vector<std::byte> scratch(3 * kCapacity);
    std::atomic<bool> stop{false};
    std::thread scribbler([&, seed = rng.next()] {
        ct::Rng r(seed);
        while (!stop.load(std::memory_order_relaxed)) {
            indices->write_idx.store(garbage(r, kCapacity), std::memory_order_relaxed);
            indices->read_idx.store(garbage(r, kCapacity), std::memory_order_relaxed);
        }
    });
    cc::ByteRingProducer producer(indices.get(), data);
    cc::ByteRingConsumer consumer(indices.get(), data);
    size_t values = 0;
    size_t errors = 0;
    const int64_t end = ct::now_ms() + 300;
    while (ct::now_ms() < end) {
        auto w = producer.write(scratch.data(), rng.range(0, scratch.size()));
        auto r = consumer.read(scratch.data(), rng.range(0, scratch.size()));
        auto spans = consumer.read_spans();
        if (spans) {
            for (auto& s : *spans) {
                ASSERT_TRUE(inside(s.data(), s.size(), data.data(), kCapacity));
                touch(s);
            }
        }
        (w ? values : errors)++;
        (r ? values : errors)++;
    }
    stop = true;
    scribbler.join();
    std::printf("values=%zu errors=%zu\n", values, errors);
    EXPECT_GT(errors, 0u);  // the garbage was noticed
}

// --- BipartiteRing ---------------------------------------------------------------------------

namespace {

struct Slot {
    uint64_t seq;
    uint32_t length;
    uint32_t flags;
    cc::OffsetPtr<std::byte> payload;
};

}  // namespace

TEST(ChannelHostile, BipartiteRingSurvivesGarbageIndicesAndItems) {
    ct::Rng rng(ct::test_seed());
    constexpr size_t N = 5;
    using Shared = cc::BipartiteRingShared<Slot, N>;
    auto segment = cc::Segment::create("culvert-hostile", 3 * 4096).value();
    for (int round = 0; round < 200; ++round) {
        auto shared = std::make_unique<Shared>();
        shared->write_idx = rng.chance(50) ? 0 : garbage(rng, N);
        shared->read_idx = rng.chance(50) ? 0 : garbage(rng, N);
        cc::BipartiteProducer<Slot, N> producer(shared.get());
        cc::BipartiteConsumer<Slot, N> consumer(shared.get());
        const auto in_ring = [&](const Slot* s) {
            return s >= &shared->items[0] && s < &shared->items[0] + N;
        };
        for (int i = 0; i < 300; ++i) {
            switch (rng.range(0, 9)) {
                case 0:
                    shared->write_idx.store(garbage(rng, N));
                    break;
                case 1:
                    shared->read_idx.store(garbage(rng, N));
                    break;
                case 2: {  // garbage in an item, any field
                    auto& item = shared->items[rng.range(0, N - 1)];
                    item.seq = rng.next();
                    item.length = static_cast<uint32_t>(garbage(rng, 4096));
                    item.payload.offset = garbage(rng, segment.size());
                    break;
                }
                case 3:
                    if (auto slot = producer.reserve()) {
                        ASSERT_LT(slot->first, N);
                        ASSERT_TRUE(in_ring(slot->second));
                        slot->second->payload.offset = 4096;
                        slot->second->length = 100;
                        producer.commit();
                    }
                    break;
                case 4: {
                    auto n = producer.spent();
                    if (n) {
                        ASSERT_LE(*n, N);
                    }
                    break;
                }
                case 5: {
                    size_t calls = 0;
                    auto n = producer.reclaim(
                        [&](size_t slot, Slot& item) {
                            ASSERT_LT(slot, N);
                            ASSERT_TRUE(in_ring(&item));
                            ++calls;
                        },
                        rng.range(0, N + 1));
                    if (n) {
                        ASSERT_EQ(*n, calls);
                    }
                    ASSERT_LE(producer.outstanding(), N);
                    break;
                }
                case 6: {
                    auto n = consumer.available();
                    if (n) {
                        ASSERT_LE(*n, N);
                    }
                    break;
                }
                case 7:
                case 8: {
                    if (consumer.holding()) {
                        consumer.repack();
                        break;
                    }
                    auto item = rng.chance(50) ? consumer.peek() : consumer.unpack();
                    if (!item) break;
                    ASSERT_TRUE(in_ring(*item));
                    // The caller's validation of a hostile item: copy once, check, then use.
                    const Slot copy = cc::read_once(**item);
                    auto payload = segment.bytes(copy.payload.offset, copy.length);
                    if (payload) {
                        ASSERT_TRUE(inside(payload->data(), payload->size(), segment.base(),
                                           segment.size()));
                        touch(*payload);  // beyond the mapping this would crash
                    } else {
                        ASSERT_EQ(payload.error(), cc::ChannelError::out_of_bounds);
                    }
                    break;
                }
                default:
                    if (consumer.holding()) consumer.repack();
                    break;
            }
        }
    }
}

// --- EventQueue ------------------------------------------------------------------------------

TEST(ChannelHostile, EventQueueSurvivesGarbageCountersAndEventfdValues) {
    ct::Rng rng(ct::test_seed());
    auto shared = std::make_unique<cc::EventQueueShared>();
    auto fd = ct::make_eventfd();
    cc::EventQueueProducer producer(shared.get(), fd.get());
    cc::EventQueueConsumer consumer(shared.get(), fd.get());
    const auto ok_or_errno = [](int r) { return r == 0 || (r > 0 && r < 4096); };
    for (int i = 0; i < 20000; ++i) {
        const int64_t start = ct::now_ms();
        int r = 0;
        switch (rng.range(0, 11)) {
            case 0:
                shared->write_idx.store(garbage(rng, 4));
                break;
            case 1:
                shared->read_idx.store(garbage(rng, 4));
                break;
            case 2: {  // a peer writing straight into the eventfd
                const uint64_t v = rng.chance(50) ? cc::kEventfdMax : rng.range(1, 1000);
                [[maybe_unused]] auto n = ::write(fd.get(), &v, sizeof v);
                break;
            }
            case 3:
                r = producer.notify();
                break;
            case 4:
                r = producer.unblock();
                break;
            case 5:
                r = consumer.ack();
                break;
            case 6:
                r = consumer.ack_undo();
                break;
            case 7:
                r = consumer.ack_wait(static_cast<int>(rng.range(0, 1)));
                break;
            case 8:
                r = consumer.block();
                break;
            case 9:
                r = consumer.block_wait(static_cast<int>(rng.range(0, 1)));
                break;
            case 10:
                r = consumer.unblock();
                break;
            default:
                (void)consumer.pending();
                (void)consumer.blocked();
                break;
        }
        ASSERT_TRUE(ok_or_errno(r)) << r;
        ASSERT_LT(ct::now_ms() - start, 500) << "a call took too long: it must never block";
    }
}

// --- Readiness -------------------------------------------------------------------------------

TEST(ChannelHostile, ReadinessSurvivesGarbageFlags) {
    ct::Rng rng(ct::test_seed());
    auto shared = std::make_unique<cc::ReadinessShared>();
    auto fds = cc::Readiness::make_pair().value();
    ct::Fd app(fds.first);
    ct::Fd peer(fds.second);
    cc::Readiness client(shared.get(), app.get(), peer.get());
    cc::Readiness server(shared.get(), -1, peer.get());
    for (int i = 0; i < 5000; ++i) {
        const int64_t start = ct::now_ms();
        int r = 0;
        switch (rng.range(0, 7)) {
            case 0:
                shared->rx_signaled.store(static_cast<uint32_t>(garbage(rng, 1)));
                break;
            case 1:
                shared->tx_blocked.store(static_cast<uint32_t>(garbage(rng, 1)));
                break;
            case 2:
                r = server.signal_readable();
                break;
            case 3:
                r = server.unblock_writable();
                break;
            case 4:
                r = client.ack_readable(static_cast<int>(rng.range(0, 1)));
                break;
            case 5:
                r = client.block_writable();
                break;
            case 6:
                r = client.unblock_writable();
                break;
            default:
                r = client.signal_readable();
                break;
        }
        ASSERT_TRUE(r == 0 || r == ETIMEDOUT || r == EAGAIN) << std::strerror(r);
        ASSERT_LT(ct::now_ms() - start, 500);
    }
}

TEST(ChannelHostile, ServerDrainIsBoundedWhateverTheClientWrites) {
    auto shared = std::make_unique<cc::ReadinessShared>();
    auto fds = cc::Readiness::make_pair().value();
    ct::Fd app(fds.first);
    ct::Fd peer(fds.second);
    cc::Readiness server(shared.get(), -1, peer.get());
    // A hostile client raises its send buffer and keeps the server's side stuffed.
    const int big = 4 << 20;
    ASSERT_EQ(::setsockopt(app.get(), SOL_SOCKET, SO_SNDBUF, &big, sizeof big), 0);
    std::vector<char> junk(1 << 16, 'j');
    std::atomic<bool> stop{false};
    std::thread stuffer([&] {
        while (!stop.load()) {
            if (::send(app.get(), junk.data(), junk.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
                ::usleep(100);
            }
        }
    });
    // Wait until the stuffing really happened: far more than one bounded drain is queued.
    const int64_t deadline = ct::now_ms() + 2000;
    int queued = 0;
    while (queued < (1 << 20) && ct::now_ms() < deadline) {
        ::usleep(1000);
        ASSERT_EQ(::ioctl(peer.get(), FIONREAD, &queued), 0);
    }
    EXPECT_GE(queued, 1 << 20);
    for (int i = 0; i < 50; ++i) {
        shared->tx_blocked = 1;
        const int64_t start = ct::now_ms();
        EXPECT_EQ(server.unblock_writable(), 0);
        EXPECT_LT(ct::now_ms() - start, 500);
    }
    stop = true;
    stuffer.join();
}

// --- Segment ---------------------------------------------------------------------------------

TEST(ChannelHostile, AttachOfAnUnsealedMemfdFailsWithEperm) {
    const int fd = ::memfd_create("culvert-unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 1 << 16), 0);
    auto attached = cc::Segment::attach(fd);
    ASSERT_FALSE(attached.has_value());
    EXPECT_EQ(attached.error(), EPERM);
}

TEST(ChannelHostile, SegmentViewsRefuseOverflowingAndOutsideRanges) {
    auto segment = cc::Segment::create("culvert-hostile", 2 * 4096).value();
    const size_t size = segment.size();
    struct Big {
        char bytes[4096];
    };
    EXPECT_FALSE(segment.at<uint64_t>(UINT64_MAX - 7).has_value());
    EXPECT_FALSE(segment.at<uint64_t>(UINT64_MAX & ~uint64_t{7}).has_value());
    EXPECT_FALSE(segment.at<uint64_t>(8, SIZE_MAX / 8 + 1).has_value());  // count * 8 wraps
    EXPECT_FALSE(segment.at<uint64_t>(8, SIZE_MAX).has_value());
    EXPECT_FALSE(segment.at<Big>(0, (SIZE_MAX / sizeof(Big)) + 1).has_value());
    EXPECT_FALSE(segment.at<Big>(4096, 2).has_value());
    EXPECT_TRUE(segment.at<Big>(4096, 1).has_value());
    EXPECT_FALSE(segment.bytes(UINT64_MAX, 2).has_value());
    EXPECT_FALSE(segment.bytes(1, SIZE_MAX).has_value());
    EXPECT_FALSE(segment.bytes(size, 1).has_value());
    EXPECT_TRUE(segment.bytes(size, 0).has_value());
    EXPECT_FALSE(cc::OffsetPtr<uint32_t>{UINT64_MAX - 3}.resolve(segment).has_value());
    EXPECT_FALSE(cc::OffsetPtr<uint32_t>{2}.resolve(segment).has_value());  // misaligned
    // Seeded random offsets and counts: whatever is accepted lies inside the mapping.
    ct::Rng rng(ct::test_seed());
    for (int i = 0; i < 100000; ++i) {
        const uint64_t offset = garbage(rng, size);
        const size_t count = static_cast<size_t>(garbage(rng, size / 4));
        if (auto p = segment.at<uint32_t>(offset, count)) {
            ASSERT_TRUE(inside(*p, count * sizeof(uint32_t), segment.base(), size));
            ASSERT_EQ(reinterpret_cast<uintptr_t>(*p) % alignof(uint32_t), 0u);
            if (count > 0) {
                (*p)[0] = 1;  // would fault outside the mapping
                (*p)[count - 1] = 2;
            }
        }
        if (auto b = segment.bytes(offset, count)) {
            ASSERT_TRUE(inside(b->data(), b->size(), segment.base(), size));
        }
    }
    // A garbage header is an error value, never a crash.
    for (int i = 0; i < 1000; ++i) {
        auto* raw = segment.at<uint64_t>(0, 8).value();
        for (int k = 0; k < 8; ++k)
            raw[k] = rng.chance(30) ? cc::kSegmentMagic : garbage(rng, size);
        auto header = cc::check_segment_header(segment);
        if (header) {
            ASSERT_EQ((*header)->segment_bytes, size);
        }
    }
}
