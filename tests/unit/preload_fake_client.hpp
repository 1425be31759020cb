// A recording fake of culvert::client::Client (src/client/client.hpp) for the interposer's
// tests: it remembers every call with its arguments, answers from a script, and marks fds as
// culvert fds on demand. Also the stand-in `culvert_client` until the real library lands.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace culvert::client::fake {

// One Client call. Which fields mean what, per op:
//   socket: a=domain b=type c=protocol          accept4: a=flags, ptr=addr
//   bind/connect: ptr=addr, len=addrlen         listen: a=backlog   shutdown: a=how
//   getsockname/getpeername: ptr=addr           close, forget, after_fork_in_child: fd only
//   dup_of: a=new_fd
//   getsockopt/setsockopt: a=level b=name, ptr=value, len=optlen (in)
//   sendmsg: a=flags, data=bytes of each iovec, ptr=msg_name, len=msg_namelen
//   recvmsg: a=flags, iov_lens=capacity of each iovec, ptr=msg_name, len=msg_namelen (in)
//   fcntl: a=cmd b=arg                          ioctl: a=request, ptr=arg
struct Call {
    std::string op;
    int fd = -1;
    long a = 0;
    long b = 0;
    long c = 0;
    const void* ptr = nullptr;
    socklen_t len = 0;
    std::vector<std::string> data;
    std::vector<size_t> iov_lens;
};

// Forget all calls and scripts; no fd is a culvert fd any more.
void reset();
// Make `fd` a culvert fd (Client::manages answers true) or not.
void set_managed(int fd, bool managed);
std::vector<Call> calls();
int manages_queries();
int after_fork_calls();

// The call to `op` after `skip` more successful ones fails with `error`.
void fail_next(std::string_view op, int error, int skip = 0);
// socket() and accept4() return this fd and make it a culvert fd (default: ENOSYS).
void set_next_fd(int fd);
// recvmsg() pops these in order (EAGAIN when none is left); the address goes to msg_name.
void push_datagram(std::string payload, sockaddr_in from);
// sendmsg() takes at most this many bytes per call (a short send).
void set_send_limit(size_t bytes);
// F_GETFL/F_GETFD answer this.
void set_fcntl_result(int value);
// Runs inside every recorded Client call (to test what the Client's own libc calls do).
void set_inside_call_hook(std::function<void()> hook);

// The peer address getsockname/getpeername/accept4 report: 192.0.2.7:4242.
sockaddr_in reported_address();

}  // namespace culvert::client::fake
