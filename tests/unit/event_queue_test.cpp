// EventQueue poll() semantics on a real eventfd: notify makes the consumer's fd readable
// (once, however often it is called while pending), ack clears it, ack_undo re-arms it,
// ack_wait times out or wakes, block removes POLLOUT (and, the seed's weakness, adds
// POLLIN), unblock from either side restores POLLOUT without losing notifications.
#include "channels/event_queue.hpp"

#include "channel_test_support.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/eventfd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <thread>

namespace cc = culvert::channels;
namespace ct = culvert::channels::test;

namespace {

short poll_now(int fd) {
    pollfd p{fd, POLLIN | POLLOUT, 0};
    const int ready = ::poll(&p, 1, 0);
    EXPECT_EQ(ready, p.revents != 0 ? 1 : 0);
    return p.revents;
}

uint64_t eventfd_value(int fd) {
    // Peek at the counter through /proc: the read would reset it.
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    FILE* f = std::fopen(path, "r");
    if (f == nullptr) return UINT64_MAX;
    char line[128];
    unsigned long long value = UINT64_MAX;
    while (std::fgets(line, sizeof line, f) != nullptr) {
        if (std::sscanf(line, "eventfd-count: %llx", &value) == 1) break;
    }
    std::fclose(f);
    return value;
}

struct Queue {
    std::unique_ptr<cc::EventQueueShared> shared = std::make_unique<cc::EventQueueShared>();
    ct::Fd fd = ct::make_eventfd();
    cc::EventQueueProducer producer{shared.get(), fd.get()};
    cc::EventQueueConsumer consumer{shared.get(), fd.get()};
};

}  // namespace

TEST(EventQueue, IdleFdIsWritableNotReadable) {
    Queue q;
    EXPECT_EQ(poll_now(q.fd.get()), POLLOUT);
    EXPECT_EQ(q.consumer.pending(), 0u);
}

TEST(EventQueue, NotifyMakesReadableOnceAndAckClears) {
    Queue q;
    ASSERT_EQ(q.producer.notify(), 0);
    EXPECT_EQ(poll_now(q.fd.get()), POLLIN | POLLOUT);
    EXPECT_EQ(q.consumer.pending(), 1u);
    // Further notifies while one is pending make no syscall: the counter stays at 1.
    for (int i = 0; i < 10; ++i) ASSERT_EQ(q.producer.notify(), 0);
    EXPECT_EQ(eventfd_value(q.fd.get()), 1u);
    EXPECT_EQ(q.shared->write_idx.load(), 1u);
    ASSERT_EQ(q.consumer.ack(), 0);
    EXPECT_EQ(poll_now(q.fd.get()), POLLOUT);
    EXPECT_EQ(q.consumer.pending(), 0u);
    EXPECT_EQ(eventfd_value(q.fd.get()), 0u);
    // Acking when nothing is pending makes no syscall and changes nothing.
    ASSERT_EQ(q.consumer.ack(), 0);
    EXPECT_EQ(poll_now(q.fd.get()), POLLOUT);
    // Idle again: the next notify writes again.
    ASSERT_EQ(q.producer.notify(), 0);
    EXPECT_EQ(poll_now(q.fd.get()), POLLIN | POLLOUT);
}

TEST(EventQueue, AckUndoKeepsTheConsumerReadable) {
    Queue q;
    ASSERT_EQ(q.producer.notify(), 0);
    ASSERT_EQ(q.consumer.ack(), 0);
    ASSERT_EQ(q.consumer.ack_undo(), 0);  // work remains
    EXPECT_EQ(poll_now(q.fd.get()), POLLIN | POLLOUT);
    EXPECT_NE(q.consumer.pending(), 0u);
    ASSERT_EQ(q.producer.notify(), 0);  // pending: the producer does not write again
    EXPECT_EQ(eventfd_value(q.fd.get()), 1u);
    ASSERT_EQ(q.consumer.ack_undo(), 0);  // already readable: nothing to do
    EXPECT_EQ(eventfd_value(q.fd.get()), 1u);
    ASSERT_EQ(q.consumer.ack(), 0);
    EXPECT_EQ(poll_now(q.fd.get()), POLLOUT);
    EXPECT_EQ(q.consumer.pending(), 0u);
}

TEST(EventQueue, AckWaitTimesOutWhenIdleAndWakesOnNotify) {
    Queue q;
    const int64_t start = ct::now_ms();
    EXPECT_EQ(q.consumer.ack_wait(50), ETIMEDOUT);
    EXPECT_GE(ct::now_ms() - start, 45);
    std::thread producer([&] {
        ::usleep(20000);
        EXPECT_EQ(q.producer.notify(), 0);
    });
    EXPECT_EQ(q.consumer.ack_wait(2000), 0);
    producer.join();
    EXPECT_EQ(poll_now(q.fd.get()), POLLOUT);  // ack_wait consumed the notification
    EXPECT_EQ(q.consumer.pending(), 0u);
}

TEST(EventQueue, BlockRemovesPollOutAndConsumerUnblockRestoresIt) {
    Queue q;
    ASSERT_EQ(q.consumer.block(), 0);
    EXPECT_TRUE(q.consumer.blocked());
    EXPECT_EQ(eventfd_value(q.fd.get()), cc::kEventfdMax);
    // Not writable; readable too: the seed's known weakness (DESIGN §3).
    EXPECT_EQ(poll_now(q.fd.get()), POLLIN);
    ASSERT_EQ(q.consumer.block(), 0);  // idempotent
    EXPECT_EQ(eventfd_value(q.fd.get()), cc::kEventfdMax);
    ASSERT_EQ(q.producer.notify(), 0);  // no error while blocked, the fd is readable anyway
    EXPECT_EQ(q.consumer.block_wait(30), ETIMEDOUT);
    ASSERT_EQ(q.consumer.unblock(), 0);
    EXPECT_FALSE(q.consumer.blocked());
    EXPECT_EQ(poll_now(q.fd.get()), POLLOUT);
    EXPECT_EQ(q.consumer.pending(), 0u);
}

TEST(EventQueue, UnblockKeepsANotificationThatArrivedBeforeTheBlock) {
    Queue q;
    ASSERT_EQ(q.producer.notify(), 0);  // pending
    ASSERT_EQ(q.consumer.block(), 0);
    EXPECT_EQ(eventfd_value(q.fd.get()), cc::kEventfdMax);
    ASSERT_EQ(q.consumer.unblock(), 0);
    EXPECT_EQ(poll_now(q.fd.get()), POLLIN | POLLOUT);  // still notified
    EXPECT_EQ(q.consumer.pending(), 1u);
    ASSERT_EQ(q.consumer.ack(), 0);
    EXPECT_EQ(poll_now(q.fd.get()), POLLOUT);
}

TEST(EventQueue, ProducerUnblockRestoresPollOutAndNotifies) {
    Queue q;
    ASSERT_EQ(q.producer.unblock(), 0);  // not blocked: nothing happens
    EXPECT_EQ(poll_now(q.fd.get()), POLLOUT);
    ASSERT_EQ(q.consumer.block(), 0);
    EXPECT_EQ(poll_now(q.fd.get()), POLLIN);
    ASSERT_EQ(q.producer.unblock(), 0);
    EXPECT_FALSE(q.consumer.blocked());
    // Writable again, and told that something changed (the room it waited for).
    EXPECT_EQ(poll_now(q.fd.get()), POLLIN | POLLOUT);
    EXPECT_EQ(q.consumer.pending(), 1u);
    EXPECT_EQ(eventfd_value(q.fd.get()), 1u);
    ASSERT_EQ(q.consumer.ack(), 0);
    EXPECT_EQ(poll_now(q.fd.get()), POLLOUT);
    EXPECT_EQ(q.consumer.unblock(), 0);  // nothing left to unblock
}

TEST(EventQueue, BlockWaitReturnsWhenTheProducerUnblocks) {
    Queue q;
    std::atomic<bool> room{false};
    std::thread producer([&] {
        // Wait until the consumer's fd is blocked (no POLLOUT), then make room and unblock.
        const int64_t deadline = ct::now_ms() + 2000;
        while ((poll_now(q.fd.get()) & POLLOUT) != 0 && ct::now_ms() < deadline) ::usleep(500);
        EXPECT_EQ(poll_now(q.fd.get()) & POLLOUT, 0);
        room = true;
        EXPECT_EQ(q.producer.unblock(), 0);
    });
    EXPECT_EQ(q.consumer.block_wait(2000, [&] { return !room.load(); }), 0);
    producer.join();
    EXPECT_EQ(poll_now(q.fd.get()) & POLLOUT, POLLOUT);
}

TEST(EventQueue, BlockWaitNeverBlocksByItself) {
    Queue q;
    // Not blocked: nothing to wait for (a block here could never be undone: see the header).
    EXPECT_EQ(q.consumer.block_wait(2000), 0);
    EXPECT_FALSE(q.consumer.blocked());
    EXPECT_EQ(poll_now(q.fd.get()), POLLOUT);
    // The checked form: the condition already cleared after blocking -> unblocked at once.
    EXPECT_EQ(q.consumer.block_wait(2000, [] { return false; }), 0);
    EXPECT_FALSE(q.consumer.blocked());
    EXPECT_EQ(poll_now(q.fd.get()), POLLOUT);
    // Still blocked and nobody unblocks: a timeout.
    EXPECT_EQ(q.consumer.block_wait(30, [] { return true; }), ETIMEDOUT);
    EXPECT_TRUE(q.consumer.blocked());
}

TEST(EventQueue, AckEndsABlockAsInTheSeed) {
    Queue q;
    ASSERT_EQ(q.consumer.block(), 0);
    ASSERT_EQ(q.consumer.ack(), 0);
    EXPECT_EQ(poll_now(q.fd.get()), POLLOUT);
    EXPECT_EQ(q.consumer.pending(), 0u);
    ASSERT_EQ(q.producer.notify(), 0);  // consistent afterwards: idle -> one write
    EXPECT_EQ(eventfd_value(q.fd.get()), 1u);
}

TEST(EventQueue, ConstructorsMakeTheEventfdNonBlocking) {
    auto shared = std::make_unique<cc::EventQueueShared>();
    ct::Fd fd(::eventfd(0, EFD_CLOEXEC));
    ASSERT_GE(fd.get(), 0);
    cc::EventQueueConsumer consumer(shared.get(), fd.get());
    EXPECT_NE(::fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0);
    // So an ack with a pending count but an empty eventfd cannot hang.
    shared->write_idx = 5;
    EXPECT_EQ(consumer.ack(), 0);
}

TEST(EventQueue, BlockRacingTheProducersNotifyNeverFailsAndStaysConsistent) {
    // The producer's notify() can land between block()'s look at the count and its fill of
    // the eventfd (it saw the consumer idle). block() must then look again, not fail with
    // EAGAIN (which a stream producer would report as an error: CI caught it once).
    Queue q;
    std::atomic<bool> stop{false};
    std::thread producer([&] {
        while (!stop.load(std::memory_order_relaxed)) {
            if (q.producer.notify() != 0) ADD_FAILURE() << "notify failed";
        }
    });
    int failures = 0, first_error = 0;
    const int64_t deadline = ct::now_ms() + 400;
    for (int i = 0; ct::now_ms() < deadline; ++i) {
        if (const int e = q.consumer.block(); e != 0) {
            if (failures++ == 0) first_error = e;
        }
        if (q.consumer.unblock() != 0) ADD_FAILURE() << "unblock failed";
        if (q.consumer.ack() != 0) ADD_FAILURE() << "ack failed";
    }
    stop = true;
    producer.join();
    EXPECT_EQ(failures, 0) << "first error: " << std::strerror(first_error);
    // At rest the eventfd holds exactly the count the counters say is pending.
    EXPECT_EQ(eventfd_value(q.fd.get()), q.consumer.pending());
}
