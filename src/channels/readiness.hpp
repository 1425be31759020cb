// OUR app-visible readiness (DESIGN §3 "one way out" of the eventfd's POLLIN-while-blocked
// weakness): the app's fd is one end (app_fd) of a unix SOCK_STREAM socketpair; the other end
// (peer_fd) is held by the server AND the client. Readable: exactly one byte sits in app_fd
// while rx_signaled is 1. Not writable: app_fd's small send buffer is filled with filler
// while tx_blocked is 1; draining peer_fd restores POLLOUT. EOF: shutdown(peer_fd, SHUT_WR).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <utility>

namespace culvert::channels {

struct ReadinessShared {  // in shared memory, written by both sides (exchange only)
    alignas(64) std::atomic<uint32_t> rx_signaled;  // 1: one byte is (being) queued in app_fd
    std::atomic<uint32_t> tx_blocked;               // 1: app_fd's send buffer is full of filler
};
static_assert(std::atomic<uint32_t>::is_always_lock_free);
static_assert(sizeof(ReadinessShared) == 64);
static_assert(offsetof(ReadinessShared, rx_signaled) == 0);
static_assert(offsetof(ReadinessShared, tx_blocked) == 4);

// Does not own the fds. Every call returns 0 or an errno.
class Readiness {
  public:
    Readiness() = default;
    Readiness(ReadinessShared* shared, int app_fd /* -1 on the server */, int peer_fd);

    // socketpair(AF_UNIX, SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC) -> {app_fd, peer_fd}, with
    // app_fd's SO_SNDBUF at its minimum so that a few KiB of filler remove POLLOUT.
    static std::expected<std::pair<int, int>, int> make_pair();

    // Server or client, after publishing readable data: if rx_signaled goes 0->1, write the
    // one byte into peer_fd (so app_fd gets POLLIN). Never sleeps.
    int signal_readable();
    // Client, when its ring is empty: if rx_signaled goes 1->0, read the one byte from app_fd
    // (it may still be in flight from the other side: wait up to timeout_ms). Then re-check
    // the ring and signal_readable() again if data arrived meanwhile.
    int ack_readable(int timeout_ms);
    // Client, send ring full: fill app_fd's send buffer until EAGAIN (no POLLOUT), then
    // tx_blocked = 1. Then re-check ring space and unblock_writable() if room appeared.
    int block_writable();
    // Server (after consuming the send ring) or client: if tx_blocked goes 1->0, drain the
    // filler queued in peer_fd at that moment (not more: filler written later belongs to the
    // next block) so that app_fd becomes writable. Never sleeps.
    int unblock_writable();
    // Client, when app_fd must poll writable as the call returns (connect, shutdown(SHUT_WR)):
    // unblock_writable(), and if the server took the flag first, wait until its drain of the
    // filler (which never sleeps: timeout_ms is only a guard) has restored POLLOUT.
    // 0, ETIMEDOUT or errno.
    int unblock_writable_wait(int timeout_ms);
    // The peer finished sending / the connection was reset: shutdown(peer_fd, SHUT_WR) gives
    // app_fd POLLIN|POLLRDHUP for good (EOF), as Linux TCP after a FIN.
    int signal_eof();
    bool tx_blocked() const;
    bool rx_signaled() const;

    int app_fd() const { return app_fd_; }
    // Client: use another fd on the same socketpair end (a private dup once the app's fd has
    // aliases). The old fd must stay open until no thread uses it.
    void set_app_fd(int fd) { app_fd_ = fd; }
    int peer_fd() const { return peer_fd_; }

  private:
    ReadinessShared* shared_ = nullptr;
    int app_fd_ = -1;
    int peer_fd_ = -1;
};

}  // namespace culvert::channels
