// `culvert status`: ask culvertd for its counters (control protocol Op::status after HELLO)
// and print them as a table, or as culvertd's JSON with --json (what tests parse for leaks).
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <expected>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "channels/protocol.hpp"
#include "cli/commands.hpp"

namespace culvert::cli {
namespace {

namespace ch = culvert::channels;

struct StatusOptions {
    std::string socket_path;
    bool json = false;
};

// The same default as the client library (src/client/client.cpp), so `culvert status`
// asks the culvertd that programs under `culvert run` would reach.
std::string default_socket_path() {
    if (const char* env = std::getenv("CULVERT_SOCKET"); env && *env) return env;
    if (geteuid() == 0) return "/run/culvert/culvertd.sock";
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg)
        return std::string(xdg) + "/culvert/culvertd.sock";
    return "/run/culvert/culvertd.sock";
}

// Owns the control socket for the duration of one status query.
class Control {
public:
    ~Control() {
        if (fd_ >= 0) ::close(fd_);
    }
    std::expected<void, std::string> connect(const std::string& path) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (path.size() >= sizeof addr.sun_path)
            return std::unexpected(fmt::format("socket path \"{}\" is too long", path));
        std::memcpy(addr.sun_path, path.c_str(), path.size());
        fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd_ < 0) return std::unexpected(fmt::format("socket: {}", std::strerror(errno)));
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            return std::unexpected(
                fmt::format("cannot reach culvertd at {}: {}", path, std::strerror(errno)));
        // A dead culvertd must not hang the command (the tests call it in loops).
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        return {};
    }

    // One request, one reply; fds that come with it (HELLO's segment) are closed, and the
    // reply's payload lands in `payload`.
    std::expected<ch::Reply, std::string> call(ch::Op op, ch::Request& req, std::string& payload) {
        req.header = ch::make_header(op, ++seq_);
        if (::send(fd_, &req, sizeof req, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof req))
            return std::unexpected(fmt::format("send to culvertd: {}", std::strerror(errno)));
        ch::Reply reply{};
        std::vector<char> extra(1 << 20);
        iovec iov[2] = {{&reply, sizeof reply}, {extra.data(), extra.size()}};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * ch::kMaxFdsPerMessage)];
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = 2;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        ssize_t n;
        do {
            n = ::recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC);
        } while (n < 0 && errno == EINTR);
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                ::close(fd);
            }
        }
        if (n < 0) return std::unexpected(fmt::format("no answer from culvertd: {}", std::strerror(errno)));
        if (n < static_cast<ssize_t>(sizeof reply)) return std::unexpected("culvertd hung up");
        if ((msg.msg_flags & MSG_TRUNC) != 0) return std::unexpected("culvertd's answer is too long");
        if (reply.header.magic != ch::kProtocolMagic) return std::unexpected("not a culvertd reply");
        if (reply.header.version != ch::kProtocolVersion)
            return std::unexpected(fmt::format("culvertd speaks protocol version {}, we speak {}",
                                               reply.header.version, ch::kProtocolVersion));
        if (reply.header.seq != seq_) return std::unexpected("culvertd answered another request");
        const size_t payload_bytes = static_cast<size_t>(n) - sizeof reply;
        if (payload_bytes != reply.header.payload_bytes)
            return std::unexpected("culvertd's answer has a bad length");
        payload.assign(extra.data(), payload_bytes);
        return reply;
    }

private:
    int fd_ = -1;
    uint32_t seq_ = 0;
};

std::expected<std::string, std::string> query_status(const std::string& path) {
    Control control;
    if (auto c = control.connect(path); !c) return std::unexpected(c.error());
    std::string payload;
    ch::Request hello{};
    hello.arg0 = ::getpid();
    hello.arg2 = ch::kProtocolVersion;
    auto h = control.call(ch::Op::hello, hello, payload);
    if (!h) return std::unexpected(h.error());
    if (h->error != 0)
        return std::unexpected(fmt::format("culvertd refused HELLO: {}", std::strerror(h->error)));
    ch::Request status{};
    auto s = control.call(ch::Op::status, status, payload);
    if (!s) return std::unexpected(s.error());
    if (s->error != 0)
        return std::unexpected(fmt::format("culvertd refused status: {}", std::strerror(s->error)));
    return payload;
}

// Scalars as "key  value" rows; nested objects as "section.key"; arrays one row per item.
void print_table(const nlohmann::json& j, const std::string& prefix, std::string& out) {
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
        if (it->is_object()) {
            print_table(*it, key, out);
        } else if (it->is_array()) {
            for (size_t i = 0; i < it->size(); ++i) {
                const auto& item = (*it)[i];
                const std::string item_key =
                    item.is_object() && item.contains("name") && item["name"].is_string()
                        ? key + "[" + item["name"].get<std::string>() + "]"
                        : fmt::format("{}[{}]", key, i);
                if (item.is_object()) {
                    nlohmann::json rest = item;
                    rest.erase("name");
                    print_table(rest, item_key, out);
                } else {
                    out += fmt::format("{:<40} {}\n", item_key, item.dump());
                }
            }
        } else {
            out += fmt::format("{:<40} {}\n", key,
                               it->is_string() ? it->get<std::string>() : it->dump());
        }
    }
}

int status(const StatusOptions& opts) {
    const std::string path = opts.socket_path.empty() ? default_socket_path() : opts.socket_path;
    auto text = query_status(path);
    if (!text) {
        std::fputs(fmt::format("culvert status: {}\n", text.error()).c_str(), stderr);
        return kExitCulvertFailed;
    }
    auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
        std::fputs("culvert status: culvertd's answer is not a JSON object\n", stderr);
        return kExitCulvertFailed;
    }
    std::string out;
    if (opts.json) {
        out = j.dump(2) + "\n";
    } else {
        out = fmt::format("culvertd at {}\n", path);
        print_table(j, "", out);
    }
    std::fputs(out.c_str(), stdout);
    return std::fflush(stdout) == 0 ? 0 : kExitCulvertFailed;
}

}  // namespace

Command add_status_command(CLI::App& parent) {
    auto opts = std::make_shared<StatusOptions>();
    CLI::App* app = parent.add_subcommand("status", "Print culvertd's counters (sockets, pcbs, pbufs, memory)");
    app->add_option("--socket", opts->socket_path,
                    "culvertd's control socket (default: $CULVERT_SOCKET or the standard path)")
        ->type_name("PATH");
    app->add_flag("--json", opts->json, "Print culvertd's JSON unchanged (pretty-printed)");
    return Command{.app = app, .action = [opts](TrailingArgs) { return status(*opts); }};
}

}  // namespace culvert::cli
