// The --wrap targets: each bumps a counter when its fd is tracked, then makes the real call.
// Counting in-process is exact and cheap (an array lookup); `strace -c -f` gives the same
// counts but slows every syscall so much that the waiting pattern it measures changes.
#include "syscall_count.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <array>
#include <cstring>

namespace culvert::bench {

namespace {

constexpr int kMaxTrackedFd = 4096;
std::array<FdKind, kMaxTrackedFd> g_kind{};  // FdKind::none everywhere at start
SyscallCounts g_counts{};

void bump(FdKind kind, Call call) {
    ++g_counts.n[static_cast<size_t>(kind)][static_cast<size_t>(call)];
}

void bump_fd(int fd, Call call) {
    if (fd < 0 || fd >= kMaxTrackedFd) return;
    const FdKind kind = g_kind[static_cast<size_t>(fd)];
    if (kind != FdKind::none) bump(kind, call);
}

}  // namespace

uint64_t SyscallCounts::of(FdKind kind) const {
    uint64_t sum = 0;
    for (size_t c = 0; c < kCalls; ++c) sum += n[static_cast<size_t>(kind)][c];
    return sum;
}

uint64_t SyscallCounts::total() const {
    uint64_t sum = 0;
    for (const auto& calls : n) {
        for (const uint64_t count : calls) sum += count;
    }
    return sum;
}

void track_fd(int fd, FdKind kind) {
    if (fd >= 0 && fd < kMaxTrackedFd) g_kind[static_cast<size_t>(fd)] = kind;
}

void reset_syscall_counts() {
    std::memset(&g_counts, 0, sizeof g_counts);
}

SyscallCounts syscall_counts() {
    return g_counts;
}

}  // namespace culvert::bench

namespace cb = culvert::bench;

// The linker sends every reference to `read` in this executable (culvert_channels included) to
// __wrap_read, and __real_read to libc's read. The names are fixed by the linker.
// NOLINTBEGIN(bugprone-reserved-identifier, readability-identifier-naming)
extern "C" {
ssize_t __real_read(int fd, void* buf, size_t len);
ssize_t __real_write(int fd, const void* buf, size_t len);
int __real_poll(pollfd* fds, nfds_t nfds, int timeout_ms);
ssize_t __real_send(int fd, const void* buf, size_t len, int flags);
ssize_t __real_recv(int fd, void* buf, size_t len, int flags);
ssize_t __real_process_vm_writev(pid_t pid, const iovec* local, unsigned long local_count,
                                 const iovec* remote, unsigned long remote_count,
                                 unsigned long flags);

ssize_t __wrap_read(int fd, void* buf, size_t len) {
    cb::bump_fd(fd, cb::Call::read);
    return __real_read(fd, buf, len);
}

ssize_t __wrap_write(int fd, const void* buf, size_t len) {
    cb::bump_fd(fd, cb::Call::write);
    return __real_write(fd, buf, len);
}

// One poll() is one syscall: it counts once, for the first tracked fd in the set.
int __wrap_poll(pollfd* fds, nfds_t nfds, int timeout_ms) {
    for (nfds_t i = 0; i < nfds; ++i) {
        if (fds[i].fd >= 0 && fds[i].fd < cb::kMaxTrackedFd &&
            cb::g_kind[static_cast<size_t>(fds[i].fd)] != cb::FdKind::none) {
            cb::bump_fd(fds[i].fd, cb::Call::poll);
            break;
        }
    }
    return __real_poll(fds, nfds, timeout_ms);
}

ssize_t __wrap_send(int fd, const void* buf, size_t len, int flags) {
    cb::bump_fd(fd, cb::Call::send);
    return __real_send(fd, buf, len, flags);
}

ssize_t __wrap_recv(int fd, void* buf, size_t len, int flags) {
    cb::bump_fd(fd, cb::Call::recv);
    return __real_recv(fd, buf, len, flags);
}

// Not an fd call: counted under FdKind::none, always.
ssize_t __wrap_process_vm_writev(pid_t pid, const iovec* local, unsigned long local_count,
                                 const iovec* remote, unsigned long remote_count,
                                 unsigned long flags) {
    cb::bump(cb::FdKind::none, cb::Call::process_vm);
    return __real_process_vm_writev(pid, local, local_count, remote, remote_count, flags);
}
}
// NOLINTEND(bugprone-reserved-identifier, readability-identifier-naming)
