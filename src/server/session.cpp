// Control requests of one client (session.hpp): decode, validate, dispatch, reply.
#include "server/session.hpp"

#include "server/stack.hpp"
#include "server/tcp_socket.hpp"
#include "server/udp_socket.hpp"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace culvert::server {

using channels::Op;

namespace {

// What a client's process_vm_readv probe reads from culvertd's memory (DESIGN §4).
volatile uint64_t g_probe = channels::kProbeValue;

constexpr int kSockTypeMask = 0xf;
constexpr int kAfInet = 2, kAfInet6 = 10, kSockStream = 1, kSockDgram = 2;
constexpr int kIpprotoTcp = 6, kIpprotoUdp = 17;

}  // namespace

std::expected<ChannelFds, Errno> ChannelFds::make() {
    ChannelFds f;
    auto pair = channels::Readiness::make_pair();
    if (!pair) return std::unexpected(pair.error());
    f.app = pair->first;
    f.peer = pair->second;
    f.notify = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (f.notify < 0) {
        const int e = errno;
        f.close_all();
        return std::unexpected(e);
    }
    return f;
}

void ChannelFds::close_app() {
    if (app >= 0) ::close(app);
    app = -1;
}

void ChannelFds::close_all() {
    for (int* fd : {&app, &peer, &notify}) {
        if (*fd >= 0) ::close(*fd);
        *fd = -1;
    }
}

Session::Session(Stack& stack, int control_fd, uint64_t token)
    : stack_(stack), control_fd_(control_fd), token_(token), rx_buf_(sizeof(channels::Request) + 65536) {}

Session::~Session() {
    for (auto& [id, socket] : sockets_) {
        socket->detach_session();
        if (!socket->release()) stack_.adopt_orphan(std::move(socket));
    }
    sockets_.clear();
    ::close(control_fd_);
}

Socket* Session::find(uint32_t id) {
    auto it = sockets_.find(id);
    return it == sockets_.end() ? nullptr : it->second.get();
}

uint32_t Session::adopt(std::unique_ptr<Socket> socket) {
    const uint32_t id = socket->id();
    sockets_[id] = std::move(socket);
    return id;
}

std::unique_ptr<Socket> Session::take(uint32_t id) {
    auto it = sockets_.find(id);
    if (it == sockets_.end()) return nullptr;
    auto s = std::move(it->second);
    sockets_.erase(it);
    return s;
}

bool Session::on_readable() {
    for (;;) {
        const ssize_t n = ::recv(control_fd_, rx_buf_.data(), rx_buf_.size(), MSG_DONTWAIT);
        if (n == 0) return false;
        if (n < 0) return errno == EAGAIN || errno == EINTR;
        stack_.counters().requests++;
        channels::Request req;
        if (static_cast<size_t>(n) < sizeof(channels::MessageHeader)) {
            stack_.counters().requests_malformed++;
            return false;  // not even a header: not one of ours
        }
        std::memset(&req, 0, sizeof req);
        std::memcpy(&req, rx_buf_.data(), std::min(static_cast<size_t>(n), sizeof req));
        Outgoing out;
        out.reply.header = channels::make_header(static_cast<Op>(req.header.op), req.header.seq);
        switch (channels::check_header(req, static_cast<size_t>(n))) {
            case channels::HeaderCheck::ok: break;
            case channels::HeaderCheck::bad_magic:
                stack_.counters().requests_malformed++;
                return false;
            case channels::HeaderCheck::bad_version:
                // A client of another version: say which one we speak, then hang up.
                stack_.counters().clients_refused_version++;
                out.reply.error = EPROTONOSUPPORT;
                send_reply(out);
                return false;
            default:
                stack_.counters().requests_malformed++;
                out.reply.error = EPROTO;
                if (!send_reply(out)) return false;
                continue;
        }
        const std::span<const uint8_t> payload(rx_buf_.data() + sizeof req, static_cast<size_t>(n) - sizeof req);
        if (!hello_done_ && static_cast<Op>(req.header.op) != Op::hello) {
            stack_.counters().requests_malformed++;
            out.reply.error = EPROTO;
            send_reply(out);
            return false;
        }
        handle(req, payload, out);
        if (out.reply.error) stack_.counters().requests_failed++;
        const bool ok = send_reply(out);
        if (pending_app_close_) {
            pending_app_close_->fds().close_app();
            pending_app_close_ = nullptr;
        }
        if (!ok) return false;
        if (static_cast<Op>(req.header.op) == Op::hello && !hello_done_) return false;
    }
}

bool Session::send_reply(Outgoing& out) {
    out.reply.header.payload_bytes = static_cast<uint32_t>(out.payload.size());
    out.reply.fd_count = static_cast<uint32_t>(out.fd_count);
    iovec iov[2] = {{&out.reply, sizeof out.reply}, {const_cast<uint8_t*>(out.payload.data()), out.payload.size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = out.payload.empty() ? 1 : 2;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * channels::kMaxFdsPerMessage)];
    if (out.fd_count > 0) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * out.fd_count);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * out.fd_count);
        std::memcpy(CMSG_DATA(c), out.fds, sizeof(int) * out.fd_count);
    }
    // The client waits for this reply; a client whose socket buffer is full is broken.
    const ssize_t n = ::sendmsg(control_fd_, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    return n == static_cast<ssize_t>(sizeof out.reply + out.payload.size());
}

void Session::handle(const channels::Request& req, std::span<const uint8_t> payload, Outgoing& out) {
    auto& r = out.reply;
    r.socket_id = req.socket_id;
    const Op op = static_cast<Op>(req.header.op);
    switch (op) {
        case Op::hello: return handle_hello(req, out);
        case Op::socket: return handle_socket(req, out);
        case Op::accept: return handle_accept(req, out);
        case Op::close: return handle_close(req, out);
        case Op::status: {
            static thread_local std::string text;
            text = stack_.status_json();
            out.payload = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size());
            return;
        }
        case Op::set_copy_mode:
            if (!sockets_.empty()) {
                r.error = EBUSY;
            } else if (req.arg0 == static_cast<int32_t>(channels::CopyMode::segment)) {
                copy_mode_ = channels::CopyMode::segment;
            } else if (req.arg0 == static_cast<int32_t>(channels::CopyMode::process_vm)) {
                copy_mode_ = channels::CopyMode::process_vm;
            } else {
                r.error = EINVAL;
            }
            return;
        default: break;
    }
    Socket* s = find(req.socket_id);
    if (!s) {
        r.error = EBADF;
        return;
    }
    std::expected<void, Errno> result;
    switch (op) {
        case Op::bind: result = s->bind(req.addr); break;
        case Op::listen: result = s->listen(req.arg0); break;
        case Op::connect: result = s->connect(req.addr); break;
        case Op::shutdown: result = s->shutdown(req.arg0); break;
        case Op::getsockname:
        case Op::getpeername: {
            auto a = s->name(op == Op::getpeername);
            if (a) r.addr = *a; else result = std::unexpected(a.error());
            break;
        }
        case Op::getsockopt: {
            const size_t cap = std::min<size_t>(req.value_bytes, channels::kOptionBytes);
            auto n = s->getsockopt(req.arg0, req.arg1, std::span<uint8_t>(r.value, cap));
            if (n) r.value_bytes = *n; else result = std::unexpected(n.error());
            break;
        }
        case Op::setsockopt: {
            if (req.value_bytes > channels::kOptionBytes) {
                result = std::unexpected(EINVAL);
                break;
            }
            result = s->setsockopt(req.arg0, req.arg1, std::span<const uint8_t>(req.value, req.value_bytes));
            r.channel = s->channel_info();  // SO_SNDBUF/SO_RCVBUF may have moved a ring
            break;
        }
        case Op::sendto: {
            auto* udp = dynamic_cast<UdpSocket*>(s);
            if (!udp) {
                result = std::unexpected(EOPNOTSUPP);
                break;
            }
            result = udp->send_large(req.addr.family ? &req.addr : nullptr, payload);
            break;
        }
        default: result = std::unexpected(EPROTO); break;
    }
    if (!result) r.error = result.error();
}

void Session::handle_hello(const channels::Request& req, Outgoing& out) {
    auto& r = out.reply;
    if (hello_done_) {
        r.error = EISCONN;
        return;
    }
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(control_fd_, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        r.error = errno;
        return;
    }
    // The pid the client claims must be the kernel's view of it: culvertd copies to and
    // from that process (process_vm_*), never to a pid a message names.
    if (req.arg0 != cred.pid) {
        r.error = EPERM;
        return;
    }
    auto seg = channels::Segment::create("culvert-client", stack_.settings().segment_bytes);
    if (!seg) {
        r.error = seg.error();
        return;
    }
    pid_ = cred.pid;
    uid_ = cred.uid;
    memory_ = std::make_shared<ClientMemory>(std::move(*seg));
    hello_done_ = true;
    r.result = ::getpid();
    r.aux = memory_->segment.size();
    r.probe_addr = reinterpret_cast<uint64_t>(&g_probe);
    out.fds[0] = memory_->segment.fd();
    out.fd_count = 1;
}

void Session::handle_socket(const channels::Request& req, Outgoing& out) {
    auto& r = out.reply;
    const int domain = req.arg0, type = req.arg1 & kSockTypeMask, protocol = req.arg2;
    if (domain != kAfInet && domain != kAfInet6) {
        r.error = EAFNOSUPPORT;
        return;
    }
    std::unique_ptr<Socket> s;
    if (type == kSockStream && (protocol == 0 || protocol == kIpprotoTcp)) {
        auto t = TcpSocket::create(stack_, *this, domain, channels::kDefaultRingBytes, channels::kDefaultRingBytes);
        if (!t) {
            r.error = t.error();
            return;
        }
        s = std::move(*t);
    } else if (type == kSockDgram && (protocol == 0 || protocol == kIpprotoUdp)) {
        auto u = UdpSocket::create(stack_, *this, domain);
        if (!u) {
            r.error = u.error();
            return;
        }
        s = std::move(*u);
    } else {
        r.error = EPROTONOSUPPORT;
        return;
    }
    r.socket_id = s->id();
    r.channel = s->channel_info();
    out.fds[channels::kAppFd] = s->fds().app;
    out.fds[channels::kPeerFd] = s->fds().peer;
    out.fds[channels::kNotifyFd] = s->fds().notify;
    out.fd_count = channels::kSocketFdCount;
    pending_app_close_ = s.get();  // the app fd is the client's once the reply is sent
    adopt(std::move(s));
}

void Session::handle_accept(const channels::Request& req, Outgoing& out) {
    auto& r = out.reply;
    auto* listener = dynamic_cast<TcpSocket*>(find(req.socket_id));
    if (!listener) {
        r.error = find(req.socket_id) ? EOPNOTSUPP : EBADF;
        return;
    }
    bool more = false;
    auto child = listener->pop_accepted(more);
    if (!child) {
        r.error = EAGAIN;
        return;
    }
    auto peer = child->name(true);
    if (peer) r.addr = *peer;
    r.result = more ? 1 : 0;
    r.socket_id = child->id();
    r.channel = child->channel_info();
    out.fds[channels::kAppFd] = child->fds().app;
    out.fds[channels::kPeerFd] = child->fds().peer;
    out.fds[channels::kNotifyFd] = child->fds().notify;
    out.fd_count = channels::kSocketFdCount;
    pending_app_close_ = child.get();
    adopt(std::move(child));
}

void Session::handle_close(const channels::Request& req, Outgoing& out) {
    auto s = take(req.socket_id);
    if (!s) {
        out.reply.error = EBADF;
        return;
    }
    if (!s->release()) stack_.adopt_orphan(std::move(s));
}

}  // namespace culvert::server
