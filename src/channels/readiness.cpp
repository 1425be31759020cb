// Readiness bytes and filler over a unix socketpair.
//
// Memory orderings (no lost wakeups):
// - Readable. The producer (server, or the client re-arming itself) publishes ring data with
//   a release store, then exchange(1)s rx_signaled; the client exchange(0)s it, then loads
//   the ring. Both are seq_cst read-modify-writes of ONE variable, so they are totally
//   ordered: if the producer's comes later it reads 0 and writes the byte (POLLIN); if it
//   comes earlier, the client's exchange reads the producer's value and synchronizes with
//   it, so the client's ring load sees the data and the client signals itself again.
// - Writable. Two variables (the ring's read index and tx_blocked), so the store-buffering
//   pattern with a seq_cst fence on each side:
//     client: fill app_fd ; tx_blocked = 1 ; F1 ; load ring space (caller) ; unblock if room
//     server: free ring space (caller) ; F2 ; exchange(tx_blocked, 0) ; if it was 1: drain
//   If F2 comes first the client's re-check sees the room; if F1 comes first the server's
//   exchange sees the 1 and drains. The filler is written BEFORE tx_blocked is set, so a
//   drain that follows the flag always finds all of it.
// - The exchanges make sure exactly one side writes the readable byte and exactly one side
//   drains the filler, although server and client both hold peer_fd.
// Trust: garbage in rx_signaled/tx_blocked can only make the client's own fd miss or gain a
// wakeup. The server's calls never sleep, and its drain is bounded, so a client that keeps
// writing into app_fd cannot hold the server.
#include "channels/readiness.hpp"

#include "channels/assert.hpp"
#include "channels/wait_fd.hpp"

#include <algorithm>
#include <cerrno>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace culvert::channels {

namespace {

// A legitimate filler is at most app_fd's minimal send buffer (a few KiB); stop draining after
// this much so that a client that raised its SO_SNDBUF cannot keep the server busy.
constexpr size_t kMaxDrainBytes = size_t{256} * 1024;

int send_all_or_errno(int fd, const void* data, size_t len) {
    for (;;) {
        const ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) return 0;
        if (errno != EINTR) return errno;
    }
}

}  // namespace

Readiness::Readiness(ReadinessShared* shared, int app_fd, int peer_fd)
    : shared_(shared), app_fd_(app_fd), peer_fd_(peer_fd) {
    CULVERT_CHANNELS_ASSERT(shared != nullptr && peer_fd >= 0);
}

std::expected<std::pair<int, int>, int> Readiness::make_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
        return std::unexpected(errno);
    }
    // The kernel raises this to its minimum (SOCK_MIN_SNDBUF): a few KiB of filler then
    // take POLLOUT away (a unix socket is writable while <= 1/4 of its sndbuf is in use).
    const int one = 1;
    if (::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &one, sizeof one) != 0) {
        const int error = errno;
        ::close(fds[0]);
        ::close(fds[1]);
        return std::unexpected(error);
    }
    return std::pair<int, int>{fds[0], fds[1]};
}

int Readiness::signal_readable() {
    CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
    if (shared_->rx_signaled.exchange(1, std::memory_order_seq_cst) != 0) return 0;
    const char byte = 'r';
    if (const int error = send_all_or_errno(peer_fd_, &byte, 1); error != 0) {
        // No byte went out: let the next signal try again rather than leave a flag without one.
        shared_->rx_signaled.store(0, std::memory_order_seq_cst);
        return error;
    }
    return 0;
}

int Readiness::ack_readable(int timeout_ms) {
    CULVERT_CHANNELS_ASSERT(shared_ != nullptr && app_fd_ >= 0);
    if (shared_->rx_signaled.exchange(0, std::memory_order_seq_cst) == 0) return 0;
    // Exactly one byte belongs to the 1 we took: reading more could steal the byte of a
    // signal that happens after our exchange, leaving rx_signaled = 1 with nothing queued.
    for (;;) {
        char byte = 0;
        const ssize_t n = ::recv(app_fd_, &byte, 1, MSG_DONTWAIT);
        if (n >= 0) return 0;  // 1: consumed; 0: EOF (signal_eof), no byte will come
        if (errno == EINTR) continue;
        if (errno != EAGAIN) return errno;
        // The signalling side swapped the flag but its send has not landed yet.
        if (const int error = wait_fd(app_fd_, POLLIN, timeout_ms); error != 0) return error;
    }
}

int Readiness::block_writable() {
    CULVERT_CHANNELS_ASSERT(shared_ != nullptr && app_fd_ >= 0);
    static const char filler[2048] = {};
    for (;;) {
        const ssize_t n = ::send(app_fd_, filler, sizeof filler, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;  // send buffer full: no POLLOUT any more
        return n < 0 ? errno : EIO;
    }
    shared_->tx_blocked.store(1, std::memory_order_seq_cst);
    // F1: the flag is ordered before the caller's re-check of ring space.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return 0;
}

int Readiness::unblock_writable() {
    CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
    // F2: the caller's freeing of ring space is ordered before our look at the flag.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (shared_->tx_blocked.exchange(0, std::memory_order_seq_cst) == 0) return 0;
    // Drain only the filler queued NOW: all of it belongs to the flag we just took (written
    // before the flag was set). Draining "until EAGAIN" also ate the filler of the client's
    // NEXT block whenever the client refilled while this loop ran (a woken writer preempts
    // us): its fd then polled writable with a full ring and the flag set, and a
    // level-triggered loop spun on POLLOUT (tests/conformance, FullSendBuffer...).
    int queued = 0;
    size_t limit = kMaxDrainBytes;
    if (::ioctl(peer_fd_, FIONREAD, &queued) == 0 && queued >= 0)
        limit = std::min(limit, static_cast<size_t>(queued));
    char sink[4096];
    size_t drained = 0;
    while (drained < limit) {
        const ssize_t n = ::recv(peer_fd_, sink, std::min(sizeof sink, limit - drained), MSG_DONTWAIT);
        if (n > 0) {
            drained += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 || errno == EAGAIN) return 0;  // all filler gone: app_fd is writable again
        return errno;
    }
    return 0;
}

int Readiness::unblock_writable_wait(int timeout_ms) {
    CULVERT_CHANNELS_ASSERT(app_fd_ >= 0);
    if (const int error = unblock_writable(); error != 0) return error;
    return wait_fd(app_fd_, POLLOUT, timeout_ms);
}

int Readiness::signal_eof() {
    CULVERT_CHANNELS_ASSERT(shared_ != nullptr);
    if (::shutdown(peer_fd_, SHUT_WR) != 0) return errno;
    return 0;
}

bool Readiness::tx_blocked() const {
    return shared_->tx_blocked.load(std::memory_order_seq_cst) != 0;
}

bool Readiness::rx_signaled() const {
    return shared_->rx_signaled.load(std::memory_order_seq_cst) != 0;
}

}  // namespace culvert::channels
