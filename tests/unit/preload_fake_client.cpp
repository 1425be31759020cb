// The recording fake Client (see preload_fake_client.hpp). When CULVERT_FAKE_CLIENT_LOG names
// a file, every call (and every manages()/serves() query) is also appended there as a line,
// so a test can see what a preloaded program asked of the Client.
#include "preload_fake_client.hpp"

#include "client/client.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>

namespace culvert::client {
namespace {

// Trivially destructible, constant-initialised: usable before main and during exit.
constinit std::array<std::atomic<bool>, 65536> g_managed{};
constinit std::atomic<int> g_manages_queries{0};
constinit std::atomic<int> g_after_fork_calls{0};
constinit std::atomic<int> g_log_fd{-2};  // -2: not looked up yet, -1: no log

struct Failure {
    std::string op;
    int error;
    int skip;
};

struct Datagram {
    std::string payload;
    sockaddr_in from;
};

struct State {
    std::mutex mutex;
    std::vector<fake::Call> calls;
    std::vector<Failure> failures;
    std::deque<Datagram> datagrams;
    int next_fd = -1;
    size_t send_limit = SIZE_MAX;
    int fcntl_result = 0;
    std::function<void()> hook;
};

// Never destroyed: a wrapped close() may still run after static destructors.
State& state() {
    static State& s = *new State;
    return s;
}

// Raw syscalls: this code runs inside the interposer, whose wrappers we must not re-enter.
void log_line(const char* what, long a, long b = 0, long c = 0) {
    int fd = g_log_fd.load(std::memory_order_acquire);
    if (fd == -2) {
        const char* path = std::getenv("CULVERT_FAKE_CLIENT_LOG");
        fd = path == nullptr
                 ? -1
                 : static_cast<int>(::syscall(SYS_openat, AT_FDCWD, path,
                                              O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
        g_log_fd.store(fd, std::memory_order_release);
    }
    if (fd < 0) {
        return;
    }
    char line[128];
    const int n = std::snprintf(line, sizeof line, "%s %ld %ld %ld\n", what, a, b, c);
    if (n > 0) {
        ::syscall(SYS_write, fd, line, static_cast<size_t>(std::min<int>(n, sizeof line - 1)));
    }
}

bool managed(int fd) {
    return fd >= 0 && static_cast<size_t>(fd) < g_managed.size() &&
           g_managed[static_cast<size_t>(fd)].load(std::memory_order_acquire);
}

void set_managed_fd(int fd, bool on) {
    if (fd >= 0 && static_cast<size_t>(fd) < g_managed.size()) {
        g_managed[static_cast<size_t>(fd)].store(on, std::memory_order_release);
    }
}

// Records the call, runs the hook, and returns the scripted error for it (0: none).
int record(fake::Call call) {
    log_line(call.op.c_str(), call.fd);
    std::function<void()> hook;
    int error = 0;
    {
        auto& s = state();
        std::lock_guard lock(s.mutex);
        for (auto it = s.failures.begin(); it != s.failures.end(); ++it) {
            if (it->op == call.op) {
                if (it->skip-- == 0) {
                    error = it->error;
                    s.failures.erase(it);
                }
                break;
            }
        }
        s.calls.push_back(std::move(call));
        hook = s.hook;
    }
    if (hook) {
        hook();
    }
    return error;
}

void report_address(sockaddr* addr, socklen_t* len) {
    if (addr == nullptr || len == nullptr) {
        return;
    }
    const sockaddr_in a = fake::reported_address();
    std::memcpy(addr, &a, std::min<size_t>(*len, sizeof a));
    *len = sizeof a;
}

}  // namespace

bool serves(int domain, int type, int protocol) {
    log_line("serves", domain, type, protocol);
    const int kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    return (domain == AF_INET || domain == AF_INET6) &&
           ((kind == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP)) ||
            (kind == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP)));
}

Client::Client() : impl_(nullptr) {}

Client& Client::instance() {
    static Client client;
    return client;
}

bool Client::manages(int fd) const {
    g_manages_queries.fetch_add(1, std::memory_order_relaxed);
    log_line("manages", fd);
    return managed(fd);
}

Result<int> Client::socket(int domain, int type, int protocol) {
    if (int e = record({.op = "socket", .a = domain, .b = type, .c = protocol})) {
        return std::unexpected(e);
    }
    std::lock_guard lock(state().mutex);
    if (state().next_fd < 0) {
        return std::unexpected(ENOSYS);
    }
    set_managed_fd(state().next_fd, true);
    return state().next_fd;
}

Result<void> Client::bind(int fd, const sockaddr* addr, socklen_t len) {
    if (int e = record({.op = "bind", .fd = fd, .ptr = addr, .len = len})) {
        return std::unexpected(e);
    }
    return {};
}

Result<void> Client::listen(int fd, int backlog) {
    if (int e = record({.op = "listen", .fd = fd, .a = backlog})) {
        return std::unexpected(e);
    }
    return {};
}

Result<int> Client::accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
    if (int e = record({.op = "accept4", .fd = fd, .a = flags, .ptr = addr})) {
        return std::unexpected(e);
    }
    std::lock_guard lock(state().mutex);
    if (state().next_fd < 0) {
        return std::unexpected(EAGAIN);
    }
    report_address(addr, len);
    set_managed_fd(state().next_fd, true);
    return state().next_fd;
}

Result<void> Client::connect(int fd, const sockaddr* addr, socklen_t len) {
    if (int e = record({.op = "connect", .fd = fd, .ptr = addr, .len = len})) {
        return std::unexpected(e);
    }
    return {};
}

Result<void> Client::shutdown(int fd, int how) {
    if (int e = record({.op = "shutdown", .fd = fd, .a = how})) {
        return std::unexpected(e);
    }
    return {};
}

Result<void> Client::close(int fd) {
    if (int e = record({.op = "close", .fd = fd})) {
        return std::unexpected(e);
    }
    set_managed_fd(fd, false);
    return {};
}

Result<void> Client::dup_of(int fd, int new_fd) {
    if (int e = record({.op = "dup_of", .fd = fd, .a = new_fd})) {
        return std::unexpected(e);
    }
    set_managed_fd(new_fd, true);
    return {};
}

Result<void> Client::forget(int fd) {
    if (int e = record({.op = "forget", .fd = fd})) {
        return std::unexpected(e);
    }
    set_managed_fd(fd, false);
    return {};
}

Result<void> Client::getsockname(int fd, sockaddr* addr, socklen_t* len) {
    if (int e = record({.op = "getsockname", .fd = fd, .ptr = addr})) {
        return std::unexpected(e);
    }
    report_address(addr, len);
    return {};
}

Result<void> Client::getpeername(int fd, sockaddr* addr, socklen_t* len) {
    if (int e = record({.op = "getpeername", .fd = fd, .ptr = addr})) {
        return std::unexpected(e);
    }
    report_address(addr, len);
    return {};
}

Result<void> Client::getsockopt(int fd, int level, int name, void* value, socklen_t* len) {
    if (int e = record({.op = "getsockopt",
                        .fd = fd,
                        .a = level,
                        .b = name,
                        .ptr = value,
                        .len = len != nullptr ? *len : 0})) {
        return std::unexpected(e);
    }
    if (value != nullptr && len != nullptr && *len >= sizeof(int)) {
        const int answer = 7;
        std::memcpy(value, &answer, sizeof answer);
        *len = sizeof answer;
    }
    return {};
}

Result<void> Client::setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
    if (int e = record(
            {.op = "setsockopt", .fd = fd, .a = level, .b = name, .ptr = value, .len = len})) {
        return std::unexpected(e);
    }
    return {};
}

Result<size_t> Client::sendmsg(int fd, const msghdr* msg, int flags) {
    fake::Call call{
        .op = "sendmsg", .fd = fd, .a = flags, .ptr = msg->msg_name, .len = msg->msg_namelen};
    for (size_t i = 0; i < msg->msg_iovlen; ++i) {
        call.data.emplace_back(static_cast<const char*>(msg->msg_iov[i].iov_base),
                               msg->msg_iov[i].iov_len);
    }
    size_t total = 0;
    for (const auto& d : call.data) {
        total += d.size();
    }
    if (int e = record(std::move(call))) {
        return std::unexpected(e);
    }
    std::lock_guard lock(state().mutex);
    return std::min(total, state().send_limit);
}

Result<size_t> Client::recvmsg(int fd, msghdr* msg, int flags) {
    fake::Call call{
        .op = "recvmsg", .fd = fd, .a = flags, .ptr = msg->msg_name, .len = msg->msg_namelen};
    for (size_t i = 0; i < msg->msg_iovlen; ++i) {
        call.iov_lens.push_back(msg->msg_iov[i].iov_len);
    }
    if (int e = record(std::move(call))) {
        return std::unexpected(e);
    }
    auto& s = state();
    std::lock_guard lock(s.mutex);
    if (s.datagrams.empty()) {
        return std::unexpected(EAGAIN);
    }
    const Datagram d = s.datagrams.front();
    if ((flags & MSG_PEEK) == 0) {
        s.datagrams.pop_front();
    }
    size_t copied = 0;
    for (size_t i = 0; i < msg->msg_iovlen && copied < d.payload.size(); ++i) {
        const size_t n = std::min(msg->msg_iov[i].iov_len, d.payload.size() - copied);
        std::memcpy(msg->msg_iov[i].iov_base, d.payload.data() + copied, n);
        copied += n;
    }
    msg->msg_flags = copied < d.payload.size() ? MSG_TRUNC : 0;
    if (msg->msg_name != nullptr) {
        std::memcpy(msg->msg_name, &d.from, std::min<size_t>(msg->msg_namelen, sizeof d.from));
        msg->msg_namelen = sizeof d.from;
    }
    return copied;
}

Result<int> Client::fcntl(int fd, int cmd, long arg) {
    if (int e = record({.op = "fcntl", .fd = fd, .a = cmd, .b = arg})) {
        return std::unexpected(e);
    }
    std::lock_guard lock(state().mutex);
    return (cmd == F_GETFL || cmd == F_GETFD) ? state().fcntl_result : 0;
}

Result<int> Client::ioctl(int fd, unsigned long request, void* arg) {
    if (int e = record({.op = "ioctl", .fd = fd, .a = static_cast<long>(request), .ptr = arg})) {
        return std::unexpected(e);
    }
    if (request == FIONREAD) {
        *static_cast<int*>(arg) = 42;
        return 0;
    }
    if (request == FIONBIO) {
        return 0;
    }
    return std::unexpected(ENOTTY);
}

void Client::after_fork_in_child() {
    g_after_fork_calls.fetch_add(1, std::memory_order_relaxed);
    record({.op = "after_fork_in_child"});
}

namespace fake {

void reset() {
    for (auto& m : g_managed) {
        m.store(false, std::memory_order_relaxed);
    }
    g_manages_queries.store(0);
    g_after_fork_calls.store(0);
    auto& s = state();
    std::lock_guard lock(s.mutex);
    s.calls.clear();
    s.failures.clear();
    s.datagrams.clear();
    s.next_fd = -1;
    s.send_limit = SIZE_MAX;
    s.fcntl_result = 0;
    s.hook = nullptr;
}

void set_managed(int fd, bool on) {
    set_managed_fd(fd, on);
}

std::vector<Call> calls() {
    std::lock_guard lock(state().mutex);
    return state().calls;
}

int manages_queries() {
    return g_manages_queries.load();
}
int after_fork_calls() {
    return g_after_fork_calls.load();
}

void fail_next(std::string_view op, int error, int skip) {
    std::lock_guard lock(state().mutex);
    state().failures.push_back({std::string(op), error, skip});
}

void set_next_fd(int fd) {
    std::lock_guard lock(state().mutex);
    state().next_fd = fd;
}

void push_datagram(std::string payload, sockaddr_in from) {
    std::lock_guard lock(state().mutex);
    state().datagrams.push_back({std::move(payload), from});
}

void set_send_limit(size_t bytes) {
    std::lock_guard lock(state().mutex);
    state().send_limit = bytes;
}

void set_fcntl_result(int value) {
    std::lock_guard lock(state().mutex);
    state().fcntl_result = value;
}

void set_inside_call_hook(std::function<void()> hook) {
    std::lock_guard lock(state().mutex);
    state().hook = std::move(hook);
}

sockaddr_in reported_address() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(4242);
    a.sin_addr.s_addr = htonl(0xC0000207);  // 192.0.2.7 (TEST-NET-1)
    return a;
}

}  // namespace fake
}  // namespace culvert::client
