// `culvert sim`: runs the deterministic simulator (sim/, docs/simulator.md). One seed and
// one scenario replay a run exactly; --count runs consecutive seeds (a soak, a benchmark).
// The seed is printed first; a failure prints the command that reproduces it. Exit status:
// 0 pass, 1 correctness failure, 3 liveness failure, 4 crash (2: usage, 125: setup).
#include "cli/commands.hpp"

#include "sim/runner.hpp"
#include "sim/scenario.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>

namespace culvert::cli {

namespace {

inline constexpr int kExitCorrectness = 1;
inline constexpr int kExitLiveness = 3;
inline constexpr int kExitCrash = 4;

int exit_status(sim::Verdict v) {
    switch (v) {
        case sim::Verdict::pass:
            return 0;
        case sim::Verdict::correctness:
            return kExitCorrectness;
        case sim::Verdict::liveness:
            return kExitLiveness;
        case sim::Verdict::crash:
            return kExitCrash;
        case sim::Verdict::setup:
            return kExitCulvertFailed;
    }
    return kExitCulvertFailed;
}

struct SimOptions {
    uint64_t seed = 0;
    bool seed_given = false;
    std::string scenario = "random";
    std::string pcap;
    bool trace = false;
    bool list = false;
    bool no_fork = false;
    uint64_t count = 1;
    double timeout_s = 120;
    std::string node_library;
};

void report_failure(const sim::Outcome& o, uint64_t seed) {
    std::printf("FAIL (%s) %s seed=%llu: %s\n", sim::verdict_name(o.verdict), o.scenario.c_str(),
                static_cast<unsigned long long>(seed), o.message.c_str());
    if (!o.trace_tail.empty()) std::printf("last trace lines:\n%s", o.trace_tail.c_str());
    if (!o.summary.empty()) std::printf("numbers: %s\n", o.summary.dump().c_str());
    std::printf("reproduce with: %s\n", sim::reproduce_command(o.scenario, seed).c_str());
}

int run_sim(const SimOptions& opt) {
    if (opt.list) {
        for (const auto& s : sim::scenario_list())
            std::printf("%-10s %s\n", std::string(s.name).c_str(),
                        std::string(s.description).c_str());
        std::printf("%-10s any of stream, datagram, flow, wakeup, teardown, chosen by the seed\n",
                    "random");
        return 0;
    }
    if (opt.scenario != "random" && !sim::find_scenario(opt.scenario)) {
        std::fprintf(stderr, "culvert sim: no scenario '%s' (see --list)\n", opt.scenario.c_str());
        return kExitUsage;
    }
    uint64_t seed = opt.seed;
    if (!opt.seed_given) {
        // The only real randomness: choosing a seed when none was given (it is printed).
        std::random_device rd;
        seed = (static_cast<uint64_t>(rd()) << 32 | rd()) & ((1ull << 53) - 1);
    }
    if (opt.count == 1) {
        std::printf("culvert sim: seed=%llu scenario=%s\n", static_cast<unsigned long long>(seed),
                    opt.scenario.c_str());
    } else {
        std::printf("culvert sim: seeds=%llu..%llu scenario=%s\n",
                    static_cast<unsigned long long>(seed),
                    static_cast<unsigned long long>(seed + opt.count - 1), opt.scenario.c_str());
    }
    std::fflush(stdout);
    sim::RunOptions ro;
    ro.scenario = opt.scenario;
    ro.pcap_path = opt.pcap;
    ro.trace_out = opt.trace ? stdout : nullptr;
    ro.fork = !opt.no_fork;
    ro.wall_timeout_s = opt.timeout_s;
    ro.node_library = opt.node_library;
    int status = 0;
    uint64_t passed = 0, failed = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < opt.count; ++i) {
        ro.seed = seed + i;
        const sim::Outcome o = sim::run_scenario(ro);
        if (o.verdict == sim::Verdict::pass) {
            ++passed;
            if (opt.count == 1) {
                std::printf(
                    "pass: %s trace=%016llx events=%llu virtual=%.3fs steps=%llu wall=%.3fs "
                    "cpu=%.3fs\n%s\n",
                    o.scenario.c_str(), static_cast<unsigned long long>(o.trace_hash),
                    static_cast<unsigned long long>(o.trace_events),
                    static_cast<double>(o.virtual_ns) / 1e9,
                    static_cast<unsigned long long>(o.steps), o.wall_s, o.cpu_s,
                    o.summary.dump().c_str());
            }
            continue;
        }
        ++failed;
        report_failure(o, ro.seed);
        if (status == 0) status = exit_status(o.verdict);
        if (o.verdict == sim::Verdict::setup) break;
    }
    if (opt.count > 1) {
        const double wall =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::printf("%llu passed, %llu failed in %.2f s: %.1f scenarios/s\n",
                    static_cast<unsigned long long>(passed),
                    static_cast<unsigned long long>(failed), wall,
                    static_cast<double>(passed + failed) / wall);
    }
    return status;
}

}  // namespace

Command add_sim_command(CLI::App& parent) {
    auto opt = std::make_shared<SimOptions>();
    CLI::App* app = parent.add_subcommand(
        "sim", "Run the deterministic simulator (replay a seed, soak, benchmark)");
    app->add_option("--seed", opt->seed, "The run's seed (default: a random one, printed)")
        ->each([opt](const std::string&) { opt->seed_given = true; });
    app->add_option("--scenario", opt->scenario, "Scenario name (--list), or random");
    app->add_option("--pcap", opt->pcap, "Write every frame on the wire to this pcap file");
    app->add_flag("--trace", opt->trace, "Print the trace (every event with its virtual time)");
    app->add_option("--count", opt->count, "Run this many consecutive seeds (soak, benchmark)")
        ->check(CLI::PositiveNumber);
    app->add_option("--timeout", opt->timeout_s, "Wall-clock seconds before a run counts as hung");
    app->add_option("--node-library", opt->node_library,
                    "libculvert-sim-node.so to load (default: next to culvert)");
    app->add_flag("--no-fork", opt->no_fork,
                  "Run in this process (one run per process; for debuggers)");
    app->add_flag("--list", opt->list, "List the scenarios");
    Command c;
    c.app = app;
    c.action = [opt](TrailingArgs) { return run_sim(*opt); };
    return c;
}

}  // namespace culvert::cli
