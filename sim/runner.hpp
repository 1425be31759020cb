// Runs one scenario for one seed and says how it ended. By default in a forked child: the
// child starts from the parent's pristine nodes (node_loader.hpp), a crash or a hang
// cannot take the caller down, and the caller learns the verdict, the trace hash and the
// scenario's numbers through a pipe.
#pragma once

#include "sim/world.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <string>

namespace culvert::sim {

struct RunOptions {
    std::string scenario = "random";
    uint64_t seed = 1;
    std::string pcap_path;           // write the wire here
    std::FILE* trace_out = nullptr;  // echo every trace line here (from the child)
    bool fork = true;                // false: run here (nodes can then be used only once)
    double wall_timeout_s = 120;     // a child running longer than this is killed (hang)
    std::string node_library;        // empty: the default search
};

struct Outcome {
    Verdict verdict = Verdict::pass;
    std::string scenario;  // the one that ran ("random" resolved)
    std::string message;
    uint64_t trace_hash = 0;
    uint64_t trace_events = 0;
    uint64_t virtual_ns = 0;
    uint64_t steps = 0;
    double wall_s = 0;
    double cpu_s = 0;        // CPU time of the run itself (load on the machine does not inflate it)
    std::string trace_tail;  // the last trace lines, for failure reports
    nlohmann::json summary = nlohmann::json::object();
};

Outcome run_scenario(const RunOptions& options);

// "culvert sim --seed N --scenario NAME"
std::string reproduce_command(const std::string& scenario, uint64_t seed);

}  // namespace culvert::sim
