// Routing tests of the LD_PRELOAD interposer's core (src/client/preload/interposer.hpp),
// linked with a recording fake Client and no LD_PRELOAD: kernel sockets stay with the kernel,
// culvert fds reach the Client with the right arguments, every send/recv variant becomes
// sendmsg/recvmsg, varargs are decoded, errors become -1/errno, SIGPIPE is raised like Linux.
#include "client/preload/interposer.hpp"
#include "client/preload/real_libc.hpp"
#include "preload_fake_client.hpp"

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {

using namespace culvert::preload;
namespace fake = culvert::client::fake;
using ::testing::ElementsAre;

// The exported variadic symbols do exactly this before calling the core.
int call_fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    const int r = wrap::fcntl(fd, cmd, ap);
    va_end(ap);
    return r;
}

int call_fcntl64(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    const int r = wrap::fcntl64(fd, cmd, ap);
    va_end(ap);
    return r;
}

int call_ioctl(int fd, unsigned long request, ...) {
    va_list ap;
    va_start(ap, request);
    const int r = wrap::ioctl(fd, request, ap);
    va_end(ap);
    return r;
}

std::vector<std::string> op_names() {
    std::vector<std::string> names;
    for (const auto& c : fake::calls()) {
        names.push_back(c.op);
    }
    return names;
}

sockaddr_in inet(const char* ip, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

std::string ip_port(const sockaddr_in& a) {
    char ip[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
}

int socket_domain(int fd) {
    int domain = -1;
    socklen_t len = sizeof domain;
    return ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 ? domain : -1;
}

volatile sig_atomic_t g_sigpipes = 0;

// Counts SIGPIPE for the duration of a test, then restores the previous disposition.
class SigpipeCounter {
  public:
    SigpipeCounter() {
        g_sigpipes = 0;
        struct sigaction sa {};
        sa.sa_handler = [](int) { g_sigpipes = g_sigpipes + 1; };
        sigemptyset(&sa.sa_mask);
        ::sigaction(SIGPIPE, &sa, &old_);
    }
    ~SigpipeCounter() { ::sigaction(SIGPIPE, &old_, nullptr); }
    int count() const { return g_sigpipes; }

  private:
    struct sigaction old_ {};
};

// culvert_ is a real kernel fd (an eventfd) that the fake calls a culvert socket: a call that
// wrongly went to the kernel would fail on it (or change it) instead of reaching the fake.
class Preload : public ::testing::Test {
  protected:
    void SetUp() override {
        fake::reset();
        culvert_ = ::eventfd(0, EFD_CLOEXEC);
        ASSERT_GE(culvert_, 0);
        fake::set_managed(culvert_, true);
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, kernel_), 0);
    }
    void TearDown() override {
        fake::reset();
        ::close(culvert_);
        ::close(kernel_[0]);
        ::close(kernel_[1]);
    }

    int culvert_ = -1;
    int kernel_[2] = {-1, -1};
};

using PreloadDeathTest = Preload;

TEST_F(Preload, UnixAndNetlinkSocketsGoToTheKernel) {
    const int unix_fd = wrap::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(unix_fd, 0) << std::strerror(errno);
    EXPECT_EQ(socket_domain(unix_fd), AF_UNIX);

    const int netlink_fd = wrap::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    ASSERT_GE(netlink_fd, 0) << std::strerror(errno);
    EXPECT_EQ(socket_domain(netlink_fd), AF_NETLINK);

    // Raw IP is not a kind culvert serves: the kernel decides (EPERM without CAP_NET_RAW).
    const int raw_fd = wrap::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (raw_fd >= 0) {
        EXPECT_EQ(socket_domain(raw_fd), AF_INET);
        EXPECT_EQ(wrap::close(raw_fd), 0);
    } else {
        EXPECT_TRUE(errno == EPERM || errno == EACCES) << std::strerror(errno);
    }

    EXPECT_EQ(wrap::close(unix_fd), 0);
    EXPECT_EQ(wrap::close(netlink_fd), 0);
    EXPECT_EQ(::fcntl(unix_fd, F_GETFD), -1);  // really closed, by the kernel
    EXPECT_EQ(errno, EBADF);
    EXPECT_TRUE(fake::calls().empty());
}

TEST_F(Preload, InetSocketsGoToTheClientWithTheirArguments) {
    const int culvert_fd = ::eventfd(0, EFD_CLOEXEC);
    fake::set_next_fd(culvert_fd);
    EXPECT_EQ(wrap::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_UDP), culvert_fd);
    ASSERT_EQ(fake::calls().size(), 1u);
    const auto call = fake::calls()[0];
    EXPECT_EQ(call.op, "socket");
    EXPECT_EQ(call.a, AF_INET6);
    EXPECT_EQ(call.b, SOCK_DGRAM | SOCK_NONBLOCK);
    EXPECT_EQ(call.c, IPPROTO_UDP);
    ::close(culvert_fd);
}

TEST_F(Preload, ClientErrorsBecomeMinusOneAndErrno) {
    fake::fail_next("socket", EMFILE);
    errno = 0;
    EXPECT_EQ(wrap::socket(AF_INET, SOCK_STREAM, 0), -1);
    EXPECT_EQ(errno, EMFILE);

    const sockaddr_in to = inet("192.0.2.1", 80);
    fake::fail_next("connect", ECONNREFUSED);
    EXPECT_EQ(wrap::connect(culvert_, reinterpret_cast<const sockaddr*>(&to), sizeof to), -1);
    EXPECT_EQ(errno, ECONNREFUSED);

    char buf[8];
    EXPECT_EQ(wrap::recv(culvert_, buf, sizeof buf, MSG_DONTWAIT), -1);  // nothing queued
    EXPECT_EQ(errno, EAGAIN);

    fake::fail_next("sendmsg", ENOBUFS);
    EXPECT_EQ(wrap::write(culvert_, "x", 1), -1);
    EXPECT_EQ(errno, ENOBUFS);

    int value = 0;
    socklen_t len = sizeof value;
    fake::fail_next("getsockopt", ENOPROTOOPT);
    EXPECT_EQ(wrap::getsockopt(culvert_, SOL_SOCKET, SO_PRIORITY, &value, &len), -1);
    EXPECT_EQ(errno, ENOPROTOOPT);

    fake::fail_next("fcntl", EINVAL);
    EXPECT_EQ(call_fcntl(culvert_, F_SETFL, O_NONBLOCK), -1);
    EXPECT_EQ(errno, EINVAL);

    fake::fail_next("accept4", ECONNABORTED);
    EXPECT_EQ(wrap::accept(culvert_, nullptr, nullptr), -1);
    EXPECT_EQ(errno, ECONNABORTED);

    // A successful call leaves errno alone.
    errno = 1234;
    EXPECT_EQ(wrap::listen(culvert_, 1), 0);
    EXPECT_EQ(errno, 1234);
}

TEST_F(Preload, ControlCallsOnACulvertFdReachTheClientWithTheirArguments) {
    const sockaddr_in local = inet("10.0.0.1", 8080);
    const auto* local_sa = reinterpret_cast<const sockaddr*>(&local);
    EXPECT_EQ(wrap::bind(culvert_, local_sa, sizeof local), 0);
    EXPECT_EQ(wrap::listen(culvert_, 17), 0);
    EXPECT_EQ(wrap::connect(culvert_, local_sa, sizeof local), 0);
    EXPECT_EQ(wrap::shutdown(culvert_, SHUT_WR), 0);

    sockaddr_in name{};
    socklen_t name_len = sizeof name;
    EXPECT_EQ(wrap::getsockname(culvert_, reinterpret_cast<sockaddr*>(&name), &name_len), 0);
    EXPECT_EQ(ip_port(name), "192.0.2.7:4242");
    EXPECT_EQ(name_len, sizeof name);
    sockaddr_in peer{};
    socklen_t peer_len = sizeof peer;
    EXPECT_EQ(wrap::getpeername(culvert_, reinterpret_cast<sockaddr*>(&peer), &peer_len), 0);
    EXPECT_EQ(ip_port(peer), "192.0.2.7:4242");

    int rcvbuf = 0;
    socklen_t opt_len = sizeof rcvbuf;
    EXPECT_EQ(wrap::getsockopt(culvert_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &opt_len), 0);
    EXPECT_EQ(rcvbuf, 7);
    const int one = 1;
    EXPECT_EQ(wrap::setsockopt(culvert_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);

    const int accepted = ::eventfd(0, EFD_CLOEXEC);
    fake::set_next_fd(accepted);
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    EXPECT_EQ(wrap::accept(culvert_, reinterpret_cast<sockaddr*>(&from), &from_len), accepted);
    EXPECT_EQ(ip_port(from), "192.0.2.7:4242");
    EXPECT_EQ(wrap::accept4(culvert_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC), accepted);

    EXPECT_THAT(op_names(),
                ElementsAre("bind", "listen", "connect", "shutdown", "getsockname", "getpeername",
                            "getsockopt", "setsockopt", "accept4", "accept4"));
    const auto calls = fake::calls();
    for (const auto& c : calls) {
        EXPECT_EQ(c.fd, culvert_) << c.op;
    }
    EXPECT_EQ(calls[0].ptr, local_sa);
    EXPECT_EQ(calls[0].len, sizeof local);
    EXPECT_EQ(calls[1].a, 17);
    EXPECT_EQ(calls[2].ptr, local_sa);
    EXPECT_EQ(calls[3].a, SHUT_WR);
    EXPECT_EQ(calls[6].a, SOL_SOCKET);
    EXPECT_EQ(calls[6].b, SO_RCVBUF);
    EXPECT_EQ(calls[7].a, IPPROTO_TCP);
    EXPECT_EQ(calls[7].b, TCP_NODELAY);
    EXPECT_EQ(calls[7].ptr, &one);
    EXPECT_EQ(calls[7].len, sizeof one);
    EXPECT_EQ(calls[8].a, 0);  // accept() is accept4() without flags
    EXPECT_EQ(calls[8].ptr, &from);
    EXPECT_EQ(calls[9].a, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ::close(accepted);
}

TEST_F(Preload, CloseOfACulvertFdGoesToTheClientOnly) {
    EXPECT_EQ(wrap::close(culvert_), 0);
    EXPECT_THAT(op_names(), ElementsAre("close"));
    EXPECT_EQ(fake::calls()[0].fd, culvert_);
    EXPECT_GE(::fcntl(culvert_, F_GETFD), 0);  // the kernel did not close it: the Client does
}

TEST_F(Preload, KernelSocketsNeverReachTheClient) {
    const int a = kernel_[0];
    const int b = kernel_[1];
    char buf[32] = {};
    ASSERT_EQ(wrap::write(a, "abc", 3), 3);
    ASSERT_EQ(wrap::read(b, buf, sizeof buf), 3);
    EXPECT_EQ(std::string(buf, 3), "abc");

    ASSERT_EQ(wrap::send(a, "de", 2, MSG_NOSIGNAL), 2);
    ASSERT_EQ(wrap::recv(b, buf, sizeof buf, 0), 2);
    EXPECT_EQ(std::string(buf, 2), "de");

    iovec out[2] = {{const_cast<char*>("fg"), 2}, {const_cast<char*>("hij"), 3}};
    ASSERT_EQ(wrap::writev(a, out, 2), 5);
    char x[1], rest[8];
    iovec in[2] = {{x, 1}, {rest, sizeof rest}};
    ASSERT_EQ(wrap::readv(b, in, 2), 5);
    EXPECT_EQ(std::string(x, 1) + std::string(rest, 4), "fghij");

    ASSERT_EQ(wrap::sendto(a, "k", 1, 0, nullptr, 0), 1);
    ASSERT_EQ(wrap::recvfrom(b, buf, sizeof buf, 0, nullptr, nullptr), 1);
    msghdr msg{};
    iovec one{const_cast<char*>("lm"), 2};
    msg.msg_iov = &one;
    msg.msg_iovlen = 1;
    ASSERT_EQ(wrap::sendmsg(a, &msg, 0), 2);
    iovec back{buf, sizeof buf};
    msg.msg_iov = &back;
    ASSERT_EQ(wrap::recvmsg(b, &msg, 0), 2);
    EXPECT_EQ(std::string(buf, 2), "lm");

    ASSERT_EQ(wrap::write(a, "nop", 3), 3);
    int pending = 0;
    ASSERT_EQ(call_ioctl(b, FIONREAD, &pending), 0);
    EXPECT_EQ(pending, 3);
    ASSERT_EQ(wrap::__read_chk(b, buf, 3, sizeof buf), 3);
    EXPECT_EQ(std::string(buf, 3), "nop");

    ASSERT_EQ(call_fcntl(b, F_SETFL, O_NONBLOCK), 0);
    EXPECT_NE(::fcntl(b, F_GETFL) & O_NONBLOCK, 0);  // set on the kernel fd itself
    EXPECT_EQ(wrap::recv(b, buf, sizeof buf, 0), -1);
    EXPECT_EQ(errno, EAGAIN);

    int type = 0;
    socklen_t len = sizeof type;
    ASSERT_EQ(wrap::getsockopt(a, SOL_SOCKET, SO_TYPE, &type, &len), 0);
    EXPECT_EQ(type, SOCK_STREAM);

    int dgram[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dgram), 0);
    char p1[] = "one", p2[] = "three";
    iovec v1{p1, 3}, v2{p2, 5};
    mmsghdr sendv[2] = {};
    sendv[0].msg_hdr.msg_iov = &v1;
    sendv[0].msg_hdr.msg_iovlen = 1;
    sendv[1].msg_hdr.msg_iov = &v2;
    sendv[1].msg_hdr.msg_iovlen = 1;
    ASSERT_EQ(wrap::sendmmsg(dgram[0], sendv, 2, 0), 2);
    char r1[8], r2[8];
    iovec w1{r1, sizeof r1}, w2{r2, sizeof r2};
    mmsghdr recvv[2] = {};
    recvv[0].msg_hdr.msg_iov = &w1;
    recvv[0].msg_hdr.msg_iovlen = 1;
    recvv[1].msg_hdr.msg_iov = &w2;
    recvv[1].msg_hdr.msg_iovlen = 1;
    ASSERT_EQ(wrap::recvmmsg(dgram[1], recvv, 2, MSG_DONTWAIT, nullptr), 2);
    EXPECT_EQ(std::string(r1, recvv[0].msg_len), "one");
    EXPECT_EQ(std::string(r2, recvv[1].msg_len), "three");
    EXPECT_EQ(wrap::close(dgram[0]), 0);
    EXPECT_EQ(wrap::close(dgram[1]), 0);

    EXPECT_TRUE(fake::calls().empty());
    EXPECT_GT(fake::manages_queries(), 0);  // every call asked, and the answer was "kernel"
}

TEST_F(Preload, WriteAndReadAreSendmsgAndRecvmsgWithoutFlags) {
    EXPECT_EQ(wrap::write(culvert_, "hello", 5), 5);
    fake::push_datagram("world", inet("192.0.2.99", 53));
    char buf[16] = {};
    EXPECT_EQ(wrap::read(culvert_, buf, sizeof buf), 5);
    EXPECT_EQ(std::string(buf, 5), "world");

    const auto calls = fake::calls();
    ASSERT_THAT(op_names(), ElementsAre("sendmsg", "recvmsg"));
    EXPECT_EQ(calls[0].a, 0);
    EXPECT_THAT(calls[0].data, ElementsAre("hello"));
    EXPECT_EQ(calls[0].ptr, nullptr);
    EXPECT_EQ(calls[0].len, 0u);
    EXPECT_EQ(calls[1].a, 0);
    EXPECT_THAT(calls[1].iov_lens, ElementsAre(sizeof buf));
    EXPECT_EQ(calls[1].ptr, nullptr);  // read() wants no address
}

TEST_F(Preload, SendVariantsPassTheirFlagsIovecsAndAddress) {
    EXPECT_EQ(wrap::send(culvert_, "ab", 2, MSG_DONTWAIT | MSG_MORE), 2);
    const sockaddr_in to = inet("192.0.2.50", 9);
    EXPECT_EQ(wrap::sendto(culvert_, "cd", 2, MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&to),
                           sizeof to),
              2);
    iovec three[3] = {
        {const_cast<char*>("x"), 1}, {const_cast<char*>("yy"), 2}, {const_cast<char*>("zzz"), 3}};
    EXPECT_EQ(wrap::writev(culvert_, three, 3), 6);
    msghdr msg{};
    msg.msg_name = const_cast<sockaddr_in*>(&to);
    msg.msg_namelen = sizeof to;
    msg.msg_iov = three;
    msg.msg_iovlen = 2;
    EXPECT_EQ(wrap::sendmsg(culvert_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT), 3);
    fake::set_send_limit(2);
    EXPECT_EQ(wrap::write(culvert_, "hello", 5), 2);  // a short send is passed through

    const auto calls = fake::calls();
    ASSERT_EQ(calls.size(), 5u);
    EXPECT_EQ(calls[0].a, MSG_DONTWAIT | MSG_MORE);
    EXPECT_THAT(calls[0].data, ElementsAre("ab"));
    EXPECT_EQ(calls[0].ptr, nullptr);
    EXPECT_EQ(calls[1].a, MSG_NOSIGNAL);
    EXPECT_THAT(calls[1].data, ElementsAre("cd"));
    EXPECT_EQ(calls[1].ptr, &to);
    EXPECT_EQ(calls[1].len, sizeof to);
    EXPECT_EQ(calls[2].a, 0);
    EXPECT_THAT(calls[2].data, ElementsAre("x", "yy", "zzz"));
    EXPECT_EQ(calls[3].a, MSG_NOSIGNAL | MSG_DONTWAIT);
    EXPECT_THAT(calls[3].data, ElementsAre("x", "yy"));
    EXPECT_EQ(calls[3].ptr, &to);
    EXPECT_THAT(calls[4].data, ElementsAre("hello"));
}

TEST_F(Preload, RecvVariantsPassTheirFlagsIovecsAndReturnTheAddress) {
    fake::push_datagram("peeked", inet("192.0.2.1", 1));
    fake::push_datagram("from-dns", inet("192.0.2.99", 53));
    fake::push_datagram("abcdefgh", inet("192.0.2.2", 2));
    fake::push_datagram("via-recvmsg", inet("192.0.2.3", 3));

    char buf[32] = {};
    EXPECT_EQ(wrap::recv(culvert_, buf, sizeof buf, MSG_PEEK), 6);
    EXPECT_EQ(wrap::recv(culvert_, buf, 6, MSG_DONTWAIT), 6);
    EXPECT_EQ(std::string(buf, 6), "peeked");

    sockaddr_in from{};
    socklen_t from_len = sizeof from + 4;  // more room than needed: set to the real length
    EXPECT_EQ(wrap::recvfrom(culvert_, buf, sizeof buf, MSG_WAITALL,
                             reinterpret_cast<sockaddr*>(&from), &from_len),
              8);
    EXPECT_EQ(std::string(buf, 8), "from-dns");
    EXPECT_EQ(ip_port(from), "192.0.2.99:53");
    EXPECT_EQ(from_len, sizeof from);

    char head[3], tail[10];
    iovec two[2] = {{head, sizeof head}, {tail, sizeof tail}};
    EXPECT_EQ(wrap::readv(culvert_, two, 2), 8);
    EXPECT_EQ(std::string(head, 3) + std::string(tail, 5), "abcdefgh");

    msghdr msg{};
    iovec one{buf, sizeof buf};
    sockaddr_in name{};
    msg.msg_name = &name;
    msg.msg_namelen = sizeof name;
    msg.msg_iov = &one;
    msg.msg_iovlen = 1;
    EXPECT_EQ(wrap::recvmsg(culvert_, &msg, MSG_CMSG_CLOEXEC), 11);
    EXPECT_EQ(ip_port(name), "192.0.2.3:3");

    const auto calls = fake::calls();
    ASSERT_EQ(calls.size(), 5u);
    EXPECT_EQ(calls[0].a, MSG_PEEK);
    EXPECT_EQ(calls[1].a, MSG_DONTWAIT);
    EXPECT_THAT(calls[1].iov_lens, ElementsAre(6u));
    EXPECT_EQ(calls[2].a, MSG_WAITALL);
    EXPECT_EQ(calls[2].ptr, &from);
    EXPECT_EQ(calls[2].len, sizeof from + 4);
    EXPECT_EQ(calls[3].a, 0);
    EXPECT_THAT(calls[3].iov_lens, ElementsAre(3u, 10u));
    EXPECT_EQ(calls[4].a, MSG_CMSG_CLOEXEC);
    EXPECT_EQ(calls[4].ptr, &name);
}

TEST_F(Preload, RecvfromWithoutALengthAsksForNoAddress) {
    fake::push_datagram("data", inet("192.0.2.1", 1));
    sockaddr_in from{};
    char buf[8];
    EXPECT_EQ(
        wrap::recvfrom(culvert_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), nullptr),
        4);
    ASSERT_EQ(fake::calls().size(), 1u);
    EXPECT_EQ(fake::calls()[0].ptr, nullptr);
    EXPECT_EQ(fake::calls()[0].len, 0u);
}

TEST_F(Preload, FortifiedReadsAreThePlainOnes) {
    fake::push_datagram("12345678", inet("192.0.2.1", 1));
    fake::push_datagram("abc", inet("192.0.2.1", 1));
    fake::push_datagram("xyz", inet("192.0.2.8", 8));
    char buf[16];
    EXPECT_EQ(wrap::__read_chk(culvert_, buf, 8, sizeof buf), 8);
    EXPECT_EQ(std::string(buf, 8), "12345678");
    EXPECT_EQ(wrap::__recv_chk(culvert_, buf, 4, sizeof buf, MSG_DONTWAIT), 3);
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    EXPECT_EQ(wrap::__recvfrom_chk(culvert_, buf, 4, sizeof buf, MSG_TRUNC,
                                   reinterpret_cast<sockaddr*>(&from), &from_len),
              3);
    EXPECT_EQ(ip_port(from), "192.0.2.8:8");

    const auto calls = fake::calls();
    ASSERT_THAT(op_names(), ElementsAre("recvmsg", "recvmsg", "recvmsg"));
    EXPECT_EQ(calls[0].a, 0);
    EXPECT_THAT(calls[0].iov_lens, ElementsAre(8u));
    EXPECT_EQ(calls[1].a, MSG_DONTWAIT);
    EXPECT_EQ(calls[2].a, MSG_TRUNC);
    EXPECT_EQ(calls[2].ptr, &from);
}

TEST_F(PreloadDeathTest, FortifiedReadPastTheBufferAborts) {
    char buf[10];
    EXPECT_DEATH(wrap::__read_chk(culvert_, buf, 100, sizeof buf), "buffer overflow detected");
    EXPECT_DEATH(wrap::__recv_chk(culvert_, buf, 100, sizeof buf, 0), "buffer overflow detected");
    EXPECT_DEATH(wrap::__read_chk(kernel_[0], buf, 100, sizeof buf), "buffer overflow detected");
}

TEST_F(Preload, EpipeRaisesSigpipeUnlessMsgNosignal) {
    SigpipeCounter sigpipe;
    auto expect_epipe = [](ssize_t r) {
        EXPECT_EQ(r, -1);
        EXPECT_EQ(errno, EPIPE);
    };
    fake::fail_next("sendmsg", EPIPE);
    expect_epipe(wrap::write(culvert_, "x", 1));
    EXPECT_EQ(sigpipe.count(), 1);

    fake::fail_next("sendmsg", EPIPE);
    expect_epipe(wrap::send(culvert_, "x", 1, MSG_NOSIGNAL));
    EXPECT_EQ(sigpipe.count(), 1);

    fake::fail_next("sendmsg", EPIPE);
    expect_epipe(wrap::send(culvert_, "x", 1, MSG_DONTWAIT));
    EXPECT_EQ(sigpipe.count(), 2);

    fake::fail_next("sendmsg", EPIPE);
    expect_epipe(wrap::sendto(culvert_, "x", 1, MSG_NOSIGNAL, nullptr, 0));
    EXPECT_EQ(sigpipe.count(), 2);

    iovec iov{const_cast<char*>("x"), 1};
    fake::fail_next("sendmsg", EPIPE);
    expect_epipe(wrap::writev(culvert_, &iov, 1));
    EXPECT_EQ(sigpipe.count(), 3);

    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    fake::fail_next("sendmsg", EPIPE);
    expect_epipe(wrap::sendmsg(culvert_, &msg, 0));
    EXPECT_EQ(sigpipe.count(), 4);
    fake::fail_next("sendmsg", EPIPE);
    expect_epipe(wrap::sendmsg(culvert_, &msg, MSG_NOSIGNAL));
    EXPECT_EQ(sigpipe.count(), 4);

    fake::fail_next("sendmsg", ECONNRESET);  // only EPIPE raises
    EXPECT_EQ(wrap::write(culvert_, "x", 1), -1);
    EXPECT_EQ(errno, ECONNRESET);
    EXPECT_EQ(sigpipe.count(), 4);
}

TEST_F(Preload, SendmmsgLoopsOverSendmsgAndStopsAtALaterError) {
    char a[] = "a", bb[] = "bb", ccc[] = "ccc";
    iovec v[3] = {{a, 1}, {bb, 2}, {ccc, 3}};
    mmsghdr vec[3] = {};
    for (int i = 0; i < 3; ++i) {
        vec[i].msg_hdr.msg_iov = &v[i];
        vec[i].msg_hdr.msg_iovlen = 1;
    }
    EXPECT_EQ(wrap::sendmmsg(culvert_, vec, 3, MSG_DONTWAIT), 3);
    EXPECT_EQ(vec[0].msg_len, 1u);
    EXPECT_EQ(vec[1].msg_len, 2u);
    EXPECT_EQ(vec[2].msg_len, 3u);
    auto calls = fake::calls();
    ASSERT_EQ(calls.size(), 3u);
    EXPECT_THAT(calls[2].data, ElementsAre("ccc"));
    for (const auto& c : calls) {
        EXPECT_EQ(c.a, MSG_DONTWAIT);
    }

    fake::reset();
    fake::set_managed(culvert_, true);
    fake::fail_next("sendmsg", EAGAIN, 2);  // the third one fails: two were sent
    EXPECT_EQ(wrap::sendmmsg(culvert_, vec, 3, 0), 2);
    fake::fail_next("sendmsg", EAGAIN);  // the first one fails: an error
    EXPECT_EQ(wrap::sendmmsg(culvert_, vec, 3, 0), -1);
    EXPECT_EQ(errno, EAGAIN);
}

TEST_F(Preload, RecvmmsgHonoursWaitforoneAndReportsLengths) {
    fake::push_datagram("one", inet("192.0.2.1", 1));
    fake::push_datagram("three", inet("192.0.2.1", 1));
    char b[3][8];
    iovec v[3] = {{b[0], 8}, {b[1], 8}, {b[2], 8}};
    mmsghdr vec[3] = {};
    for (int i = 0; i < 3; ++i) {
        vec[i].msg_hdr.msg_iov = &v[i];
        vec[i].msg_hdr.msg_iovlen = 1;
    }
    EXPECT_EQ(wrap::recvmmsg(culvert_, vec, 3, MSG_WAITFORONE, nullptr), 2);
    EXPECT_EQ(vec[0].msg_len, 3u);
    EXPECT_EQ(vec[1].msg_len, 5u);
    EXPECT_EQ(std::string(b[1], 5), "three");
    const auto calls = fake::calls();
    ASSERT_EQ(calls.size(), 3u);  // the third found nothing (EAGAIN) and ended the call
    EXPECT_EQ(calls[0].a, 0);     // MSG_WAITFORONE itself is not a recv flag
    EXPECT_EQ(calls[1].a, MSG_DONTWAIT);
    EXPECT_EQ(calls[2].a, MSG_DONTWAIT);

    EXPECT_EQ(wrap::recvmmsg(culvert_, vec, 3, 0, nullptr), -1);
    EXPECT_EQ(errno, EAGAIN);

    // A zero timeout expires after the first datagram (Linux checks it after each one).
    fake::push_datagram("one", inet("192.0.2.1", 1));
    fake::push_datagram("two", inet("192.0.2.1", 1));
    timespec zero{0, 0};
    EXPECT_EQ(wrap::recvmmsg(culvert_, vec, 3, 0, &zero), 1);
    timespec plenty{60, 0};
    EXPECT_EQ(wrap::recvmmsg(culvert_, vec, 1, 0, &plenty), 1);
    EXPECT_TRUE(plenty.tv_sec > 0 && plenty.tv_sec <= 60);  // updated with the time left
    timespec bad{0, 2'000'000'000};
    EXPECT_EQ(wrap::recvmmsg(culvert_, vec, 3, 0, &bad), -1);
    EXPECT_EQ(errno, EINVAL);
}

TEST_F(Preload, ReadvAndWritevRejectABadIovcnt) {
    iovec iov{nullptr, 0};
    EXPECT_EQ(wrap::writev(culvert_, &iov, -1), -1);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_EQ(wrap::readv(culvert_, &iov, IOV_MAX + 1), -1);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_TRUE(fake::calls().empty());
}

TEST_F(Preload, FcntlFlagCommandsGoToTheClientWithTheDecodedArgument) {
    EXPECT_EQ(call_fcntl(culvert_, F_SETFL, O_RDWR | O_NONBLOCK), 0);
    EXPECT_EQ(::fcntl(culvert_, F_GETFL) & O_NONBLOCK, 0);  // not applied to the kernel fd
    fake::set_fcntl_result(O_RDWR | O_NONBLOCK);
    EXPECT_EQ(call_fcntl(culvert_, F_GETFL), O_RDWR | O_NONBLOCK);
    EXPECT_EQ(call_fcntl(culvert_, F_SETFD, FD_CLOEXEC), 0);
    EXPECT_EQ(call_fcntl64(culvert_, F_GETFD), O_RDWR | O_NONBLOCK);
    EXPECT_EQ(call_fcntl64(culvert_, F_SETFL, -1), 0);  // an int, sign included

    const auto calls = fake::calls();
    ASSERT_THAT(op_names(), ElementsAre("fcntl", "fcntl", "fcntl", "fcntl", "fcntl"));
    EXPECT_EQ(calls[0].a, F_SETFL);
    EXPECT_EQ(calls[0].b, O_RDWR | O_NONBLOCK);
    EXPECT_EQ(calls[1].a, F_GETFL);
    EXPECT_EQ(calls[2].a, F_SETFD);
    EXPECT_EQ(calls[2].b, FD_CLOEXEC);
    EXPECT_EQ(calls[3].a, F_GETFD);
    EXPECT_EQ(calls[4].b, -1);
}

TEST_F(Preload, OtherFcntlCommandsGoToTheKernelWithTheSameFd) {
    EXPECT_EQ(call_fcntl(culvert_, F_GETPIPE_SZ), -1);  // not a pipe: the kernel says so
    EXPECT_EQ(errno, EBADF);
    EXPECT_TRUE(fake::calls().empty());

    // On a kernel socket every command is the kernel's.
    ASSERT_EQ(call_fcntl64(kernel_[0], F_SETFL, O_NONBLOCK), 0);
    EXPECT_NE(::fcntl(kernel_[0], F_GETFL) & O_NONBLOCK, 0);
    EXPECT_TRUE(fake::calls().empty());
}

// The kernel makes every copy (a real fd, at the number dup(2) promises); the Client then
// learns that the copy names the same socket.
TEST_F(Preload, DupsOfACulvertFdAreKernelCopiesTheClientAdopts) {
    const int copy = call_fcntl(culvert_, F_DUPFD_CLOEXEC, 100);
    ASSERT_GE(copy, 100) << std::strerror(errno);
    EXPECT_EQ(::fcntl(copy, F_GETFD), FD_CLOEXEC);
    const int copy64 = call_fcntl64(culvert_, F_DUPFD, 200);
    ASSERT_GE(copy64, 200) << std::strerror(errno);
    EXPECT_EQ(::fcntl(copy64, F_GETFD), 0);
    const int plain = wrap::dup(culvert_);
    ASSERT_GE(plain, 0);
    const int target = ::eventfd(0, EFD_CLOEXEC);
    ASSERT_EQ(wrap::dup3(culvert_, target, O_CLOEXEC), target);
    EXPECT_EQ(::fcntl(target, F_GETFD), FD_CLOEXEC);
    const auto calls = fake::calls();
    ASSERT_EQ(calls.size(), 4u);
    const int copies[] = {copy, copy64, plain, target};
    for (size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(calls[i].op, "dup_of");
        EXPECT_EQ(calls[i].fd, culvert_);
        EXPECT_EQ(calls[i].a, copies[i]);
        EXPECT_EQ(wrap::close(copies[i]), 0);
        ::close(copies[i]);  // the fake Client does not close kernel fds
    }
    // dup of a kernel fd never reaches the Client.
    fake::reset();
    const int k = wrap::dup(kernel_[0]);
    ASSERT_GE(k, 0);
    EXPECT_TRUE(fake::calls().empty());
    ::close(k);
}

TEST_F(Preload, Dup2OntoACulvertFdForgetsItFirstAndOnlyIfTheSourceIsValid) {
    const int other = ::eventfd(0, EFD_CLOEXEC);
    fake::set_managed(other, true);
    // A bad source: dup2 fails with EBADF and leaves the target alone.
    EXPECT_EQ(wrap::dup2(987654, other), -1);
    EXPECT_EQ(errno, EBADF);
    EXPECT_TRUE(fake::calls().empty());
    // A kernel socket over a culvert fd: the culvert socket is forgotten (not closed: the
    // kernel closes the fd as it reuses the number), and the new fd is the kernel's.
    ASSERT_EQ(wrap::dup2(kernel_[0], other), other);
    EXPECT_THAT(op_names(), ElementsAre("forget"));
    EXPECT_EQ(socket_domain(other), AF_UNIX);
    // dup2 onto itself changes nothing.
    fake::reset();
    fake::set_managed(culvert_, true);
    EXPECT_EQ(wrap::dup2(culvert_, culvert_), culvert_);
    EXPECT_EQ(wrap::dup3(culvert_, culvert_, 0), -1);
    EXPECT_EQ(errno, EINVAL);
    EXPECT_TRUE(fake::calls().empty());
    ::close(other);
}

TEST_F(Preload, IoctlOnACulvertFdGoesToTheClientWithItsPointer) {
    int pending = 0;
    EXPECT_EQ(call_ioctl(culvert_, FIONREAD, &pending), 0);
    EXPECT_EQ(pending, 42);
    int on = 1;
    EXPECT_EQ(call_ioctl(culvert_, FIONBIO, &on), 0);
    EXPECT_EQ(call_ioctl(culvert_, FIOCLEX), 0);
    EXPECT_EQ(call_ioctl(culvert_, FIONCLEX), 0);
    winsize ws{};
    EXPECT_EQ(call_ioctl(culvert_, TIOCGWINSZ, &ws), -1);
    EXPECT_EQ(errno, ENOTTY);
    // A request sign-extended by a caller that declared it int: the low 32 bits count.
    const unsigned long sign_extended =
        static_cast<unsigned long>(static_cast<long>(static_cast<int>(0x80045430u)));
    EXPECT_EQ(call_ioctl(culvert_, sign_extended, &on), -1);

    const auto calls = fake::calls();
    ASSERT_THAT(op_names(), ElementsAre("ioctl", "ioctl", "fcntl", "fcntl", "ioctl", "ioctl"));
    EXPECT_EQ(calls[0].a, FIONREAD);
    EXPECT_EQ(calls[0].ptr, &pending);
    EXPECT_EQ(calls[1].a, FIONBIO);
    EXPECT_EQ(calls[1].ptr, &on);
    EXPECT_EQ(calls[2].a, F_SETFD);  // FIOCLEX is close-on-exec, tracked through F_SETFD
    EXPECT_EQ(calls[2].b, FD_CLOEXEC);
    EXPECT_EQ(calls[3].b, 0);
    EXPECT_EQ(calls[4].a, TIOCGWINSZ);
    EXPECT_EQ(calls[5].a, 0x80045430L);
}

TEST_F(Preload, SendfileReadsTheFileInChunksAndSendsThem) {
    const int file = ::memfd_create("preload-sendfile", MFD_CLOEXEC);
    ASSERT_GE(file, 0);
    std::string content(40000, '\0');
    for (size_t i = 0; i < content.size(); ++i) {
        content[i] = static_cast<char>('a' + i % 23);
    }
    ASSERT_EQ(::write(file, content.data(), content.size()), static_cast<ssize_t>(content.size()));

    off_t offset = 0;
    EXPECT_EQ(wrap::sendfile(culvert_, file, &offset, content.size()),
              static_cast<ssize_t>(content.size()));
    EXPECT_EQ(offset, static_cast<off_t>(content.size()));
    std::string sent;
    std::vector<size_t> sizes;
    for (const auto& c : fake::calls()) {
        ASSERT_EQ(c.op, "sendmsg");
        EXPECT_EQ(c.a, 0);
        ASSERT_EQ(c.data.size(), 1u);
        sizes.push_back(c.data[0].size());
        sent += c.data[0];
    }
    EXPECT_THAT(sizes, ElementsAre(sendfile_chunk_bytes, sendfile_chunk_bytes,
                                   content.size() - 2 * sendfile_chunk_bytes));
    EXPECT_EQ(sent, content);

    // Without an offset: from the file position, which moves by what the socket took.
    fake::reset();
    fake::set_managed(culvert_, true);
    fake::set_send_limit(1000);
    ASSERT_EQ(::lseek(file, 100, SEEK_SET), 100);
    EXPECT_EQ(wrap::sendfile64(culvert_, file, nullptr, 5000), 1000);
    EXPECT_EQ(::lseek(file, 0, SEEK_CUR), 1100);
    ASSERT_EQ(fake::calls().size(), 1u);
    EXPECT_EQ(fake::calls()[0].data[0], content.substr(100, 5000));  // offered; 1000 taken

    off64_t past_end = 50000;
    EXPECT_EQ(wrap::sendfile64(culvert_, file, &past_end, 10), 0);
    EXPECT_EQ(wrap::sendfile(culvert_, culvert_, nullptr, 10), -1);  // a socket as the source
    EXPECT_EQ(errno, EINVAL);
    ::close(file);
}

TEST_F(Preload, ForkRunsTheClientsChildHandlerInTheChildOnly) {
    const int culvert_fd = ::eventfd(0, EFD_CLOEXEC);
    fake::set_next_fd(culvert_fd);
    ASSERT_EQ(wrap::socket(AF_INET, SOCK_STREAM, 0), culvert_fd);  // registers the handler
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        ::_exit(fake::after_fork_calls() == 1 ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    EXPECT_EQ(fake::after_fork_calls(), 0);
    ::close(culvert_fd);
}

TEST_F(Preload, CallsTheClientMakesItselfGoToTheKernel) {
    ssize_t written = 0;
    int inner_domain = -1;
    fake::set_inside_call_hook([&] {
        // Inside Client::close: the Client's own libc calls must not come back to it.
        const uint64_t one = 1;
        written = wrap::write(culvert_, &one, sizeof one);
        const int inner = wrap::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        inner_domain = socket_domain(inner);
        wrap::close(inner);
    });
    EXPECT_EQ(wrap::close(culvert_), 0);
    fake::set_inside_call_hook(nullptr);

    EXPECT_EQ(written, 8);  // the eventfd took it: the kernel's write
    EXPECT_EQ(inner_domain, AF_INET);
    uint64_t counter = 0;
    ASSERT_EQ(::read(culvert_, &counter, sizeof counter), 8);
    EXPECT_EQ(counter, 1u);
    EXPECT_THAT(op_names(), ElementsAre("close"));
}

TEST(PreloadLibc, ResolvesEveryNextDefinition) {
    culvert::preload::libc::resolve_all();
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    EXPECT_EQ(culvert::preload::libc::write(fds[1], "z", 1), 1);
    char c = 0;
    EXPECT_EQ(culvert::preload::libc::read(fds[0], &c, 1), 1);
    EXPECT_EQ(c, 'z');
    EXPECT_EQ(culvert::preload::libc::fcntl(fds[0], F_GETFD, nullptr), FD_CLOEXEC);
    EXPECT_EQ(culvert::preload::libc::close(fds[0]), 0);
    EXPECT_EQ(culvert::preload::libc::close(fds[1]), 0);
}

}  // namespace
