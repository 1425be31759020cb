// Self-tests of the harness (not of culvert): a run that fails its check, one that never
// finishes, one that crashes. Each must come back with its own verdict and exit status,
// and print its reproduce command; the property tests and the CLI test rely on them.
#include "sim/scenarios/common.hpp"
#include "sim/scenarios/scenarios.hpp"

#include <cstdlib>

namespace culvert::sim::scenarios {

namespace {

World* small_world(ScenarioContext& ctx, uint64_t deadline_ns) {
    WorldConfig c = ctx.config();
    c.nodes = 2;
    c.deadline_ns = deadline_ns;
    return ctx.make_world(c);
}

}  // namespace

void fault_correctness(ScenarioContext& ctx) {
    World* w = small_world(ctx, 60 * kSec);
    if (!w) return;
    w->spawn(0, "liar", [](Process& p) {
        p.sleep(p.rng().below(kSec));
        p.fail(Verdict::correctness, "self-test: this check always fails");
    });
    w->run();
}

void fault_liveness(ScenarioContext& ctx) {
    World* w = small_world(ctx, 10 * kSec);
    if (!w) return;
    w->spawn(0, "waiter", [](Process& p) {
        const int l = p.socket(AF_INET, SOCK_STREAM);
        p.bind(l, Endpoint::of_node(0, false, 9));
        p.listen(l, 1);
        p.accept(l, nullptr);  // nobody ever connects
    });
    w->run();
}

void fault_crash(ScenarioContext& ctx) {
    World* w = small_world(ctx, 60 * kSec);
    if (!w) return;
    w->spawn(0, "crasher", [](Process& p) {
        p.sleep(p.rng().below(kSec));
        std::abort();
    });
    w->run();
}

}  // namespace culvert::sim::scenarios
