// A simulated client process: ordinary socket code (blocking or non-blocking) running on a
// fiber against one node's real client library. Every call is traced with its virtual time
// and result; sockets appear in traces by the process's own names (s1, s2, ...), never by
// fd number, so traces compare across runs. Readiness is what poll(fd, 0) says, exactly as
// a real client sees it; waiting yields to the scheduler instead of sleeping.
#pragma once

#include "sim/world.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>

namespace culvert::sim {

class Fiber;

// A socket address built for a node (node_address) or taken from a call.
struct Endpoint {
    sockaddr_storage storage{};
    socklen_t len = 0;
    static Endpoint v4(const uint8_t addr[4], uint16_t port);
    static Endpoint v6(const uint8_t addr[16], uint16_t port);
    static Endpoint of_node(int node, bool ipv6, uint16_t port);
    const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
    std::string str() const;
    uint16_t port() const;
};

// Thrown by Process::fail to leave the process body (caught by the fiber's entry; never
// crosses a node call, which has returned by then).
struct ProcessAbort {};

class Process {
  public:
    Process(World& world, int node, std::string name, std::function<void(Process&)> body,
            uint64_t seed);
    ~Process();

    World& world() { return world_; }
    int node() const { return node_; }
    const std::string& name() const { return name_; }
    Rng& rng() { return rng_; }
    uint64_t now_ns() const { return world_.now_ns(); }

    // --- the client library, as a program calls it (>= 0 or -errno) ---
    int socket(int domain, int type);
    int bind(int fd, const Endpoint& addr);
    int listen(int fd, int backlog);
    int accept(int fd, Endpoint* peer, int flags = 0);
    int connect(int fd, const Endpoint& addr);
    int shutdown(int fd, int how);
    int close(int fd);
    long send(int fd, std::span<const uint8_t> data, int flags = 0);
    long sendto(int fd, std::span<const uint8_t> data, const Endpoint& to, int flags = 0);
    long recv(int fd, std::span<uint8_t> buf, int flags = 0, int* msg_flags = nullptr);
    long recvfrom(int fd, std::span<uint8_t> buf, Endpoint* from, int flags = 0,
                  int* msg_flags = nullptr);
    int setsockopt_int(int fd, int level, int name, int value);
    int getsockopt_int(int fd, int level, int name, int* value);
    int getsockname(int fd, Endpoint* out);
    int set_nonblocking(int fd, bool on);
    int fionread(int fd);  // bytes readable now (ioctl FIONREAD)
    int siocoutq(int fd);  // bytes not yet taken by culvertd (ioctl SIOCOUTQ)

    // poll(fd, 0): the revents a real client would see now.
    short readiness(int fd, short events) const;
    // Waits until poll(fds, 0) reports something (returns the count) or timeout_ns passes
    // (returns 0). Other processes and the stacks run meanwhile.
    int wait(std::span<pollfd> fds, uint64_t timeout_ns = UINT64_MAX);
    short wait_for(int fd, short events, uint64_t timeout_ns = UINT64_MAX);
    void sleep(uint64_t ns);
    // Waits until another process makes cond() true (a harness hand-off, not a socket);
    // false if timeout_ns passed first.
    bool wait_until(std::function<bool()> cond, uint64_t timeout_ns = UINT64_MAX);
    // Lets everyone else run one step, then continues.
    void yield();

    // The oracle watches this socket after every step (World::after_each_step): readable
    // whenever FIONREAD > 0; writable whenever the send ring has room (streams). Call once
    // the connection is established.
    void watch(int fd, bool stream);
    void unwatch(int fd);

    // A correctness or liveness failure in this process: recorded, then the body ends.
    [[noreturn]] void fail(Verdict verdict, const std::string& message);
    void check(bool condition, const std::string& message) {
        if (!condition) fail(Verdict::correctness, message);
    }
    // Adds a line to the trace, prefixed with this process's name.
    void log(const std::string& text);
    std::string sock(int fd) const;

    // --- for World ---
    enum class State { ready, waiting_poll, waiting_cond, waiting_client, sleeping, finished };
    State state() const { return state_; }
    bool runnable_now();  // ready, or its wait/sleep is over
    void resume();        // runs the fiber until it yields; progress() says if it did work
    bool progress() const { return progress_; }
    uint64_t wake_ns() const { return wake_ns_; }
    void parked_in_client();  // the node's client would block: back to the scheduler
    void check_watched();     // the oracle
    std::string describe_wait() const;

  private:
    template <class F>
    long call(const std::string& what, F&& f, bool returns_fd = false);
    void park(State state);
    void name_socket(int fd);

    World& world_;
    int node_;
    std::string name_;
    std::function<void(Process&)> body_;
    Rng rng_;
    std::unique_ptr<Fiber> fiber_;
    State state_ = State::ready;
    bool progress_ = false;
    uint64_t wake_ns_ = UINT64_MAX;
    std::vector<pollfd> wait_fds_;
    std::function<bool()> wait_cond_;
    uint64_t parked_epoch_ = 0;  // World::epoch() when it parked
    std::string waiting_in_;     // the client call this process is parked in
    std::map<int, int> names_;   // fd -> socket number in traces
    int next_name_ = 1;
    struct Watched {
        bool stream;
        int ring_bytes;
    };
    std::map<int, Watched> watched_;
};

// Reproducible payload bytes: byte `offset` of stream `key`. Reordering, duplication or a
// flipped bit anywhere shows up as a mismatch at a known offset.
struct Pattern {
    static void fill(uint64_t key, uint64_t offset, std::span<uint8_t> out);
    // The first offset in `data` (starting at `offset`) that differs, or -1.
    static int64_t mismatch(uint64_t key, uint64_t offset, std::span<const uint8_t> data);
};

}  // namespace culvert::sim
