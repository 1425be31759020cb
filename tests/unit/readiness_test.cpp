// Readiness poll() semantics on a real socketpair: signal_readable gives app_fd POLLIN with
// exactly one byte however often it is called; ack_readable takes it away; block_writable
// takes POLLOUT away WITHOUT adding POLLIN (the point versus the eventfd trick: a
// level-triggered POLLIN|POLLOUT loop does not spin); unblock_writable from the server
// restores it; signal_eof gives POLLIN|POLLRDHUP for good.
#include "channels/readiness.hpp"

#include "channel_test_support.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <thread>

namespace cc = culvert::channels;
namespace ct = culvert::channels::test;

namespace {

short poll_now(int fd) {
    pollfd p{fd, POLLIN | POLLOUT | POLLRDHUP, 0};
    EXPECT_GE(::poll(&p, 1, 0), 0);
    return p.revents;
}

int queued_bytes(int fd) {
    int n = -1;
    EXPECT_EQ(::ioctl(fd, FIONREAD, &n), 0);
    return n;
}

struct Pair {
    Pair() {
        auto fds = cc::Readiness::make_pair();
        EXPECT_TRUE(fds.has_value());
        app = ct::Fd(fds->first);
        peer = ct::Fd(fds->second);
        client = cc::Readiness(shared.get(), app.get(), peer.get());
        server = cc::Readiness(shared.get(), -1, peer.get());
    }
    std::unique_ptr<cc::ReadinessShared> shared = std::make_unique<cc::ReadinessShared>();
    ct::Fd app;
    ct::Fd peer;
    cc::Readiness client;
    cc::Readiness server;
};

}  // namespace

TEST(Readiness, MakePairGivesNonBlockingSocketsWithASmallSendBuffer) {
    Pair p;
    EXPECT_NE(::fcntl(p.app.get(), F_GETFL) & O_NONBLOCK, 0);
    EXPECT_NE(::fcntl(p.peer.get(), F_GETFL) & O_NONBLOCK, 0);
    EXPECT_EQ(::fcntl(p.app.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    int sndbuf = 0;
    socklen_t len = sizeof sndbuf;
    ASSERT_EQ(::getsockopt(p.app.get(), SOL_SOCKET, SO_SNDBUF, &sndbuf, &len), 0);
    EXPECT_LE(sndbuf, 16 * 1024);
    int type = 0;
    len = sizeof type;
    ASSERT_EQ(::getsockopt(p.app.get(), SOL_SOCKET, SO_TYPE, &type, &len), 0);
    EXPECT_EQ(type, SOCK_STREAM);  // fstat/getsockopt on the app's fd report a stream socket
    EXPECT_EQ(poll_now(p.app.get()), POLLOUT);
}

TEST(Readiness, SignalGivesPollInWithExactlyOneByte) {
    Pair p;
    ASSERT_EQ(p.server.signal_readable(), 0);
    EXPECT_EQ(poll_now(p.app.get()), POLLIN | POLLOUT);
    ASSERT_EQ(p.server.signal_readable(), 0);
    ASSERT_EQ(p.client.signal_readable(), 0);  // the client re-arming itself is the same flag
    EXPECT_EQ(queued_bytes(p.app.get()), 1);
    EXPECT_TRUE(p.client.rx_signaled());
    ASSERT_EQ(p.client.ack_readable(100), 0);
    EXPECT_EQ(poll_now(p.app.get()), POLLOUT);
    EXPECT_EQ(queued_bytes(p.app.get()), 0);
    EXPECT_FALSE(p.client.rx_signaled());
    ASSERT_EQ(p.client.ack_readable(100), 0);  // nothing signalled: returns at once
    ASSERT_EQ(p.server.signal_readable(), 0);  // and it can be signalled again
    EXPECT_EQ(poll_now(p.app.get()), POLLIN | POLLOUT);
}

TEST(Readiness, AckWaitsForAByteStillInFlight) {
    Pair p;
    p.shared->rx_signaled = 1;  // the other side swapped the flag, its send is late
    std::thread late([&] {
        ::usleep(30000);
        const char byte = 'r';
        EXPECT_EQ(::send(p.peer.get(), &byte, 1, MSG_NOSIGNAL), 1);
    });
    EXPECT_EQ(p.client.ack_readable(2000), 0);
    late.join();
    EXPECT_EQ(queued_bytes(p.app.get()), 0);
    EXPECT_EQ(poll_now(p.app.get()), POLLOUT);
    p.shared->rx_signaled = 1;  // a byte that never comes: a timeout, not a hang
    EXPECT_EQ(p.client.ack_readable(30), ETIMEDOUT);
}

TEST(Readiness, BlockedSocketIsNotWritableAndNotReadable) {
    Pair p;
    ASSERT_EQ(p.client.block_writable(), 0);
    EXPECT_TRUE(p.client.tx_blocked());
    EXPECT_EQ(poll_now(p.app.get()), 0);  // neither POLLOUT nor POLLIN
    EXPECT_GT(queued_bytes(p.peer.get()), 0);
    EXPECT_LE(queued_bytes(p.peer.get()), 64 * 1024);
    // A level-triggered loop waiting for POLLIN|POLLOUT sleeps instead of spinning.
    ct::Fd ep(::epoll_create1(EPOLL_CLOEXEC));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ASSERT_EQ(::epoll_ctl(ep.get(), EPOLL_CTL_ADD, p.app.get(), &ev), 0);
    epoll_event out{};
    EXPECT_EQ(::epoll_wait(ep.get(), &out, 1, 20), 0);
    // Readable still works while blocked.
    ASSERT_EQ(p.server.signal_readable(), 0);
    EXPECT_EQ(poll_now(p.app.get()), POLLIN);
    ASSERT_EQ(p.client.ack_readable(100), 0);
    EXPECT_EQ(poll_now(p.app.get()), 0);
    ASSERT_EQ(p.client.block_writable(), 0);  // idempotent
    EXPECT_EQ(poll_now(p.app.get()), 0);
    // The server drains the filler: writable again, nothing left behind.
    ASSERT_EQ(p.server.unblock_writable(), 0);
    EXPECT_FALSE(p.client.tx_blocked());
    EXPECT_EQ(poll_now(p.app.get()), POLLOUT);
    EXPECT_EQ(queued_bytes(p.peer.get()), 0);
    EXPECT_EQ(::epoll_wait(ep.get(), &out, 1, 0), 1);
    EXPECT_EQ(out.events, static_cast<uint32_t>(EPOLLOUT));
    ASSERT_EQ(p.server.unblock_writable(), 0);  // not blocked: nothing to do
    EXPECT_EQ(poll_now(p.app.get()), POLLOUT);
}

TEST(Readiness, ClientCanUnblockItself) {
    Pair p;
    ASSERT_EQ(p.client.block_writable(), 0);
    EXPECT_EQ(poll_now(p.app.get()) & POLLOUT, 0);
    ASSERT_EQ(p.client.unblock_writable(), 0);  // it found room after all
    EXPECT_EQ(poll_now(p.app.get()), POLLOUT);
}

TEST(Readiness, UnblockWaitReturnsOnlyOnceTheServersDrainHasRestoredPollOut) {
    // culvertd took the flag first (connection established) and is still draining the filler:
    // the client's unblock_writable() has nothing to do, yet its connect() must not return
    // before app_fd is writable (CI saw POLLOUT missing right after connect()).
    Pair p;
    ASSERT_EQ(p.client.block_writable(), 0);
    ASSERT_EQ(p.shared->tx_blocked.exchange(0), 1u);  // the server's half of unblock_writable
    std::thread drain([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        char sink[4096];
        while (::recv(p.peer.get(), sink, sizeof sink, MSG_DONTWAIT) > 0) {
        }
    });
    EXPECT_EQ(p.client.unblock_writable(), 0);
    EXPECT_EQ(poll_now(p.app.get()) & POLLOUT, 0) << "the race this test is about did not happen";
    EXPECT_EQ(p.client.unblock_writable_wait(2000), 0);
    EXPECT_EQ(poll_now(p.app.get()), POLLOUT) << "returned before the drain ended";
    drain.join();
}

TEST(Readiness, EofGivesPollInAndRdHupForGood) {
    Pair p;
    ASSERT_EQ(p.server.signal_readable(), 0);
    ASSERT_EQ(p.server.signal_eof(), 0);
    EXPECT_EQ(poll_now(p.app.get()), POLLIN | POLLOUT | POLLRDHUP);
    ASSERT_EQ(p.client.ack_readable(100), 0);  // the byte before the EOF
    EXPECT_EQ(poll_now(p.app.get()), POLLIN | POLLOUT | POLLRDHUP);
    char byte = 0;
    EXPECT_EQ(::recv(p.app.get(), &byte, 1, MSG_DONTWAIT), 0);  // EOF, as after a FIN
    // Signalling after EOF fails cleanly (no SIGPIPE) and leaves the flag clear.
    EXPECT_EQ(p.server.signal_readable(), EPIPE);
    EXPECT_FALSE(p.client.rx_signaled());
    EXPECT_EQ(poll_now(p.app.get()), POLLIN | POLLOUT | POLLRDHUP);
}
