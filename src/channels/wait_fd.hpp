// poll() one fd for some events with a timeout that survives EINTR: the one place where the
// channel code sleeps (ack_wait, block_wait, ack_readable).
#pragma once

namespace culvert::channels {

// 0 when `events` (or POLLERR/POLLHUP) are reported, ETIMEDOUT when timeout_ms passed
// (timeout_ms < 0 waits forever), EBADF for a closed fd, or poll's errno.
int wait_fd(int fd, short events, int timeout_ms);

}  // namespace culvert::channels
