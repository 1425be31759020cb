// The routing core of libculvert-preload.so: the table-generated wrap::* entry points and the
// hand-written culvert side of each call (on_culvert::*), which maps libc semantics onto
// culvert::client::Client. Built without exceptions; nothing here allocates.
#include "client/preload/interposer.hpp"

#include "client/client.hpp"
#include "client/preload/real_libc.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>

extern "C" [[noreturn]] void __chk_fail(void);

namespace culvert::preload {
namespace {

using client::Client;
using client::Result;

// True while this thread runs Client code (see culvert_fd). initial-exec: no allocation on
// access, which a preloaded library can rely on.
thread_local bool t_in_client [[gnu::tls_model("initial-exec")]] = false;

class ClientScope {
  public:
    ClientScope() : outer_(t_in_client) { t_in_client = true; }
    ~ClientScope() { t_in_client = outer_; }
    ClientScope(const ClientScope&) = delete;
    ClientScope& operator=(const ClientScope&) = delete;

  private:
    bool outer_;
};

template <class F>
auto with_client(F&& f) {
    ClientScope scope;
    return f(Client::instance());
}

int fail(int error) {
    errno = error;
    return -1;
}

int to_libc(const Result<void>& r) {
    return r ? 0 : fail(r.error());
}
int to_libc(const Result<int>& r) {
    return r ? *r : fail(r.error());
}
ssize_t to_libc(const Result<size_t>& r) {
    if (r) {
        return static_cast<ssize_t>(*r);
    }
    errno = r.error();
    return -1;
}

// fork(): the child inherits the app fds but must not reuse the parent's culvert state.
void child_after_fork() {
    t_in_client = false;
    ClientScope scope;
    Client::instance().after_fork_in_child();
}

// Registered on the first culvert socket, not by a constructor: a program that never makes
// one never runs Client code in its fork children.
void register_atfork_once() {
    static constinit std::atomic<bool> registered{false};
    if (!registered.exchange(true, std::memory_order_acq_rel)) {
        if (::pthread_atfork(nullptr, nullptr, &child_after_fork) != 0) {
            registered.store(false, std::memory_order_release);  // ENOMEM: try again next time
        }
    }
}

// Every send variant ends here. Linux raises SIGPIPE on a send that fails with EPIPE unless
// MSG_NOSIGNAL is given (write(2) and sendfile(2) never give it); the error still returns.
Result<size_t> send_message(int fd, const msghdr* msg, int flags) {
    auto sent = with_client([&](Client& c) { return c.sendmsg(fd, msg, flags); });
    if (!sent && sent.error() == EPIPE && (flags & MSG_NOSIGNAL) == 0) {
        ::raise(SIGPIPE);
    }
    return sent;
}

msghdr make_msg(const iovec* iov, size_t iovlen, const sockaddr* name, socklen_t namelen) {
    msghdr msg{};
    msg.msg_name = const_cast<sockaddr*>(name);
    msg.msg_namelen = name != nullptr ? namelen : 0;
    msg.msg_iov = const_cast<iovec*>(iov);
    msg.msg_iovlen = iovlen;
    return msg;
}

ssize_t send_buffer(int fd, const void* buf, size_t len, int flags, const sockaddr* to,
                    socklen_t tolen) {
    iovec iov{const_cast<void*>(buf), len};
    msghdr msg = make_msg(&iov, 1, to, tolen);
    return to_libc(send_message(fd, &msg, flags));
}

ssize_t recv_buffer(int fd, void* buf, size_t len, int flags, sockaddr* from, socklen_t* fromlen) {
    iovec iov{buf, len};
    // Like Linux, an address is returned only when both `from` and `fromlen` are given, and
    // *fromlen becomes the address's full length (which may exceed the space given).
    const bool want_from = from != nullptr && fromlen != nullptr;
    msghdr msg = make_msg(&iov, 1, want_from ? from : nullptr, want_from ? *fromlen : 0);
    auto got = with_client([&](Client& c) { return c.recvmsg(fd, &msg, flags); });
    if (got && want_from) {
        *fromlen = msg.msg_namelen;
    }
    return to_libc(got);
}

bool valid_iovcnt(int iovcnt) {
    return iovcnt >= 0 && iovcnt <= IOV_MAX;
}

// dup, dup2, dup3, F_DUPFD: the kernel makes the copy (a real fd the app may poll), then the
// Client learns that `copy` names the same socket as `fd`.
int adopt_dup(int fd, int copy) {
    if (copy < 0 || !culvert_fd(fd)) {
        return copy;
    }
    if (auto r = with_client([&](Client& c) { return c.dup_of(fd, copy); }); !r) {
        libc::close(copy);
        return fail(r.error());
    }
    return copy;
}

// dup2/dup3 onto fd2: the kernel closes fd2 silently when it reuses the number, so a culvert
// socket there is forgotten first, once the call cannot fail on `fd` any more.
int dup_onto(int fd, int fd2, int flags, bool dup3) {
    if (fd == fd2) {
        return dup3 ? fail(EINVAL) : libc::dup2(fd, fd2);
    }
    if (culvert_fd(fd2)) {
        if (libc::fcntl(fd, F_GETFD, nullptr) < 0) {
            return -1;  // EBADF: dup2 would leave fd2 alone
        }
        (void)with_client([&](Client& c) { return c.forget(fd2); });
    }
    return adopt_dup(fd, dup3 ? libc::dup3(fd, fd2, flags) : libc::dup2(fd, fd2));
}

// fcntl and fcntl64 on a culvert fd: the four flag commands are culvert's (O_NONBLOCK lives
// in the socket), F_DUPFD* copy the fd (adopt_dup), every other command (locks, F_SETOWN,
// ...) goes to the kernel with the same fd, the real fd that the application polls.
int fcntl_on_culvert(int fd, int cmd, void* arg, int (*kernel)(int, int, void*)) {
    switch (cmd) {
        case F_GETFL:
        case F_SETFL:
        case F_GETFD:
        case F_SETFD: {
            // These take an int, read through `...` as a pointer-sized word: only the low
            // 32 bits were passed (glibc's fcntl truncates the same way).
            const long value = static_cast<int>(reinterpret_cast<intptr_t>(arg));
            return to_libc(with_client([&](Client& c) { return c.fcntl(fd, cmd, value); }));
        }
        case F_DUPFD:
        case F_DUPFD_CLOEXEC:
            return adopt_dup(fd, kernel(fd, cmd, arg));
        default:
            return kernel(fd, cmd, arg);
    }
}

// sendfile(2) onto a culvert socket: the file is read in chunks with pread (the file position
// is handled explicitly, so bytes read but not taken by the socket are not lost) and each
// chunk is sent; a short send ends the call with a short count, as sendfile(2) may.
template <class Offset>
ssize_t send_file(int fd, int in_fd, Offset* offset, size_t count) {
    if (culvert_fd(in_fd)) {
        return fail(EINVAL);  // a socket cannot be sendfile's source
    }
    off_t start = 0;
    if (offset != nullptr) {
        if (*offset < 0) {
            return fail(EINVAL);
        }
        start = static_cast<off_t>(*offset);
    } else {
        start = ::lseek(in_fd, 0, SEEK_CUR);
        if (start < 0) {
            // Non-seekable sources (pipes) are not supported here: a short send would lose
            // bytes already read from them.
            return fail(errno == ESPIPE ? EINVAL : errno);
        }
    }
    char chunk[sendfile_chunk_bytes];
    size_t total = 0;
    int error = 0;
    while (total < count) {
        const size_t want = std::min(count - total, sizeof chunk);
        const ssize_t got = ::pread(in_fd, chunk, want, start + static_cast<off_t>(total));
        if (got < 0) {
            error = errno;
            break;
        }
        if (got == 0) {
            break;  // end of file
        }
        iovec iov{chunk, static_cast<size_t>(got)};
        msghdr msg = make_msg(&iov, 1, nullptr, 0);
        auto sent = send_message(fd, &msg, 0);
        if (!sent) {
            error = sent.error();
            break;
        }
        total += *sent;
        if (*sent < static_cast<size_t>(got)) {
            break;
        }
    }
    if (total == 0 && error != 0) {
        return fail(error);
    }
    const off_t end = start + static_cast<off_t>(total);
    if (offset != nullptr) {
        *offset = end;
    } else {
        ::lseek(in_fd, end, SEEK_SET);
    }
    return static_cast<ssize_t>(total);
}

timespec remaining_until(const timespec& deadline) {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    timespec left{deadline.tv_sec - now.tv_sec, deadline.tv_nsec - now.tv_nsec};
    if (left.tv_nsec < 0) {
        left.tv_nsec += 1'000'000'000;
        --left.tv_sec;
    }
    if (left.tv_sec < 0) {
        left = {0, 0};
    }
    return left;
}

}  // namespace

bool culvert_fd(int fd) {
    if (fd < 0 || t_in_client) {
        return false;
    }
    ClientScope scope;
    return Client::instance().manages(fd);
}

bool culvert_socket(int domain, int type, int protocol) {
    if (t_in_client) {
        return false;
    }
    ClientScope scope;
    return client::serves(domain, type, protocol);
}

namespace wrap {
#define CULVERT_ROUTE_FIXED(ret, name, params, args, culvert_if, fallback) \
    ret name params {                                                      \
        if (culvert_if) {                                                  \
            return on_culvert::name args;                                  \
        }                                                                  \
        return libc::name args;                                            \
    }
// Reading the optional argument when the caller passed none (fcntl(fd, F_GETFL)) reads an
// unused register slot: harmless, and what glibc's own fcntl and ioctl do.
#define CULVERT_ROUTE_VARIADIC(ret, name, params, last, args, culvert_if, fallback) \
    ret name(CULVERT_PRELOAD_STRIP params, va_list ap) {                            \
        void* arg = va_arg(ap, void*);                                              \
        if (culvert_if) {                                                           \
            return on_culvert::name(CULVERT_PRELOAD_STRIP args, arg);               \
        }                                                                           \
        return libc::name(CULVERT_PRELOAD_STRIP args, arg);                         \
    }
CULVERT_PRELOAD_FIXED(CULVERT_ROUTE_FIXED)
CULVERT_PRELOAD_VARIADIC(CULVERT_ROUTE_VARIADIC)
#undef CULVERT_ROUTE_FIXED
#undef CULVERT_ROUTE_VARIADIC
}  // namespace wrap

namespace on_culvert {

int socket(int domain, int type, int protocol) {
    register_atfork_once();
    return to_libc(with_client([&](Client& c) { return c.socket(domain, type, protocol); }));
}

int bind(int fd, const sockaddr* addr, socklen_t len) {
    return to_libc(with_client([&](Client& c) { return c.bind(fd, addr, len); }));
}

int listen(int fd, int backlog) {
    return to_libc(with_client([&](Client& c) { return c.listen(fd, backlog); }));
}

int accept(int fd, sockaddr* addr, socklen_t* len) {
    return to_libc(with_client([&](Client& c) { return c.accept4(fd, addr, len, 0); }));
}

int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
    return to_libc(with_client([&](Client& c) { return c.accept4(fd, addr, len, flags); }));
}

int connect(int fd, const sockaddr* addr, socklen_t len) {
    return to_libc(with_client([&](Client& c) { return c.connect(fd, addr, len); }));
}

int shutdown(int fd, int how) {
    return to_libc(with_client([&](Client& c) { return c.shutdown(fd, how); }));
}

int close(int fd) {
    return to_libc(with_client([&](Client& c) { return c.close(fd); }));
}

int dup(int fd) {
    return adopt_dup(fd, libc::dup(fd));
}

int dup2(int fd, int fd2) {
    return dup_onto(fd, fd2, 0, false);
}

int dup3(int fd, int fd2, int flags) {
    return dup_onto(fd, fd2, flags, true);
}

int getsockname(int fd, sockaddr* addr, socklen_t* len) {
    return to_libc(with_client([&](Client& c) { return c.getsockname(fd, addr, len); }));
}

int getpeername(int fd, sockaddr* addr, socklen_t* len) {
    return to_libc(with_client([&](Client& c) { return c.getpeername(fd, addr, len); }));
}

int getsockopt(int fd, int level, int name, void* value, socklen_t* len) {
    return to_libc(
        with_client([&](Client& c) { return c.getsockopt(fd, level, name, value, len); }));
}

int setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
    return to_libc(
        with_client([&](Client& c) { return c.setsockopt(fd, level, name, value, len); }));
}

ssize_t send(int fd, const void* buf, size_t len, int flags) {
    return send_buffer(fd, buf, len, flags, nullptr, 0);
}

ssize_t sendto(int fd, const void* buf, size_t len, int flags, const sockaddr* to,
               socklen_t tolen) {
    return send_buffer(fd, buf, len, flags, to, tolen);
}

ssize_t sendmsg(int fd, const msghdr* msg, int flags) {
    return to_libc(send_message(fd, msg, flags));
}

// As Linux: at most UIO_MAXIOV (= IOV_MAX) messages; an error after the first message ends
// the call with the count sent so far (the error is dropped, the caller retries from there).
int sendmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags) {
    vlen = std::min(vlen, static_cast<unsigned int>(IOV_MAX));
    unsigned int sent = 0;
    for (; sent < vlen; ++sent) {
        auto r = send_message(fd, &vec[sent].msg_hdr, flags);
        if (!r) {
            if (sent == 0) {
                return fail(r.error());
            }
            break;
        }
        vec[sent].msg_len = static_cast<unsigned int>(*r);
    }
    return static_cast<int>(sent);
}

ssize_t recv(int fd, void* buf, size_t len, int flags) {
    return recv_buffer(fd, buf, len, flags, nullptr, nullptr);
}

ssize_t recvfrom(int fd, void* buf, size_t len, int flags, sockaddr* from, socklen_t* fromlen) {
    return recv_buffer(fd, buf, len, flags, from, fromlen);
}

ssize_t recvmsg(int fd, msghdr* msg, int flags) {
    return to_libc(with_client([&](Client& c) { return c.recvmsg(fd, msg, flags); }));
}

// As Linux: MSG_WAITFORONE turns on MSG_DONTWAIT after the first datagram; the timeout is
// checked only after each datagram and is updated with the time left; an error after the
// first datagram ends the call with the count received.
int recvmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags, timespec* timeout) {
    timespec deadline{};
    if (timeout != nullptr) {
        if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1'000'000'000) {
            return fail(EINVAL);
        }
        ::clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout->tv_sec;
        deadline.tv_nsec += timeout->tv_nsec;
        if (deadline.tv_nsec >= 1'000'000'000) {
            deadline.tv_nsec -= 1'000'000'000;
            ++deadline.tv_sec;
        }
    }
    vlen = std::min(vlen, static_cast<unsigned int>(IOV_MAX));
    int call_flags = flags & ~MSG_WAITFORONE;
    unsigned int received = 0;
    while (received < vlen) {
        auto r = with_client(
            [&](Client& c) { return c.recvmsg(fd, &vec[received].msg_hdr, call_flags); });
        if (!r) {
            if (received == 0) {
                return fail(r.error());
            }
            break;
        }
        vec[received].msg_len = static_cast<unsigned int>(*r);
        ++received;
        if ((flags & MSG_WAITFORONE) != 0) {
            call_flags |= MSG_DONTWAIT;
        }
        if (timeout != nullptr) {
            *timeout = remaining_until(deadline);
            if (timeout->tv_sec == 0 && timeout->tv_nsec == 0) {
                break;
            }
        }
    }
    return static_cast<int>(received);
}

// read(2) on a socket is recv(2) with no flags; write(2) is send(2) with no flags.
ssize_t read(int fd, void* buf, size_t count) {
    return recv_buffer(fd, buf, count, 0, nullptr, nullptr);
}

ssize_t write(int fd, const void* buf, size_t count) {
    return send_buffer(fd, buf, count, 0, nullptr, 0);
}

ssize_t readv(int fd, const iovec* iov, int iovcnt) {
    if (!valid_iovcnt(iovcnt)) {
        return fail(EINVAL);
    }
    msghdr msg = make_msg(iov, static_cast<size_t>(iovcnt), nullptr, 0);
    return to_libc(with_client([&](Client& c) { return c.recvmsg(fd, &msg, 0); }));
}

ssize_t writev(int fd, const iovec* iov, int iovcnt) {
    if (!valid_iovcnt(iovcnt)) {
        return fail(EINVAL);
    }
    msghdr msg = make_msg(iov, static_cast<size_t>(iovcnt), nullptr, 0);
    return to_libc(send_message(fd, &msg, 0));
}

ssize_t sendfile(int fd, int in_fd, off_t* offset, size_t count) {
    return send_file(fd, in_fd, offset, count);
}

ssize_t sendfile64(int fd, int in_fd, off64_t* offset, size_t count) {
    return send_file(fd, in_fd, offset, count);
}

// FORTIFY variants: the check glibc would make (the caller's buffer is smaller than the
// length it passed) aborts the same way, then the call is the plain one.
ssize_t __read_chk(int fd, void* buf, size_t count, size_t buflen) {
    if (count > buflen) {
        __chk_fail();
    }
    return on_culvert::read(fd, buf, count);
}

ssize_t __recv_chk(int fd, void* buf, size_t len, size_t buflen, int flags) {
    if (len > buflen) {
        __chk_fail();
    }
    return on_culvert::recv(fd, buf, len, flags);
}

ssize_t __recvfrom_chk(int fd, void* buf, size_t len, size_t buflen, int flags, sockaddr* from,
                       socklen_t* fromlen) {
    if (len > buflen) {
        __chk_fail();
    }
    return on_culvert::recvfrom(fd, buf, len, flags, from, fromlen);
}

int fcntl(int fd, int cmd, void* arg) {
    return fcntl_on_culvert(fd, cmd, arg, &libc::fcntl);
}

int fcntl64(int fd, int cmd, void* arg) {
    return fcntl_on_culvert(fd, cmd, arg, &libc::fcntl64);
}

int ioctl(int fd, unsigned long request, void* arg) {
    // The kernel compares ioctl numbers as 32-bit values; callers that declare the request
    // as int pass it sign-extended.
    const unsigned int number = static_cast<unsigned int>(request);
    switch (number) {
        // close-on-exec belongs to the fd, which the Client tracks through F_SETFD.
        case FIOCLEX:
            return to_libc(
                with_client([&](Client& c) { return c.fcntl(fd, F_SETFD, FD_CLOEXEC); }));
        case FIONCLEX:
            return to_libc(with_client([&](Client& c) { return c.fcntl(fd, F_SETFD, 0); }));
        default:
            return to_libc(with_client([&](Client& c) { return c.ioctl(fd, number, arg); }));
    }
}

}  // namespace on_culvert
}  // namespace culvert::preload
