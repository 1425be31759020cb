// Simulated client processes (process.hpp): traced calls into a node's client library,
// waits that yield to the scheduler, and the readiness oracle.
#include "sim/process.hpp"

#include "sim/fiber.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <cstring>
#include <exception>

namespace culvert::sim {

namespace {

std::string errno_str(long r) {
    if (r >= 0) return std::to_string(r);
    const char* name = strerrorname_np(static_cast<int>(-r));
    return name ? std::string(name) : "E" + std::to_string(-r);
}

}  // namespace

// --- Endpoint ---

Endpoint Endpoint::v4(const uint8_t addr[4], uint16_t port) {
    Endpoint e;
    auto* in = reinterpret_cast<sockaddr_in*>(&e.storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, addr, 4);
    e.len = sizeof(sockaddr_in);
    return e;
}

Endpoint Endpoint::v6(const uint8_t addr[16], uint16_t port) {
    Endpoint e;
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&e.storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    std::memcpy(&in6->sin6_addr, addr, 16);
    e.len = sizeof(sockaddr_in6);
    return e;
}

Endpoint Endpoint::of_node(int node, bool ipv6, uint16_t port) {
    const NodeAddress a = node_address(node);
    return ipv6 ? v6(a.ipv6, port) : v4(a.ipv4, port);
}

std::string Endpoint::str() const {
    char buf[INET6_ADDRSTRLEN + 16] = "?";
    if (storage.ss_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &in->sin_addr, a, sizeof a);
        std::snprintf(buf, sizeof buf, "%s:%u", a, ntohs(in->sin_port));
    } else if (storage.ss_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
        char a[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof a);
        std::snprintf(buf, sizeof buf, "[%s]:%u", a, ntohs(in6->sin6_port));
    }
    return buf;
}

uint16_t Endpoint::port() const {
    if (storage.ss_family == AF_INET)
        return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
    if (storage.ss_family == AF_INET6)
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
    return 0;
}

// --- Pattern ---

namespace {
uint64_t pattern_word(uint64_t key, uint64_t index) {
    uint64_t x = key * 0x9e3779b97f4a7c15ull + index;
    return Rng::splitmix64(x);
}
}  // namespace

void Pattern::fill(uint64_t key, uint64_t offset, std::span<uint8_t> out) {
    for (size_t i = 0; i < out.size();) {
        const uint64_t o = offset + i;
        const uint64_t w = pattern_word(key, o >> 3);
        for (unsigned b = static_cast<unsigned>(o & 7); b < 8 && i < out.size(); ++b, ++i)
            out[i] = static_cast<uint8_t>(w >> (8 * b));
    }
}

int64_t Pattern::mismatch(uint64_t key, uint64_t offset, std::span<const uint8_t> data) {
    for (size_t i = 0; i < data.size();) {
        const uint64_t o = offset + i;
        const uint64_t w = pattern_word(key, o >> 3);
        for (unsigned b = static_cast<unsigned>(o & 7); b < 8 && i < data.size(); ++b, ++i)
            if (data[i] != static_cast<uint8_t>(w >> (8 * b)))
                return static_cast<int64_t>(offset + i);
    }
    return -1;
}

// --- Process ---

Process::Process(World& world, int node, std::string name, std::function<void(Process&)> body,
                 uint64_t seed)
    : world_(world), node_(node), name_(std::move(name)), body_(std::move(body)), rng_(seed) {
    fiber_ = std::make_unique<Fiber>([this] {
        try {
            body_(*this);
        } catch (const ProcessAbort&) {
        } catch (const std::exception& e) {
            world_.fail(Verdict::crash, name_ + ": exception " + e.what());
        }
    });
}

Process::~Process() = default;

void Process::log(const std::string& text) {
    world_.trace().add(world_.now_ns(), name_ + " " + text);
}

std::string Process::sock(int fd) const {
    auto it = names_.find(fd);
    return it == names_.end() ? "s?" : "s" + std::to_string(it->second);
}

void Process::name_socket(int fd) {
    if (fd >= 0) names_[fd] = next_name_++;
}

void Process::fail(Verdict verdict, const std::string& message) {
    world_.fail(verdict, name_ + ": " + message);
    throw ProcessAbort{};
}

template <class F>
long Process::call(const std::string& what, F&& f, bool returns_fd) {
    if (world_.aborting()) throw ProcessAbort{};
    progress_ = true;
    waiting_in_ = what;
    const long r = f();
    waiting_in_.clear();
    progress_ = true;
    if (world_.aborting()) throw ProcessAbort{};
    // fd numbers differ between processes: a new socket is traced by its name instead.
    if (returns_fd && r >= 0) {
        name_socket(static_cast<int>(r));
        log(what + " -> " + sock(static_cast<int>(r)));
    } else {
        log(what + " -> " + errno_str(r));
    }
    return r;
}

static const culvert_sim_node_api& api_of(World& w, int node) {
    return w.api(node);
}

int Process::socket(int domain, int type) {
    const auto& a = api_of(world_, node_);
    const int fd = static_cast<int>(call(
        std::string("socket ") + (domain == AF_INET6 ? "inet6" : "inet") +
            ((type & 0xf) == SOCK_STREAM ? " stream" : " dgram") +
            ((type & SOCK_NONBLOCK) ? " nonblock" : ""),
        [&] { return a.socket(domain, type, 0); }, true));
    return fd;
}

int Process::bind(int fd, const Endpoint& addr) {
    return static_cast<int>(call("bind " + sock(fd) + " " + addr.str(), [&] {
        return api_of(world_, node_).bind(fd, addr.sa(), addr.len);
    }));
}

int Process::listen(int fd, int backlog) {
    return static_cast<int>(call("listen " + sock(fd) + " " + std::to_string(backlog),
                                 [&] { return api_of(world_, node_).listen(fd, backlog); }));
}

int Process::accept(int fd, Endpoint* peer, int flags) {
    Endpoint e;
    e.len = sizeof e.storage;
    const int r = static_cast<int>(call(
        "accept " + sock(fd),
        [&] {
            return api_of(world_, node_)
                .accept4(fd, reinterpret_cast<sockaddr*>(&e.storage), &e.len, flags);
        },
        true));
    if (r >= 0) {
        log("  " + sock(r) + " from " + e.str());
        if (peer) *peer = e;
    }
    return r;
}

int Process::connect(int fd, const Endpoint& addr) {
    return static_cast<int>(call("connect " + sock(fd) + " " + addr.str(), [&] {
        return api_of(world_, node_).connect(fd, addr.sa(), addr.len);
    }));
}

int Process::shutdown(int fd, int how) {
    static const char* const kHow[] = {"rd", "wr", "rdwr"};
    return static_cast<int>(
        call("shutdown " + sock(fd) + " " + (how >= 0 && how <= 2 ? kHow[how] : "?"),
             [&] { return api_of(world_, node_).shutdown(fd, how); }));
}

int Process::close(int fd) {
    const std::string name = sock(fd);
    watched_.erase(fd);
    const int r =
        static_cast<int>(call("close " + name, [&] { return api_of(world_, node_).close(fd); }));
    if (r == 0) names_.erase(fd);
    return r;
}

long Process::send(int fd, std::span<const uint8_t> data, int flags) {
    iovec v{const_cast<uint8_t*>(data.data()), data.size()};
    msghdr m{};
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    return call("send " + sock(fd) + " " + std::to_string(data.size()) +
                    (flags ? " flags=" + std::to_string(flags) : ""),
                [&] { return api_of(world_, node_).sendmsg(fd, &m, flags); });
}

long Process::sendto(int fd, std::span<const uint8_t> data, const Endpoint& to, int flags) {
    iovec v{const_cast<uint8_t*>(data.data()), data.size()};
    msghdr m{};
    m.msg_name = const_cast<sockaddr*>(to.sa());
    m.msg_namelen = to.len;
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    return call("sendto " + sock(fd) + " " + std::to_string(data.size()) + " " + to.str(),
                [&] { return api_of(world_, node_).sendmsg(fd, &m, flags); });
}

long Process::recv(int fd, std::span<uint8_t> buf, int flags, int* msg_flags) {
    return recvfrom(fd, buf, nullptr, flags, msg_flags);
}

long Process::recvfrom(int fd, std::span<uint8_t> buf, Endpoint* from, int flags, int* msg_flags) {
    iovec v{buf.data(), buf.size()};
    msghdr m{};
    Endpoint e;
    if (from) {
        m.msg_name = &e.storage;
        m.msg_namelen = sizeof e.storage;
    }
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    const long r = call("recv " + sock(fd) + " " + std::to_string(buf.size()) +
                            (flags ? " flags=" + std::to_string(flags) : ""),
                        [&] { return api_of(world_, node_).recvmsg(fd, &m, flags); });
    if (from && r >= 0) {
        e.len = m.msg_namelen;
        *from = e;
    }
    if (msg_flags) *msg_flags = m.msg_flags;
    return r;
}

int Process::setsockopt_int(int fd, int level, int name, int value) {
    return static_cast<int>(call(
        "setsockopt " + sock(fd) + " " + std::to_string(level) + "/" + std::to_string(name) + "=" +
            std::to_string(value),
        [&] { return api_of(world_, node_).setsockopt(fd, level, name, &value, sizeof value); }));
}

int Process::getsockopt_int(int fd, int level, int name, int* value) {
    socklen_t len = sizeof *value;
    return static_cast<int>(
        call("getsockopt " + sock(fd) + " " + std::to_string(level) + "/" + std::to_string(name),
             [&] { return api_of(world_, node_).getsockopt(fd, level, name, value, &len); }));
}

int Process::getsockname(int fd, Endpoint* out) {
    Endpoint e;
    e.len = sizeof e.storage;
    const int r = static_cast<int>(call("getsockname " + sock(fd), [&] {
        return api_of(world_, node_)
            .getsockname(fd, reinterpret_cast<sockaddr*>(&e.storage), &e.len);
    }));
    if (r == 0 && out) *out = e;
    return r;
}

int Process::set_nonblocking(int fd, bool on) {
    return static_cast<int>(call("fcntl " + sock(fd) + (on ? " O_NONBLOCK" : " blocking"), [&] {
        return api_of(world_, node_).fcntl(fd, F_SETFL, on ? O_NONBLOCK : 0);
    }));
}

int Process::fionread(int fd) {
    int v = 0;
    const int r = api_of(world_, node_).ioctl(fd, FIONREAD, &v);
    return r < 0 ? r : v;
}

int Process::siocoutq(int fd) {
    int v = 0;
    const int r = api_of(world_, node_).ioctl(fd, SIOCOUTQ, &v);
    return r < 0 ? r : v;
}

short Process::readiness(int fd, short events) const {
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, 0) > 0 ? p.revents : 0;
}

int Process::wait(std::span<pollfd> fds, uint64_t timeout_ns) {
    const uint64_t deadline = timeout_ns == UINT64_MAX ? UINT64_MAX : world_.now_ns() + timeout_ns;
    for (;;) {
        if (world_.aborting()) throw ProcessAbort{};
        const int n = ::poll(fds.data(), fds.size(), 0);
        if (n != 0) return n;
        if (world_.now_ns() >= deadline) return 0;
        wait_fds_.assign(fds.begin(), fds.end());
        wake_ns_ = deadline;
        park(State::waiting_poll);
    }
}

short Process::wait_for(int fd, short events, uint64_t timeout_ns) {
    pollfd p{fd, events, 0};
    return wait(std::span<pollfd>(&p, 1), timeout_ns) > 0 ? p.revents : 0;
}

void Process::sleep(uint64_t ns) {
    wake_ns_ = world_.now_ns() + ns;
    park(State::sleeping);
    if (world_.aborting()) throw ProcessAbort{};
}

bool Process::wait_until(std::function<bool()> cond, uint64_t timeout_ns) {
    const uint64_t deadline = timeout_ns == UINT64_MAX ? UINT64_MAX : world_.now_ns() + timeout_ns;
    while (!cond()) {
        if (world_.now_ns() >= deadline) return false;
        wait_cond_ = cond;
        wake_ns_ = deadline;
        park(State::waiting_cond);
        wait_cond_ = nullptr;
        if (world_.aborting()) throw ProcessAbort{};
    }
    return true;
}

void Process::yield() {
    progress_ = true;
    park(State::ready);
    if (world_.aborting()) throw ProcessAbort{};
}

void Process::park(State state) {
    state_ = state;
    parked_epoch_ = world_.epoch();
    Fiber::yield();
    state_ = State::ready;
}

void Process::parked_in_client() {
    park(State::waiting_client);
}

bool Process::runnable_now() {
    switch (state_) {
        case State::ready:
            return true;
        // Parked where poll said nothing: unless something happened since, it still would.
        case State::waiting_client:
            return world_.epoch() != parked_epoch_;
        case State::sleeping:
            return world_.now_ns() >= wake_ns_;
        case State::waiting_poll:
            if (world_.now_ns() >= wake_ns_) return true;
            if (world_.epoch() == parked_epoch_) return false;
            parked_epoch_ = world_.epoch();
            return ::poll(wait_fds_.data(), wait_fds_.size(), 0) != 0;
        case State::waiting_cond:
            return world_.now_ns() >= wake_ns_ || wait_cond_();
        case State::finished:
            return false;
    }
    return false;
}

void Process::resume() {
    progress_ = false;
    fiber_->resume();
    if (fiber_->finished()) {
        state_ = State::finished;
        progress_ = true;
    }
}

void Process::watch(int fd, bool stream) {
    int ring = 0;
    if (stream) getsockopt_int(fd, SOL_SOCKET, SO_SNDBUF, &ring);
    watched_[fd] = Watched{stream, ring};
}

void Process::unwatch(int fd) {
    watched_.erase(fd);
}

void Process::check_watched() {
    for (const auto& [fd, w] : watched_) {
        const short revents = readiness(fd, POLLIN | POLLOUT);
        const int readable = fionread(fd);
        if (readable > 0 && !(revents & POLLIN)) {
            world_.fail(Verdict::correctness, name_ + ": lost wakeup: " + sock(fd) + " holds " +
                                                  std::to_string(readable) +
                                                  " readable bytes but poll says no POLLIN");
            return;
        }
        if (w.stream && w.ring_bytes > 0 && !(revents & POLLOUT)) {
            const int queued = siocoutq(fd);
            if (queued >= 0 && queued < w.ring_bytes) {
                world_.fail(Verdict::correctness, name_ + ": lost wakeup: " + sock(fd) +
                                                      " send ring has " +
                                                      std::to_string(w.ring_bytes - queued) +
                                                      " bytes free but poll says no POLLOUT");
                return;
            }
        }
    }
}

std::string Process::describe_wait() const {
    switch (state_) {
        case State::waiting_client:
            return name_ + " blocked in " + waiting_in_;
        case State::waiting_poll: {
            std::string s = name_ + " polls";
            for (const auto& p : wait_fds_) s += " " + sock(p.fd) + "/" + std::to_string(p.events);
            return s;
        }
        case State::sleeping:
            return name_ + " sleeps";
        case State::waiting_cond:
            return name_ + " waits for another process";
        case State::ready:
            return name_ + " ready";
        case State::finished:
            return name_ + " finished";
    }
    return name_;
}

}  // namespace culvert::sim
