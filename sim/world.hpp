// The simulated world: N culvert nodes (each its own lwIP + culvertd + client library,
// reached through node_api.h), the virtual wire between them, a virtual clock and the
// simulated client processes (fibers). The scheduler steps every node, delivers frames at
// their time, resumes every process that can run, checks the oracles, and when nothing
// can happen any more at this instant jumps straight to the next deadline. Nothing reads
// real time or real randomness: one seed, one trace.
#pragma once

#include "sim/node/node_api.h"
#include "sim/trace.hpp"
#include "sim/wire/pcap_writer.hpp"
#include "sim/wire/rng.hpp"
#include "sim/wire/wire.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace culvert::sim {

class Process;

// How a run ended. The CLI's exit statuses follow (sim_runner.hpp).
enum class Verdict : int { pass = 0, correctness = 1, liveness = 2, crash = 3, setup = 4 };
const char* verdict_name(Verdict v);

struct Failure {
    Verdict verdict = Verdict::pass;
    std::string message;
};

// Node i: MAC 02:63:76:00:00:(i+1), 10.0.0.(i+1)/24, fd00::(i+1).
struct NodeAddress {
    Mac mac{};
    uint8_t ipv4[4] = {};
    uint8_t ipv6[16] = {};
};
NodeAddress node_address(int index);

struct WorldConfig {
    uint64_t seed = 1;
    int nodes = 2;
    uint16_t mtu = 1500;
    bool ipv6 = true;
    uint64_t deadline_ns = 600'000'000'000ull;  // liveness: everything done by then
    bool check_readiness = false;               // the wakeup oracle after every step
    std::string socket_dir;                     // control sockets live here
    uint64_t segment_bytes = 64ull << 20;
    std::string pcap_path;  // every frame as it leaves a node
    bool keep_trace = false;
    std::FILE* echo_trace = nullptr;
    bool trace_wire = true;  // a line per frame decision
};

class World {
  public:
    // `apis[i]` is node i's table (fresh: never created before). Nodes start in start().
    World(const WorldConfig& config, std::vector<const culvert_sim_node_api*> apis);
    ~World();
    World(const World&) = delete;
    World& operator=(const World&) = delete;

    // Creates every node's stack and interface; false (and a setup failure) on error.
    bool start();

    const WorldConfig& config() const { return config_; }
    uint64_t now_ns() const { return now_ns_; }
    Wire& wire() { return *wire_; }
    Trace& trace() { return trace_; }
    const culvert_sim_node_api& api(int node) const { return *apis_.at(static_cast<size_t>(node)); }
    int nodes() const { return static_cast<int>(apis_.size()); }

    // A client process on `node` running `body` (on its own fiber) from the next step on.
    // One process per node: each node has one client library instance.
    Process& spawn(int node, std::string name, std::function<void(Process&)> body);

    // Runs until every process has returned; false on a failure or at the deadline.
    bool run();
    // Lets virtual time pass (no process needs to be running) until `until_ns` or until
    // done() says so (checked after every step); false on a failure.
    bool run_until(uint64_t until_ns, const std::function<bool()>& done = {});

    // culvertd's status of a node (Stack::status_json + lwIP and backend counters).
    nlohmann::json status(int node);

    // Records the first failure; the run stops at the next step.
    void fail(Verdict verdict, std::string message);
    const std::optional<Failure>& failure() const { return failure_; }

    // Scenario hooks: more wire observers, and checks run after every step.
    void observe_wire(std::function<void(const WireEvent&)> observer) {
        wire_observers_.push_back(std::move(observer));
    }
    void after_each_step(std::function<void()> check) { step_checks_.push_back(std::move(check)); }

    // Numbers for reports.
    uint64_t steps() const { return steps_; }
    void note(const std::string& text) { trace_.add(now_ns_, text); }

    // --- for Process ---
    static int idle_hook(void* world);  // the client library's idle hook (node_api.h)
    Process* running() const { return running_; }
    // Bumped whenever something that could change a socket's readiness happened (a node
    // stepped, a process did something): a parked process whose epoch is current would
    // see exactly what it saw before, so it is not resumed.
    uint64_t epoch() const { return epoch_; }
    bool aborting() const { return failure_.has_value(); }

  private:
    bool step();  // one scheduler step at now; true if more may happen at now
    bool loop(uint64_t until_ns, bool until_processes_end, const std::function<bool()>& done);
    uint64_t next_event_ns() const;
    void on_wire(const WireEvent& e);
    std::string waiting_report() const;

    WorldConfig config_;
    std::vector<const culvert_sim_node_api*> apis_;
    std::vector<uint64_t> timer_ns_;  // each node's next lwIP timer
    std::vector<uint8_t> node_busy_;  // stepped with output, or its process acted: step again
    std::vector<uint8_t> delivered_;  // frames were pushed into it this step
    uint64_t epoch_ = 1;
    std::unique_ptr<Wire> wire_;
    std::optional<PcapWriter> pcap_;
    Trace trace_;
    uint64_t now_ns_ = 0;
    uint64_t steps_ = 0;
    bool started_ = false;
    std::vector<std::unique_ptr<Process>> processes_;
    Process* running_ = nullptr;
    std::optional<Failure> failure_;
    std::vector<std::function<void(const WireEvent&)>> wire_observers_;
    std::vector<std::function<void()>> step_checks_;
    std::vector<std::byte> frame_buf_;
};

}  // namespace culvert::sim
