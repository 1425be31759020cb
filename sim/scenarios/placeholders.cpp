#include "sim/scenarios/common.hpp"
#include "sim/scenarios/scenarios.hpp"
namespace culvert::sim::scenarios {
void flow(ScenarioContext& ctx) { ctx.make_world(ctx.config()); }
void wakeup(ScenarioContext& ctx) { ctx.make_world(ctx.config()); }
void idle(ScenarioContext& ctx) { ctx.make_world(ctx.config()); }
}
