// Model-based properties of BipartiteProducer/BipartiteConsumer: random sequences of
// reserve/commit/peek/unpack/repack/spent/reclaim behave like the model (committed items in
// order, the consumer's writes into a held item reach the producer when reclaimed, at most N
// outstanding), for several ring sizes, starting anywhere in the 64-bit index space.
#include "channels/bipartite_ring.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <deque>
#include <memory>

namespace cc = culvert::channels;

namespace {

struct Item {
    uint64_t seq;   // written by the producer
    uint64_t echo;  // written by the consumer while it holds the item (sendq style)
};

constexpr uint64_t echo_of(uint64_t seq) {
    return ~seq * 0x9E3779B97F4A7C15ull;
}

template <size_t N>
void run_bipartite_model() {
    using Shared = cc::BipartiteRingShared<Item, N>;
    auto shared = std::make_unique<Shared>();
    // Free-running counters: start anywhere. Crossing the 2^64 wrap keeps slots in sequence
    // only for power-of-two N (see bipartite_ring.hpp), so only those start right below it.
    constexpr bool wrap_ok = (N & (N - 1)) == 0;
    const uint64_t start =
        wrap_ok
            ? *rc::gen::oneOf(rc::gen::just<uint64_t>(0), rc::gen::just<uint64_t>(UINT64_MAX - 2),
                              rc::gen::arbitrary<uint64_t>())
            : *rc::gen::oneOf(rc::gen::just<uint64_t>(0),
                              rc::gen::inRange<uint64_t>(0, uint64_t{1} << 62));
    shared->write_idx = start;
    shared->read_idx = start;
    cc::BipartiteProducer<Item, N> producer(shared.get());
    cc::BipartiteConsumer<Item, N> consumer(shared.get());

    std::deque<uint64_t> committed;  // committed, not released by the consumer (front first)
    std::deque<uint64_t> spent;      // released by the consumer, not reclaimed
    uint64_t next_seq = 1;
    uint64_t committed_total = start;  // index of the next item to commit
    uint64_t reclaimed_total = start;
    bool reserved = false;
    bool holding = false;

    const int steps = *rc::gen::inRange(1, 200);
    for (int step = 0; step < steps; ++step) {
        switch (*rc::gen::inRange(0, 9)) {
            case 0: {  // reserve (maybe again) and fill
                auto slot = producer.reserve();
                if (committed.size() + spent.size() == N) {
                    RC_ASSERT(!slot.has_value());
                    break;
                }
                RC_ASSERT(slot.has_value());
                RC_ASSERT(slot->first == committed_total % N);
                RC_ASSERT(slot->second == &shared->items[slot->first]);
                slot->second->seq = next_seq;
                slot->second->echo = 0;
                reserved = true;
                break;
            }
            case 1:  // commit what was reserved
                if (!reserved) break;
                producer.commit();
                reserved = false;
                committed.push_back(next_seq++);
                ++committed_total;
                break;
            case 2: {  // peek
                auto item = consumer.peek();
                if (committed.empty()) {
                    RC_ASSERT(!item.has_value());
                    RC_ASSERT(item.error() == cc::ChannelError::empty);
                } else {
                    RC_ASSERT(item.has_value());
                    RC_ASSERT((*item)->seq == committed.front());
                }
                break;
            }
            case 3: {  // unpack, write into the held item
                if (holding) break;
                auto item = consumer.unpack();
                if (committed.empty()) {
                    RC_ASSERT(!item.has_value() && item.error() == cc::ChannelError::empty);
                    RC_ASSERT(!consumer.holding());
                    break;
                }
                RC_ASSERT(item.has_value());
                RC_ASSERT((*item)->seq == committed.front());
                (*item)->echo = echo_of((*item)->seq);
                holding = true;
                break;
            }
            case 4:  // repack
                if (!holding) break;
                consumer.repack();
                holding = false;
                spent.push_back(committed.front());
                committed.pop_front();
                break;
            case 5: {  // spent
                auto n = producer.spent();
                RC_ASSERT(n.has_value());
                RC_ASSERT(*n == spent.size());
                break;
            }
            case 6: {  // reclaim up to max, checking order and the consumer's writes
                const size_t max = *rc::gen::inRange<size_t>(0, N + 2);
                size_t calls = 0;
                auto n = producer.reclaim(
                    [&](size_t slot, Item& item) {
                        RC_ASSERT(calls < spent.size());
                        RC_ASSERT(slot == (reclaimed_total + calls) % N);
                        RC_ASSERT(item.seq == spent[calls]);
                        RC_ASSERT(item.echo == echo_of(item.seq));
                        ++calls;
                    },
                    max);
                RC_ASSERT(n.has_value());
                RC_ASSERT(*n == std::min(max, spent.size()));
                RC_ASSERT(calls == *n);
                spent.erase(spent.begin(), spent.begin() + static_cast<std::ptrdiff_t>(*n));
                reclaimed_total += *n;
                break;
            }
            case 7: {  // a burst of producing, up to the ring's limit and beyond
                if (reserved) break;
                const size_t k = *rc::gen::inRange<size_t>(1, N + 2);
                for (size_t i = 0; i < k; ++i) {
                    auto slot = producer.reserve();
                    if (committed.size() + spent.size() == N) {
                        RC_ASSERT(!slot.has_value());
                        break;
                    }
                    RC_ASSERT(slot.has_value());
                    RC_ASSERT(slot->first == committed_total % N);
                    slot->second->seq = next_seq;
                    slot->second->echo = 0;
                    producer.commit();
                    committed.push_back(next_seq++);
                    ++committed_total;
                }
                break;
            }
            case 8: {  // a burst of consuming
                if (holding) break;
                const size_t k = *rc::gen::inRange<size_t>(1, N + 2);
                for (size_t i = 0; i < k && !committed.empty(); ++i) {
                    auto item = consumer.unpack();
                    RC_ASSERT(item.has_value());
                    RC_ASSERT((*item)->seq == committed.front());
                    (*item)->echo = echo_of((*item)->seq);
                    consumer.repack();
                    spent.push_back(committed.front());
                    committed.pop_front();
                }
                break;
            }
        }
        auto available = consumer.available();
        RC_ASSERT(available.has_value());
        RC_ASSERT(*available == committed.size());
        RC_ASSERT(producer.outstanding() == committed.size() + spent.size());
        RC_ASSERT(producer.outstanding() <= N);
        RC_ASSERT(consumer.holding() == holding);
    }
}

}  // namespace

RC_GTEST_PROP(BipartiteRingProps, MatchesModelWithOneSlot, ()) {
    run_bipartite_model<1>();
}
RC_GTEST_PROP(BipartiteRingProps, MatchesModelWithThreeSlots, ()) {
    run_bipartite_model<3>();
}
RC_GTEST_PROP(BipartiteRingProps, MatchesModelWithEightSlots, ()) {
    run_bipartite_model<8>();
}
RC_GTEST_PROP(BipartiteRingProps, MatchesModelWith64Slots, ()) {
    run_bipartite_model<64>();
}

// reclaim() also accepts a callback taking Item*, as in the seed's free_spent_pbufs.
TEST(BipartiteRingProps, ReclaimAcceptsPointerCallbacks) {
    auto shared = std::make_unique<cc::BipartiteRingShared<Item, 4>>();
    cc::BipartiteProducer<Item, 4> producer(shared.get());
    cc::BipartiteConsumer<Item, 4> consumer(shared.get());
    for (uint64_t i = 0; i < 4; ++i) {
        auto slot = producer.reserve();
        ASSERT_TRUE(slot.has_value());
        slot->second->seq = 10 + i;
        producer.commit();
    }
    EXPECT_FALSE(producer.reserve().has_value());  // N outstanding
    for (int i = 0; i < 2; ++i) {
        ASSERT_TRUE(consumer.unpack().has_value());
        consumer.repack();
    }
    std::vector<uint64_t> seen;
    auto n = producer.reclaim([&](size_t, Item* item) { seen.push_back(item->seq); });
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, 2u);
    EXPECT_EQ(seen, (std::vector<uint64_t>{10, 11}));
    EXPECT_EQ(producer.outstanding(), 2u);
    EXPECT_TRUE(producer.reserve().has_value());
}
