// Model-based properties of ByteRingProducer/ByteRingConsumer: a random sequence of writes
// (single buffer, many iovecs, write_spans+commit) and reads (single buffer, iovecs, peek with
// skip, drop, read_spans+drop) behaves exactly like a bounded FIFO of bytes, for capacities
// 1, 7, 4096, 128 KiB and random ones; readable/writable always match the model.
#include "channels/byte_ring.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace cc = culvert::channels;

namespace {

// The model: a FIFO of bytes with a capacity. A vector with a moving head keeps it obviously
// correct and fast enough for 128 KiB rings in a -O0 build.
class FifoModel {
  public:
    explicit FifoModel(size_t capacity) : capacity_(capacity) {}
    size_t size() const { return bytes_.size() - head_; }
    size_t room() const { return capacity_ - size(); }
    void push(const std::byte* p, size_t n) { bytes_.insert(bytes_.end(), p, p + n); }
    const std::byte* front() const { return bytes_.data() + head_; }
    void pop(size_t n) {
        head_ += n;
        if (head_ > (1u << 16) && head_ * 2 > bytes_.size()) {
            bytes_.erase(bytes_.begin(), bytes_.begin() + static_cast<std::ptrdiff_t>(head_));
            head_ = 0;
        }
    }

  private:
    size_t capacity_;
    std::vector<std::byte> bytes_;
    size_t head_ = 0;
};

// Seeded content: each write gets fresh, distinguishable bytes.
std::vector<std::byte> pattern(size_t n, uint64_t seed) {
    std::vector<std::byte> out(n);
    uint64_t x = seed | 1;
    for (size_t i = 0; i < n; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out[i] = static_cast<std::byte>(x >> 24);
    }
    return out;
}

// Lengths that hit the edges: zero, tiny, exactly the capacity / room, above, anything.
size_t gen_length(size_t capacity, size_t hint) {
    switch (*rc::gen::inRange(0, 6)) {
        case 0:
            return 0;
        case 1:
            return *rc::gen::inRange<size_t>(1, 4);
        case 2:
            return hint;
        case 3:
            return hint + 1;
        case 4:
            return capacity;
        default:
            return *rc::gen::inRange<size_t>(0, capacity + 2);
    }
}

// Splits `total` bytes into iovec lengths: many small ones, zero-length ones included.
std::vector<size_t> gen_iov_lengths(size_t capacity, size_t hint) {
    const size_t count = *rc::gen::inRange<size_t>(0, 40);
    std::vector<size_t> lengths;
    lengths.reserve(count);
    const bool small = *rc::gen::arbitrary<bool>();
    for (size_t i = 0; i < count; ++i) {
        lengths.push_back(small ? *rc::gen::inRange<size_t>(0, 5)
                                : gen_length(capacity, hint / std::max<size_t>(count, 1)));
    }
    return lengths;
}

// memcmp/memcpy with a length of zero may still not take null pointers (UBSan checks it).
bool same_bytes(const void* a, const void* b, size_t n) {
    return n == 0 || std::memcmp(a, b, n) == 0;
}
void copy_bytes(void* dst, const void* src, size_t n) {
    if (n != 0) std::memcpy(dst, src, n);
}

struct Buffers {
    std::vector<std::vector<std::byte>> storage;
    std::vector<iovec> iov;
    size_t total = 0;
};

Buffers make_buffers(const std::vector<size_t>& lengths) {
    Buffers b;
    b.storage.reserve(lengths.size());
    for (size_t len : lengths) {
        b.storage.emplace_back(len);
        // Zero-length iovecs may carry a null base, as callers pass them.
        b.iov.push_back(iovec{len == 0 ? nullptr : b.storage.back().data(), len});
        b.total += len;
    }
    return b;
}

void check_against_model(const cc::ByteRingProducer& producer, const cc::ByteRingConsumer& consumer,
                         const FifoModel& model, size_t capacity) {
    auto readable = consumer.readable();
    auto writable = producer.writable();
    RC_ASSERT(readable.has_value());
    RC_ASSERT(writable.has_value());
    RC_ASSERT(*readable == model.size());
    RC_ASSERT(*writable == capacity - model.size());
}

void run_ring_model(size_t capacity) {
    RC_TAG(capacity);
    auto indices = std::make_unique<cc::ByteRingIndices>();
    // Start anywhere in the index space: the wrap of the indices themselves is an edge too.
    const uint64_t start = *rc::gen::inRange<uint64_t>(0, 2 * capacity);
    indices->write_idx = start;
    indices->read_idx = start;
    std::vector<std::byte> data(capacity);  // exactly sized: ASan flags any access outside
    cc::ByteRingProducer producer(indices.get(), data);
    cc::ByteRingConsumer consumer(indices.get(), data);
    RC_ASSERT(producer.capacity() == capacity);
    RC_ASSERT(consumer.capacity() == capacity);
    FifoModel model(capacity);

    const int steps = *rc::gen::inRange(1, 80);
    for (int step = 0; step < steps; ++step) {
        const int op = *rc::gen::inRange(0, 8);
        switch (op) {
            case 0: {  // write one buffer
                const size_t len = gen_length(capacity, model.room());
                auto bytes = pattern(len, *rc::gen::arbitrary<uint64_t>());
                auto n = producer.write(bytes.data(), len);
                RC_ASSERT(n.has_value());
                RC_ASSERT(*n == std::min(len, model.room()));
                model.push(bytes.data(), *n);
                break;
            }
            case 1: {  // write many iovecs
                auto lengths = gen_iov_lengths(capacity, model.room());
                Buffers b = make_buffers(lengths);
                uint64_t seed = *rc::gen::arbitrary<uint64_t>();
                for (auto& s : b.storage) {
                    auto p = pattern(s.size(), ++seed);
                    std::copy(p.begin(), p.end(), s.begin());
                }
                auto n = producer.write(b.iov);
                RC_ASSERT(n.has_value());
                RC_ASSERT(*n == std::min(b.total, model.room()));
                size_t left = *n;
                for (auto& s : b.storage) {  // what went in: a prefix of the iovecs, in order
                    const size_t take = std::min(left, s.size());
                    model.push(s.data(), take);
                    left -= take;
                }
                break;
            }
            case 2: {  // zero-copy fill
                auto spans = producer.write_spans();
                RC_ASSERT(spans.has_value());
                const size_t offered = (*spans)[0].size() + (*spans)[1].size();
                RC_ASSERT(offered == model.room());
                RC_ASSERT((*spans)[1].empty() || !(*spans)[0].empty());
                const size_t n = std::min(gen_length(capacity, offered), offered);
                auto bytes = pattern(n, *rc::gen::arbitrary<uint64_t>());
                const size_t first = std::min(n, (*spans)[0].size());
                copy_bytes((*spans)[0].data(), bytes.data(), first);
                copy_bytes((*spans)[1].data(), bytes.data() + first, n - first);
                producer.commit(n);
                model.push(bytes.data(), n);
                break;
            }
            case 3: {  // read one buffer
                const size_t len = gen_length(capacity, model.size());
                std::vector<std::byte> out(len);
                auto n = consumer.read(out.data(), len);
                RC_ASSERT(n.has_value());
                RC_ASSERT(*n == std::min(len, model.size()));
                RC_ASSERT(same_bytes(out.data(), model.front(), *n));
                model.pop(*n);
                break;
            }
            case 4:    // read into many iovecs
            case 5: {  // peek into many iovecs, with a skip
                const bool peek = op == 5;
                auto lengths = gen_iov_lengths(capacity, model.size());
                Buffers b = make_buffers(lengths);
                const size_t skip = peek ? gen_length(capacity, model.size() / 2) : 0;
                auto n = peek ? consumer.peek(b.iov, skip) : consumer.read(b.iov);
                RC_ASSERT(n.has_value());
                const size_t avail = skip >= model.size() ? 0 : model.size() - skip;
                RC_ASSERT(*n == std::min(b.total, avail));
                size_t at = 0;
                for (auto& s : b.storage) {
                    const size_t take = std::min(*n - at, s.size());
                    if (take != 0) RC_ASSERT(same_bytes(s.data(), model.front() + skip + at, take));
                    at += take;
                }
                if (!peek) model.pop(*n);
                break;
            }
            case 6: {  // drop
                const size_t len = gen_length(capacity, model.size());
                auto n = consumer.drop(len);
                RC_ASSERT(n.has_value());
                RC_ASSERT(*n == std::min(len, model.size()));
                model.pop(*n);
                break;
            }
            case 7: {  // zero-copy drain
                auto spans = consumer.read_spans();
                RC_ASSERT(spans.has_value());
                const auto& [a, b] = *spans;
                RC_ASSERT(a.size() + b.size() == model.size());
                RC_ASSERT(b.empty() || !a.empty());
                RC_ASSERT(same_bytes(a.data(), model.front(), a.size()));
                if (!b.empty()) RC_ASSERT(same_bytes(b.data(), model.front() + a.size(), b.size()));
                // Every span lies inside the data area.
                RC_ASSERT(a.data() >= data.data() && a.data() + a.size() <= data.data() + capacity);
                RC_ASSERT(b.empty() || b.data() == data.data());
                const size_t n = std::min(gen_length(capacity, model.size()), model.size());
                auto dropped = consumer.drop(n);
                RC_ASSERT(dropped.has_value() && *dropped == n);
                model.pop(n);
                break;
            }
        }
        check_against_model(producer, consumer, model, capacity);
        // The published indices always stay in range, whatever happened.
        RC_ASSERT(indices->write_idx.load() < 2 * capacity);
        RC_ASSERT(indices->read_idx.load() < 2 * capacity);
    }
}

}  // namespace

RC_GTEST_PROP(ByteRingProps, BehavesLikeAFifoOfCapacityOne, ()) {
    run_ring_model(1);
}
RC_GTEST_PROP(ByteRingProps, BehavesLikeAFifoOfCapacitySeven, ()) {
    run_ring_model(7);
}
RC_GTEST_PROP(ByteRingProps, BehavesLikeAFifoOfCapacity4096, ()) {
    run_ring_model(4096);
}
RC_GTEST_PROP(ByteRingProps, BehavesLikeAFifoOfCapacity128KiB, ()) {
    run_ring_model(cc::kDefaultRingBytes);
}
RC_GTEST_PROP(ByteRingProps, BehavesLikeAFifoOfAnyCapacity, ()) {
    run_ring_model(*rc::gen::inRange<size_t>(1, 1000));
}

// A ring that was used by someone else before us: constructing the views on live indices
// continues the stream where it was (each side takes its own index once).
TEST(ByteRingProps, ViewsAttachToLiveIndices) {
    cc::ByteRingIndices indices{};
    std::vector<std::byte> data(10);
    {
        cc::ByteRingProducer producer(&indices, data);
        ASSERT_EQ(producer.write("abcdefgh", 8).value(), 8u);
        cc::ByteRingConsumer consumer(&indices, data);
        char out[5];
        ASSERT_EQ(consumer.read(out, 5).value(), 5u);
    }
    cc::ByteRingProducer producer(&indices, data);
    cc::ByteRingConsumer consumer(&indices, data);
    EXPECT_EQ(producer.writable().value(), 7u);
    ASSERT_EQ(producer.write("ijklmn", 6).value(), 6u);  // wraps
    char out[16] = {};
    ASSERT_EQ(consumer.read(out, sizeof out).value(), 9u);
    EXPECT_EQ(std::string(out, 9), "fghijklmn");
}
