// libculvert-preload.so: routes the libc socket calls of an unmodified program to culvert
// (culvert::client::Client) for culvert sockets and to the real libc for everything else.
// One table (CULVERT_WRAPPED) declares every wrapped symbol; real functions come from
// dlsym(RTLD_NEXT) on first use. While culvert's own code runs on a thread, every wrapper
// passes straight to libc (culvert's channels use recv/send/close on its own fds).
#include "client/client.hpp"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>

namespace {

using culvert::client::Client;

thread_local int t_inside = 0;  // >0 while culvert's own code runs on this thread

struct Inside {
    Inside() { ++t_inside; }
    ~Inside() { --t_inside; }
};

// name, return type, parameter list, argument list
#define CULVERT_WRAPPED(X)                                                                              \
    X(socket, int, (int d, int t, int p), (d, t, p))                                                    \
    X(bind, int, (int fd, const sockaddr* a, socklen_t l), (fd, a, l))                                  \
    X(listen, int, (int fd, int b), (fd, b))                                                            \
    X(accept, int, (int fd, sockaddr* a, socklen_t* l), (fd, a, l))                                     \
    X(accept4, int, (int fd, sockaddr* a, socklen_t* l, int f), (fd, a, l, f))                          \
    X(connect, int, (int fd, const sockaddr* a, socklen_t l), (fd, a, l))                               \
    X(shutdown, int, (int fd, int h), (fd, h))                                                          \
    X(close, int, (int fd), (fd))                                                                       \
    X(getsockname, int, (int fd, sockaddr* a, socklen_t* l), (fd, a, l))                                \
    X(getpeername, int, (int fd, sockaddr* a, socklen_t* l), (fd, a, l))                                \
    X(getsockopt, int, (int fd, int lv, int n, void* v, socklen_t* l), (fd, lv, n, v, l))               \
    X(setsockopt, int, (int fd, int lv, int n, const void* v, socklen_t l), (fd, lv, n, v, l))          \
    X(send, ssize_t, (int fd, const void* b, size_t n, int f), (fd, b, n, f))                           \
    X(sendto, ssize_t, (int fd, const void* b, size_t n, int f, const sockaddr* a, socklen_t l),        \
      (fd, b, n, f, a, l))                                                                              \
    X(sendmsg, ssize_t, (int fd, const msghdr* m, int f), (fd, m, f))                                   \
    X(recv, ssize_t, (int fd, void* b, size_t n, int f), (fd, b, n, f))                                 \
    X(recvfrom, ssize_t, (int fd, void* b, size_t n, int f, sockaddr* a, socklen_t* l),                 \
      (fd, b, n, f, a, l))                                                                              \
    X(recvmsg, ssize_t, (int fd, msghdr* m, int f), (fd, m, f))                                         \
    X(read, ssize_t, (int fd, void* b, size_t n), (fd, b, n))                                           \
    X(write, ssize_t, (int fd, const void* b, size_t n), (fd, b, n))                                    \
    X(readv, ssize_t, (int fd, const iovec* v, int n), (fd, v, n))                                      \
    X(writev, ssize_t, (int fd, const iovec* v, int n), (fd, v, n))                                     \
    X(__read_chk, ssize_t, (int fd, void* b, size_t n, size_t bl), (fd, b, n, bl))                      \
    X(__recv_chk, ssize_t, (int fd, void* b, size_t n, size_t bl, int f), (fd, b, n, bl, f))            \
    X(__recvfrom_chk, ssize_t, (int fd, void* b, size_t n, size_t bl, int f, sockaddr* a, socklen_t* l), \
      (fd, b, n, bl, f, a, l))                                                                          \
    X(fcntl, int, (int fd, int cmd, long arg), (fd, cmd, arg))                                          \
    X(fcntl64, int, (int fd, int cmd, long arg), (fd, cmd, arg))                                        \
    X(ioctl, int, (int fd, unsigned long req, void* arg), (fd, req, arg))

// Real libc functions, resolved once per symbol.
#define CULVERT_REAL_PTR(name, ret, params, args)                                    \
    using name##_fn = ret(*) params;                                                 \
    std::atomic<name##_fn> real_##name##_ptr{nullptr};                               \
    name##_fn real_##name() {                                                        \
        name##_fn f = real_##name##_ptr.load(std::memory_order_acquire);             \
        if (!f) {                                                                    \
            f = reinterpret_cast<name##_fn>(dlsym(RTLD_NEXT, #name));                \
            real_##name##_ptr.store(f, std::memory_order_release);                   \
        }                                                                            \
        return f;                                                                    \
    }
CULVERT_WRAPPED(CULVERT_REAL_PTR)
#undef CULVERT_REAL_PTR

bool ours(int fd) { return t_inside == 0 && Client::instance().manages(fd); }

template <class T>
T fail(int e) {
    errno = e;
    return static_cast<T>(-1);
}

template <class T, class R>
T finish(const R& r) {
    if (!r) return fail<T>(r.error());
    if constexpr (std::is_void_v<typename R::value_type>) {
        return 0;
    } else {
        return static_cast<T>(*r);
    }
}

ssize_t do_sendmsg(int fd, const msghdr* m, int flags) {
    Inside in;
    auto r = Client::instance().sendmsg(fd, m, flags);
    if (!r && r.error() == EPIPE && !(flags & MSG_NOSIGNAL)) raise(SIGPIPE);  // as Linux
    return finish<ssize_t>(r);
}

ssize_t do_recvmsg(int fd, msghdr* m, int flags) {
    Inside in;
    return finish<ssize_t>(Client::instance().recvmsg(fd, m, flags));
}

ssize_t send_buf(int fd, const void* b, size_t n, int f, const sockaddr* a, socklen_t l) {
    iovec v{const_cast<void*>(b), n};
    msghdr m{};
    m.msg_name = const_cast<sockaddr*>(a);
    m.msg_namelen = a ? l : 0;
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    return do_sendmsg(fd, &m, f);
}

ssize_t recv_buf(int fd, void* b, size_t n, int f, sockaddr* a, socklen_t* l) {
    iovec v{b, n};
    msghdr m{};
    m.msg_name = a;
    m.msg_namelen = l ? *l : 0;
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    const ssize_t r = do_recvmsg(fd, &m, f);
    if (r >= 0 && l) *l = m.msg_namelen;
    return r;
}

int do_fcntl(int fd, int cmd, long arg, bool is64) {
    if (ours(fd) && (cmd == F_GETFL || cmd == F_SETFL || cmd == F_GETFD || cmd == F_SETFD)) {
        Inside in;
        return finish<int>(Client::instance().fcntl(fd, cmd, arg));
    }
    return is64 ? real_fcntl64()(fd, cmd, arg) : real_fcntl()(fd, cmd, arg);
}

void child_after_fork() { Client::instance().after_fork_in_child(); }

}  // namespace

extern "C" {

#define CULVERT_EXPORT __attribute__((visibility("default")))

CULVERT_EXPORT int socket(int d, int t, int p) {
    if (t_inside || !culvert::client::serves(d, t, p)) return real_socket()(d, t, p);
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, [] { pthread_atfork(nullptr, nullptr, child_after_fork); });
    Inside in;
    return finish<int>(Client::instance().socket(d, t, p));
}

CULVERT_EXPORT int bind(int fd, const sockaddr* a, socklen_t l) {
    if (!ours(fd)) return real_bind()(fd, a, l);
    Inside in;
    return finish<int>(Client::instance().bind(fd, a, l));
}
CULVERT_EXPORT int listen(int fd, int b) {
    if (!ours(fd)) return real_listen()(fd, b);
    Inside in;
    return finish<int>(Client::instance().listen(fd, b));
}
CULVERT_EXPORT int accept4(int fd, sockaddr* a, socklen_t* l, int f) {
    if (!ours(fd)) return real_accept4()(fd, a, l, f);
    Inside in;
    return finish<int>(Client::instance().accept4(fd, a, l, f));
}
CULVERT_EXPORT int accept(int fd, sockaddr* a, socklen_t* l) {
    if (!ours(fd)) return real_accept()(fd, a, l);
    return accept4(fd, a, l, 0);
}
CULVERT_EXPORT int connect(int fd, const sockaddr* a, socklen_t l) {
    if (!ours(fd)) return real_connect()(fd, a, l);
    Inside in;
    return finish<int>(Client::instance().connect(fd, a, l));
}
CULVERT_EXPORT int shutdown(int fd, int h) {
    if (!ours(fd)) return real_shutdown()(fd, h);
    Inside in;
    return finish<int>(Client::instance().shutdown(fd, h));
}
CULVERT_EXPORT int close(int fd) {
    if (!ours(fd)) return real_close()(fd);
    Inside in;
    return finish<int>(Client::instance().close(fd));
}
CULVERT_EXPORT int getsockname(int fd, sockaddr* a, socklen_t* l) {
    if (!ours(fd)) return real_getsockname()(fd, a, l);
    Inside in;
    return finish<int>(Client::instance().getsockname(fd, a, l));
}
CULVERT_EXPORT int getpeername(int fd, sockaddr* a, socklen_t* l) {
    if (!ours(fd)) return real_getpeername()(fd, a, l);
    Inside in;
    return finish<int>(Client::instance().getpeername(fd, a, l));
}
CULVERT_EXPORT int getsockopt(int fd, int lv, int n, void* v, socklen_t* l) {
    if (!ours(fd)) return real_getsockopt()(fd, lv, n, v, l);
    Inside in;
    return finish<int>(Client::instance().getsockopt(fd, lv, n, v, l));
}
CULVERT_EXPORT int setsockopt(int fd, int lv, int n, const void* v, socklen_t l) {
    if (!ours(fd)) return real_setsockopt()(fd, lv, n, v, l);
    Inside in;
    return finish<int>(Client::instance().setsockopt(fd, lv, n, v, l));
}
CULVERT_EXPORT ssize_t sendmsg(int fd, const msghdr* m, int f) {
    if (!ours(fd)) return real_sendmsg()(fd, m, f);
    return do_sendmsg(fd, m, f);
}
CULVERT_EXPORT ssize_t recvmsg(int fd, msghdr* m, int f) {
    if (!ours(fd)) return real_recvmsg()(fd, m, f);
    return do_recvmsg(fd, m, f);
}
CULVERT_EXPORT ssize_t send(int fd, const void* b, size_t n, int f) {
    if (!ours(fd)) return real_send()(fd, b, n, f);
    return send_buf(fd, b, n, f, nullptr, 0);
}
CULVERT_EXPORT ssize_t sendto(int fd, const void* b, size_t n, int f, const sockaddr* a, socklen_t l) {
    if (!ours(fd)) return real_sendto()(fd, b, n, f, a, l);
    return send_buf(fd, b, n, f, a, l);
}
CULVERT_EXPORT ssize_t write(int fd, const void* b, size_t n) {
    if (!ours(fd)) return real_write()(fd, b, n);
    return send_buf(fd, b, n, 0, nullptr, 0);
}
CULVERT_EXPORT ssize_t recv(int fd, void* b, size_t n, int f) {
    if (!ours(fd)) return real_recv()(fd, b, n, f);
    return recv_buf(fd, b, n, f, nullptr, nullptr);
}
CULVERT_EXPORT ssize_t recvfrom(int fd, void* b, size_t n, int f, sockaddr* a, socklen_t* l) {
    if (!ours(fd)) return real_recvfrom()(fd, b, n, f, a, l);
    return recv_buf(fd, b, n, f, a, l);
}
CULVERT_EXPORT ssize_t read(int fd, void* b, size_t n) {
    if (!ours(fd)) return real_read()(fd, b, n);
    return recv_buf(fd, b, n, 0, nullptr, nullptr);
}
CULVERT_EXPORT ssize_t __read_chk(int fd, void* b, size_t n, size_t bl) {
    if (!ours(fd)) return real___read_chk()(fd, b, n, bl);
    return recv_buf(fd, b, n, 0, nullptr, nullptr);
}
CULVERT_EXPORT ssize_t __recv_chk(int fd, void* b, size_t n, size_t bl, int f) {
    if (!ours(fd)) return real___recv_chk()(fd, b, n, bl, f);
    return recv_buf(fd, b, n, f, nullptr, nullptr);
}
CULVERT_EXPORT ssize_t __recvfrom_chk(int fd, void* b, size_t n, size_t bl, int f, sockaddr* a, socklen_t* l) {
    if (!ours(fd)) return real___recvfrom_chk()(fd, b, n, bl, f, a, l);
    return recv_buf(fd, b, n, f, a, l);
}
CULVERT_EXPORT ssize_t readv(int fd, const iovec* v, int n) {
    if (!ours(fd)) return real_readv()(fd, v, n);
    msghdr m{};
    m.msg_iov = const_cast<iovec*>(v);
    m.msg_iovlen = static_cast<size_t>(n < 0 ? 0 : n);
    return do_recvmsg(fd, &m, 0);
}
CULVERT_EXPORT ssize_t writev(int fd, const iovec* v, int n) {
    if (!ours(fd)) return real_writev()(fd, v, n);
    msghdr m{};
    m.msg_iov = const_cast<iovec*>(v);
    m.msg_iovlen = static_cast<size_t>(n < 0 ? 0 : n);
    return do_sendmsg(fd, &m, 0);
}
CULVERT_EXPORT int fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    const long arg = va_arg(ap, long);  // every fcntl argument fits a long (int or pointer)
    va_end(ap);
    return do_fcntl(fd, cmd, arg, false);
}
CULVERT_EXPORT int fcntl64(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    const long arg = va_arg(ap, long);
    va_end(ap);
    return do_fcntl(fd, cmd, arg, true);
}
CULVERT_EXPORT int ioctl(int fd, unsigned long req, ...) {
    va_list ap;
    va_start(ap, req);
    void* arg = va_arg(ap, void*);
    va_end(ap);
    if (!ours(fd) || (req != FIONBIO && req != FIONREAD && req != TIOCOUTQ)) return real_ioctl()(fd, req, arg);
    Inside in;
    return finish<int>(Client::instance().ioctl(fd, req, arg));
}

}  // extern "C"
