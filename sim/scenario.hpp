// Scenarios: what a run of the simulator does, generated entirely from its seed (nodes,
// impairments, programs, sizes). `culvert sim --seed N --scenario NAME` replays one; the
// property tests run thousands. A scenario builds its World, spawns its processes, runs,
// then checks what must hold; any failure is recorded on the World.
#pragma once

#include "sim/world.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace culvert::sim {

// What the runner gives a scenario: the seed, its random stream, the settings that do not
// depend on the scenario (socket directory, pcap, trace) and the nodes.
class ScenarioContext {
  public:
    ScenarioContext(uint64_t seed, WorldConfig base, std::vector<const culvert_sim_node_api*> apis)
        : seed_(seed),
          rng_(Rng(seed).derive(0x5ce7a210)),
          base_(std::move(base)),
          apis_(std::move(apis)) {}

    uint64_t seed() const { return seed_; }
    Rng& rng() { return rng_; }
    // A config with the runner's settings filled in; change what the scenario decides.
    WorldConfig config() const { return base_; }
    // Creates and starts the world (at most once); null on a setup failure (see failure()).
    World* make_world(const WorldConfig& config);
    World* world() const { return world_.get(); }
    // Numbers worth reporting (bytes moved, drops, ...), printed by the CLI.
    nlohmann::json& summary() { return summary_; }

  private:
    uint64_t seed_;
    Rng rng_;
    WorldConfig base_;
    std::vector<const culvert_sim_node_api*> apis_;
    std::unique_ptr<World> world_;
    nlohmann::json summary_ = nlohmann::json::object();
};

struct ScenarioInfo {
    std::string_view name;
    std::string_view description;
    int max_nodes;
    void (*run)(ScenarioContext& ctx);
};

std::span<const ScenarioInfo> scenario_list();
const ScenarioInfo* find_scenario(std::string_view name);
// "random": any registered scenario, chosen by the seed.
const ScenarioInfo* pick_scenario(std::string_view name, uint64_t seed);

}  // namespace culvert::sim
