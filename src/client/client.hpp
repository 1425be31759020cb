// The culvert client library: a program's side of culvertd (control connection, channels,
// readiness). Usable from any C++ program, the simulator and the LD_PRELOAD interposer.
// Every call returns a value or an errno (std::expected); the interposer turns that into
// -1/errno at the libc boundary. Nothing here throws.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <expected>

namespace culvert::client {

using Errno = int;
template <class T>
using Result = std::expected<T, Errno>;

// True for the socket domains/types culvert serves (AF_INET/AF_INET6 with SOCK_STREAM or
// SOCK_DGRAM, flags masked off); everything else belongs to the kernel.
bool serves(int domain, int type, int protocol);

// The process-wide client. Created on first use (never by a global constructor); connects
// to culvertd lazily on the first socket() (CULVERT_SOCKET or the default path).
class Client {
public:
    static Client& instance();

    // Is `fd` a culvert socket (the app-visible fd returned by socket()/accept())? Lock-free,
    // no allocation: the interposer calls it on every read/write/close.
    bool manages(int fd) const;

    Result<int> socket(int domain, int type, int protocol);
    Result<void> bind(int fd, const sockaddr* addr, socklen_t len);
    Result<void> listen(int fd, int backlog);
    Result<int> accept4(int fd, sockaddr* addr, socklen_t* len, int flags);
    Result<void> connect(int fd, const sockaddr* addr, socklen_t len);
    Result<void> shutdown(int fd, int how);
    // Closes the app fd `fd`; the socket itself is released in culvertd when its last fd
    // (see dup_of) closes.
    Result<void> close(int fd);
    // dup/dup2/dup3/F_DUPFD: the kernel made `new_fd` a copy of the culvert fd `fd`; from
    // now on both name the same socket (shared file status flags, as on Linux).
    Result<void> dup_of(int fd, int new_fd);
    // dup2/dup3 onto a culvert fd: the kernel is about to close `fd` and reuse its number;
    // forget it as close() would, but leave the kernel fd to the caller.
    Result<void> forget(int fd);
    Result<void> getsockname(int fd, sockaddr* addr, socklen_t* len);
    Result<void> getpeername(int fd, sockaddr* addr, socklen_t* len);
    Result<void> getsockopt(int fd, int level, int name, void* value, socklen_t* len);
    Result<void> setsockopt(int fd, int level, int name, const void* value, socklen_t len);
    // Data path. All send/recv variants (send, sendto, write, writev, recv, read, ...) map
    // onto these two with the flags of send(2)/recv(2): MSG_DONTWAIT, MSG_PEEK, MSG_WAITALL,
    // MSG_TRUNC, MSG_NOSIGNAL. recvmsg fills msg_name/msg_namelen and msg_flags.
    Result<size_t> sendmsg(int fd, const msghdr* msg, int flags);
    Result<size_t> recvmsg(int fd, msghdr* msg, int flags);
    // fcntl F_GETFL/F_SETFL (O_NONBLOCK) and F_GETFD/F_SETFD; other commands: EINVAL here,
    // the interposer passes them to the kernel fd.
    Result<int> fcntl(int fd, int cmd, long arg);
    // ioctl FIONBIO and FIONREAD (also SIOCINQ/SIOCOUTQ); others: ENOTTY.
    Result<int> ioctl(int fd, unsigned long request, void* arg);

    // fork(): the child keeps the app fds but not culvert's state (documented limitation).
    void after_fork_in_child();

    // In-process drivers (simulator, pcap replay) run culvertd's stack on the client's own
    // thread: wherever the client would block (a control reply, a readiness wait) it calls
    // hook(arg) instead, which must make progress (step the stack, advance virtual time)
    // and return false when nothing can change any more (the call then fails, ETIMEDOUT).
    using IdleHook = bool (*)(void* arg);
    void set_idle_hook(IdleHook hook, void* arg);

private:
    Client();
    struct Impl;
    Impl* impl_;
};

}  // namespace culvert::client
