// The seed's datagram descriptor ring: N slots of a plain Item in shared memory. The
// PRODUCER (always the server) commits items in order; the CONSUMER (the client) takes them in
// order, may write into the item it holds, and releases it; the producer then reclaims the
// released ("spent") items in order. recvq: server commits datagrams, client copies out,
// server frees spent pbufs. sendq: server commits EMPTY buffers, client fills one (length,
// address) and releases it, server reclaims and transmits it.
//
// Indices are free-running 64-bit counters, slot = index % N. They start at 0 and would need
// centuries to reach 2^64; only for a power-of-two N is the slot sequence also continuous
// across that wrap. Memory safety never depends on it: a slot is always < N.
// Memory orderings:
// - commit(): the producer fills the item, then stores write_idx with RELEASE; the consumer
//   loads write_idx with ACQUIRE before reading the item.
// - repack(): the consumer's writes into the item (sendq) precede its RELEASE store of
//   read_idx; the producer loads read_idx with ACQUIRE in spent()/reclaim() before reading
//   the item or reusing its slot.
// Trust: each side keeps its own counters privately and validates the other's: the consumer
// requires 0 <= write_idx - read <= N, the producer reclaimed <= read_idx <= committed.
// The ring never interprets Items: whoever reads an Item field validates it (read_once.hpp).
#pragma once

#include "channels/assert.hpp"
#include "channels/errors.hpp"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <type_traits>
#include <utility>

namespace culvert::channels {

template <class Item, size_t N>
struct BipartiteRingShared {                      // in shared memory
    alignas(64) std::atomic<uint64_t> write_idx;  // producer: items committed (free-running)
    alignas(64) std::atomic<uint64_t> read_idx;   // consumer: items released (free-running)
    alignas(64) Item items[N];
};

namespace detail {

template <class Item, size_t N>
constexpr bool check_bipartite_layout() {
    using Shared = BipartiteRingShared<Item, N>;
    static_assert(N >= 1, "a ring needs at least one slot");
    static_assert(std::is_standard_layout_v<Item> && std::is_trivially_destructible_v<Item>,
                  "ring items are plain structs: no pointers owned, no destructors");
    static_assert(std::atomic<uint64_t>::is_always_lock_free);
    static_assert(std::is_standard_layout_v<Shared>);
    static_assert(offsetof(Shared, write_idx) == 0);
    static_assert(offsetof(Shared, read_idx) == 64);
    static_assert(offsetof(Shared, items) == 128);
    static_assert(sizeof(Shared) >= 128 + sizeof(Item) * N);
    return true;
}

}  // namespace detail

template <class Item, size_t N>
class BipartiteProducer {
    static_assert(detail::check_bipartite_layout<Item, N>());

  public:
    using Shared = BipartiteRingShared<Item, N>;

    BipartiteProducer() = default;
    // Loads both counters once. A ring whose counters are already inconsistent is reported
    // as corrupt_index by spent()/reclaim(), and reserve() refuses it.
    explicit BipartiteProducer(Shared* shared) : shared_(shared) {
        CULVERT_CHANNELS_ASSERT(shared != nullptr);
        write_ = shared_->write_idx.load(std::memory_order_acquire);
        reclaimed_ = shared_->read_idx.load(std::memory_order_acquire);
        corrupt_ = write_ - reclaimed_ > N;
    }

    // Slot for the next item, or nullopt when N items are committed-but-not-reclaimed. Calling
    // it again before commit() returns the same slot.
    std::optional<std::pair<size_t, Item*>> reserve() {
        CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
        if (corrupt_ || outstanding() >= N) return std::nullopt;
        reserved_ = true;
        const size_t slot = static_cast<size_t>(write_ % N);
        return std::pair<size_t, Item*>{slot, &shared_->items[slot]};
    }

    // Publishes the reserved item (its contents become visible to the consumer).
    void commit() {
        CULVERT_CHANNELS_ASSERT(reserved_);
        reserved_ = false;
        ++write_;
        shared_->write_idx.store(write_, std::memory_order_release);
    }

    // Items released by the consumer and not yet reclaimed (validated).
    std::expected<size_t, ChannelError> spent() const {
        CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
        if (corrupt_) return std::unexpected(ChannelError::corrupt_index);
        const uint64_t read_idx = shared_->read_idx.load(std::memory_order_acquire);
        // Unsigned distances: anything behind what we reclaimed wraps to a huge value.
        const uint64_t released = read_idx - reclaimed_;
        if (released > write_ - reclaimed_) return std::unexpected(ChannelError::corrupt_index);
        return static_cast<size_t>(released);
    }

    // Calls f(slot, item) for up to `max` spent items in order, then reclaims them (their
    // slots become reservable). f takes (size_t, Item&) or (size_t, Item*).
    template <class F>
    std::expected<size_t, ChannelError> reclaim(F&& f, size_t max = N) {
        auto count = spent();
        if (!count) return count;
        const size_t n = std::min(*count, max);
        for (size_t i = 0; i < n; ++i) {
            const size_t slot = static_cast<size_t>((reclaimed_ + i) % N);
            Item& item = shared_->items[slot];
            if constexpr (std::is_invocable_v<F&, size_t, Item&>) {
                f(slot, item);
            } else {
                f(slot, &item);
            }
        }
        reclaimed_ += n;
        return n;
    }

    // Committed and not yet reclaimed (our private view: it never depends on the consumer).
    // A ring found inconsistent at construction counts as full: nothing can be reserved.
    size_t outstanding() const { return corrupt_ ? N : static_cast<size_t>(write_ - reclaimed_); }

  private:
    Shared* shared_ = nullptr;
    uint64_t write_ = 0;      // private: committed items
    uint64_t reclaimed_ = 0;  // private: items reclaimed after the consumer released them
    bool reserved_ = false;
    bool corrupt_ = false;
};

template <class Item, size_t N>
class BipartiteConsumer {
    static_assert(detail::check_bipartite_layout<Item, N>());

  public:
    using Shared = BipartiteRingShared<Item, N>;

    BipartiteConsumer() = default;
    // Loads our own read counter once; from then on the private copy rules.
    explicit BipartiteConsumer(Shared* shared) : shared_(shared) {
        CULVERT_CHANNELS_ASSERT(shared != nullptr);
        read_ = shared_->read_idx.load(std::memory_order_acquire);
    }

    // Committed and not yet released by us (the held item counts until repack()).
    std::expected<size_t, ChannelError> available() const {
        CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
        const uint64_t write_idx = shared_->write_idx.load(std::memory_order_acquire);
        const uint64_t committed = write_idx - read_;
        if (committed > N) return std::unexpected(ChannelError::corrupt_index);
        return static_cast<size_t>(committed);
    }

    // The front item without taking it (MSG_PEEK); ChannelError::empty if there is none.
    std::expected<Item*, ChannelError> peek() {
        auto count = available();
        if (!count) return std::unexpected(count.error());
        if (*count == 0) return std::unexpected(ChannelError::empty);
        return &shared_->items[static_cast<size_t>(read_ % N)];
    }

    // The front item, held (and writable by us) until repack().
    std::expected<Item*, ChannelError> unpack() {
        CULVERT_CHANNELS_ASSERT(!held_);  // one item at a time, released before the next
        auto item = peek();
        if (item) held_ = true;
        return item;
    }

    // Releases the held item to the producer; our writes into it are published with it.
    void repack() {
        CULVERT_CHANNELS_ASSERT(held_);
        held_ = false;
        ++read_;
        shared_->read_idx.store(read_, std::memory_order_release);
    }

    bool holding() const { return held_; }

  private:
    Shared* shared_ = nullptr;
    uint64_t read_ = 0;  // private: items released
    bool held_ = false;
};

}  // namespace culvert::channels
