// The client library (client.hpp): control connection to culvertd, the socket table and
// the client halves of the stream and datagram channels.
#include "client/client.hpp"

#include "channels/linux_abi.hpp"
#include "channels/protocol.hpp"
#include "channels/segment.hpp"
#include "channels/socket_channel.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/sockios.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <optional>

namespace culvert::client {

namespace abi = culvert::linux_abi;
using channels::Op;

static_assert(abi::kSolSocket == SOL_SOCKET && abi::kSoError == SO_ERROR && abi::kSoType == SO_TYPE);
static_assert(abi::kSoReuseaddr == SO_REUSEADDR && abi::kSoKeepalive == SO_KEEPALIVE && abi::kSoSndbuf == SO_SNDBUF);
static_assert(abi::kSoRcvbuf == SO_RCVBUF && abi::kSoReuseport == SO_REUSEPORT && abi::kSoAcceptconn == SO_ACCEPTCONN);
static_assert(abi::kSoProtocol == SO_PROTOCOL && abi::kSoDomain == SO_DOMAIN && abi::kSoBroadcast == SO_BROADCAST);
static_assert(abi::kIpprotoTcp == IPPROTO_TCP && abi::kIpprotoIpv6 == IPPROTO_IPV6 && abi::kIpv6V6only == IPV6_V6ONLY);
static_assert(abi::kTcpNodelay == TCP_NODELAY && abi::kTcpInfo == TCP_INFO && abi::kTcpKeepidle == TCP_KEEPIDLE);
static_assert(abi::kTcpCongestion == TCP_CONGESTION && abi::kTcpMaxseg == TCP_MAXSEG && abi::kIpTos == IP_TOS);
static_assert(AF_INET == 2 && AF_INET6 == 10 && SOCK_STREAM == abi::kSockStream && SOCK_DGRAM == abi::kSockDgram);

namespace {

constexpr int kMaxFds = 1 << 16;
constexpr int kReadyWaitMs = 1000;  // bound on waiting for a readiness byte in flight

struct SocketState {
    uint32_t id = 0;
    int domain = 0;
    int type = 0;
    // app_fd: the fd readiness and waits use. It is the app's fd until the app dups it;
    // then a private close-on-exec dup, so the app may close any of its fds in any order.
    int app_fd = -1, peer_fd = -1, notify_fd = -1;
    bool private_app_fd = false;
    int app_fds = 1;  // app-visible fds naming this socket (dup, dup2, F_DUPFD); dup_mu
    std::mutex dup_mu;
    std::atomic<bool> nonblock{false};
    bool listening = false;
    bool shut_rd = false;
    bool shut_wr = false;
    int rcvtimeo_ms = -1, sndtimeo_ms = -1;
    channels::ChannelKind kind{};
    channels::ChannelInfo info{};  // where culvertd put this socket's channel
    channels::StreamChannelShared* sch = nullptr;
    channels::DgramChannelShared* dch = nullptr;
    channels::ByteRingProducer tx;
    channels::ByteRingConsumer rx;
    channels::BipartiteConsumer<channels::DgramItem, channels::kSendSlots> sendq;
    channels::BipartiteConsumer<channels::DgramItem, channels::kRecvSlots> recvq;
    channels::EventQueueProducer notify;
    channels::Readiness ready;
    std::mutex send_mu, recv_mu;
    // EventQueueProducer has one producer; a sending and a receiving thread are two. Two
    // unserialised notify() calls could both see culvertd idle, raise our counter once and
    // write two units: culvertd's counter then runs ahead of ours, every later notify looks
    // "pending", and culvertd never wakes for this socket again (an echo client with a
    // reader and a writer thread stalled with data waiting in culvertd).
    std::mutex notify_mu;

    void notify_server() {
        std::lock_guard lock(notify_mu);
        notify.notify();
    }

    std::atomic<uint32_t>& state() { return sch ? sch->state : dch->state; }
    std::atomic<int32_t>& error() { return sch ? sch->error : dch->error; }
};

std::atomic<SocketState*> g_table[kMaxFds];

channels::WireAddr to_wire(const sockaddr* sa, socklen_t len, bool& ok) {
    channels::WireAddr w{};
    ok = false;
    if (!sa || len < static_cast<socklen_t>(sizeof(sa_family_t))) return w;
    if (sa->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        w.family = AF_INET;
        w.port = ntohs(in->sin_port);
        std::memcpy(w.addr, &in->sin_addr, 4);
        ok = true;
    } else if (sa->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        w.family = AF_INET6;
        w.port = ntohs(in6->sin6_port);
        w.scope_id = in6->sin6_scope_id;
        std::memcpy(w.addr, &in6->sin6_addr, 16);
        ok = true;
    } else if (sa->sa_family == AF_UNSPEC) {
        ok = true;
    }
    return w;
}

// Fills a caller's sockaddr like the kernel: truncates to *len, reports the full length.
void from_wire(const channels::WireAddr& w, sockaddr* sa, socklen_t* len) {
    if (!sa || !len) return;
    sockaddr_storage ss{};
    socklen_t full = 0;
    if (w.family == AF_INET) {
        auto* in = reinterpret_cast<sockaddr_in*>(&ss);
        in->sin_family = AF_INET;
        in->sin_port = htons(w.port);
        std::memcpy(&in->sin_addr, w.addr, 4);
        full = sizeof(sockaddr_in);
    } else {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(w.port);
        in6->sin6_scope_id = w.scope_id;
        std::memcpy(&in6->sin6_addr, w.addr, 16);
        full = sizeof(sockaddr_in6);
    }
    std::memcpy(sa, &ss, std::min<socklen_t>(*len, full));
    *len = full;
}

size_t iov_total(const iovec* iov, size_t n) {
    size_t t = 0;
    for (size_t i = 0; i < n; ++i) t += iov[i].iov_len;
    return t;
}

// A view of an iovec array with the first `skip` bytes removed (for short progress).
struct IovCursor {
    static constexpr size_t kMax = 64;
    iovec v[kMax];
    size_t n = 0;
    IovCursor(const iovec* iov, size_t count, size_t skip) {
        for (size_t i = 0; i < count && n < kMax; ++i) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            v[n].iov_base = static_cast<char*>(iov[i].iov_base) + skip;
            v[n].iov_len = iov[i].iov_len - skip;
            skip = 0;
            ++n;
        }
    }
    std::span<const iovec> span() const { return {v, n}; }
};

int to_errno(channels::ChannelError) { return EIO; }

int timeout_of(int ms) { return ms < 0 ? -1 : ms; }

// Takes POLLOUT away from the app fd (Readiness::block_writable) and makes sure it stays
// away. culvertd drains filler until EAGAIN whenever it frees ring space and finds the flag
// set; a drain that began for an EARLIER block can still be running when we refill, and
// then eats the new filler: the fd turns writable while the ring is full and the flag is
// set, so nobody restores it correctly and a level-triggered loop spins on POLLOUT (found
// by the conformance test FullSendBufferIsNeitherWritableNorReadable). So refill while the
// fd still polls writable and the flag is still ours. If the flag was taken, culvertd made
// room: the caller's re-check of ring space sees it.
void block_writable_checked(channels::Readiness& ready, int app_fd) {
    for (int attempt = 0; attempt < 16; ++attempt) {
        ready.block_writable();
        pollfd p{app_fd, POLLOUT, 0};
        if (::poll(&p, 1, 0) <= 0 || !(p.revents & POLLOUT)) return;
        if (!ready.tx_blocked()) return;
    }
}

// A connect() or shutdown(SHUT_WR) that returns leaves the fd writable (a select right
// after it says so), as on Linux: Readiness::unblock_writable_wait with this guard.
constexpr int kWritableWaitMs = 1000;

}  // namespace

bool serves(int domain, int type, int protocol) {
    if (domain != AF_INET && domain != AF_INET6) return false;
    const int t = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (t == SOCK_STREAM) return protocol == 0 || protocol == IPPROTO_TCP;
    if (t == SOCK_DGRAM) return protocol == 0 || protocol == IPPROTO_UDP;
    return false;
}

struct Client::Impl {
    std::mutex ctl_mu;
    int ctl_fd = -1;
    bool connect_failed_logged = false;
    pid_t server_pid = 0;
    uint32_t seq = 0;
    std::optional<channels::Segment> segment;
    channels::CopyMode mode = channels::CopyMode::process_vm;
    Client::IdleHook idle_hook = nullptr;
    void* idle_arg = nullptr;

    // With an idle hook, "block until fds[i] is ready" means: drive the hook until it is.
    Result<int> poll_or_drive(pollfd* fds, nfds_t n, int timeout_ms) {
        if (!idle_hook) {
            const int r = ::poll(fds, n, timeout_ms);
            if (r < 0) return std::unexpected(errno);
            return r;
        }
        for (bool more = true;; more = idle_hook(idle_arg)) {
            // Looks once more after the hook's last step: that step may have answered.
            const int r = ::poll(fds, n, 0);
            if (r != 0) {
                if (r < 0) return std::unexpected(errno);
                return r;
            }
            if (!more) return std::unexpected(ETIMEDOUT);
        }
    }

    Result<void> connect_locked();
    Result<channels::Reply> call(channels::Request& req, int* fds, size_t max_fds,
                                 std::span<const uint8_t> payload = {}, std::string* text = nullptr);
    Result<int> install(const channels::Reply& reply, const int* fds, int domain, int type, int flags);
    SocketState* get(int fd) const {
        if (fd < 0 || fd >= kMaxFds) return nullptr;
        return g_table[fd].load(std::memory_order_acquire);
    }
    Result<size_t> stream_send(SocketState& s, const msghdr* msg, int flags);
    Result<size_t> stream_recv(SocketState& s, msghdr* msg, int flags);
    Result<size_t> dgram_send(SocketState& s, const msghdr* msg, int flags);
    Result<size_t> dgram_recv(SocketState& s, msghdr* msg, int flags);
    Result<void> wait(SocketState& s, short events, int timeout_ms);
    void settle_readable(SocketState& s, bool has_more);

    template <class F>
    Result<channels::Reply> simple_call(Op op, uint32_t id, F&& fill) {
        std::lock_guard lock(ctl_mu);
        if (ctl_fd < 0) return std::unexpected(ECONNRESET);
        channels::Request req{};
        req.header = channels::make_header(op, 0);
        req.socket_id = id;
        fill(req);
        auto reply = call(req, nullptr, 0);
        if (!reply) return reply;
        if (reply->error) return std::unexpected(reply->error);
        return reply;
    }
};

Client::Client() : impl_(new Impl) {}

Client& Client::instance() {
    // Never destroyed: the preload library may be used from atexit handlers and other
    // threads while the process exits.
    static Client* client = new Client();
    return *client;
}

bool Client::manages(int fd) const { return impl_->get(fd) != nullptr; }

Result<void> Client::Impl::connect_locked() {
    if (ctl_fd >= 0) return {};
    const char* env = std::getenv("CULVERT_SOCKET");
    std::string path;
    if (env && *env) {
        path = env;
    } else if (geteuid() == 0) {
        path = "/run/culvert/culvertd.sock";
    } else if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) {
        path = std::string(xdg) + "/culvert/culvertd.sock";
    } else {
        path = "/run/culvert/culvertd.sock";
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return std::unexpected(ENAMETOOLONG);
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::unexpected(errno);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        const int e = errno;
        ::close(fd);
        if (!connect_failed_logged) {
            connect_failed_logged = true;
            std::fprintf(stderr, "culvert: cannot reach culvertd at %s: %s\n", path.c_str(), std::strerror(e));
        }
        return std::unexpected(e == ENOENT ? ECONNREFUSED : e);
    }
    ctl_fd = fd;
    // HELLO: our version and pid; culvertd answers with its pid and our segment.
    channels::Request req{};
    req.arg0 = ::getpid();
    req.arg2 = channels::kProtocolVersion;
    req.header = channels::make_header(Op::hello, 0);
    int seg_fd = -1;
    auto reply = call(req, &seg_fd, 1);
    if (!reply || reply->error) {
        const int e = reply ? reply->error : reply.error();
        std::fprintf(stderr, "culvert: culvertd at %s refused us: %s\n", path.c_str(),
                     e == EPROTONOSUPPORT ? "protocol version mismatch" : std::strerror(e));
        ::close(ctl_fd);
        ctl_fd = -1;
        if (seg_fd >= 0) ::close(seg_fd);
        return std::unexpected(e == EPROTONOSUPPORT ? EPROTONOSUPPORT : ECONNREFUSED);
    }
    auto seg = channels::Segment::attach(seg_fd);
    if (!seg) {
        std::fprintf(stderr, "culvert: cannot map culvertd's segment: %s\n", std::strerror(seg.error()));
        ::close(ctl_fd);
        ctl_fd = -1;
        return std::unexpected(seg.error());
    }
    segment.emplace(std::move(*seg));
    server_pid = static_cast<pid_t>(reply->result);
    // Can we copy datagrams straight from/to culvertd's memory (DESIGN §4)?
    uint64_t probe = 0;
    iovec local{&probe, sizeof probe};
    iovec remote{reinterpret_cast<void*>(reply->probe_addr), sizeof probe};
    // CULVERT_COPY_MODE=segment forces the shared-memory path (tests, and users who
    // prefer it).
    const char* forced = std::getenv("CULVERT_COPY_MODE");
    const bool force_segment = forced && std::strcmp(forced, "segment") == 0;
    const ssize_t n = force_segment ? -1 : ::process_vm_readv(server_pid, &local, 1, &remote, 1, 0);
    if (force_segment) errno = ECANCELED;
    if (n != sizeof probe || probe != channels::kProbeValue) {
        const int e = n < 0 ? errno : EFAULT;
        std::fprintf(stderr,
                     "culvert: process_vm_readv into culvertd (pid %d) not used (%s); "
                     "datagrams are copied through shared memory instead\n",
                     server_pid, std::strerror(e));
        channels::Request m{};
        m.header = channels::make_header(Op::set_copy_mode, 0);
        m.arg0 = static_cast<int32_t>(channels::CopyMode::segment);
        auto r = call(m, nullptr, 0);
        if (!r || r->error) return std::unexpected(EPROTO);
        mode = channels::CopyMode::segment;
    }
    return {};
}

Result<channels::Reply> Client::Impl::call(channels::Request& req, int* fds, size_t max_fds,
                                           std::span<const uint8_t> payload, std::string* text) {
    // Caller holds ctl_mu.
    req.header.seq = ++seq;
    req.header.payload_bytes = static_cast<uint32_t>(payload.size());
    iovec out[2] = {{&req, sizeof req}, {const_cast<uint8_t*>(payload.data()), payload.size()}};
    msghdr m{};
    m.msg_iov = out;
    m.msg_iovlen = payload.empty() ? 1 : 2;
    if (::sendmsg(ctl_fd, &m, MSG_NOSIGNAL) < 0) return std::unexpected(errno == EPIPE ? ECONNRESET : errno);
    channels::Reply reply{};
    static thread_local char extra[65536];
    iovec in[2] = {{&reply, sizeof reply}, {extra, sizeof extra}};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * channels::kMaxFdsPerMessage)];
    msghdr r{};
    r.msg_iov = in;
    r.msg_iovlen = 2;
    r.msg_control = control;
    r.msg_controllen = sizeof control;
    ssize_t n;
    size_t got_fds;
    // A reply to an earlier request whose wait gave up (an idle hook out of time) may come
    // first: it is skipped, with any fds it carried, so one failed call does not shift
    // every later reply by one.
    for (;;) {
        if (idle_hook) {
            pollfd p{ctl_fd, POLLIN, 0};
            if (auto w = poll_or_drive(&p, 1, -1); !w) return std::unexpected(w.error());
        }
        r.msg_controllen = sizeof control;
        do {
            n = ::recvmsg(ctl_fd, &r, MSG_CMSG_CLOEXEC);
        } while (n < 0 && errno == EINTR);
        if (n <= 0) return std::unexpected(ECONNRESET);
        got_fds = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&r); c; c = CMSG_NXTHDR(&r, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                if (got_fds < max_fds) fds[got_fds++] = fd; else ::close(fd);
            }
        }
        if (reply.header.magic != channels::kProtocolMagic) return std::unexpected(EPROTO);
        if (reply.header.version != channels::kProtocolVersion) return std::unexpected(EPROTONOSUPPORT);
        if (static_cast<int32_t>(reply.header.seq - req.header.seq) >= 0) break;
        for (size_t i = 0; i < got_fds; ++i) ::close(fds[i]);
    }
    if (reply.header.seq != req.header.seq) return std::unexpected(EPROTO);
    if (text && static_cast<size_t>(n) > sizeof reply) text->assign(extra, static_cast<size_t>(n) - sizeof reply);
    if (!reply.error && got_fds < reply.fd_count) {
        for (size_t i = 0; i < got_fds; ++i) ::close(fds[i]);
        return std::unexpected(EMFILE);  // the kernel dropped fds: we are out of descriptors
    }
    return reply;
}

Result<int> Client::Impl::install(const channels::Reply& reply, const int* fds, int domain, int type, int flags) {
    auto closer = [&] {
        for (int i = 0; i < channels::kSocketFdCount; ++i) ::close(fds[i]);
    };
    const int app = fds[channels::kAppFd];
    if (app >= kMaxFds) {
        closer();
        return std::unexpected(EMFILE);
    }
    auto* s = new (std::nothrow) SocketState();
    if (!s) {
        closer();
        return std::unexpected(ENOMEM);
    }
    s->id = reply.socket_id;
    s->domain = domain;
    s->type = type;
    s->app_fd = app;
    s->peer_fd = fds[channels::kPeerFd];
    s->notify_fd = fds[channels::kNotifyFd];
    s->nonblock = (flags & SOCK_NONBLOCK) != 0;
    const auto& ch = reply.channel;
    s->info = ch;
    bool ok = false;
    if (ch.kind == static_cast<uint32_t>(channels::ChannelKind::stream)) {
        auto c = segment->at<channels::StreamChannelShared>(ch.channel_offset);
        auto tx = segment->bytes(ch.tx_data_offset, ch.tx_bytes);
        auto rx = segment->bytes(ch.rx_data_offset, ch.rx_bytes);
        if (c && tx && rx && (*c)->header.magic == channels::kChannelMagic) {
            s->kind = channels::ChannelKind::stream;
            s->sch = *c;
            s->tx = channels::ByteRingProducer(&s->sch->tx, *tx);
            s->rx = channels::ByteRingConsumer(&s->sch->rx, *rx);
            s->notify = channels::EventQueueProducer(&s->sch->to_server, s->notify_fd);
            s->ready = channels::Readiness(&s->sch->readiness, app, s->peer_fd);
            ok = true;
        }
    } else if (ch.kind == static_cast<uint32_t>(channels::ChannelKind::dgram)) {
        auto c = segment->at<channels::DgramChannelShared>(ch.channel_offset);
        if (c && (*c)->header.magic == channels::kChannelMagic) {
            s->kind = channels::ChannelKind::dgram;
            s->dch = *c;
            s->sendq = decltype(s->sendq)(&s->dch->sendq);
            s->recvq = decltype(s->recvq)(&s->dch->recvq);
            s->notify = channels::EventQueueProducer(&s->dch->to_server, s->notify_fd);
            s->ready = channels::Readiness(&s->dch->readiness, app, s->peer_fd);
            ok = true;
        }
    }
    if (!ok) {
        closer();
        delete s;
        return std::unexpected(EPROTO);
    }
    // The app asked for close-on-exec or not; our own fds always are.
    if (!(flags & SOCK_CLOEXEC)) ::fcntl(app, F_SETFD, 0);
    g_table[app].store(s, std::memory_order_release);
    return app;
}

Result<int> Client::socket(int domain, int type, int protocol) {
    if (!serves(domain, type, protocol)) return std::unexpected(EAFNOSUPPORT);
    if (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC | 0xf)) return std::unexpected(EINVAL);
    std::lock_guard lock(impl_->ctl_mu);
    if (auto c = impl_->connect_locked(); !c) return std::unexpected(c.error());
    channels::Request req{};
    req.header = channels::make_header(Op::socket, 0);
    req.arg0 = domain;
    req.arg1 = type & 0xf;
    req.arg2 = protocol;
    int fds[channels::kSocketFdCount] = {-1, -1, -1};
    auto reply = impl_->call(req, fds, channels::kSocketFdCount);
    if (!reply) return std::unexpected(reply.error());
    if (reply->error) return std::unexpected(reply->error);
    return impl_->install(*reply, fds, domain, type & 0xf, type);
}


Result<void> Client::bind(int fd, const sockaddr* addr, socklen_t len) {
    SocketState* s = impl_->get(fd);
    if (!s) return std::unexpected(EBADF);
    bool ok;
    auto w = to_wire(addr, len, ok);
    if (!ok || w.family == AF_UNSPEC) return std::unexpected(addr ? EINVAL : EFAULT);
    if (s->domain == AF_INET && w.family != AF_INET) return std::unexpected(EAFNOSUPPORT);
    auto r = impl_->simple_call(Op::bind, s->id, [&](channels::Request& q) { q.addr = w; });
    if (!r) return std::unexpected(r.error());
    return {};
}

Result<void> Client::listen(int fd, int backlog) {
    SocketState* s = impl_->get(fd);
    if (!s) return std::unexpected(EBADF);
    if (s->kind != channels::ChannelKind::stream) return std::unexpected(EOPNOTSUPP);
    auto r = impl_->simple_call(Op::listen, s->id, [&](channels::Request& q) { q.arg0 = backlog; });
    if (!r) return std::unexpected(r.error());
    s->listening = true;
    // A listener is never writable (Linux tcp_poll): take POLLOUT away for good.
    s->ready.block_writable();
    return {};
}

void Client::Impl::settle_readable(SocketState& s, bool has_more) {
    // Readable exactly when a read would not block: clear the signal when nothing is left,
    // then look again (seq_cst in ack_readable) so that work published meanwhile re-signals.
    if (has_more) return;
    s.ready.ack_readable(kReadyWaitMs);
    bool more = false;
    if (s.sch) {
        auto n = s.rx.readable();
        more = (n && *n > 0) || (s.sch->state.load() & channels::kRxEof) || s.sch->accept_pending.load() > 0;
    } else {
        auto n = s.recvq.available();
        more = (n && *n > 0) || (s.dch->state.load() & channels::kError);
    }
    if (more) s.ready.signal_readable();
}

Result<void> Client::Impl::wait(SocketState& s, short events, int timeout_ms) {
    pollfd p[2] = {{s.app_fd, events, 0}, {ctl_fd, 0, 0}};
    for (;;) {
        auto polled = poll_or_drive(p, ctl_fd >= 0 ? 2 : 1, timeout_ms);
        if (!polled) return std::unexpected(polled.error());
        const int n = *polled;
        if (n == 0) return std::unexpected(EAGAIN);  // SO_RCVTIMEO/SO_SNDTIMEO expired
        if (p[1].revents & (POLLHUP | POLLERR)) return std::unexpected(ECONNRESET);  // culvertd is gone
        if (p[0].revents) return {};
    }
}

Result<int> Client::accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
    SocketState* s = impl_->get(fd);
    if (!s) return std::unexpected(EBADF);
    if (!s->listening) return std::unexpected(EINVAL);
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) return std::unexpected(EINVAL);
    for (;;) {
        channels::Reply reply{};
        int fds[channels::kSocketFdCount] = {-1, -1, -1};
        {
            std::lock_guard lock(impl_->ctl_mu);
            if (impl_->ctl_fd < 0) return std::unexpected(ECONNRESET);
            channels::Request req{};
            req.header = channels::make_header(Op::accept, 0);
            req.socket_id = s->id;
            req.arg0 = flags;
            auto r = impl_->call(req, fds, channels::kSocketFdCount);
            if (!r) return std::unexpected(r.error());
            reply = *r;
        }
        if (reply.error == 0) {
            auto nfd = impl_->install(reply, fds, s->domain, SOCK_STREAM, flags);
            impl_->settle_readable(*s, reply.result != 0);
            if (!nfd) return nfd;
            from_wire(reply.addr, addr, len);
            return nfd;
        }
        if (reply.error != EAGAIN) return std::unexpected(reply.error);
        impl_->settle_readable(*s, false);
        if (s->nonblock) return std::unexpected(EAGAIN);
        if (auto w = impl_->wait(*s, POLLIN, timeout_of(s->rcvtimeo_ms)); !w) return std::unexpected(w.error());
    }
}

Result<void> Client::connect(int fd, const sockaddr* addr, socklen_t len) {
    SocketState* s = impl_->get(fd);
    if (!s) return std::unexpected(EBADF);
    bool ok;
    auto w = to_wire(addr, len, ok);
    if (!ok) return std::unexpected(addr ? EINVAL : EFAULT);
    if (s->kind == channels::ChannelKind::dgram) {
        auto r = impl_->simple_call(Op::connect, s->id, [&](channels::Request& q) { q.addr = w; });
        if (!r) return std::unexpected(r.error());
        return {};
    }
    if (w.family == AF_UNSPEC) return std::unexpected(EAFNOSUPPORT);
    if (s->domain == AF_INET && w.family != AF_INET) return std::unexpected(EAFNOSUPPORT);
    const uint32_t st = s->sch->state.load();
    if (st & channels::kConnected) return std::unexpected(EISCONN);
    if (st & channels::kConnecting) return std::unexpected(EALREADY);
    // Not writable while connecting (Linux tcp_poll in SYN_SENT); culvertd unblocks when
    // the handshake ends either way.
    s->ready.block_writable();
    auto r = impl_->simple_call(Op::connect, s->id, [&](channels::Request& q) { q.addr = w; });
    if (r || r.error() != EINPROGRESS) {
        s->ready.unblock_writable_wait(kWritableWaitMs);
        if (!r) return std::unexpected(r.error());
        return {};
    }
    if (s->nonblock) return std::unexpected(EINPROGRESS);
    for (;;) {
        const uint32_t now = s->sch->state.load();
        if (now & channels::kError) {
            const int e = s->sch->error.exchange(0);
            return std::unexpected(e ? e : ECONNREFUSED);
        }
        if (now & channels::kConnected) {
            // culvertd publishes the state before it unblocks POLLOUT.
            s->ready.unblock_writable_wait(kWritableWaitMs);
            return {};
        }
        if (auto wr = impl_->wait(*s, POLLOUT, timeout_of(s->sndtimeo_ms)); !wr)
            return std::unexpected(wr.error() == EAGAIN ? EINPROGRESS : wr.error());
    }
}

Result<void> Client::shutdown(int fd, int how) {
    SocketState* s = impl_->get(fd);
    if (!s) return std::unexpected(EBADF);
    if (how < SHUT_RD || how > SHUT_RDWR) return std::unexpected(EINVAL);
    auto r = impl_->simple_call(Op::shutdown, s->id, [&](channels::Request& q) { q.arg0 = how; });
    if (!r) return std::unexpected(r.error());
    if (how != SHUT_WR) {
        s->shut_rd = true;
        s->ready.signal_readable();  // reads return 0 now: readable, as Linux
    }
    if (how != SHUT_RD) {
        s->shut_wr = true;
        // Writes fail with EPIPE at once: "writable".
        s->ready.unblock_writable_wait(kWritableWaitMs);
    }
    return {};
}

Result<void> Client::close(int fd) {
    if (auto r = forget(fd); !r) return r;
    ::close(fd);
    return {};
}

Result<void> Client::dup_of(int fd, int new_fd) {
    SocketState* s = impl_->get(fd);
    if (!s || new_fd < 0 || new_fd >= kMaxFds || new_fd == fd) return std::unexpected(EBADF);
    {
        std::lock_guard lock(s->dup_mu);
        if (!s->private_app_fd) {
            const int own = ::fcntl(s->app_fd, F_DUPFD_CLOEXEC, 0);
            if (own < 0) return std::unexpected(errno);
            s->app_fd = own;
            s->ready.set_app_fd(own);
            s->private_app_fd = true;
        }
        ++s->app_fds;
    }
    // The kernel gave out new_fd, so a socket still listed there lost it behind our back
    // (a raw close syscall): let it go.
    if (impl_->get(new_fd)) (void)forget(new_fd);
    g_table[new_fd].store(s, std::memory_order_release);
    return {};
}

Result<void> Client::forget(int fd) {
    if (fd < 0 || fd >= kMaxFds) return std::unexpected(EBADF);
    SocketState* s = g_table[fd].exchange(nullptr, std::memory_order_acq_rel);
    if (!s) return std::unexpected(EBADF);
    {
        std::lock_guard lock(s->dup_mu);
        if (--s->app_fds > 0) return {};  // the socket lives on in its other fds
    }
    {
        std::lock_guard lock(impl_->ctl_mu);
        if (impl_->ctl_fd >= 0) {
            channels::Request req{};
            req.header = channels::make_header(Op::close, 0);
            req.socket_id = s->id;
            (void)impl_->call(req, nullptr, 0);
        }
    }
    if (s->private_app_fd) ::close(s->app_fd);
    ::close(s->peer_fd);
    ::close(s->notify_fd);
    // Another thread may still be inside a call on this socket (undefined for the
    // application too); taking both locks waits for calls already running.
    { std::lock_guard a(s->send_mu); }
    { std::lock_guard b(s->recv_mu); }
    delete s;
    return {};
}

Result<void> Client::getsockname(int fd, sockaddr* addr, socklen_t* len) {
    SocketState* s = impl_->get(fd);
    if (!s) return std::unexpected(EBADF);
    if (!addr || !len) return std::unexpected(EFAULT);
    auto r = impl_->simple_call(Op::getsockname, s->id, [](channels::Request&) {});
    if (!r) return std::unexpected(r.error());
    from_wire(r->addr, addr, len);
    return {};
}

Result<void> Client::getpeername(int fd, sockaddr* addr, socklen_t* len) {
    SocketState* s = impl_->get(fd);
    if (!s) return std::unexpected(EBADF);
    if (!addr || !len) return std::unexpected(EFAULT);
    auto r = impl_->simple_call(Op::getpeername, s->id, [](channels::Request&) {});
    if (!r) return std::unexpected(r.error());
    from_wire(r->addr, addr, len);
    return {};
}

namespace {
int timeval_ms(const void* v, socklen_t len) {
    if (len < static_cast<socklen_t>(sizeof(timeval))) return -2;
    timeval tv;
    std::memcpy(&tv, v, sizeof tv);
    if (tv.tv_sec == 0 && tv.tv_usec == 0) return -1;  // no timeout
    return static_cast<int>(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
}
void put_timeval(int ms, void* v, socklen_t* len) {
    timeval tv{};
    if (ms > 0) {
        tv.tv_sec = ms / 1000;
        tv.tv_usec = (ms % 1000) * 1000;
    }
    std::memcpy(v, &tv, std::min<socklen_t>(*len, sizeof tv));
    *len = std::min<socklen_t>(*len, sizeof tv);
}
}  // namespace

Result<void> Client::getsockopt(int fd, int level, int name, void* value, socklen_t* len) {
    SocketState* s = impl_->get(fd);
    if (!s) return std::unexpected(EBADF);
    if (!value || !len) return std::unexpected(EFAULT);
    if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
        put_timeval(name == SO_RCVTIMEO ? s->rcvtimeo_ms : s->sndtimeo_ms, value, len);
        return {};
    }
    auto r = impl_->simple_call(Op::getsockopt, s->id, [&](channels::Request& q) {
        q.arg0 = level;
        q.arg1 = name;
        q.value_bytes = static_cast<uint32_t>(std::min<socklen_t>(*len, channels::kOptionBytes));
    });
    if (!r) return std::unexpected(r.error());
    const socklen_t n = std::min<socklen_t>(*len, r->value_bytes);
    std::memcpy(value, r->value, n);
    *len = n;
    return {};
}

Result<void> Client::setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
    SocketState* s = impl_->get(fd);
    if (!s) return std::unexpected(EBADF);
    if (!value && len > 0) return std::unexpected(EFAULT);
    if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
        const int ms = timeval_ms(value, len);
        if (ms == -2) return std::unexpected(EINVAL);
        (name == SO_RCVTIMEO ? s->rcvtimeo_ms : s->sndtimeo_ms) = ms;
        return {};
    }
    if (len > static_cast<socklen_t>(channels::kOptionBytes)) return std::unexpected(EINVAL);
    auto r = impl_->simple_call(Op::setsockopt, s->id, [&](channels::Request& q) {
        q.arg0 = level;
        q.arg1 = name;
        q.value_bytes = static_cast<uint32_t>(len);
        std::memcpy(q.value, value, len);
    });
    if (!r) return std::unexpected(r.error());
    const auto& ch = r->channel;
    if (s->sch && ch.kind == static_cast<uint32_t>(channels::ChannelKind::stream) &&
        (ch.tx_data_offset != s->info.tx_data_offset || ch.rx_data_offset != s->info.rx_data_offset)) {
        // SO_SNDBUF/SO_RCVBUF gave this socket new rings (before any data moved).
        auto tx = impl_->segment->bytes(ch.tx_data_offset, ch.tx_bytes);
        auto rx = impl_->segment->bytes(ch.rx_data_offset, ch.rx_bytes);
        if (!tx || !rx) return std::unexpected(EPROTO);
        std::scoped_lock lock(s->send_mu, s->recv_mu);
        s->tx = channels::ByteRingProducer(&s->sch->tx, *tx);
        s->rx = channels::ByteRingConsumer(&s->sch->rx, *rx);
        s->info = ch;
    }
    return {};
}

Result<int> Client::fcntl(int fd, int cmd, long arg) {
    SocketState* s = impl_->get(fd);
    if (!s) return std::unexpected(EBADF);
    switch (cmd) {
        case F_GETFL: return O_RDWR | (s->nonblock ? O_NONBLOCK : 0);
        case F_SETFL: s->nonblock = (arg & O_NONBLOCK) != 0; return 0;
        case F_GETFD: {
            const int r = ::fcntl(fd, F_GETFD);
            if (r < 0) return std::unexpected(errno);
            return r;
        }
        case F_SETFD:
            if (::fcntl(fd, F_SETFD, static_cast<int>(arg)) < 0) return std::unexpected(errno);
            return 0;
        default: return std::unexpected(EINVAL);
    }
}

Result<int> Client::ioctl(int fd, unsigned long request, void* arg) {
    SocketState* s = impl_->get(fd);
    if (!s) return std::unexpected(EBADF);
    if (!arg) return std::unexpected(EFAULT);
    int value = 0;
    switch (request) {
        case FIONBIO:
            std::memcpy(&value, arg, sizeof value);
            s->nonblock = value != 0;
            return 0;
        case FIONREAD: {  // == SIOCINQ
            if (s->sch) {
                auto n = s->rx.readable();
                value = n ? static_cast<int>(*n) : 0;
            } else {
                auto item = s->recvq.peek();
                value = item ? static_cast<int>(std::min<uint32_t>((*item)->len, 65535)) : 0;
            }
            std::memcpy(arg, &value, sizeof value);
            return 0;
        }
        case SIOCOUTQ: {
            if (s->sch) {
                const size_t cap = s->tx.capacity();
                auto freeb = s->tx.writable();
                value = freeb ? static_cast<int>(cap - *freeb + s->sch->unsent_bytes.load()) : 0;
            }
            std::memcpy(arg, &value, sizeof value);
            return 0;
        }
        default: return std::unexpected(ENOTTY);
    }
}

Result<size_t> Client::sendmsg(int fd, const msghdr* msg, int flags) {
    SocketState* s = impl_->get(fd);
    if (!s) return std::unexpected(EBADF);
    if (!msg || (msg->msg_iovlen > 0 && !msg->msg_iov)) return std::unexpected(EFAULT);
    if (msg->msg_iovlen > IOV_MAX) return std::unexpected(EMSGSIZE);
    std::lock_guard lock(s->send_mu);  // concurrent sends on one socket are serialised
    return s->sch ? impl_->stream_send(*s, msg, flags) : impl_->dgram_send(*s, msg, flags);
}

Result<size_t> Client::recvmsg(int fd, msghdr* msg, int flags) {
    SocketState* s = impl_->get(fd);
    if (!s) return std::unexpected(EBADF);
    if (!msg || (msg->msg_iovlen > 0 && !msg->msg_iov)) return std::unexpected(EFAULT);
    std::lock_guard lock(s->recv_mu);
    return s->sch ? impl_->stream_recv(*s, msg, flags) : impl_->dgram_recv(*s, msg, flags);
}

Result<size_t> Client::Impl::stream_send(SocketState& s, const msghdr* msg, int flags) {
    const bool nonblock = s.nonblock || (flags & MSG_DONTWAIT);
    const size_t total = iov_total(msg->msg_iov, msg->msg_iovlen);
    size_t done = 0;
    for (;;) {
        const uint32_t st = s.sch->state.load();
        if (st & channels::kError) {
            const int e = s.sch->error.exchange(0);
            if (done) return done;
            return std::unexpected(e ? e : EPIPE);
        }
        if (s.shut_wr || (st & channels::kTxClosed)) {
            if (done) return done;
            return std::unexpected(EPIPE);
        }
        if (!(st & channels::kConnected)) {
            if (!(st & channels::kConnecting)) return std::unexpected(ENOTCONN);
            if (nonblock) return std::unexpected(EAGAIN);
        } else if (total == 0) {
            return size_t{0};
        } else {
            IovCursor cur(msg->msg_iov, msg->msg_iovlen, done);
            auto n = s.tx.write(cur.span());
            if (!n) return std::unexpected(to_errno(n.error()));
            if (*n > 0) {
                done += *n;
                s.notify_server();
            }
            if (done == total) {
                auto room = s.tx.writable();
                if (nonblock && room && *room == 0) {
                    // The seed's pre-emptive block; then look again, as below: culvertd may
                    // have made room before the flag was up (it would not unblock then).
                    block_writable_checked(s.ready, s.app_fd);
                    if (auto again = s.tx.writable(); again && *again > 0) s.ready.unblock_writable();
                }
                return done;
            }
        }
        // No room: lose POLLOUT, then look again in case culvertd drained meanwhile.
        block_writable_checked(s.ready, s.app_fd);
        auto room = s.tx.writable();
        if (room && *room > 0 && (st & channels::kConnected)) {
            s.ready.unblock_writable();
            continue;
        }
        if (nonblock) {
            if (done) return done;
            return std::unexpected(EAGAIN);
        }
        if (auto w = wait(s, POLLOUT, timeout_of(s.sndtimeo_ms)); !w) {
            if (done) return done;
            return std::unexpected(w.error());
        }
    }
}

Result<size_t> Client::Impl::stream_recv(SocketState& s, msghdr* msg, int flags) {
    if (s.listening) return std::unexpected(ENOTCONN);
    if (flags & MSG_OOB) return std::unexpected(EINVAL);
    const bool nonblock = s.nonblock || (flags & MSG_DONTWAIT);
    const bool peek = flags & MSG_PEEK;
    const bool waitall = (flags & MSG_WAITALL) && !peek;
    const size_t total = iov_total(msg->msg_iov, msg->msg_iovlen);
    msg->msg_flags = 0;
    msg->msg_controllen = 0;
    if (msg->msg_name) msg->msg_namelen = 0;
    size_t got = 0;
    for (;;) {
        if (total == 0) return size_t{0};
        if (s.shut_rd) return got;
        auto avail = s.rx.readable();
        if (!avail) return std::unexpected(to_errno(avail.error()));
        if (*avail > 0) {
            IovCursor cur(msg->msg_iov, msg->msg_iovlen, got);
            auto n = peek ? s.rx.peek(cur.span()) : s.rx.read(cur.span());
            if (!n) return std::unexpected(to_errno(n.error()));
            got += *n;
            if (!peek) s.notify_server();  // room in the ring: culvertd may move more data
            if (!waitall || got == total) {
                auto left = s.rx.readable();
                settle_readable(s, left && *left > 0);
                return got;
            }
            continue;
        }
        const uint32_t st = s.sch->state.load();
        if (got > 0 && !waitall) return got;
        if (st & channels::kRxEof) {
            if (got) return got;
            if (const int e = s.sch->error.exchange(0)) return std::unexpected(e);
            return size_t{0};
        }
        if (!(st & (channels::kConnected | channels::kConnecting))) return std::unexpected(ENOTCONN);
        settle_readable(s, false);
        auto again = s.rx.readable();
        if (again && *again > 0) continue;
        if (nonblock) {
            if (got) return got;
            return std::unexpected(EAGAIN);
        }
        if (auto w = wait(s, POLLIN, timeout_of(s.rcvtimeo_ms)); !w) {
            if (got) return got;
            return std::unexpected(w.error());
        }
    }
}

Result<size_t> Client::Impl::dgram_send(SocketState& s, const msghdr* msg, int flags) {
    const bool nonblock = s.nonblock || (flags & MSG_DONTWAIT);
    const size_t len = iov_total(msg->msg_iov, msg->msg_iovlen);
    channels::WireAddr to{};
    bool has_to = false;
    if (msg->msg_name && msg->msg_namelen > 0) {
        bool ok;
        to = to_wire(static_cast<const sockaddr*>(msg->msg_name), msg->msg_namelen, ok);
        if (!ok) return std::unexpected(EINVAL);
        if (s.domain == AF_INET && to.family != AF_INET) return std::unexpected(EAFNOSUPPORT);
        has_to = to.family != AF_UNSPEC;
    } else if (!(s.dch->state.load() & channels::kConnected)) {
        return std::unexpected(EDESTADDRREQ);
    }
    if (s.shut_wr) return std::unexpected(EPIPE);
    // Above every family's limit; culvertd refines it by destination (IPv6: 65,487).
    if (len > channels::kMaxUdpPayloadV4) return std::unexpected(EMSGSIZE);
    if (len > channels::kDgramSlotBytes) {
        // Rare: a datagram bigger than the ring's buffers goes with the control request.
        static thread_local uint8_t big[65536];
        size_t off = 0;
        for (size_t i = 0; i < msg->msg_iovlen; ++i) {
            std::memcpy(big + off, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
            off += msg->msg_iov[i].iov_len;
        }
        std::lock_guard lock(ctl_mu);
        if (ctl_fd < 0) return std::unexpected(ECONNRESET);
        channels::Request req{};
        req.header = channels::make_header(Op::sendto, 0);
        req.socket_id = s.id;
        if (has_to) req.addr = to;
        auto r = call(req, nullptr, 0, std::span<const uint8_t>(big, len));
        if (!r) return std::unexpected(r.error());
        if (r->error) return std::unexpected(r->error);
        return len;
    }
    for (;;) {
        auto item = s.sendq.unpack();
        if (item) {
            channels::DgramItem* it = *item;
            const uint64_t payload = it->payload;
            const uint32_t capacity = it->capacity;
            if (capacity < len) return std::unexpected(EMSGSIZE);
            if (mode == channels::CopyMode::process_vm) {
                iovec remote{reinterpret_cast<void*>(payload), len};
                const ssize_t n = len ? ::process_vm_writev(server_pid, msg->msg_iov, msg->msg_iovlen, &remote, 1, 0) : 0;
                if (n != static_cast<ssize_t>(len)) return std::unexpected(n < 0 ? errno : EFAULT);
            } else {
                auto dst = segment->bytes(payload, len);
                if (!dst) return std::unexpected(EIO);
                size_t off = 0;
                for (size_t i = 0; i < msg->msg_iovlen; ++i) {
                    std::memcpy(dst->data() + off, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
                    off += msg->msg_iov[i].iov_len;
                }
            }
            it->len = static_cast<uint32_t>(len);
            it->flags = has_to ? channels::kDgramHasAddr : 0;
            std::memcpy(it->addr, &to, sizeof to);
            s.sendq.repack();
            s.notify_server();
            return len;
        }
        if (item.error() != channels::ChannelError::empty) return std::unexpected(EIO);
        block_writable_checked(s.ready, s.app_fd);
        auto again = s.sendq.available();
        if (again && *again > 0) {
            s.ready.unblock_writable();
            continue;
        }
        if (nonblock) return std::unexpected(EAGAIN);
        if (auto w = wait(s, POLLOUT, timeout_of(s.sndtimeo_ms)); !w) return std::unexpected(w.error());
    }
}

Result<size_t> Client::Impl::dgram_recv(SocketState& s, msghdr* msg, int flags) {
    const bool nonblock = s.nonblock || (flags & MSG_DONTWAIT);
    const bool peek = flags & MSG_PEEK;
    const size_t cap = iov_total(msg->msg_iov, msg->msg_iovlen);
    msg->msg_flags = 0;
    msg->msg_controllen = 0;
    for (;;) {
        auto item = peek ? s.recvq.peek() : s.recvq.unpack();
        if (item) {
            channels::DgramItem copy;
            std::memcpy(&copy, *item, sizeof copy);
            const size_t len = std::min<uint32_t>(copy.len, 65535);
            const size_t n = std::min(len, cap);
            if (mode == channels::CopyMode::process_vm) {
                iovec remote{reinterpret_cast<void*>(copy.payload), n};
                const ssize_t r = n ? ::process_vm_readv(server_pid, msg->msg_iov, msg->msg_iovlen, &remote, 1, 0) : 0;
                if (r != static_cast<ssize_t>(n)) {
                    if (!peek) s.recvq.repack();
                    return std::unexpected(r < 0 ? errno : EFAULT);
                }
            } else {
                auto src = segment->bytes(copy.payload, n);
                if (!src) {
                    if (!peek) s.recvq.repack();
                    return std::unexpected(EIO);
                }
                size_t off = 0;
                for (size_t i = 0; i < msg->msg_iovlen && off < n; ++i) {
                    const size_t k = std::min(msg->msg_iov[i].iov_len, n - off);
                    std::memcpy(msg->msg_iov[i].iov_base, src->data() + off, k);
                    off += k;
                }
            }
            if (msg->msg_name) {
                channels::WireAddr from;
                std::memcpy(&from, copy.addr, sizeof from);
                socklen_t namelen = msg->msg_namelen;
                from_wire(from, static_cast<sockaddr*>(msg->msg_name), &namelen);
                msg->msg_namelen = namelen;
            }
            if (len > cap) msg->msg_flags |= MSG_TRUNC;
            if (!peek) {
                s.recvq.repack();
                s.notify_server();  // culvertd frees the spent pbuf
                auto left = s.recvq.available();
                settle_readable(s, left && *left > 0);
            }
            return (flags & MSG_TRUNC) ? len : n;
        }
        if (item.error() != channels::ChannelError::empty) return std::unexpected(EIO);
        if (s.shut_rd) return size_t{0};
        settle_readable(s, false);
        auto again = s.recvq.available();
        if (again && *again > 0) continue;
        if (nonblock) return std::unexpected(EAGAIN);
        if (auto w = wait(s, POLLIN, timeout_of(s.rcvtimeo_ms)); !w) return std::unexpected(w.error());
    }
}

void Client::set_idle_hook(IdleHook hook, void* arg) {
    impl_->idle_hook = hook;
    impl_->idle_arg = arg;
}

void Client::after_fork_in_child() {
    // The control connection is shared with the parent; the child must not use it. Its
    // culvert sockets become unusable (documented in docs/architecture.md).
    impl_->ctl_fd = -1;
    new (&impl_->ctl_mu) std::mutex();
}

}  // namespace culvert::client
