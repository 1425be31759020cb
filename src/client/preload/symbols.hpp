// The one table of libc symbols that libculvert-preload.so interposes. Every wrapper, every
// lazily resolved libc pointer, every raw-syscall fallback and the linker's export list are
// generated from it. No #include here: the preprocessor also turns this file into the
// linker version script (exports.map.in), so it must expand to nothing but the table.
#pragma once

// CULVERT_PRELOAD_FIXED(X): X(ret, name, params, args, culvert_if, fallback)
//   params/args  the libc prototype and its argument list, parenthesised;
//   culvert_if   the condition under which the call belongs to culvert (else: the next libc);
//   fallback     a raw syscall with the same meaning, used if libc's symbol cannot be resolved
//                (missing, or dlsym re-entered us through an allocator hook).
// Variants exist because programs import them by these names: FORTIFY builds call __*_chk,
// _FILE_OFFSET_BITS=64 builds call fcntl64/sendfile64, recvfrom/recv are what nc/curl import.
#define CULVERT_PRELOAD_FIXED(X)                                                                   \
    X(int, socket, (int domain, int type, int protocol), (domain, type, protocol),                 \
      culvert_socket(domain, type, protocol), raw(SYS_socket, domain, type, protocol))             \
    X(int, bind, (int fd, const sockaddr* addr, socklen_t len), (fd, addr, len), culvert_fd(fd),   \
      raw(SYS_bind, fd, addr, len))                                                                \
    X(int, listen, (int fd, int backlog), (fd, backlog), culvert_fd(fd),                           \
      raw(SYS_listen, fd, backlog))                                                                \
    X(int, accept, (int fd, sockaddr* addr, socklen_t* len), (fd, addr, len), culvert_fd(fd),      \
      raw(SYS_accept, fd, addr, len))                                                              \
    X(int, accept4, (int fd, sockaddr* addr, socklen_t* len, int flags), (fd, addr, len, flags),   \
      culvert_fd(fd), raw(SYS_accept4, fd, addr, len, flags))                                      \
    X(int, connect, (int fd, const sockaddr* addr, socklen_t len), (fd, addr, len),                \
      culvert_fd(fd), raw(SYS_connect, fd, addr, len))                                             \
    X(int, shutdown, (int fd, int how), (fd, how), culvert_fd(fd), raw(SYS_shutdown, fd, how))     \
    X(int, close, (int fd), (fd), culvert_fd(fd), raw(SYS_close, fd))                              \
    X(int, dup, (int fd), (fd), culvert_fd(fd), raw(SYS_dup, fd))                                  \
    X(int, dup2, (int fd, int fd2), (fd, fd2), culvert_fd(fd) || culvert_fd(fd2),                  \
      raw(SYS_dup2, fd, fd2))                                                                      \
    X(int, dup3, (int fd, int fd2, int flags), (fd, fd2, flags),                                   \
      culvert_fd(fd) || culvert_fd(fd2), raw(SYS_dup3, fd, fd2, flags))                            \
    X(int, getsockname, (int fd, sockaddr* addr, socklen_t* len), (fd, addr, len), culvert_fd(fd), \
      raw(SYS_getsockname, fd, addr, len))                                                         \
    X(int, getpeername, (int fd, sockaddr* addr, socklen_t* len), (fd, addr, len), culvert_fd(fd), \
      raw(SYS_getpeername, fd, addr, len))                                                         \
    X(int, getsockopt, (int fd, int level, int name, void* value, socklen_t* len),                 \
      (fd, level, name, value, len), culvert_fd(fd),                                               \
      raw(SYS_getsockopt, fd, level, name, value, len))                                            \
    X(int, setsockopt, (int fd, int level, int name, const void* value, socklen_t len),            \
      (fd, level, name, value, len), culvert_fd(fd),                                               \
      raw(SYS_setsockopt, fd, level, name, value, len))                                            \
    X(ssize_t, send, (int fd, const void* buf, size_t len, int flags), (fd, buf, len, flags),      \
      culvert_fd(fd), raw(SYS_sendto, fd, buf, len, flags, nullptr, 0))                            \
    X(ssize_t, sendto,                                                                             \
      (int fd, const void* buf, size_t len, int flags, const sockaddr* to, socklen_t tolen),       \
      (fd, buf, len, flags, to, tolen), culvert_fd(fd),                                            \
      raw(SYS_sendto, fd, buf, len, flags, to, tolen))                                             \
    X(ssize_t, sendmsg, (int fd, const msghdr* msg, int flags), (fd, msg, flags), culvert_fd(fd),  \
      raw(SYS_sendmsg, fd, msg, flags))                                                            \
    X(int, sendmmsg, (int fd, mmsghdr* vec, unsigned int vlen, int flags), (fd, vec, vlen, flags), \
      culvert_fd(fd), raw(SYS_sendmmsg, fd, vec, vlen, flags))                                     \
    X(ssize_t, recv, (int fd, void* buf, size_t len, int flags), (fd, buf, len, flags),            \
      culvert_fd(fd), raw(SYS_recvfrom, fd, buf, len, flags, nullptr, nullptr))                    \
    X(ssize_t, recvfrom,                                                                           \
      (int fd, void* buf, size_t len, int flags, sockaddr* from, socklen_t* fromlen),              \
      (fd, buf, len, flags, from, fromlen), culvert_fd(fd),                                        \
      raw(SYS_recvfrom, fd, buf, len, flags, from, fromlen))                                       \
    X(ssize_t, recvmsg, (int fd, msghdr* msg, int flags), (fd, msg, flags), culvert_fd(fd),        \
      raw(SYS_recvmsg, fd, msg, flags))                                                            \
    X(int, recvmmsg, (int fd, mmsghdr* vec, unsigned int vlen, int flags, timespec* timeout),      \
      (fd, vec, vlen, flags, timeout), culvert_fd(fd),                                             \
      raw(SYS_recvmmsg, fd, vec, vlen, flags, timeout))                                            \
    X(ssize_t, read, (int fd, void* buf, size_t count), (fd, buf, count), culvert_fd(fd),          \
      raw(SYS_read, fd, buf, count))                                                               \
    X(ssize_t, write, (int fd, const void* buf, size_t count), (fd, buf, count), culvert_fd(fd),   \
      raw(SYS_write, fd, buf, count))                                                              \
    X(ssize_t, readv, (int fd, const iovec* iov, int iovcnt), (fd, iov, iovcnt), culvert_fd(fd),   \
      raw(SYS_readv, fd, iov, iovcnt))                                                             \
    X(ssize_t, writev, (int fd, const iovec* iov, int iovcnt), (fd, iov, iovcnt), culvert_fd(fd),  \
      raw(SYS_writev, fd, iov, iovcnt))                                                            \
    X(ssize_t, sendfile, (int fd, int in_fd, off_t* offset, size_t count),                         \
      (fd, in_fd, offset, count), culvert_fd(fd), raw(SYS_sendfile, fd, in_fd, offset, count))     \
    X(ssize_t, sendfile64, (int fd, int in_fd, off64_t* offset, size_t count),                     \
      (fd, in_fd, offset, count), culvert_fd(fd), raw(SYS_sendfile, fd, in_fd, offset, count))     \
    X(ssize_t, __read_chk, (int fd, void* buf, size_t count, size_t buflen),                       \
      (fd, buf, count, buflen), culvert_fd(fd),                                                    \
      (count > buflen ? chk_fail() : raw(SYS_read, fd, buf, count)))                               \
    X(ssize_t, __recv_chk, (int fd, void* buf, size_t len, size_t buflen, int flags),              \
      (fd, buf, len, buflen, flags), culvert_fd(fd),                                               \
      (len > buflen ? chk_fail() : raw(SYS_recvfrom, fd, buf, len, flags, nullptr, nullptr)))      \
    X(ssize_t, __recvfrom_chk,                                                                     \
      (int fd, void* buf, size_t len, size_t buflen, int flags, sockaddr* from,                    \
       socklen_t* fromlen),                                                                        \
      (fd, buf, len, buflen, flags, from, fromlen), culvert_fd(fd),                                \
      (len > buflen ? chk_fail() : raw(SYS_recvfrom, fd, buf, len, flags, from, fromlen)))

// CULVERT_PRELOAD_VARIADIC(X): X(ret, name, params, last, args, culvert_if, fallback)
// libc declares these `ret name(params..., ...)`; the optional argument is read once, as
// `void* arg` (glibc's own fcntl/ioctl read it the same way), and passed on unchanged.
// `last` is the last fixed parameter (for va_start).
#define CULVERT_PRELOAD_VARIADIC(X)                                                                \
    X(int, fcntl, (int fd, int cmd), cmd, (fd, cmd), culvert_fd(fd), raw(SYS_fcntl, fd, cmd, arg)) \
    X(int, fcntl64, (int fd, int cmd), cmd, (fd, cmd), culvert_fd(fd),                             \
      raw(SYS_fcntl, fd, cmd, arg))                                                                \
    X(int, ioctl, (int fd, unsigned long request), request, (fd, request), culvert_fd(fd),         \
      raw(SYS_ioctl, fd, request, arg))

// Removes one pair of parentheses: CULVERT_PRELOAD_STRIP (a, b) -> a, b.
#define CULVERT_PRELOAD_STRIP(...) __VA_ARGS__
