// The stack loop (stack.hpp): lwIP, backends, control socket and channel notifications on
// one thread, sleeping in epoll_wait until the next event or lwIP timer.
#include "lwip/init.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/stats.h"
#include "lwip/timeouts.h"

#include "server/stack.hpp"

#include "backends/backend.hpp"
#include "server/session.hpp"
#include "stack/backend_netif.hpp"
#include "stack/ip6_reassembly.hpp"
#include "stack/stack_hooks.h"
#include "stack/tcp_unsent_order.h"
#include "stack/tcp_window_update.h"

#include <nlohmann/json.hpp>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>

namespace culvert::server {

namespace {

// epoll tokens: kind in the top byte, a unique number below.
enum Kind : uint64_t { kListener = 1, kSessionKind = 2, kSocketKind = 3, kBackendKind = 4 };
constexpr uint64_t token_of(Kind kind, uint64_t n) { return (static_cast<uint64_t>(kind) << 56) | n; }
constexpr Kind kind_of(uint64_t token) { return static_cast<Kind>(token >> 56); }

uint64_t monotonic_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

class Interface {
public:
    std::unique_ptr<backends::PacketBackend> backend;
    std::unique_ptr<stack::BackendNetif> netif;
};

Stack::Stack(const StackSettings& settings) : settings_(settings) {}

std::expected<std::unique_ptr<Stack>, std::string> Stack::create(const StackSettings& settings) {
    std::unique_ptr<Stack> s(new Stack(settings));
    // Seeded before lwip_init(), which draws the first ephemeral TCP and UDP ports from
    // LWIP_RAND(); seeded again after it so a seed names one random sequence either way.
    culvert_stack_seed(settings.seed);
    culvert_lwip_init();
    culvert_stack_seed(settings.seed);
    if (!s->settings_.clock_ms) {
        const uint64_t start_ns = monotonic_ns();
        s->settings_.clock_ms = [start_ns] { return (monotonic_ns() - start_ns) / 1000000ull; };
    }
    s->update_clock();

    s->epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (s->epoll_fd_ < 0) return std::unexpected(std::string("epoll_create1: ") + std::strerror(errno));

    const std::string& path = settings.socket_path;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return std::unexpected("control socket path '" + path + "' is empty or longer than " +
                               std::to_string(sizeof addr.sun_path - 1) + " bytes");
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    s->listen_fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->listen_fd_ < 0) return std::unexpected(std::string("socket: ") + std::strerror(errno));
    if (bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (errno != EADDRINUSE) return std::unexpected("bind " + path + ": " + std::strerror(errno));
        // In use: another culvertd, or a stale file from one that died. Only the latter goes.
        int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        const bool live = connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        close(probe);
        if (live) return std::unexpected("another culvertd is already serving " + path);
        unlink(path.c_str());
        if (bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            return std::unexpected("bind " + path + ": " + std::strerror(errno));
    }
    // Who may connect is decided by the socket file's permissions (DESIGN §3): the owner's
    // uid and group by default.
    chmod(path.c_str(), 0660);
    if (listen(s->listen_fd_, 128) != 0) return std::unexpected(std::string("listen: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = token_of(kListener, 0);
    epoll_ctl(s->epoll_fd_, EPOLL_CTL_ADD, s->listen_fd_, &ev);
    return s;
}

Stack::~Stack() {
    sessions_.clear();
    orphans_.clear();
    interfaces_.clear();
    if (listen_fd_ >= 0) {
        close(listen_fd_);
        unlink(settings_.socket_path.c_str());
    }
    if (epoll_fd_ >= 0) close(epoll_fd_);
}

std::expected<void, std::string> Stack::add_interface(std::unique_ptr<backends::PacketBackend> backend,
                                                      const stack::NetifConfig& config) {
    auto iface = std::make_unique<Interface>();
    auto netif = stack::BackendNetif::create(*backend, config);
    if (!netif) return std::unexpected(netif.error());
    iface->netif = std::move(*netif);
    iface->backend = std::move(backend);
    const int fd = iface->backend->pollable_fd();
    if (fd >= 0) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = token_of(kBackendKind, interfaces_.size());
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    } else {
        busy_poll_ = true;  // no fd to sleep on (a DPDK port): never sleep, poll every step
    }
    interfaces_.push_back(std::move(iface));
    return {};
}

void Stack::update_clock() {
    now_ms_ = settings_.clock_ms();
    culvert_stack_set_now_ms(static_cast<uint32_t>(now_ms_));
}

uint64_t Stack::register_socket(Socket* socket, int notify_fd) {
    const uint64_t token = token_of(kSocketKind, next_token_++);
    sockets_[token] = socket;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = token;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, notify_fd, &ev);
    return token;
}

void Stack::unregister_socket(uint64_t token, int notify_fd) {
    sockets_.erase(token);
    if (notify_fd >= 0) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, notify_fd, nullptr);
}

void Stack::mark_dirty(Socket* socket) { dirty_.push_back(socket->token()); }

void Stack::reap(uint64_t token) { reap_.push_back(token); }

void Stack::adopt_orphan(std::unique_ptr<Socket> socket) {
    socket->detach_session();
    const uint64_t token = socket->token();
    orphans_[token] = std::move(socket);
}

void Stack::accept_clients() {
    for (;;) {
        const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        const uint64_t token = token_of(kSessionKind, next_token_++);
        sessions_[token] = std::make_unique<Session>(*this, fd, token);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = token;
        epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
        counters_.clients_accepted++;
    }
}

void Stack::close_session(uint64_t token) {
    auto it = sessions_.find(token);
    if (it == sessions_.end()) return;
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second->control_fd(), nullptr);
    sessions_.erase(it);  // releases every socket of the client (Session::~Session)
    counters_.clients_closed++;
}

void Stack::handle_session(uint64_t token, uint32_t events) {
    auto it = sessions_.find(token);
    if (it == sessions_.end()) return;
    bool keep = it->second->on_readable();
    if (events & (EPOLLHUP | EPOLLERR)) keep = false;
    if (!keep) close_session(token);
}

// lwIP's timers, then our repair of what a retransmission timeout may have left broken:
// lwIP 2.1.3 can leave a send queue out of order and the connection stalled for good
// (docs/lwip-tcp-stall.md).
void Stack::check_timeouts() {
    sys_check_timeouts();
    counters_.tcp_unsent_reordered += culvert_tcp_repair_after_timers();
}

uint64_t Stack::step(int max_wait_ms) {
    update_clock();
    const u32_t lwip_wait = sys_timeouts_sleeptime();
    int wait_ms = (busy_poll_ || rx_backlog_) ? 0 : max_wait_ms;
    if (lwip_wait != SYS_TIMEOUTS_SLEEPTIME_INFINITE && static_cast<int64_t>(lwip_wait) < wait_ms)
        wait_ms = static_cast<int>(lwip_wait);
    epoll_event events[64];
    const int n = epoll_wait(epoll_fd_, events, 64, wait_ms);
    update_clock();
    // Timers due by now fire before this step's frames and requests, whenever they arrived
    // within the millisecond: a capture stamped with the stack clock then replays in the
    // same order (docs/replay.md).
    check_timeouts();
    for (int i = 0; i < n; ++i) {
        const uint64_t token = events[i].data.u64;
        switch (kind_of(token)) {
            case kListener: accept_clients(); break;
            case kSessionKind: handle_session(token, events[i].events); break;
            case kSocketKind: {
                auto it = sockets_.find(token);
                if (it != sockets_.end()) it->second->on_notify();
                break;
            }
            case kBackendKind: break;  // polled below
        }
    }
    // A bounded number of frames per step: a peer that sends as fast as we take frames must
    // not starve control requests and client rings (a status query once went unanswered for
    // 5 s under load). Frames left over make the next step poll without sleeping.
    rx_backlog_ = false;
    for (auto& iface : interfaces_) {
        size_t batches = 0;
        while (iface->netif->poll(kRxBatch) == kRxBatch) {
            if (++batches == kRxBatchesPerStep) {
                rx_backlog_ = true;
                break;
            }
        }
    }
    netif_poll_all();  // deliver packets lwIP looped back to our own addresses
    // Link state changes without an event (a DPDK peer attaches, a cable is pulled): read
    // it on a timer so that lwIP routes over links that came up and stops on ones that went.
    if (now_ms_ >= next_link_check_ms_) {
        for (auto& iface : interfaces_) iface->netif->refresh_link();
        next_link_check_ms_ = now_ms_ + kLinkCheckIntervalMs;
    }
    // Batched rx copies; a socket may have been destroyed since it was marked.
    for (size_t i = 0; i < dirty_.size(); ++i) {
        auto it = sockets_.find(dirty_[i]);
        if (it != sockets_.end()) it->second->flush();
    }
    dirty_.clear();
    check_timeouts();
    // Frames a backend held back to merge leave before we may sleep.
    for (auto& iface : interfaces_) iface->backend->tx_flush();
    for (uint64_t token : reap_) orphans_.erase(token);
    reap_.clear();
    const u32_t next = sys_timeouts_sleeptime();
    return next == SYS_TIMEOUTS_SLEEPTIME_INFINITE ? UINT64_MAX : now_ms_ + next;
}

void Stack::run(const std::atomic<bool>& stop) {
    while (!stop.load(std::memory_order_relaxed)) step(100);
}

std::string Stack::status_json() const {
    using nlohmann::json;
    json j;
    json c;
#define CULVERT_COUNTER_JSON(name) c[#name] = counters_.name;
    CULVERT_SERVER_COUNTERS(CULVERT_COUNTER_JSON)
#undef CULVERT_COUNTER_JSON
    j["counters"] = c;
    j["clients"] = sessions_.size();
    j["sockets"] = sockets_.size();
    j["orphans"] = orphans_.size();
    size_t segment_bytes = 0;
    for (auto& [t, s] : sessions_)
        if (s->memory()) segment_bytes += s->memory()->allocator.bytes_in_use();
    j["segment_bytes_in_use"] = segment_bytes;
    json lw;
    lw["tcp_pcbs"] = lwip_stats.memp[MEMP_TCP_PCB]->used;
    lw["tcp_listen_pcbs"] = lwip_stats.memp[MEMP_TCP_PCB_LISTEN]->used;
    lw["udp_pcbs"] = lwip_stats.memp[MEMP_UDP_PCB]->used;
    lw["tcp_segs"] = lwip_stats.memp[MEMP_TCP_SEG]->used;
    lw["pbuf_pool"] = lwip_stats.memp[MEMP_PBUF_POOL]->used;
    lw["pbuf_ref"] = lwip_stats.memp[MEMP_PBUF]->used;
    lw["heap_bytes"] = lwip_stats.mem.used;
    lw["tcp_rx_segments"] = lwip_stats.tcp.recv;
    lw["tcp_tx_segments"] = lwip_stats.tcp.xmit;
    lw["udp_rx"] = lwip_stats.udp.recv;
    lw["udp_tx"] = lwip_stats.udp.xmit;
    // Our workarounds for lwIP bugs at work (docs/lwip-tcp-stall.md).
    lw["tcp_window_updates_on_ack"] = culvert_tcp_window_updates_on_ack();
    j["lwip"] = lw;
    // Our IPv6 reassembly in place of lwIP's (src/stack/ip6_reassembly.hpp).
    const auto r6 = stack::ip6_reassembly_stats();
    j["ip6_reassembly"] = {{"datagrams_pending", r6.datagrams_pending},
                           {"pbufs_pending", r6.pbufs_pending},
                           {"reassembled", r6.reassembled},
                           {"duplicates", r6.duplicates},
                           {"overlaps", r6.overlaps},
                           {"inconsistent", r6.inconsistent},
                           {"too_big", r6.too_big},
                           {"malformed", r6.malformed},
                           {"timed_out", r6.timed_out},
                           {"evicted", r6.evicted},
                           {"no_memory", r6.no_memory}};
    json ifs = json::array();
    for (auto& iface : interfaces_) {
        const auto& st = iface->netif->stats();
        json one = {{"name", std::string(iface->backend->name())},
                    {"link_up", iface->backend->caps().link_up},
                    {"rx_frames", st.rx_frames},
                    {"tx_frames", st.tx_frames},
                    {"rx_bytes", st.rx_bytes},
                    {"tx_bytes", st.tx_bytes},
                    {"rx_dropped", st.rx_too_short + st.rx_too_long + st.rx_no_pbuf + st.rx_refused},
                    {"rx_zero_copy", st.rx_zero_copy},
                    {"tx_busy", st.tx_busy}};
        // The backend's own view (device drops and errors the netif never sees) and, for
        // devices that have them, their native counters (DPDK xstats).
        const backends::BackendStats bs = iface->backend->stats();
        one["backend"] = {{"rx_frames", bs.rx_frames}, {"rx_bytes", bs.rx_bytes},
                          {"tx_frames", bs.tx_frames}, {"tx_bytes", bs.tx_bytes},
                          {"rx_dropped", bs.rx_dropped}, {"tx_dropped", bs.tx_dropped},
                          {"rx_errors", bs.rx_errors}};
        json device = json::object();
        for (const auto& c : iface->backend->device_counters()) device[c.name] = c.value;
        if (!device.empty()) one["device"] = std::move(device);
        ifs.push_back(std::move(one));
    }
    j["interfaces"] = ifs;
    return j.dump();
}

}  // namespace culvert::server
