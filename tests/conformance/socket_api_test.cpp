// Socket-API conformance (DESIGN §7): ONE test binary with ONE set of expectations, run on
// the Linux kernel and, unmodified, under the culvert preload (conformance.sh). Its remote
// end is conformance_peer, a kernel process at $CONFORMANCE_PEER_V4 / $CONFORMANCE_PEER_V6.
// Readiness is checked both ways: readable exactly when a read would not block, writable
// exactly when a write would not block.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "conformance_common.hpp"

extern char** environ;

namespace {

using namespace culvert::conformance;
using namespace std::chrono_literals;

constexpr int kWaitMs = 3000;  // for events that must come: a bound, not a measurement

class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(o.release()) {}
    Fd& operator=(Fd&& o) noexcept {
        reset(o.release());
        return *this;
    }
    ~Fd() { reset(); }
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

struct Peer {
    int family;
    sockaddr_storage addr{};
    socklen_t len = 0;
};

Peer peer_addr(int family, int port) {
    Peer p{family};
    const char* var = family == AF_INET ? "CONFORMANCE_PEER_V4" : "CONFORMANCE_PEER_V6";
    const char* host = std::getenv(var);
    if (!host) {
        ADD_FAILURE() << var << " is not set (run through conformance.sh)";
        return p;
    }
    if (family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&p.addr);
        a->sin_family = AF_INET;
        a->sin_port = htons(static_cast<uint16_t>(port));
        inet_pton(AF_INET, host, &a->sin_addr);
        p.len = sizeof(sockaddr_in);
    } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&p.addr);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(static_cast<uint16_t>(port));
        inet_pton(AF_INET6, host, &a->sin6_addr);
        p.len = sizeof(sockaddr_in6);
    }
    return p;
}

Fd connect_tcp(int family, int port, int type_flags = 0) {
    const Peer p = peer_addr(family, port);
    Fd fd(socket(family, SOCK_STREAM | type_flags, 0));
    EXPECT_GE(fd.get(), 0) << std::strerror(errno);
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&p.addr), p.len) != 0)
        ADD_FAILURE() << "connect to port " << port << ": " << std::strerror(errno);
    return fd;
}

short poll_once(int fd, short events, int timeout_ms) {
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, timeout_ms);
    return n > 0 ? p.revents : 0;
}

// Waits (bounded) until `fd` reports one of `events`.
short wait_for(int fd, short events, int timeout_ms = kWaitMs) { return poll_once(fd, events, timeout_ms); }

int fionread(int fd) {
    int n = -1;
    EXPECT_EQ(ioctl(fd, FIONREAD, &n), 0) << std::strerror(errno);
    return n;
}

// Waits until FIONREAD reports `want` bytes (data may arrive in several segments).
bool wait_fionread(int fd, int want) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(kWaitMs);
    while (std::chrono::steady_clock::now() < end) {
        if (fionread(fd) >= want) return true;
        poll_once(fd, POLLIN, 20);
        std::this_thread::sleep_for(5ms);
    }
    return false;
}

void send_exactly(int fd, const std::string& s) {
    ASSERT_EQ(send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size())) << std::strerror(errno);
}

std::string recv_until_eof(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        if (!(wait_for(fd, POLLIN) & (POLLIN | POLLHUP | POLLERR))) {
            ADD_FAILURE() << "no EOF within " << kWaitMs << " ms";
            return out;
        }
        const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN) continue;
        if (n <= 0) return out;
        out.append(buf, static_cast<size_t>(n));
    }
}

std::string greeting() {
    std::string g(kGreetingBytes, '\0');
    for (size_t i = 0; i < g.size(); ++i) g[i] = greeting_byte(i);
    return g;
}

class Tcp : public ::testing::TestWithParam<int> {};
class Udp : public ::testing::TestWithParam<int> {};

std::string family_name(const ::testing::TestParamInfo<int>& info) {
    return info.param == AF_INET ? "v4" : "v6";
}

// ---- readiness -------------------------------------------------------------------------

TEST_P(Tcp, ReadableExactlyWhenAReadWouldNotBlock) {
    Fd fd = connect_tcp(GetParam(), kEchoPort);
    EXPECT_EQ(poll_once(fd.get(), POLLIN, 0), 0) << "readable with nothing to read";
    EXPECT_EQ(poll_once(fd.get(), POLLOUT, 0), POLLOUT) << "a connected socket with room must be writable";
    char buf[4096];
    EXPECT_EQ(recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT), -1);
    EXPECT_EQ(errno, EAGAIN);

    const std::string msg(100, 'x');
    send_exactly(fd.get(), msg);
    EXPECT_EQ(wait_for(fd.get(), POLLIN) & POLLIN, POLLIN);
    ASSERT_TRUE(wait_fionread(fd.get(), 100));
    EXPECT_EQ(recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT), 100);
    EXPECT_EQ(std::string(buf, 100), msg);
    EXPECT_EQ(poll_once(fd.get(), POLLIN, 0), 0) << "still readable after the data was read";
    EXPECT_EQ(recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT), -1);
    EXPECT_EQ(errno, EAGAIN);
}

TEST_P(Tcp, SelectAgreesWithPoll) {
    Fd fd = connect_tcp(GetParam(), kEchoPort);
    auto select_bits = [&](int timeout_ms) {
        fd_set r, w;
        FD_ZERO(&r);
        FD_ZERO(&w);
        FD_SET(fd.get(), &r);
        FD_SET(fd.get(), &w);
        timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        select(fd.get() + 1, &r, &w, nullptr, &tv);
        return (FD_ISSET(fd.get(), &r) ? 1 : 0) | (FD_ISSET(fd.get(), &w) ? 2 : 0);
    };
    EXPECT_EQ(select_bits(0), 2) << "writable only";
    send_exactly(fd.get(), "ping");
    ASSERT_TRUE(wait_fionread(fd.get(), 4));
    EXPECT_EQ(select_bits(0), 3) << "readable and writable";
    char buf[16];
    EXPECT_EQ(recv(fd.get(), buf, sizeof buf, 0), 4);
    EXPECT_EQ(select_bits(0), 2);
}

// Writes towards a peer that never reads until the socket refuses (EAGAIN). Returns the
// bytes written.
size_t fill_until_eagain(int fd) {
    std::vector<char> chunk(64 * 1024, 'f');
    size_t total = 0;
    for (;;) {
        const ssize_t n = send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            total += static_cast<size_t>(n);
            if (total > (size_t{256} << 20)) {
                ADD_FAILURE() << "256 MiB went out to a peer that never reads";
                return total;
            }
            continue;
        }
        EXPECT_EQ(errno, EAGAIN) << std::strerror(errno);
        return total;
    }
}

// A level-triggered loop waiting for POLLIN|POLLOUT on a socket whose peer never reads
// must not spin (the seed's eventfd reported POLLIN here: DESIGN §3): every wakeup must let
// the program make progress. POLLIN never comes (there is nothing to read); POLLOUT may
// come when the peer's window opens a little (Linux waits for a third of its send buffer,
// culvert for ring space: both are "a write would not block"), and then a write must
// succeed.
TEST_P(Tcp, FullSendBufferIsNeitherWritableNorReadable) {
    Fd fd = connect_tcp(GetParam(), kSinkPort);
    EXPECT_GT(fill_until_eagain(fd.get()), 0u);
    Fd ep(epoll_create1(EPOLL_CLOEXEC));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ASSERT_EQ(epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev), 0);
    int wakeups = 0, readable = 0, useless_writable = 0;
    std::vector<char> chunk(64 * 1024, 'g');
    const auto end = std::chrono::steady_clock::now() + 500ms;
    while (std::chrono::steady_clock::now() < end) {
        epoll_event out[4];
        if (epoll_wait(ep.get(), out, 4, 50) <= 0) continue;
        ++wakeups;
        if (out[0].events & EPOLLIN) ++readable;
        if (out[0].events & EPOLLOUT) {
            const ssize_t n = send(fd.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n <= 0) {
                if (useless_writable++ < 3) {
                    int outq = -1;
                    ioctl(fd.get(), TIOCOUTQ, &outq);
                    ADD_FAILURE() << "POLLOUT, then send: " << std::strerror(errno) << " (SIOCOUTQ " << outq
                                  << ", events " << out[0].events << ")";
                }
            }
            if (n > 0) fill_until_eagain(fd.get());  // as a program would: write until EAGAIN
        }
    }
    EXPECT_EQ(readable, 0) << "POLLIN with nothing to read";
    EXPECT_EQ(useless_writable, 0) << "POLLOUT while a write would block (" << wakeups << " wakeups)";
    char c;
    EXPECT_EQ(recv(fd.get(), &c, 1, MSG_DONTWAIT), -1);
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(poll_once(fd.get(), POLLIN, 0), 0);
}

TEST_P(Tcp, EdgeTriggeredEpollReportsNewDataAfterEagain) {
    Fd fd = connect_tcp(GetParam(), kEchoPort);
    Fd ep(epoll_create1(EPOLL_CLOEXEC));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ASSERT_EQ(epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev), 0);
    epoll_event out[4];
    ASSERT_EQ(epoll_wait(ep.get(), out, 4, kWaitMs), 1);
    EXPECT_TRUE(out[0].events & EPOLLOUT);
    EXPECT_FALSE(out[0].events & EPOLLIN);
    EXPECT_EQ(epoll_wait(ep.get(), out, 4, 100), 0) << "an edge was reported twice";

    for (int round = 0; round < 3; ++round) {
        send_exactly(fd.get(), "0123456789");
        ASSERT_EQ(epoll_wait(ep.get(), out, 4, kWaitMs), 1) << "round " << round;
        EXPECT_TRUE(out[0].events & EPOLLIN);
        // Drain to EAGAIN, as edge-triggered programs must.
        std::string got;
        char buf[64];
        for (;;) {
            const ssize_t n = recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                got.append(buf, static_cast<size_t>(n));
                continue;
            }
            ASSERT_EQ(errno, EAGAIN);
            if (got.size() >= 10) break;
            // The echo arrived in pieces: the next piece is a new edge.
            ASSERT_EQ(epoll_wait(ep.get(), out, 4, kWaitMs), 1);
        }
        EXPECT_EQ(got, "0123456789");
        EXPECT_EQ(epoll_wait(ep.get(), out, 4, 200), 0) << "event after draining, round " << round;
    }
}

TEST_P(Tcp, RdhupAndEofAfterThePeersFin) {
    Fd fd = connect_tcp(GetParam(), kGreetingPort);
    // The FIN is reported while data is still unread (Linux: POLLIN|POLLRDHUP).
    short r = 0;
    for (int i = 0; i < 100 && !(r & POLLRDHUP); ++i) {
        r = wait_for(fd.get(), POLLIN | POLLRDHUP, 100);
        if (!(r & POLLRDHUP)) std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(r & (POLLIN | POLLRDHUP), POLLIN | POLLRDHUP);
    EXPECT_EQ(fionread(fd.get()), static_cast<int>(kGreetingBytes));
    Fd ep(epoll_create1(EPOLL_CLOEXEC));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ASSERT_EQ(epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev), 0);
    epoll_event out[2];
    ASSERT_EQ(epoll_wait(ep.get(), out, 2, kWaitMs), 1);
    EXPECT_EQ(out[0].events & (EPOLLIN | EPOLLRDHUP), static_cast<uint32_t>(EPOLLIN | EPOLLRDHUP));

    std::string buf(kGreetingBytes, '\0');
    EXPECT_EQ(recv(fd.get(), buf.data(), buf.size(), MSG_WAITALL), static_cast<ssize_t>(kGreetingBytes));
    EXPECT_EQ(buf, greeting());
    char c;
    EXPECT_EQ(recv(fd.get(), &c, 1, 0), 0) << "EOF";
    EXPECT_EQ(recv(fd.get(), &c, 1, MSG_DONTWAIT), 0) << "EOF stays";
    EXPECT_EQ(poll_once(fd.get(), POLLIN | POLLRDHUP, 0) & (POLLIN | POLLRDHUP), POLLIN | POLLRDHUP);
}

// ---- connect -----------------------------------------------------------------------------

TEST_P(Tcp, NonBlockingConnectInProgressThenWritable) {
    const Peer p = peer_addr(GetParam(), kEchoPort);
    Fd fd(socket(GetParam(), SOCK_STREAM | SOCK_NONBLOCK, 0));
    const int rc = connect(fd.get(), reinterpret_cast<const sockaddr*>(&p.addr), p.len);
    if (rc != 0) {
        EXPECT_EQ(errno, EINPROGRESS);
    }
    EXPECT_EQ(wait_for(fd.get(), POLLOUT) & POLLOUT, POLLOUT);
    int err = -1;
    socklen_t len = sizeof err;
    ASSERT_EQ(getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len), 0);
    EXPECT_EQ(err, 0);
    sockaddr_storage peer{};
    socklen_t plen = sizeof peer;
    EXPECT_EQ(getpeername(fd.get(), reinterpret_cast<sockaddr*>(&peer), &plen), 0);
    send_exactly(fd.get(), "hi");
    ASSERT_TRUE(wait_fionread(fd.get(), 2));
    char buf[4];
    EXPECT_EQ(recv(fd.get(), buf, sizeof buf, 0), 2);
}

TEST_P(Tcp, NonBlockingConnectRefusedReportsSoError) {
    const Peer p = peer_addr(GetParam(), kClosedPort);
    Fd fd(socket(GetParam(), SOCK_STREAM | SOCK_NONBLOCK, 0));
    const int rc = connect(fd.get(), reinterpret_cast<const sockaddr*>(&p.addr), p.len);
    ASSERT_EQ(rc, -1);
    if (errno == ECONNREFUSED) return;  // a local peer may refuse before connect returns
    ASSERT_EQ(errno, EINPROGRESS);
    EXPECT_NE(wait_for(fd.get(), POLLOUT) & (POLLOUT | POLLERR | POLLHUP), 0);
    int err = -1;
    socklen_t len = sizeof err;
    ASSERT_EQ(getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len), 0);
    EXPECT_EQ(err, ECONNREFUSED);
    ASSERT_EQ(getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len), 0);
    EXPECT_EQ(err, 0) << "SO_ERROR is cleared by reading it";
}

// ---- flags -------------------------------------------------------------------------------

TEST_P(Tcp, MsgPeekNeverConsumes) {
    Fd fd = connect_tcp(GetParam(), kGreetingPort);
    ASSERT_TRUE(wait_fionread(fd.get(), static_cast<int>(kGreetingBytes)));
    const std::string g = greeting();
    char buf[2000];
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(recv(fd.get(), buf, 100, MSG_PEEK), 100);
        EXPECT_EQ(std::string(buf, 100), g.substr(0, 100));
    }
    EXPECT_EQ(fionread(fd.get()), static_cast<int>(kGreetingBytes));
    ASSERT_EQ(recv(fd.get(), buf, 100, 0), 100);
    EXPECT_EQ(std::string(buf, 100), g.substr(0, 100));
    ASSERT_EQ(recv(fd.get(), buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT), 900);
    EXPECT_EQ(std::string(buf, 900), g.substr(100));
    EXPECT_EQ(fionread(fd.get()), 900);
    ASSERT_EQ(recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT), 900);
    EXPECT_EQ(std::string(buf, 900), g.substr(100));
}

TEST_P(Tcp, MsgWaitallWaitsForEveryByte) {
    Fd fd = connect_tcp(GetParam(), kTwoPartsPort);
    char buf[200];
    ASSERT_EQ(recv(fd.get(), buf, sizeof buf, MSG_WAITALL), 200);  // the parts are 300 ms apart
    EXPECT_EQ(std::string(buf, 100), std::string(100, 'a'));
    EXPECT_EQ(std::string(buf + 100, 100), std::string(100, 'b'));
}

TEST_P(Tcp, SockNonblockAndFionbio) {
    const Peer p = peer_addr(GetParam(), kEchoPort);
    Fd fd(socket(GetParam(), SOCK_STREAM | SOCK_NONBLOCK, 0));
    EXPECT_TRUE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK);
    connect(fd.get(), reinterpret_cast<const sockaddr*>(&p.addr), p.len);
    ASSERT_EQ(wait_for(fd.get(), POLLOUT) & POLLOUT, POLLOUT);
    char c;
    EXPECT_EQ(recv(fd.get(), &c, 1, 0), -1);
    EXPECT_EQ(errno, EAGAIN);
    int off = 0;
    ASSERT_EQ(ioctl(fd.get(), FIONBIO, &off), 0);
    EXPECT_FALSE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK);
    ASSERT_EQ(fcntl(fd.get(), F_SETFL, O_NONBLOCK), 0);
    EXPECT_TRUE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK);
}

// Runs `sh -c 'test -e /proc/self/fd/N'` in a new program: does fd N survive exec?
bool survives_exec(int fd) {
    const std::string script = "test -e /proc/self/fd/" + std::to_string(fd);
    const char* argv[] = {"/bin/sh", "-c", script.c_str(), nullptr};
    pid_t pid;
    if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
        ADD_FAILURE() << "posix_spawn /bin/sh failed";
        return false;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST_P(Tcp, SockCloexecReallyClosesOnExec) {
    Fd with(socket(GetParam(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    Fd without(socket(GetParam(), SOCK_STREAM, 0));
    EXPECT_EQ(fcntl(with.get(), F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(fcntl(without.get(), F_GETFD), 0);
    EXPECT_FALSE(survives_exec(with.get()));
    EXPECT_TRUE(survives_exec(without.get()));
    ASSERT_EQ(fcntl(without.get(), F_SETFD, FD_CLOEXEC), 0);
    EXPECT_FALSE(survives_exec(without.get()));
}

// ---- dup ---------------------------------------------------------------------------------

// dup(2): both fds name one connection; closing one of them sends no FIN; file status flags
// (O_NONBLOCK) are shared, FD_CLOEXEC is not; the connection ends with its last fd.
TEST_P(Tcp, DupNamesTheSameConnectionUntilTheLastFdCloses) {
    Fd fd = connect_tcp(GetParam(), kCountPort);
    Fd copy(dup(fd.get()));
    ASSERT_GE(copy.get(), 0) << std::strerror(errno);
    Fd high(fcntl(fd.get(), F_DUPFD_CLOEXEC, 300));
    ASSERT_GE(high.get(), 300) << std::strerror(errno);
    EXPECT_EQ(fcntl(high.get(), F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(fcntl(copy.get(), F_GETFD), 0);
    ASSERT_EQ(fcntl(copy.get(), F_SETFL, O_NONBLOCK), 0);
    EXPECT_NE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0) << "O_NONBLOCK is the open file's";
    ASSERT_EQ(fcntl(fd.get(), F_SETFL, 0), 0);
    send_exactly(fd.get(), std::string(100, 'a'));
    fd.reset();  // not the last fd: no FIN
    send_exactly(copy.get(), std::string(50, 'b'));
    // dup2 over another socket of ours replaces it; the connection lives on there.
    Fd other(socket(GetParam(), SOCK_STREAM, 0));
    ASSERT_EQ(dup2(high.get(), other.get()), other.get()) << std::strerror(errno);
    high.reset();
    send_exactly(other.get(), std::string(25, 'c'));
    copy.reset();
    ASSERT_EQ(shutdown(other.get(), SHUT_WR), 0);
    EXPECT_EQ(recv_until_eof(other.get()), "175") << "every alias wrote to the one connection";
}

// ---- shutdown ----------------------------------------------------------------------------

TEST_P(Tcp, ShutdownWriteHalfCloses) {
    Fd fd = connect_tcp(GetParam(), kCountPort);
    send_exactly(fd.get(), std::string(5000, 'c'));
    ASSERT_EQ(shutdown(fd.get(), SHUT_WR), 0);
    EXPECT_EQ(send(fd.get(), "x", 1, MSG_NOSIGNAL), -1);
    EXPECT_EQ(errno, EPIPE);
    EXPECT_EQ(poll_once(fd.get(), POLLOUT, 0) & POLLOUT, POLLOUT) << "a write would not block (it fails)";
    EXPECT_EQ(recv_until_eof(fd.get()), "5000") << "we still read after our FIN";
}

TEST_P(Tcp, PeerHalfCloseLeavesOurSendingOpen) {
    Fd fd = connect_tcp(GetParam(), kGreetingPort);
    EXPECT_EQ(recv_until_eof(fd.get()), greeting());
    EXPECT_EQ(send(fd.get(), "still-talking", 13, MSG_NOSIGNAL), 13);
    EXPECT_EQ(poll_once(fd.get(), POLLOUT, 0) & POLLOUT, POLLOUT);
}

TEST_P(Tcp, ShutdownReadMakesReadsReturnZero) {
    Fd fd = connect_tcp(GetParam(), kEchoPort);
    ASSERT_EQ(shutdown(fd.get(), SHUT_RD), 0);
    EXPECT_EQ(poll_once(fd.get(), POLLIN, 0) & POLLIN, POLLIN);
    char c;
    EXPECT_EQ(recv(fd.get(), &c, 1, 0), 0);
}

// ---- listen / accept ---------------------------------------------------------------------

TEST_P(Tcp, ListenerReadableExactlyWhenAcceptWouldNotBlock) {
    const int family = GetParam();
    Fd lfd(socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0));
    sockaddr_storage any{};
    socklen_t len;
    if (family == AF_INET) {
        auto* a = reinterpret_cast<sockaddr_in*>(&any);
        a->sin_family = AF_INET;
        len = sizeof(sockaddr_in);
    } else {
        auto* a = reinterpret_cast<sockaddr_in6*>(&any);
        a->sin6_family = AF_INET6;
        len = sizeof(sockaddr_in6);
    }
    ASSERT_EQ(bind(lfd.get(), reinterpret_cast<sockaddr*>(&any), len), 0) << std::strerror(errno);
    ASSERT_EQ(listen(lfd.get(), 8), 0);
    sockaddr_storage bound{};
    socklen_t blen = sizeof bound;
    ASSERT_EQ(getsockname(lfd.get(), reinterpret_cast<sockaddr*>(&bound), &blen), 0);
    const int port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                             : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    ASSERT_NE(port, 0);
    EXPECT_EQ(poll_once(lfd.get(), POLLIN | POLLOUT, 0), 0) << "a listener is neither readable nor writable";
    EXPECT_EQ(accept4(lfd.get(), nullptr, nullptr, 0), -1);
    EXPECT_EQ(errno, EAGAIN);

    Fd ctl = connect_tcp(family, kConnectBackPort);
    send_exactly(ctl.get(), std::to_string(port) + "\n");
    EXPECT_EQ(wait_for(lfd.get(), POLLIN), POLLIN);
    Fd conn(accept4(lfd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    ASSERT_GE(conn.get(), 0) << std::strerror(errno);
    EXPECT_TRUE(fcntl(conn.get(), F_GETFL) & O_NONBLOCK);
    EXPECT_EQ(fcntl(conn.get(), F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(poll_once(lfd.get(), POLLIN, 0), 0) << "readable after the only connection was accepted";
    EXPECT_EQ(recv_until_eof(conn.get()), kHelloFromPeer);
}

// ---- UDP ---------------------------------------------------------------------------------

Fd udp_to_echo(int family, Peer& p) {
    p = peer_addr(family, kEchoPort);
    Fd fd(socket(family, SOCK_DGRAM, 0));
    EXPECT_GE(fd.get(), 0);
    return fd;
}

// Sends `d` until the echo is readable (UDP may drop; the peer may still be starting).
bool send_until_echo(int fd, const Peer& p, const std::string& d) {
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (sendto(fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&p.addr), p.len) !=
            static_cast<ssize_t>(d.size()))
            return false;
        if (wait_for(fd, POLLIN, 600) & POLLIN) return true;
    }
    return false;
}

TEST_P(Udp, MsgPeekNeverConsumesADatagram) {
    Peer p;
    Fd fd = udp_to_echo(GetParam(), p);
    const std::string d = "datagram-to-peek";
    ASSERT_TRUE(send_until_echo(fd.get(), p, d));
    EXPECT_EQ(fionread(fd.get()), static_cast<int>(d.size()));
    char buf[64];
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(recv(fd.get(), buf, sizeof buf, MSG_PEEK), static_cast<ssize_t>(d.size()));
        EXPECT_EQ(std::string(buf, d.size()), d);
    }
    EXPECT_EQ(poll_once(fd.get(), POLLIN, 0), POLLIN);
    ASSERT_EQ(recv(fd.get(), buf, sizeof buf, 0), static_cast<ssize_t>(d.size()));
    EXPECT_EQ(std::string(buf, d.size()), d);
    std::this_thread::sleep_for(100ms);  // a duplicate echo of a resend would show here
    while (recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(poll_once(fd.get(), POLLIN, 0), 0);
}

TEST_P(Udp, MsgTruncReportsAndDiscardsTheRest) {
    Peer p;
    Fd fd = udp_to_echo(GetParam(), p);
    const std::string d(100, 't');
    ASSERT_TRUE(send_until_echo(fd.get(), p, d));
    char buf[10];
    iovec iov{buf, sizeof buf};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    ASSERT_EQ(recvmsg(fd.get(), &m, 0), 10);
    EXPECT_TRUE(m.msg_flags & MSG_TRUNC);
    EXPECT_EQ(std::string(buf, 10), std::string(10, 't'));
    std::this_thread::sleep_for(100ms);
    while (recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
    ASSERT_TRUE(send_until_echo(fd.get(), p, d));
    EXPECT_EQ(recv(fd.get(), buf, sizeof buf, MSG_TRUNC), 100) << "MSG_TRUNC returns the real length";
}

TEST_P(Udp, ReadableExactlyWhenADatagramWaits) {
    Peer p;
    Fd fd = udp_to_echo(GetParam(), p);
    EXPECT_EQ(poll_once(fd.get(), POLLIN | POLLOUT, 0), POLLOUT);
    ASSERT_TRUE(send_until_echo(fd.get(), p, "one"));
    char buf[16];
    EXPECT_EQ(recv(fd.get(), buf, sizeof buf, 0), 3);
    std::this_thread::sleep_for(100ms);
    while (recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
    EXPECT_EQ(poll_once(fd.get(), POLLIN, 0), 0);
}

INSTANTIATE_TEST_SUITE_P(Family, Tcp, ::testing::Values(AF_INET, AF_INET6), family_name);
INSTANTIATE_TEST_SUITE_P(Family, Udp, ::testing::Values(AF_INET, AF_INET6), family_name);

}  // namespace
