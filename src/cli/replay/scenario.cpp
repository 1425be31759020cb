// The replay apps (scenario.hpp) on the culvert client library.
#include "cli/replay/scenario.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace culvert::replay {
namespace {

using client::Client;
using client::Result;

std::string err(std::string_view what, int e) { return std::string(what) + ": " + std::strerror(e); }

std::optional<uint64_t> number(std::string_view s) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

std::expected<uint16_t, std::string> port_of(std::string_view s) {
    auto v = number(s);
    if (!v || *v == 0 || *v > 65535) return std::unexpected("\"" + std::string(s) + "\" is not a port (1..65535)");
    return static_cast<uint16_t>(*v);
}

std::expected<Endpoint, std::string> endpoint_of(std::string_view s) {
    Endpoint e;
    std::string host;
    std::string_view port;
    if (!s.empty() && s.front() == '[') {
        const auto close = s.find("]:");
        if (close == std::string_view::npos) return std::unexpected("\"" + std::string(s) + "\" is not [IPv6]:PORT");
        host = std::string(s.substr(1, close - 1));
        port = s.substr(close + 2);
        e.v6 = true;
        if (inet_pton(AF_INET6, host.c_str(), e.address.data()) != 1)
            return std::unexpected("\"" + host + "\" is not an IPv6 address");
    } else {
        const auto colon = s.rfind(':');
        if (colon == std::string_view::npos) return std::unexpected("\"" + std::string(s) + "\" is not HOST:PORT");
        host = std::string(s.substr(0, colon));
        port = s.substr(colon + 1);
        if (inet_pton(AF_INET, host.c_str(), e.address.data()) != 1)
            return std::unexpected("\"" + host + "\" is not an IPv4 address (IPv6: [addr]:port)");
    }
    auto p = port_of(port);
    if (!p) return std::unexpected(p.error());
    e.port = *p;
    return e;
}

Result<size_t> send_some(Client& c, int fd, const std::string& data) {
    iovec v{const_cast<char*>(data.data()), data.size()};
    msghdr m{};
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    return c.sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
}

Result<size_t> recv_some(Client& c, int fd, std::string& into) {
    char buf[65536];
    iovec v{buf, sizeof buf};
    msghdr m{};
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    auto n = c.recvmsg(fd, &m, MSG_DONTWAIT);
    if (n) into.append(buf, *n);
    return n;
}

std::expected<int, std::string> listen_on(Client& c, int type, uint16_t port) {
    auto fd = c.socket(AF_INET6, type | SOCK_NONBLOCK, 0);
    if (!fd) return std::unexpected(err("socket", fd.error()));
    int zero = 0;  // IPv4 peers too (as Linux does by default)
    c.setsockopt(*fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    if (auto r = c.bind(*fd, reinterpret_cast<sockaddr*>(&a), sizeof a); !r)
        return std::unexpected(err("bind port " + std::to_string(port), r.error()));
    if (type == SOCK_STREAM)
        if (auto r = c.listen(*fd, 16); !r) return std::unexpected(err("listen", r.error()));
    return *fd;
}

// A TCP server whose connections each run a small per-connection machine.
class StreamServer : public App {
  public:
    explicit StreamServer(uint16_t port) : port_(port) {}
    std::expected<void, std::string> start(Client& c) override {
        auto fd = listen_on(c, SOCK_STREAM, port_);
        if (!fd) return std::unexpected(fd.error());
        listener_ = *fd;
        return {};
    }
    bool poll(Client& c) override {
        if (auto fd = c.accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK)) {
            conns_.push_back(Conn{*fd});
            return true;
        }
        for (size_t i = 0; i < conns_.size(); ++i) {
            Conn& k = conns_[i];
            if (k.done || (k.close_when_sent && k.out.empty())) {
                c.close(k.fd);
                conns_.erase(conns_.begin() + static_cast<long>(i));
                return true;
            }
            if (!k.out.empty()) {
                auto n = send_some(c, k.fd, k.out);
                if (n && *n > 0) {
                    k.out.erase(0, *n);
                    return true;
                }
                if (!n && n.error() != EAGAIN) {
                    k.done = true;
                    return true;
                }
            }
            if (!k.eof) {
                auto n = recv_some(c, k.fd, k.in);
                if (n) {
                    if (*n == 0) k.eof = true;
                    react(k);
                    return true;
                }
                if (n.error() != EAGAIN) {
                    k.done = true;
                    return true;
                }
            }
            if (react(k)) return true;
        }
        return false;
    }
    void wait_set(std::vector<pollfd>& out) const override {
        out.push_back({listener_, POLLIN, 0});
        for (const Conn& k : conns_)
            out.push_back({k.fd, static_cast<short>(POLLIN | (k.out.empty() ? 0 : POLLOUT)), 0});
    }

  protected:
    struct Conn {
        int fd;
        std::string in, out;
        bool eof = false, done = false, close_when_sent = false, answered = false;
    };
    // Turns what arrived into what to send; true if it did anything.
    virtual bool react(Conn& k) = 0;

  private:
    uint16_t port_;
    int listener_ = -1;
    std::vector<Conn> conns_;
};

class TcpEcho final : public StreamServer {
  public:
    using StreamServer::StreamServer;
    std::string describe() const override { return "tcp-echo"; }

  private:
    bool react(Conn& k) override {
        bool progress = false;
        if (!k.in.empty()) {
            k.out += k.in;
            k.in.clear();
            progress = true;
        }
        if (k.eof && !k.close_when_sent) {
            k.close_when_sent = true;
            progress = true;
        }
        return progress;
    }
};

class Http final : public StreamServer {
  public:
    using StreamServer::StreamServer;
    std::string describe() const override { return "http"; }

  private:
    bool react(Conn& k) override {
        if (k.answered) {
            // Close once the peer has (it reads to Content-Length, then closes): closing
            // right after the write would race the peer's ACKs of the last segments, and
            // whether the FIN rides on the last data segment would depend on that race.
            if (!k.eof || k.close_when_sent) return false;
            k.close_when_sent = true;
            return true;
        }
        if (k.in.find("\r\n\r\n") == std::string::npos) {
            if (k.eof) k.close_when_sent = true;
            return k.eof;
        }
        uint64_t size = 1000;
        if (k.in.rfind("GET /", 0) == 0) {
            const auto end = k.in.find(' ', 5);
            if (auto n = number(std::string_view(k.in).substr(5, end - 5)); n && *n <= (64u << 20)) size = *n;
        }
        std::string body(size, '\0');
        for (uint64_t i = 0; i < size; ++i) body[i] = static_cast<char>(pattern_byte(i));
        // One write of the whole answer: how a program splits its writes changes how the
        // stack segments them, and the live recording and the replay must agree.
        k.out += "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                 std::to_string(size) + "\r\nConnection: close\r\n\r\n" + body;
        k.in.clear();
        k.answered = true;
        return true;
    }
};

class UdpEcho final : public App {
  public:
    explicit UdpEcho(uint16_t port) : port_(port) {}
    std::string describe() const override { return "udp-echo"; }
    std::expected<void, std::string> start(Client& c) override {
        auto fd = listen_on(c, SOCK_DGRAM, port_);
        if (!fd) return std::unexpected(fd.error());
        fd_ = *fd;
        return {};
    }
    bool poll(Client& c) override {
        if (pending_) {
            iovec out{pending_->data.data(), pending_->data.size()};
            msghdr r{};
            r.msg_name = &pending_->from;
            r.msg_namelen = pending_->from_len;
            r.msg_iov = &out;
            r.msg_iovlen = 1;
            c.sendmsg(fd_, &r, MSG_DONTWAIT);
            pending_.reset();
            return true;
        }
        Datagram d;
        d.data.resize(65536);
        iovec v{d.data.data(), d.data.size()};
        msghdr m{};
        m.msg_name = &d.from;
        m.msg_namelen = sizeof d.from;
        m.msg_iov = &v;
        m.msg_iovlen = 1;
        auto n = c.recvmsg(fd_, &m, MSG_DONTWAIT);
        if (!n) return false;
        d.data.resize(*n);
        d.from_len = m.msg_namelen;
        pending_ = std::move(d);
        return true;
    }
    void wait_set(std::vector<pollfd>& out) const override { out.push_back({fd_, POLLIN, 0}); }

  private:
    struct Datagram {
        std::string data;
        sockaddr_in6 from{};
        socklen_t from_len = 0;
    };
    uint16_t port_;
    int fd_ = -1;
    std::optional<Datagram> pending_;
};

class TcpSend final : public App {
  public:
    TcpSend(Endpoint to, uint64_t bytes) : to_(to), bytes_(bytes) {}
    std::string describe() const override { return "tcp-send"; }
    std::optional<Endpoint> target() const override { return to_; }
    std::expected<void, std::string> start(Client& c) override {
        auto fd = c.socket(to_.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (!fd) return std::unexpected(err("socket", fd.error()));
        fd_ = *fd;
        Result<void> r;
        if (to_.v6) {
            sockaddr_in6 a{};
            a.sin6_family = AF_INET6;
            a.sin6_port = htons(to_.port);
            std::memcpy(&a.sin6_addr, to_.address.data(), 16);
            r = c.connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        } else {
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(to_.port);
            std::memcpy(&a.sin_addr, to_.address.data(), 4);
            r = c.connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
        }
        if (!r && r.error() != EINPROGRESS) return std::unexpected(err("connect", r.error()));
        return {};
    }
    bool poll(Client& c) override {
        if (state_ == State::done || failure_) return false;
        if (state_ == State::connecting) {
            pollfd p{fd_, POLLOUT, 0};
            if (::poll(&p, 1, 0) <= 0) return false;
            int e = 0;
            socklen_t len = sizeof e;
            c.getsockopt(fd_, SOL_SOCKET, SO_ERROR, &e, &len);
            if (e != 0) failure_ = err("connect", e);
            else state_ = State::sending;
            return true;
        }
        if (state_ == State::sending) {
            if (sent_ == bytes_) {
                c.shutdown(fd_, SHUT_WR);
                state_ = State::draining;
                return true;
            }
            std::string chunk(std::min<uint64_t>(bytes_ - sent_, 65536), '\0');
            for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = static_cast<char>(pattern_byte(sent_ + i));
            auto n = send_some(c, fd_, chunk);
            if (!n) {
                if (n.error() == EAGAIN) return false;
                failure_ = err("send", n.error());
                return true;
            }
            sent_ += *n;
            return true;
        }
        std::string sink;
        auto n = recv_some(c, fd_, sink);
        if (!n) {
            if (n.error() == EAGAIN) return false;
            failure_ = err("recv", n.error());
            return true;
        }
        if (*n == 0) {
            c.close(fd_);
            state_ = State::done;
        }
        return true;
    }
    bool finished() const override { return state_ == State::done; }
    std::optional<std::string> failure() const override { return failure_; }
    void wait_set(std::vector<pollfd>& out) const override {
        if (state_ == State::done) return;
        out.push_back({fd_, static_cast<short>(state_ == State::draining ? POLLIN : POLLOUT), 0});
    }

  private:
    enum class State { connecting, sending, draining, done };
    Endpoint to_;
    uint64_t bytes_;
    uint64_t sent_ = 0;
    int fd_ = -1;
    State state_ = State::connecting;
    std::optional<std::string> failure_;
};

class NoApp final : public App {
  public:
    std::string describe() const override { return "none"; }
    std::expected<void, std::string> start(Client&) override { return {}; }
    bool poll(Client&) override { return false; }
    void wait_set(std::vector<pollfd>&) const override {}
};

}  // namespace

uint8_t pattern_byte(uint64_t i) { return static_cast<uint8_t>('a' + i % 26); }

std::expected<std::unique_ptr<App>, std::string> make_app(std::string_view spec) {
    const auto colon = spec.find(':');
    const std::string_view kind = spec.substr(0, colon);
    std::string_view rest = colon == std::string_view::npos ? "" : spec.substr(colon + 1);
    // Options after the first comma (IPv6 addresses are bracketed, so commas are free).
    std::vector<std::pair<std::string_view, std::string_view>> options;
    std::string_view positional = rest;
    if (auto comma = rest.find(','); comma != std::string_view::npos) {
        positional = rest.substr(0, comma);
        std::string_view opts = rest.substr(comma + 1);
        while (!opts.empty()) {
            auto next = opts.find(',');
            auto item = opts.substr(0, next);
            auto eq = item.find('=');
            if (eq == std::string_view::npos)
                return std::unexpected("--app " + std::string(spec) + ": \"" + std::string(item) + "\" is not KEY=VALUE");
            options.emplace_back(item.substr(0, eq), item.substr(eq + 1));
            opts = next == std::string_view::npos ? "" : opts.substr(next + 1);
        }
    }
    const auto fail = [&](const std::string& why) {
        return std::unexpected("--app " + std::string(spec) + ": " + why);
    };
    std::optional<uint64_t> bytes, at;
    for (auto [k, v] : options) {
        auto n = number(v);
        if (!n) return fail("\"" + std::string(v) + "\" is not a whole number");
        if (k == "bytes") bytes = n;
        else if (k == "at") at = n;
        else return fail("unknown option \"" + std::string(k) + "\" (bytes, at)");
    }
    std::unique_ptr<App> app;
    if (kind == "none") {
        if (!rest.empty()) return fail("takes no arguments");
        app = std::make_unique<NoApp>();
    } else if (kind == "tcp-echo" || kind == "http" || kind == "udp-echo") {
        auto port = port_of(positional);
        if (!port) return fail(port.error());
        if (kind == "tcp-echo") app = std::make_unique<TcpEcho>(*port);
        else if (kind == "http") app = std::make_unique<Http>(*port);
        else app = std::make_unique<UdpEcho>(*port);
    } else if (kind == "tcp-send") {
        auto to = endpoint_of(positional);
        if (!to) return fail(to.error());
        app = std::make_unique<TcpSend>(*to, bytes.value_or(65536));
    } else {
        return fail("unknown app \"" + std::string(kind) + "\" (none, tcp-echo, http, udp-echo, tcp-send)");
    }
    if ((bytes && kind != "tcp-send") || (at && kind != "tcp-send"))
        return fail("bytes= and at= belong to tcp-send");
    app->start_ms = at;
    return app;
}

}  // namespace culvert::replay
