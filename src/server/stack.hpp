// culvertd's stack: one thread that runs lwIP (NO_SYS=1), its timers, the packet backends,
// the control socket and every channel notification, sleeping in epoll_wait when idle.
// No process-wide state of its own beyond lwIP's globals; time comes in through run()/step().
#pragma once

#include "server/counters.hpp"
#include "server/socket.hpp"

#include <atomic>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace culvert::backends {
class PacketBackend;
}
namespace culvert::stack {
struct NetifConfig;
}

namespace culvert::server {

class Session;
class Interface;

struct StackSettings {
    std::string socket_path;
    size_t segment_bytes = 256u << 20;
    uint64_t seed = 1;
    // The stack's only clock (milliseconds, monotonic). Empty: CLOCK_MONOTONIC since
    // create(). The simulator and pcap replay pass a virtual clock.
    std::function<uint64_t()> clock_ms;
};

class Stack {
public:
    // Creates the control socket (removing a stale one) and initialises lwIP.
    static std::expected<std::unique_ptr<Stack>, std::string> create(const StackSettings& settings);
    ~Stack();

    std::expected<void, std::string> add_interface(std::unique_ptr<backends::PacketBackend> backend,
                                                   const stack::NetifConfig& config);

    // Runs until `stop` becomes true (checked at least every 100 ms).
    void run(const std::atomic<bool>& stop);
    // One iteration: waits at most `max_wait_ms` for events (0: only what is ready now),
    // handles everything ready and fires due lwIP timers. Returns the stack clock's time of
    // the next lwIP timer (UINT64_MAX if none), so a virtual clock can jump straight to it.
    uint64_t step(int max_wait_ms);
    // Polls readable while step() has work waiting (a client request or notification, a
    // backend's fd): lets an in-process driver tell "quiescent" from "more to do now".
    int event_fd() const { return epoll_fd_; }

    // --- used by sessions and sockets ---
    const StackSettings& settings() const { return settings_; }
    Counters& counters() { return counters_; }
    uint64_t register_socket(Socket* socket, int notify_fd);
    void unregister_socket(uint64_t token, int notify_fd);
    // Destroys an orphaned socket at the end of the current iteration (no-op for a socket
    // that is not an orphan).
    void reap(uint64_t token);
    // Keeps a released socket alive until it reaps itself.
    void adopt_orphan(std::unique_ptr<Socket> socket);
    // Asks for Socket::flush() at the end of the current iteration.
    void mark_dirty(Socket* socket);
    std::string status_json() const;
    uint64_t now_ms() const { return now_ms_; }

private:
    explicit Stack(const StackSettings& settings);
    void accept_clients();
    void handle_session(uint64_t token, uint32_t events);
    void close_session(uint64_t token);
    void update_clock();
    void check_timeouts();

    StackSettings settings_;
    Counters counters_;
    int epoll_fd_ = -1;
    int listen_fd_ = -1;
    uint64_t next_token_ = 1;
    uint64_t now_ms_ = 0;
    // A backend without a pollable fd must be polled continuously: step() never sleeps then.
    bool busy_poll_ = false;
    bool rx_backlog_ = false;  // the last step left frames in a backend's queue
    static constexpr size_t kRxBatch = 64;
    static constexpr size_t kRxBatchesPerStep = 8;
    static constexpr uint64_t kLinkCheckIntervalMs = 100;
    uint64_t next_link_check_ms_ = 0;
    std::vector<std::unique_ptr<Interface>> interfaces_;
    std::unordered_map<uint64_t, std::unique_ptr<Session>> sessions_;
    std::unordered_map<uint64_t, Socket*> sockets_;   // token -> live socket
    std::vector<uint64_t> dirty_;  // tokens: a marked socket may be gone by the flush
    std::unordered_map<uint64_t, std::unique_ptr<Socket>> orphans_;
    std::vector<uint64_t> reap_;
};

}  // namespace culvert::server
