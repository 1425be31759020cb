// SPSC byte ring for TCP data in shared memory (the seed's "circular buffer"): one side
// produces, the other consumes, each in its own process. Indices run over [0, 2*capacity)
// so the whole capacity is usable (full != empty) for any capacity >= 1.
#pragma once

#include "channels/errors.hpp"

#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>

namespace culvert::channels {

// In shared memory, 128 bytes: the two indices on separate cache lines so that producer
// and consumer do not write the same line (no false sharing).
struct ByteRingIndices {
    alignas(64) std::atomic<uint64_t> write_idx;  // written only by the producer
    alignas(64) std::atomic<uint64_t> read_idx;   // written only by the consumer
};
static_assert(std::atomic<uint64_t>::is_always_lock_free,
              "shared-memory atomics must be lock-free (address-free across processes)");
static_assert(sizeof(ByteRingIndices) == 128);
static_assert(offsetof(ByteRingIndices, write_idx) == 0);
static_assert(offsetof(ByteRingIndices, read_idx) == 64);

inline constexpr size_t kDefaultRingBytes = 128 * 1024;
// Indices go up to 2*capacity and are advanced by up to capacity before wrapping.
inline constexpr size_t kMaxRingBytes = size_t{1} << 60;

// A view of the data area and the indices, shared by both ends. Not in shared memory.
class ByteRingBase {
  public:
    size_t capacity() const { return capacity_; }

  protected:
    ByteRingBase() = default;
    ByteRingBase(ByteRingIndices* shared, std::span<std::byte> data);

    // Position in the data area of an index in [0, 2*capacity).
    size_t position(uint64_t idx) const { return idx >= capacity_ ? idx - capacity_ : idx; }
    // idx + n with idx < 2*capacity and n <= capacity, reduced into [0, 2*capacity).
    uint64_t advance(uint64_t idx, uint64_t n) const {
        const uint64_t sum = idx + n;
        return sum >= 2 * capacity_ ? sum - 2 * capacity_ : sum;
    }
    // Bytes between a read index and a write index, both < 2*capacity.
    uint64_t distance(uint64_t read_idx, uint64_t write_idx) const {
        return write_idx >= read_idx ? write_idx - read_idx : write_idx + 2 * capacity_ - read_idx;
    }
    bool valid_index(uint64_t idx) const { return idx < 2 * capacity_; }

    ByteRingIndices* shared_ = nullptr;
    std::byte* data_ = nullptr;
    size_t capacity_ = 0;
};

class ByteRingProducer : public ByteRingBase {
  public:
    ByteRingProducer() = default;
    // Loads our own write index ONCE; from then on the private copy is the truth. If the
    // shared value is already out of range every call reports corrupt_index. `data` (and so
    // the capacity, 1..kMaxRingBytes) comes from our own records or a length validated
    // through Segment::bytes: an empty span is a programmer error.
    ByteRingProducer(ByteRingIndices* shared, std::span<std::byte> data);

    // Free bytes, from the consumer's read index (validated).
    std::expected<size_t, ChannelError> writable() const;
    // Copies what fits and publishes it; returns the count (0 when full: a short write).
    std::expected<size_t, ChannelError> write(const void* src, size_t len);
    std::expected<size_t, ChannelError> write(std::span<const iovec> iov);
    // Zero-copy fill: up to two spans of free space (the second after the wrap, often
    // empty); fill a prefix of them, then commit(n) publishes n bytes.
    std::expected<std::array<std::span<std::byte>, 2>, ChannelError> write_spans() const;
    // n must not exceed the free space the last write_spans() returned (programmer error).
    void commit(size_t n);

  private:
    uint64_t write_ = 0;  // private copy of our index; never re-read from shared memory
    bool corrupt_ = false;
    mutable size_t spans_bytes_ = 0;  // free space handed out by the last write_spans()
};

class ByteRingConsumer : public ByteRingBase {
  public:
    ByteRingConsumer() = default;
    ByteRingConsumer(ByteRingIndices* shared, std::span<std::byte> data);

    // Bytes available, from the producer's write index (validated).
    std::expected<size_t, ChannelError> readable() const;
    // Copies and consumes up to len bytes (0 when empty).
    std::expected<size_t, ChannelError> read(void* dst, size_t len);
    std::expected<size_t, ChannelError> read(std::span<const iovec> iov);
    // Copies without consuming, starting `skip` bytes in (MSG_PEEK, SO_PEEK_OFF).
    std::expected<size_t, ChannelError> peek(std::span<const iovec> iov, size_t skip = 0) const;
    // Consumes min(n, readable) bytes without copying; returns how many.
    std::expected<size_t, ChannelError> drop(size_t n);
    // Zero-copy drain: up to two spans of readable data; then drop(n).
    std::expected<std::array<std::span<const std::byte>, 2>, ChannelError> read_spans() const;

  private:
    // Copies up to `len` bytes starting `skip` bytes after our read index into iov.
    size_t copy_out(std::span<const iovec> iov, size_t available, size_t skip) const;
    void release(size_t n);

    uint64_t read_ = 0;  // private copy of our index; never re-read from shared memory
    bool corrupt_ = false;
};

}  // namespace culvert::channels
