// The scenarios (one function each, registered in scenario.cpp).
#pragma once

namespace culvert::sim {
class ScenarioContext;
}

namespace culvert::sim::scenarios {

void stream(ScenarioContext& ctx);
void bulk(ScenarioContext& ctx);
void datagram(ScenarioContext& ctx);
void flow(ScenarioContext& ctx);
void wakeup(ScenarioContext& ctx);
void teardown(ScenarioContext& ctx);
void idle(ScenarioContext& ctx);
void fault_correctness(ScenarioContext& ctx);
void fault_liveness(ScenarioContext& ctx);
void fault_crash(ScenarioContext& ctx);

}  // namespace culvert::sim::scenarios
