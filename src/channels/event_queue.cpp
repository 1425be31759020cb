// Notify-on-idle over an eventfd.
//
// Accounting. Both counters count eventfd units modulo 2^64. The producer adds to write_idx
// what it writes into the eventfd (notify) and subtracts what it reads out (unblock); the
// consumer adds to read_idx what it reads out (ack) and subtracts what it writes in
// (ack_undo, block). Every side updates its counter by what its syscall REALLY moved, so at
// rest eventfd value == write_idx - read_idx ("count"). In flight, the producer raises its
// counter BEFORE its write and the consumer lowers its counter AFTER its read, so the
// eventfd value never exceeds count; block() relies on that to fill the eventfd exactly to
// kEventfdMax without overflowing it. count == 0 means "the consumer is idle: wake it".
//
// No lost wakeups (the consumer never sleeps while work it was told about is pending).
// The ring that carries the work and the queue's counters are different variables, so this is
// the store-buffering (Dekker) pattern, resolved with one seq_cst fence on each side:
//   producer: publish work (ring store) ; F1 ; load read_idx ; if idle -> write eventfd
//   consumer: store read_idx (ack)      ; F2 ; load ring (caller re-checks) ; ack_undo if work
// F1 and F2 are totally ordered. If F1 comes first, the consumer's ring load after F2 sees
// the work (it will ack_undo or process it). If F2 comes first, the producer's load after F1
// sees the consumer's ack (idle) and writes the eventfd. Either way someone acts.
// block()/producer unblock() use the same pattern with the roles swapped:
//   consumer: eventfd += fill ; store read_idx (blocked) ; F3 ; load ring space, unblock if room
//   producer: free ring space ; F4 ; load read_idx ; if blocked -> drain eventfd, notify
// block() writes the eventfd BEFORE publishing its counter, so a producer that sees the
// blocked counter drains a fill that has already landed.
//
// Trust: a peer can write anything into its counter. The worst outcome is that the peer's
// own fd misses or gets extra wakeups (it can do that to itself anyway): no call here blocks
// (the eventfd is O_NONBLOCK), addresses memory by a shared value, or loops on one.
#include "channels/event_queue.hpp"

#include "channels/assert.hpp"
#include "channels/wait_fd.hpp"

#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace culvert::channels {

namespace {

// Counts this large can only mean "blocked" (or garbage): real pending counts are tiny.
constexpr uint64_t kBlockedThreshold = uint64_t{1} << 63;

void make_nonblocking(int fd) {
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK) == 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// Reads and resets the eventfd. 0 when it was already zero (EAGAIN); -errno on failure.
int64_t drain_eventfd(int fd, uint64_t& units) {
    units = 0;
    for (;;) {
        const ssize_t n = ::read(fd, &units, sizeof units);
        if (n == static_cast<ssize_t>(sizeof units)) return 0;
        if (n < 0 && errno == EINTR) continue;
        units = 0;
        if (n < 0 && errno == EAGAIN) return 0;
        return n < 0 ? -errno : -EIO;
    }
}

// Adds units to the eventfd. 0 or errno (EAGAIN: it would pass kEventfdMax).
int add_eventfd(int fd, uint64_t units) {
    for (;;) {
        const ssize_t n = ::write(fd, &units, sizeof units);
        if (n == static_cast<ssize_t>(sizeof units)) return 0;
        if (n < 0 && errno == EINTR) continue;
        return n < 0 ? errno : EIO;
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Producer

EventQueueProducer::EventQueueProducer(EventQueueShared* shared, int eventfd)
    : shared_(shared), fd_(eventfd) {
    CULVERT_CHANNELS_ASSERT(shared != nullptr && eventfd >= 0);
    make_nonblocking(fd_);
    write_ =
        shared_->write_idx.load(std::memory_order_acquire);  // the only read of our own counter
}

int EventQueueProducer::notify() {
    CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
    // F1: orders the caller's publication of work before our look at the consumer's counter.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const uint64_t read_idx = shared_->read_idx.load(std::memory_order_relaxed);
    if (write_ != read_idx) return 0;  // a notification is pending: the consumer will look
    // Raise our counter before the write (eventfd value <= count, see the top of the file).
    ++write_;
    shared_->write_idx.store(write_, std::memory_order_release);
    if (const int error = add_eventfd(fd_, 1); error != 0) {
        --write_;
        shared_->write_idx.store(write_, std::memory_order_release);
        // EAGAIN: the consumer's block() filled the eventfd meanwhile. A full eventfd is
        // readable, so the consumer will wake anyway: nothing is lost.
        return error == EAGAIN ? 0 : error;
    }
    return 0;
}

int EventQueueProducer::unblock() {
    CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
    // F4: orders the caller's freeing of space before our look at the consumer's counter.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const uint64_t read_idx = shared_->read_idx.load(std::memory_order_relaxed);
    if (write_ - read_idx < kBlockedThreshold) return 0;  // not blocked
    uint64_t units = 0;
    if (const int64_t error = drain_eventfd(fd_, units); error != 0) {
        return static_cast<int>(-error);
    }
    if (units != 0) {
        write_ -= units;  // we took these units out
        shared_->write_idx.store(write_, std::memory_order_release);
    }
    // Draining also swallowed any notification that was pending, and making room is itself
    // news for the consumer: notify (writes the eventfd only if the consumer is now idle).
    return notify();
}

// ---------------------------------------------------------------------------------------------
// Consumer

EventQueueConsumer::EventQueueConsumer(EventQueueShared* shared, int eventfd)
    : shared_(shared), fd_(eventfd) {
    CULVERT_CHANNELS_ASSERT(shared != nullptr && eventfd >= 0);
    make_nonblocking(fd_);
    read_ = shared_->read_idx.load(std::memory_order_acquire);  // the only read of our own counter
}

uint64_t EventQueueConsumer::pending() const {
    CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
    return shared_->write_idx.load(std::memory_order_acquire) - read_;
}

bool EventQueueConsumer::blocked() const {
    return pending() >= kBlockedThreshold;
}

int EventQueueConsumer::ack() {
    CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
    if (pending() != 0) {
        uint64_t units = 0;
        if (const int64_t error = drain_eventfd(fd_, units); error != 0) {
            return static_cast<int>(-error);
        }
        // units == 0: the producer raised its counter but its write has not landed yet; we
        // stay "pending", so it won't write again, and the landing write wakes us.
        if (units != 0) {
            read_ += units;
            shared_->read_idx.store(read_, std::memory_order_release);
        }
    }
    // F2: our "idle" counter is globally ordered before the caller's re-check of its rings.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return 0;
}

int EventQueueConsumer::ack_undo() {
    CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
    if (pending() != 0) return 0;  // still notified: the eventfd is (about to be) readable
    // Write first, then lower our counter: the producer may briefly see "idle" and write a
    // second unit, which only makes the count 2 (consistent, one spare wakeup).
    if (const int error = add_eventfd(fd_, 1); error != 0) return error;
    --read_;
    shared_->read_idx.store(read_, std::memory_order_release);
    return 0;
}

int EventQueueConsumer::ack_wait(int timeout_ms) {
    CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
    if (const int error = wait_fd(fd_, POLLIN, timeout_ms); error != 0) return error;
    return ack();
}

int EventQueueConsumer::block() {
    CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
    // count >= the eventfd's value (see the top of the file), so the fill fits, unless the
    // producer's notify() lands between our look at its counter and our write: it saw us idle
    // and added one unit we did not count (EAGAIN). It cannot add another until we ack, so one
    // fresh look suffices; the third EAGAIN means a peer wrote garbage into its counter.
    uint64_t fill = 0;
    for (int attempt = 0;; ++attempt) {
        const uint64_t count = pending();
        if (count == kEventfdMax) return 0;  // already blocked
        if (count > kEventfdMax) return EOVERFLOW;
        fill = kEventfdMax - count;
        const int error = add_eventfd(fd_, fill);
        if (error == 0) break;
        if (error != EAGAIN || attempt == 2) return error;
    }
    block_units_ = fill;
    read_ -= fill;
    shared_->read_idx.store(read_, std::memory_order_release);
    // F3: the blocked counter is ordered before the caller's re-check of the space it waits for.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return 0;
}

int EventQueueConsumer::block_wait(int timeout_ms) {
    // Not blocked: the producer already drained our fill (its write_idx store comes after the
    // drain, so while we still see "blocked" the fd may already be writable: poll says so).
    if (!blocked()) return 0;
    return wait_fd(fd_, POLLOUT, timeout_ms);
}

int EventQueueConsumer::unblock() {
    CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
    if (!blocked()) return 0;  // never blocked, or the producer already drained it
    uint64_t units = 0;
    if (const int64_t error = drain_eventfd(fd_, units); error != 0) {
        return static_cast<int>(-error);
    }
    if (units != 0) {
        read_ += units;
        shared_->read_idx.store(read_, std::memory_order_release);
    }
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // Whatever we drained beyond our own fill was a real notification: keep it pending. When
    // unsure (a partial drain), re-arm: one spare wakeup is harmless, a lost one is not.
    if (units != block_units_) return ack_undo();
    return 0;
}

}  // namespace culvert::channels
