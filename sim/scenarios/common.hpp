// Pieces the scenarios share: impairment profiles drawn from the seed, the leak check
// against a baseline taken at start, and the TCP stream programs (blocking and
// non-blocking) that move patterned bytes and verify every one of them.
#pragma once

#include "sim/process.hpp"
#include "sim/scenario.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace culvert::sim::scenarios {

inline constexpr uint64_t kMs = 1'000'000;
inline constexpr uint64_t kSec = 1'000'000'000;

// How hard a profile may hit the link. All profiles leave it eventually usable.
struct ImpairmentLimits {
    double max_loss = 0.10;
    double max_duplicate = 0.05;
    double max_reorder = 0.10;
    double max_corrupt = 0.05;
    uint64_t max_partition_ns = 20 * kSec;
    int max_partitions = 2;
    uint64_t partitions_before_ns = 60 * kSec;  // partitions start within this window
};

// A random profile for one direction (clean, lossy, jittery, slow, partitioned, or a mix).
LinkConfig random_link(Rng& rng, const ImpairmentLimits& limits);
// Applies random_link to every direction between the world's nodes; the same partitions
// cut both directions of a pair (a link is down, not half of it) when `symmetric_cuts`.
void impair_all(World& world, Rng& rng, const ImpairmentLimits& limits, bool symmetric_cuts = true);
std::string describe(const LinkConfig& link);

// Each node's status at the start: what "nothing leaked" is compared with.
std::vector<nlohmann::json> baseline(World& world);
// Lets time pass until every node's lwIP pools and heap are back at the baseline (TIME_WAIT
// over, orphans gone) or `max_ns` passes.
bool wait_until_released(World& world, const std::vector<nlohmann::json>& base, uint64_t max_ns);
// Every socket, pcb, pbuf, lwIP pool and segment byte is back to the baseline; fails the
// world (correctness) otherwise. `killed[i]`: node i's client was killed (no session).
void check_released(World& world, const std::vector<nlohmann::json>& base,
                    const std::vector<bool>& killed = {});

// --- TCP stream programs ---

struct ConnPlan {
    uint32_t id = 0;
    uint64_t up_bytes = 0;    // client -> server (after an 8-byte header naming the connection)
    uint64_t down_bytes = 0;  // server -> client
    bool client_closes_early = false;  // close (not shutdown) once sent, when nothing more comes in
    bool server_closes_early = false;
    int client_node = -1;  // -1: the plan's client_node
};

struct StreamPlan {
    int server_node = 0;
    int client_node = 1;
    uint16_t port = 5001;
    bool ipv6 = false;
    std::vector<ConnPlan> conns;
    bool client_blocking = false;
    bool server_blocking = false;
    uint64_t max_chunk = 65536;
    bool nodelay = false;
    bool peek_sometimes = false;     // MSG_PEEK before some reads
    bool waitall_sometimes = false;  // MSG_WAITALL on some blocking reads
    uint64_t think_max_ns = 0;       // a process pauses up to this long between operations
    bool strict_readiness = false;   // non-blocking: a poll-reported event must not EAGAIN
    bool watch = false;              // register established sockets with the oracle
    uint64_t key = 1;                // pattern keys derive from this
    // Set by the server once it listens (the client waits for it, as a test harness would).
    bool listening = false;
    // lwIP drops a half-open connection (SYN-RCVD) after a fixed 20 s: if the handshake's
    // last ACK and the client's retransmissions are all lost meanwhile, the client's next
    // segment is answered with RST (Linux: the same after ~63 s). Harness bookkeeping for it:
    // the client ports the server accepted, and the connections that expired unaccepted.
    std::set<uint16_t> accepted_ports;
    std::set<uint32_t> expired;
    size_t expected_accepts() const { return conns.size() - expired.size(); }
};

struct StreamTotals {
    uint64_t verified_bytes = 0;
    uint64_t conns_done = 0;
    uint64_t spurious_wakeups = 0;
    uint64_t half_open_expired = 0;
};

void stream_server(Process& p, StreamPlan& plan, StreamTotals& totals);
void stream_client(Process& p, StreamPlan& plan, StreamTotals& totals);
// A random plan for `conns` connections of up to `max_bytes` each way.
StreamPlan random_stream_plan(Rng& rng, int conns, uint64_t max_bytes);

}  // namespace culvert::sim::scenarios
