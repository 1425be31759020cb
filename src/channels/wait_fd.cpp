// poll() with a deadline on the monotonic clock, restarted after signals.
#include "channels/wait_fd.hpp"

#include <poll.h>

#include <cerrno>
#include <cstdint>
#include <ctime>

namespace culvert::channels {

namespace {

int64_t monotonic_ms() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1'000'000;
}

}  // namespace

int wait_fd(int fd, short events, int timeout_ms) {
    const int64_t deadline_ms = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
    for (;;) {
        int wait_ms = -1;
        if (deadline_ms >= 0) {
            const int64_t left_ms = deadline_ms - monotonic_ms();
            wait_ms = left_ms > 0 ? static_cast<int>(left_ms) : 0;
        }
        pollfd p{fd, events, 0};
        const int ready = ::poll(&p, 1, wait_ms);
        if (ready > 0) {
            if ((p.revents & POLLNVAL) != 0) return EBADF;
            return 0;  // the events, or an error/hangup the caller will discover
        }
        if (ready == 0) {
            if (wait_ms == 0 || (deadline_ms >= 0 && monotonic_ms() >= deadline_ms)) {
                return ETIMEDOUT;
            }
            continue;  // woke early (coarse clock): wait for the rest
        }
        if (errno != EINTR) return errno;
    }
}

}  // namespace culvert::channels
