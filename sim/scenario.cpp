// The scenario registry and ScenarioContext (scenario.hpp).
#include "sim/scenario.hpp"

#include "sim/scenarios/scenarios.hpp"

namespace culvert::sim {

World* ScenarioContext::make_world(const WorldConfig& config) {
    if (world_) return world_.get();
    std::vector<const culvert_sim_node_api*> apis;
    for (int i = 0; i < config.nodes && i < static_cast<int>(apis_.size()); ++i)
        apis.push_back(apis_[static_cast<size_t>(i)]);
    world_ = std::make_unique<World>(config, std::move(apis));
    if (!world_->start()) return nullptr;
    return world_.get();
}

namespace {

constexpr ScenarioInfo kScenarios[] = {
    {"stream",
     "TCP connections with random sizes, styles and impairments: every byte arrives once, in order",
     2, &scenarios::stream},
    {"bulk", "handshake + 1 MiB + close at 5% loss (the benchmark)", 2, &scenarios::bulk},
    {"datagram", "UDP flows under impairments: whole or not at all, every loss explained", 3,
     &scenarios::datagram},
    {"flow",
     "a reader stops: windows close, the writer blocks, memory stays bounded; then it drains", 2,
     &scenarios::flow},
    {"wakeup",
     "non-blocking programs, readiness checked after every step: no lost or spurious wakeups", 3,
     &scenarios::wakeup},
    {"teardown",
     "close orders, resets, refused connects, killed clients: TIME_WAIT and RST as tcp(7), nothing "
     "leaks",
     2, &scenarios::teardown},
    {"idle", "ten virtual minutes of an idle keepalive connection, then data", 2, &scenarios::idle},
    {"fault-correctness", "harness self-test: a check that always fails", 2,
     &scenarios::fault_correctness},
    {"fault-liveness", "harness self-test: a process that waits forever", 2,
     &scenarios::fault_liveness},
    {"fault-crash", "harness self-test: a process that aborts", 2, &scenarios::fault_crash},
};

}  // namespace

std::span<const ScenarioInfo> scenario_list() {
    return kScenarios;
}

const ScenarioInfo* find_scenario(std::string_view name) {
    for (const auto& s : kScenarios)
        if (s.name == name) return &s;
    return nullptr;
}

const ScenarioInfo* pick_scenario(std::string_view name, uint64_t seed) {
    if (name != "random") return find_scenario(name);
    // Everything but the fixed benchmark and the long idle run, by the seed.
    static constexpr std::string_view kRandom[] = {"stream", "datagram", "flow", "wakeup",
                                                   "teardown"};
    Rng r = Rng(seed).derive(0x7a4d0);
    return find_scenario(kRandom[r.below(std::size(kRandom))]);
}

}  // namespace culvert::sim
