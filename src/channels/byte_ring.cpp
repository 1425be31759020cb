// ByteRing producer and consumer.
//
// Memory orderings (the classic SPSC ring, across processes; lock-free atomics are
// address-free, so they work in a MAP_SHARED mapping):
// - The producer copies bytes in, then stores write_idx with RELEASE; the consumer loads
//   write_idx with ACQUIRE before copying them out: the bytes are visible before the index.
// - The consumer copies bytes out, then stores read_idx with RELEASE; the producer loads
//   read_idx with ACQUIRE before overwriting that space: the consumer's reads of the old
//   bytes happen before the producer's new writes (no write-after-read race).
// Trust: each side keeps its own index privately and validates the other's on every load;
// a hostile index yields corrupt_index and is never used to address memory. The producer
// never reads the data area, and the consumer only ever reads within [data, data+capacity).
#include "channels/byte_ring.hpp"

#include "channels/assert.hpp"

#include <algorithm>
#include <cstring>

namespace culvert::channels {

ByteRingBase::ByteRingBase(ByteRingIndices* shared, std::span<std::byte> data)
    : shared_(shared), data_(data.data()), capacity_(data.size()) {
    CULVERT_CHANNELS_ASSERT(shared != nullptr);
    CULVERT_CHANNELS_ASSERT(capacity_ >= 1 && capacity_ <= kMaxRingBytes);
}

// ---------------------------------------------------------------------------------------------
// Producer

ByteRingProducer::ByteRingProducer(ByteRingIndices* shared, std::span<std::byte> data)
    : ByteRingBase(shared, data) {
    // The one and only read of our own index: after this the private copy rules.
    write_ = shared_->write_idx.load(std::memory_order_acquire);
    corrupt_ = !valid_index(write_);
}

std::expected<size_t, ChannelError> ByteRingProducer::writable() const {
    CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
    if (corrupt_) return std::unexpected(ChannelError::corrupt_index);
    const uint64_t read_idx = shared_->read_idx.load(std::memory_order_acquire);
    if (!valid_index(read_idx)) return std::unexpected(ChannelError::corrupt_index);
    const uint64_t used = distance(read_idx, write_);
    // A consumer can never be more than `capacity` behind us, nor ahead of us.
    if (used > capacity_) return std::unexpected(ChannelError::corrupt_index);
    return capacity_ - used;
}

std::expected<size_t, ChannelError> ByteRingProducer::write(const void* src, size_t len) {
    const iovec one{const_cast<void*>(src), len};
    return write(std::span<const iovec>(&one, 1));
}

std::expected<size_t, ChannelError> ByteRingProducer::write(std::span<const iovec> iov) {
    auto free_bytes = writable();
    if (!free_bytes) return free_bytes;
    size_t done = 0;
    for (const iovec& v : iov) {
        if (done == *free_bytes) break;
        const size_t n = std::min(v.iov_len, *free_bytes - done);
        if (n == 0) continue;
        const auto* src = static_cast<const std::byte*>(v.iov_base);
        const size_t pos = position(advance(write_, done));
        const size_t first = std::min(n, capacity_ - pos);
        std::memcpy(data_ + pos, src, first);
        if (n > first) std::memcpy(data_, src + first, n - first);
        done += n;
    }
    if (done != 0) {
        write_ = advance(write_, done);
        shared_->write_idx.store(write_, std::memory_order_release);  // publish the bytes
    }
    spans_bytes_ = 0;  // any spans handed out before now overlap what we just wrote
    return done;
}

std::expected<std::array<std::span<std::byte>, 2>, ChannelError> ByteRingProducer::write_spans()
    const {
    auto free_bytes = writable();
    if (!free_bytes) return std::unexpected(free_bytes.error());
    const size_t pos = position(write_);
    const size_t first = std::min(*free_bytes, capacity_ - pos);
    spans_bytes_ = *free_bytes;
    return std::array<std::span<std::byte>, 2>{std::span<std::byte>(data_ + pos, first),
                                               std::span<std::byte>(data_, *free_bytes - first)};
}

void ByteRingProducer::commit(size_t n) {
    // Committing more than write_spans() offered would publish bytes the consumer still owns.
    CULVERT_CHANNELS_ASSERT(n <= spans_bytes_);
    if (n == 0) return;
    spans_bytes_ -= n;
    write_ = advance(write_, n);
    shared_->write_idx.store(write_, std::memory_order_release);  // publish the bytes
}

// ---------------------------------------------------------------------------------------------
// Consumer

ByteRingConsumer::ByteRingConsumer(ByteRingIndices* shared, std::span<std::byte> data)
    : ByteRingBase(shared, data) {
    read_ = shared_->read_idx.load(std::memory_order_acquire);
    corrupt_ = !valid_index(read_);
}

std::expected<size_t, ChannelError> ByteRingConsumer::readable() const {
    CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
    if (corrupt_) return std::unexpected(ChannelError::corrupt_index);
    const uint64_t write_idx = shared_->write_idx.load(std::memory_order_acquire);
    if (!valid_index(write_idx)) return std::unexpected(ChannelError::corrupt_index);
    const uint64_t used = distance(read_, write_idx);
    if (used > capacity_) return std::unexpected(ChannelError::corrupt_index);
    return used;
}

size_t ByteRingConsumer::copy_out(std::span<const iovec> iov, size_t available, size_t skip) const {
    size_t at = skip;  // bytes after read_ where the next copy starts; at <= available
    for (const iovec& v : iov) {
        if (at == available) break;
        const size_t n = std::min(v.iov_len, available - at);
        if (n == 0) continue;
        auto* dst = static_cast<std::byte*>(v.iov_base);
        const size_t pos = position(advance(read_, at));
        const size_t first = std::min(n, capacity_ - pos);
        std::memcpy(dst, data_ + pos, first);
        if (n > first) std::memcpy(dst + first, data_, n - first);
        at += n;
    }
    return at - skip;
}

void ByteRingConsumer::release(size_t n) {
    if (n == 0) return;
    read_ = advance(read_, n);
    shared_->read_idx.store(read_, std::memory_order_release);  // hand the space back
}

std::expected<size_t, ChannelError> ByteRingConsumer::read(void* dst, size_t len) {
    const iovec one{dst, len};
    return read(std::span<const iovec>(&one, 1));
}

std::expected<size_t, ChannelError> ByteRingConsumer::read(std::span<const iovec> iov) {
    auto available = readable();
    if (!available) return available;
    const size_t n = copy_out(iov, *available, 0);
    release(n);
    return n;
}

std::expected<size_t, ChannelError> ByteRingConsumer::peek(std::span<const iovec> iov,
                                                           size_t skip) const {
    auto available = readable();
    if (!available) return available;
    if (skip >= *available) return 0;
    return copy_out(iov, *available, skip);
}

std::expected<size_t, ChannelError> ByteRingConsumer::drop(size_t n) {
    auto available = readable();
    if (!available) return available;
    const size_t dropped = std::min(n, *available);
    release(dropped);
    return dropped;
}

std::expected<std::array<std::span<const std::byte>, 2>, ChannelError>
ByteRingConsumer::read_spans() const {
    auto available = readable();
    if (!available) return std::unexpected(available.error());
    const size_t pos = position(read_);
    const size_t first = std::min(*available, capacity_ - pos);
    return std::array<std::span<const std::byte>, 2>{
        std::span<const std::byte>(data_ + pos, first),
        std::span<const std::byte>(data_, *available - first)};
}

}  // namespace culvert::channels
