// A small program for the preload loading test: kernel (AF_UNIX) socket I/O through every
// wrapped call, checked byte for byte. Exit 0 when all checks pass. With
// CULVERT_EXPECT_PRELOAD=<path of the preloaded library>, it also checks that `send`
// resolves into that library (so the wrappers really ran).
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int g_failures = 0;
volatile sig_atomic_t g_sigpipes = 0;

void check(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "preload_socketpair_prog: FAILED: %s (errno %d: %s)\n", what, errno,
                     std::strerror(errno));
        ++g_failures;
    }
}

}  // namespace

int main() {
    if (const char* expected = std::getenv("CULVERT_EXPECT_PRELOAD")) {
        void* library = dlopen(expected, RTLD_LAZY | RTLD_NOLOAD);
        check(library != nullptr && dlsym(library, "send") != nullptr,
              "the preloaded library is loaded and defines send()");
        // `send` must resolve into it, unless a sanitizer runtime preloaded first intercepts
        // it (its interceptor then calls the next definition: ours).
        Dl_info info{};
        check(dladdr(reinterpret_cast<void*>(&send), &info) != 0 && info.dli_fname != nullptr,
              "dladdr(send)");
        const std::string first = info.dli_fname != nullptr ? info.dli_fname : "";
        check(first == expected || first.find("san.so") != std::string::npos,
              "send() resolves into the preloaded library");
    }

    const int lone = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    check(lone >= 0, "socket(AF_UNIX)");
    check(close(lone) == 0, "close(AF_UNIX socket)");

    int sv[2];
    check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair(STREAM)");
    char buf[64] = {};
    // A length the compiler cannot see, so that FORTIFY routes reads through __read_chk,
    // __recv_chk and __recvfrom_chk as in distro-built programs.
    volatile size_t runtime_room = 32;
    const size_t room = runtime_room;

    check(write(sv[0], "hello", 5) == 5, "write");
    check(read(sv[1], buf, room) == 5 && std::memcmp(buf, "hello", 5) == 0, "read");
    check(send(sv[0], "world", 5, 0) == 5, "send");
    check(recv(sv[1], buf, room, 0) == 5 && std::memcmp(buf, "world", 5) == 0, "recv");

    iovec out[2] = {{const_cast<char*>("ab"), 2}, {const_cast<char*>("cde"), 3}};
    check(writev(sv[0], out, 2) == 5, "writev");
    char x[2], y[8];
    iovec in[2] = {{x, sizeof x}, {y, sizeof y}};
    check(readv(sv[1], in, 2) == 5 && std::memcmp(x, "ab", 2) == 0 && std::memcmp(y, "cde", 3) == 0,
          "readv");

    msghdr msg{};
    iovec one{const_cast<char*>("msg"), 3};
    msg.msg_iov = &one;
    msg.msg_iovlen = 1;
    check(sendmsg(sv[0], &msg, 0) == 3, "sendmsg");
    iovec back{buf, room};
    msg.msg_iov = &back;
    check(recvmsg(sv[1], &msg, 0) == 3 && std::memcmp(buf, "msg", 3) == 0, "recvmsg");

    check(write(sv[0], "xyz", 3) == 3, "write before FIONREAD");
    int pending = 0;
    check(ioctl(sv[1], FIONREAD, &pending) == 0 && pending == 3, "ioctl(FIONREAD)");
    check(read(sv[1], buf, room) == 3, "read after FIONREAD");

    check(fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK) == 0, "fcntl(F_SETFL)");
    check((fcntl(sv[1], F_GETFL) & O_NONBLOCK) != 0, "fcntl(F_GETFL) shows O_NONBLOCK");
    check(recv(sv[1], buf, room, 0) == -1 && errno == EAGAIN, "recv on an empty socket: EAGAIN");

    int type = 0;
    socklen_t len = sizeof type;
    check(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM,
          "getsockopt(SO_TYPE)");
    sockaddr_storage name{};
    socklen_t name_len = sizeof name;
    check(getsockname(sv[0], reinterpret_cast<sockaddr*>(&name), &name_len) == 0 &&
              name.ss_family == AF_UNIX,
          "getsockname");

    int dg[2];
    check(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dg) == 0, "socketpair(DGRAM)");
    check(sendto(dg[0], "dgram", 5, 0, nullptr, 0) == 5, "sendto");
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    check(recvfrom(dg[1], buf, room, 0, reinterpret_cast<sockaddr*>(&from), &from_len) == 5 &&
              std::memcmp(buf, "dgram", 5) == 0,
          "recvfrom");
    char p1[] = "m1", p2[] = "m22";
    iovec v1{p1, 2}, v2{p2, 3};
    mmsghdr vec[2] = {};
    vec[0].msg_hdr.msg_iov = &v1;
    vec[0].msg_hdr.msg_iovlen = 1;
    vec[1].msg_hdr.msg_iov = &v2;
    vec[1].msg_hdr.msg_iovlen = 1;
    check(sendmmsg(dg[0], vec, 2, 0) == 2, "sendmmsg");
    char r1[8], r2[8];
    iovec w1{r1, sizeof r1}, w2{r2, sizeof r2};
    vec[0].msg_hdr.msg_iov = &w1;
    vec[1].msg_hdr.msg_iov = &w2;
    check(recvmmsg(dg[1], vec, 2, MSG_DONTWAIT, nullptr) == 2 && vec[1].msg_len == 3 &&
              std::memcmp(r2, "m22", 3) == 0,
          "recvmmsg");

    // SIGPIPE as Linux does it: raised by write() to a closed peer, not by MSG_NOSIGNAL.
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_sigpipes = g_sigpipes + 1; };
    sigaction(SIGPIPE, &sa, nullptr);
    check(close(sv[1]) == 0, "close(peer)");
    check(send(sv[0], "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE && g_sigpipes == 0,
          "send(MSG_NOSIGNAL) to a closed peer: EPIPE, no signal");
    check(write(sv[0], "x", 1) == -1 && errno == EPIPE && g_sigpipes == 1,
          "write to a closed peer: EPIPE and SIGPIPE");
    check(shutdown(sv[0], SHUT_RDWR) == 0 || errno == ENOTCONN, "shutdown");

    check(close(sv[0]) == 0 && close(dg[0]) == 0 && close(dg[1]) == 0, "close");
    if (g_failures == 0) {
        std::puts("preload_socketpair_prog: ok");
    }
    return g_failures == 0 ? 0 : 1;
}
