// The seed's notify-on-idle protocol over an eventfd: the producer writes the eventfd only
// when the consumer has no notification pending, so under load messages flow with no
// syscalls; the consumer acks (clears) or ack_undo()es (stays notified) when work remains.
// Also the seed's "pre-emptive block" (counter pushed to its maximum: the fd loses POLLOUT).
// The protocol and its memory orderings are explained in event_queue.cpp and docs/channels.md.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace culvert::channels {

// In shared memory. Both counters count eventfd units (the eventfd's value is, at rest,
// write_idx - read_idx): the producer adds units by notifying and removes them by unblocking;
// the consumer removes them by acking and adds them by ack_undo() and block().
struct EventQueueShared {
    alignas(64) std::atomic<uint64_t> write_idx;  // written only by the producer
    alignas(64) std::atomic<uint64_t> read_idx;   // written only by the consumer
};
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(sizeof(EventQueueShared) == 128);
static_assert(offsetof(EventQueueShared, write_idx) == 0);
static_assert(offsetof(EventQueueShared, read_idx) == 64);

// The largest value an eventfd holds; at this value it is not writable (no POLLOUT).
inline constexpr uint64_t kEventfdMax = UINT64_MAX - 1;

// Neither end owns the eventfd (the caller closes it). Both set O_NONBLOCK on it: no call
// here may sleep except ack_wait/block_wait, whatever the other side does. Errors: errno.
class EventQueueProducer {
  public:
    EventQueueProducer() = default;
    EventQueueProducer(EventQueueShared* shared, int eventfd);

    // Call AFTER publishing work (e.g. a ring's write index). Writes the eventfd only if the
    // consumer has acked everything (it may be asleep). 0 or errno.
    int notify();
    // After making room the consumer waits for (e.g. consuming its send ring): if the consumer
    // blocked its fd, drain the eventfd (POLLOUT returns) and notify. 0 or errno.
    int unblock();
    int fd() const { return fd_; }

  private:
    EventQueueShared* shared_ = nullptr;
    int fd_ = -1;
    uint64_t write_ = 0;  // private copy of our counter; never re-read from shared memory
};

class EventQueueConsumer {
  public:
    EventQueueConsumer() = default;
    EventQueueConsumer(EventQueueShared* shared, int eventfd);

    // Consume pending notifications (reads the eventfd only if one is pending). Call it
    // BEFORE re-checking your rings; if work remains afterwards, call ack_undo(). Reading
    // the eventfd also ends a block(). 0 or errno.
    int ack();
    // Stay notified (fd readable) because work remains. 0 or errno.
    int ack_undo();
    // poll() until the eventfd is readable, then ack(). 0, ETIMEDOUT or errno.
    int ack_wait(int timeout_ms);
    // Units the producer added that we have not consumed (huge while blocked).
    uint64_t pending() const;
    bool blocked() const;

    // The seed's pre-emptive block: push the counter to kEventfdMax so the fd loses POLLOUT
    // (and, the seed's known weakness, reports POLLIN). Re-check the condition you block on
    // AFTER block() and unblock() if it already cleared. Idempotent. 0 or errno.
    int block();
    // poll() until the fd is writable again (the producer's unblock()); 0 at once if it is not
    // blocked (any more). Call it after block() and a re-check. It must NOT block() itself: a
    // producer that unblocked in between would then never hear of this second block (a lost
    // wakeup). 0, ETIMEDOUT or errno.
    int block_wait(int timeout_ms);
    // The whole sequence in one call: block(), then if still_blocked() (the re-check, e.g.
    // "my send ring is still full") wait as above, else unblock() and return 0.
    template <class StillBlocked>
    int block_wait(int timeout_ms, StillBlocked&& still_blocked) {
        if (const int error = block(); error != 0) return error;
        if (!still_blocked()) return unblock();
        return block_wait(timeout_ms);
    }
    // End our own block; notifications that arrived meanwhile stay pending. 0 or errno.
    int unblock();
    int fd() const { return fd_; }

  private:
    EventQueueShared* shared_ = nullptr;
    int fd_ = -1;
    uint64_t read_ = 0;         // private copy of our counter; never re-read from shared memory
    uint64_t block_units_ = 0;  // what our last block() added to the eventfd
};

}  // namespace culvert::channels
