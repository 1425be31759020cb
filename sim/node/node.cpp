// One simulated node (node_api.h): culvertd's real Stack on a QueueBackend and the real
// client library in one namespace, driven entirely from outside: the clock is a number the
// simulator sets, frames are bytes it pushes and pops, and wherever the client would block
// it calls the simulator's idle hook. Nothing here reads real time or real randomness.
#include "sim/node/node_api.h"

#include "client/client.hpp"
#include "server/stack.hpp"
#include "sim/node/node_lwip_stats.hpp"
#include "sim/node/queue_backend.hpp"
#include "stack/backend_netif.hpp"

#include <nlohmann/json.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace {

using culvert::client::Client;
using culvert::sim::QueueBackend;

// One node per namespace: these globals are per instance because each dlmopen gets its own.
struct NodeState {
    uint64_t now_ms = 0;
    std::string socket_path;
    std::unique_ptr<culvert::server::Stack> stack;
    QueueBackend* backend = nullptr;  // owned by the stack's interface
    std::set<int> client_fds;         // app fds the client holds (closed when it is killed)
    std::vector<std::byte> frame;
    bool killed = false;
};
NodeState* g_node = nullptr;

template <class T>
long result_of(const culvert::client::Result<T>& r) {
    if (!r) return -static_cast<long>(r.error());
    if constexpr (std::is_void_v<T>) {
        return 0;
    } else {
        return static_cast<long>(*r);
    }
}

int create(const culvert_sim_node_config* config, char* err, size_t err_bytes) {
    auto fail = [&](const std::string& message) {
        if (err && err_bytes) std::snprintf(err, err_bytes, "%s", message.c_str());
        return -1;
    };
    if (g_node) return fail("node already created (one per namespace)");
    auto node = std::make_unique<NodeState>();
    node->socket_path = config->socket_path;
    culvert::server::StackSettings settings;
    settings.socket_path = node->socket_path;
    settings.segment_bytes = config->segment_bytes;
    settings.seed = config->seed;
    NodeState* raw = node.get();
    settings.clock_ms = [raw] { return raw->now_ms; };
    auto stack = culvert::server::Stack::create(settings);
    if (!stack) return fail(stack.error());
    node->stack = std::move(*stack);

    culvert::sim::QueueBackendConfig bc;
    std::memcpy(bc.mac.data(), config->mac, 6);
    bc.mtu = config->mtu;
    if (config->tx_queue_frames) bc.tx_queue_frames = config->tx_queue_frames;
    auto backend = std::make_unique<QueueBackend>(bc);
    node->backend = backend.get();
    culvert::stack::NetifConfig nc;
    culvert::stack::Ipv4Address v4;
    std::memcpy(v4.data(), config->ipv4, 4);
    nc.ipv4 = culvert::stack::Ipv4Config{v4, config->ipv4_prefix_len, std::nullopt};
    if (config->has_ipv6) {
        culvert::stack::Ipv6Address v6;
        std::memcpy(v6.data(), config->ipv6, 16);
        nc.ipv6.push_back(v6);
    }
    nc.make_default = true;
    if (auto r = node->stack->add_interface(std::move(backend), nc); !r) return fail(r.error());
    // The client finds culvertd through CULVERT_SOCKET, read from this namespace's environment.
    setenv("CULVERT_SOCKET", node->socket_path.c_str(), 1);
    (void)Client::instance();
    g_node = node.release();
    return 0;
}

uint64_t step(uint64_t now_ms) {
    g_node->now_ms = now_ms;
    uint64_t next = g_node->stack->step(0);
    // step() takes at most 64 events at a time: finish what is ready now.
    for (int i = 0; i < 64; ++i) {
        pollfd p{g_node->stack->event_fd(), POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0 && !g_node->backend->rx_waiting()) break;
        next = g_node->stack->step(0);
    }
    return next;
}

int pending() {
    if (g_node->backend->rx_waiting()) return 1;
    pollfd p{g_node->stack->event_fd(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
}

int push_frame(const void* frame, size_t len) {
    const auto* b = static_cast<const std::byte*>(frame);
    return g_node->backend->push(std::span<const std::byte>(b, len)) ? 0 : -ENOBUFS;
}

size_t pop_frame(void* buf, size_t buf_bytes) {
    if (!g_node->backend->pop(g_node->frame)) return 0;
    const size_t n = std::min(buf_bytes, g_node->frame.size());
    std::memcpy(buf, g_node->frame.data(), n);
    return n;
}

size_t status_json(char* buf, size_t buf_bytes) {
    nlohmann::json j = nlohmann::json::parse(g_node->stack->status_json());
    j["lwip_stats"] = culvert::sim::lwip_stats_json();
    const auto st = g_node->backend->stats();
    j["backend"] = {{"rx_frames", st.rx_frames},
                    {"tx_frames", st.tx_frames},
                    {"rx_dropped", st.rx_dropped},
                    {"tx_dropped", st.tx_dropped}};
    const std::string text = j.dump();
    if (buf && buf_bytes) {
        const size_t n = std::min(buf_bytes - 1, text.size());
        std::memcpy(buf, text.data(), n);
        buf[n] = '\0';
    }
    return text.size();
}

void resources(culvert_sim_node_resources* out) {
    culvert::sim::lwip_resources(*out);
}

void destroy() {
    if (!g_node) return;
    g_node->stack.reset();
    delete g_node;
    g_node = nullptr;
}

// The C hook returns int; the client's takes bool: adapt through this node's one slot.
culvert_sim_idle_hook g_hook = nullptr;
bool call_hook(void* arg) {
    return g_hook(arg) != 0;
}

void set_idle_hook(culvert_sim_idle_hook hook, void* arg) {
    g_hook = hook;
    Client::instance().set_idle_hook(hook ? &call_hook : nullptr, arg);
}

int track(long r) {
    if (r >= 0) g_node->client_fds.insert(static_cast<int>(r));
    return static_cast<int>(r);
}

int socket_(int domain, int type, int protocol) {
    return track(result_of(Client::instance().socket(domain, type, protocol)));
}
int bind_(int fd, const sockaddr* a, socklen_t l) {
    return result_of(Client::instance().bind(fd, a, l));
}
int listen_(int fd, int backlog) {
    return result_of(Client::instance().listen(fd, backlog));
}
int accept4_(int fd, sockaddr* a, socklen_t* l, int flags) {
    return track(result_of(Client::instance().accept4(fd, a, l, flags)));
}
int connect_(int fd, const sockaddr* a, socklen_t l) {
    return result_of(Client::instance().connect(fd, a, l));
}
int shutdown_(int fd, int how) {
    return result_of(Client::instance().shutdown(fd, how));
}
int close_(int fd) {
    const long r = result_of(Client::instance().close(fd));
    if (r == 0) g_node->client_fds.erase(fd);
    return static_cast<int>(r);
}
ssize_t sendmsg_(int fd, const msghdr* m, int flags) {
    return result_of(Client::instance().sendmsg(fd, m, flags));
}
ssize_t recvmsg_(int fd, msghdr* m, int flags) {
    return result_of(Client::instance().recvmsg(fd, m, flags));
}
int getsockopt_(int fd, int level, int name, void* v, socklen_t* l) {
    return result_of(Client::instance().getsockopt(fd, level, name, v, l));
}
int setsockopt_(int fd, int level, int name, const void* v, socklen_t l) {
    return result_of(Client::instance().setsockopt(fd, level, name, v, l));
}
int getsockname_(int fd, sockaddr* a, socklen_t* l) {
    return result_of(Client::instance().getsockname(fd, a, l));
}
int getpeername_(int fd, sockaddr* a, socklen_t* l) {
    return result_of(Client::instance().getpeername(fd, a, l));
}
int fcntl_(int fd, int cmd, long arg) {
    return static_cast<int>(result_of(Client::instance().fcntl(fd, cmd, arg)));
}
int ioctl_(int fd, unsigned long request, void* arg) {
    return static_cast<int>(result_of(Client::instance().ioctl(fd, request, arg)));
}

// The client's control connection is the one unix socket whose peer is culvertd's path.
void kill_client() {
    if (!g_node || g_node->killed) return;
    g_node->killed = true;
    const long max_fd = sysconf(_SC_OPEN_MAX);
    for (int fd = 0; fd < max_fd && fd < 65536; ++fd) {
        sockaddr_un peer{};
        socklen_t len = sizeof peer;
        if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
        if (peer.sun_family != AF_UNIX || len <= offsetof(sockaddr_un, sun_path)) continue;
        if (std::strncmp(peer.sun_path, g_node->socket_path.c_str(), sizeof peer.sun_path) != 0)
            continue;
        // culvertd sees the hang-up and releases the client's sockets, as after an exit.
        // (shutdown, not close: the dead client's table still names this fd.)
        ::shutdown(fd, SHUT_RDWR);
    }
    for (int fd : g_node->client_fds) ::close(fd);
    g_node->client_fds.clear();
}

const culvert_sim_node_api kApi = {
    CULVERT_SIM_NODE_ABI_VERSION,
    create,
    step,
    pending,
    push_frame,
    pop_frame,
    status_json,
    resources,
    destroy,
    set_idle_hook,
    socket_,
    bind_,
    listen_,
    accept4_,
    connect_,
    shutdown_,
    close_,
    sendmsg_,
    recvmsg_,
    getsockopt_,
    setsockopt_,
    getsockname_,
    getpeername_,
    fcntl_,
    ioctl_,
    kill_client,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const culvert_sim_node_api*
culvert_sim_node_get_api(void) {
    return &kApi;
}
