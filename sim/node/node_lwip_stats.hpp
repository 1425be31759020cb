// lwIP's counters as JSON (every protocol's drops and errors, every memory pool in use):
// the numbers the simulator needs to explain a lost datagram or prove nothing leaked.
#pragma once

#include "sim/node/node_api.h"

#include <nlohmann/json.hpp>

namespace culvert::sim {

nlohmann::json lwip_stats_json();
void lwip_resources(culvert_sim_node_resources& out);

}  // namespace culvert::sim
