// Whole-stack properties over generated scenarios (sim/, docs/simulator.md): rapidcheck
// draws the seeds, each seed generates a whole scenario (nodes, impairments, programs,
// sizes) that runs in a forked child on fresh culvert instances, and the scenario checks
// its property. A failure prints the command that replays it. Shrinking is off: a seed
// does not shrink. Case counts: CULVERT_SIM_SCALE (a factor, default per build) scales them.
#include "sim/runner.hpp"
#include "sim/scenario.hpp"
#include "sim/wire/rng.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#ifndef CULVERT_SIM_DEFAULT_SCALE
#define CULVERT_SIM_DEFAULT_SCALE 1.0
#endif
#ifndef CULVERT_SIM_OPTIMIZED
#define CULVERT_SIM_OPTIMIZED 0
#endif

namespace {

using culvert::sim::Outcome;
using culvert::sim::RunOptions;
using culvert::sim::Verdict;

double scale() {
    if (const char* s = std::getenv("CULVERT_SIM_SCALE"); s && *s) return std::atof(s);
    return CULVERT_SIM_DEFAULT_SCALE;
}

int cases(int release_count) {
    const int n = static_cast<int>(release_count * scale() + 0.5);
    return n < 1 ? 1 : n;
}

std::string describe(const Outcome& o, uint64_t seed) {
    std::ostringstream s;
    s << culvert::sim::verdict_name(o.verdict) << " in " << o.scenario << " seed " << seed << ": "
      << o.message << "\n";
    if (!o.trace_tail.empty()) s << "last trace lines:\n" << o.trace_tail;
    s << "reproduce with: " << culvert::sim::reproduce_command(o.scenario, seed);
    return s.str();
}

Outcome run(const std::string& scenario, uint64_t seed) {
    RunOptions o;
    o.scenario = scenario;
    o.seed = seed;
    o.wall_timeout_s = 50;
    return culvert::sim::run_scenario(o);
}

// The test runs the same scenarios on every run (a failure in CI is a bug at that commit,
// never bad luck), unless RC_PARAMS names a seed or CULVERT_SIM_EXPLORE is set: then
// rapidcheck draws new ones (the soak, docs/simulator.md).
rc::detail::TestParams params_for(int count) {
    rc::detail::TestParams params = rc::detail::configuration().testParams;
    const char* rc_params = std::getenv("RC_PARAMS");
    const bool seed_given = rc_params && std::string_view(rc_params).find("seed=") != std::string_view::npos;
    if (!seed_given && !std::getenv("CULVERT_SIM_EXPLORE")) params.seed = 0x5eed'c0ffeeull;
    params.maxSuccess = count;
    params.disableShrinking = true;
    return params;
}

// A scenario seed from rapidcheck's value, salted with the test's name: two tests of one
// scenario kind draw different seeds from the same rapidcheck sequence.
uint64_t scenario_seed(uint64_t drawn) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char* c = ::testing::UnitTest::GetInstance()->current_test_info()->name(); *c; ++c)
        h = (h ^ static_cast<uint8_t>(*c)) * 0x100000001b3ull;
    uint64_t x = drawn ^ h;
    return culvert::sim::Rng::splitmix64(x) & ((uint64_t{1} << 53) - 1);
}

// `count` scenarios of one kind, seeds from rapidcheck; every one must pass.
void check_scenarios(const std::string& scenario, int count) {
    const rc::detail::TestParams params = params_for(count);
    rc::detail::TestMetadata meta;
    meta.id = meta.description = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    uint64_t passed = 0;
    double wall = 0;
    const auto result = rc::detail::checkTestable(
        [&] {
            const uint64_t seed = scenario_seed(*rc::gen::arbitrary<uint64_t>());
            const Outcome o = run(scenario, seed);
            if (o.verdict != Verdict::pass) {
                const std::string text = describe(o, seed);
                std::fprintf(stderr, "%s\n", text.c_str());
                RC_FAIL(text);
            }
            ++passed;
            wall += o.wall_s;
        },
        meta, params);
    std::printf("%s: %llu scenarios passed, %.3f s of scenario wall time\n", scenario.c_str(),
                static_cast<unsigned long long>(passed), wall);
    if (!result.template is<rc::detail::SuccessResult>()) {
        std::ostringstream ss;
        rc::detail::printResultMessage(result, ss);
        FAIL() << ss.str();
    }
}

// Release counts (>= 2,000 scenarios per run in total); other builds scale them down.
TEST(SimProps, StreamBytesArriveOnceInOrderUnchangedUnderImpairments) {
    check_scenarios("stream", cases(450));
}
TEST(SimProps, StreamBytesArriveOnceInOrderUnchangedUnderImpairments2) {
    check_scenarios("stream", cases(450));
}
TEST(SimProps, DatagramsArriveWholeOrNotAtAllAndEveryLossIsExplained) {
    check_scenarios("datagram", cases(400));
}
TEST(SimProps, StoppedReaderClosesWindowBlocksWriterBoundsMemoryThenDrains) {
    check_scenarios("flow", cases(60));
}
TEST(SimProps, ReadinessReflectsRingsAfterEveryStepNoLostOrSpuriousWakeups) {
    check_scenarios("wakeup", cases(300));
}
TEST(SimProps, TeardownReleasesEverythingAndResetsFollowTcp7) {
    check_scenarios("teardown", cases(300));
}

// Seeds that once failed, each for a bug fixed since (docs/simulator.md, "Bugs it found").
TEST(SimProps, SeedsThatFoundBugsPass) {
    const std::pair<const char*, uint64_t> found[] = {
        {"stream", 148},            // lwIP's first ephemeral TCP port 0 (stack_hooks.c)
        {"datagram", 91008579},     // lwIP's IPv6 reassembly with a hole (ip6_reassembly.cpp)
        {"datagram", 91006445},     // IPv6 UDP above 65,487 bytes: EMSGSIZE, not ENOBUFS
    };
    for (const auto& [scenario, seed] : found) {
        const Outcome o = run(scenario, seed);
        EXPECT_EQ(o.verdict, Verdict::pass) << describe(o, seed);
    }
}

TEST(SimProps, SameSeedGivesTheSameTraceHash) {
    const rc::detail::TestParams params = params_for(cases(40));
    rc::detail::TestMetadata meta;
    meta.id = meta.description = "SameSeedGivesTheSameTraceHash";
    const auto result = rc::detail::checkTestable(
        [&] {
            const uint64_t seed = scenario_seed(*rc::gen::arbitrary<uint64_t>());
            const Outcome a = run("random", seed);
            const Outcome b = run("random", seed);
            RC_ASSERT(a.verdict != Verdict::crash);
            if (a.trace_hash != b.trace_hash || a.trace_events != b.trace_events ||
                a.virtual_ns != b.virtual_ns) {
                const std::string text =
                    "seed " + std::to_string(seed) + " (" + a.scenario + ") ran twice: hashes " +
                    std::to_string(a.trace_hash) + " / " + std::to_string(b.trace_hash) +
                    "\nreproduce with: " + culvert::sim::reproduce_command(a.scenario, seed);
                RC_FAIL(text);
            }
        },
        meta, params);
    if (!result.template is<rc::detail::SuccessResult>()) {
        std::ostringstream ss;
        rc::detail::printResultMessage(result, ss);
        FAIL() << ss.str();
    }
}

#ifdef CULVERT_SIM_CLI
// The command that failures print replays the run exactly: another process (other fd
// numbers, other addresses) gives the same trace hash.
TEST(SimProps, CulvertSimCommandReplaysTheSameTrace) {
    for (uint64_t seed : {7ull, 1234567ull}) {
        const Outcome here = run("stream", seed);
        ASSERT_EQ(here.verdict, Verdict::pass) << describe(here, seed);
        const std::string cmd = std::string(CULVERT_SIM_CLI) + " sim --seed " +
                                std::to_string(seed) + " --scenario stream";
        FILE* f = popen(cmd.c_str(), "r");
        ASSERT_NE(f, nullptr);
        std::string out;
        char buf[4096];
        while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
        ASSERT_EQ(pclose(f), 0) << out;
        char hash[32];
        std::snprintf(hash, sizeof hash, "trace=%016llx",
                      static_cast<unsigned long long>(here.trace_hash));
        EXPECT_NE(out.find("seed=" + std::to_string(seed)), std::string::npos)
            << "the seed is printed first:\n"
            << out;
        EXPECT_NE(out.find(hash), std::string::npos) << "expected " << hash << " in:\n" << out;
    }
}
#endif

TEST(SimProps, TenIdleVirtualMinutesTakeWellUnderASecond) {
    for (uint64_t seed : {1ull, 2ull, 3ull}) {
        const Outcome o = run("idle", seed);
        ASSERT_EQ(o.verdict, Verdict::pass) << describe(o, seed);
        EXPECT_GE(o.virtual_ns, 600'000'000'000ull);
        // Deterministic: time jumps from timer to timer (a few per virtual second).
        EXPECT_LT(o.steps, 20'000u) << "steps for ten idle minutes";
        EXPECT_LT(o.wall_s, CULVERT_SIM_OPTIMIZED ? 1.0 : 5.0)
            << "wall seconds for ten virtual minutes";
    }
}

TEST(SimProps, BulkMegabyteAtFivePercentLossArrivesIntact) {
    const Outcome o = run("bulk", 1);
    ASSERT_EQ(o.verdict, Verdict::pass) << describe(o, 1);
    EXPECT_EQ(o.summary["bytes_verified"], 1u << 20);
    EXPECT_GT(o.summary["wire"]["lost"].get<uint64_t>(), 0u)
        << "the wire lost nothing: not the scenario it claims";
}

// --pcap writes what crossed the wire in a file tshark reads: one record per frame, TCP
// decoded, the retransmissions that 5% loss forces visible to tshark's analysis.
TEST(SimProps, WireCaptureIsReadByTshark) {
    if (std::system("command -v tshark >/dev/null 2>&1") != 0) {
        if (std::getenv("CI")) FAIL() << "tshark is missing (scripts/setup.sh installs it)";
        GTEST_SKIP() << "tshark not installed";
    }
    const std::string path =
        ::testing::TempDir() + "culvert-sim-" + std::to_string(::getpid()) + ".pcap";
    RunOptions opt;
    opt.scenario = "bulk";
    opt.seed = 3;
    opt.pcap_path = path;
    const Outcome o = culvert::sim::run_scenario(opt);
    ASSERT_EQ(o.verdict, Verdict::pass) << describe(o, 3);
    auto lines = [](const std::string& cmd) {
        FILE* f = popen(cmd.c_str(), "r");
        std::string out;
        char buf[4096];
        while (f && fgets(buf, sizeof buf, f)) out += buf;
        if (f) pclose(f);
        return static_cast<uint64_t>(std::count(out.begin(), out.end(), '\n'));
    };
    const uint64_t frames = lines("tshark -r " + path + " 2>/dev/null");
    const uint64_t tcp = lines("tshark -r " + path + " -Y tcp 2>/dev/null");
    const uint64_t retrans =
        lines("tshark -r " + path + " -Y tcp.analysis.retransmission 2>/dev/null");
    std::remove(path.c_str());
    EXPECT_EQ(frames, o.summary["wire"]["frames"].get<uint64_t>());
    EXPECT_GT(tcp, 700u) << "1 MiB at MSS 1460 is over 700 segments";
    EXPECT_GT(retrans, 0u) << "5% loss must show retransmissions";
}

TEST(SimProps, FailuresComeBackWithTheirOwnVerdict) {
    EXPECT_EQ(run("fault-correctness", 5).verdict, Verdict::correctness);
    EXPECT_EQ(run("fault-liveness", 5).verdict, Verdict::liveness);
    const Outcome crash = run("fault-crash", 5);
    EXPECT_EQ(crash.verdict, Verdict::crash);
    EXPECT_NE(crash.message.find("SIGABRT"), std::string::npos) << crash.message;
    // A scenario name nobody registered is a setup failure, reported, not a crash.
    EXPECT_EQ(run("no-such-scenario", 5).verdict, Verdict::setup);
    EXPECT_EQ(culvert::sim::reproduce_command("stream", 42),
              "culvert sim --seed 42 --scenario stream");
}

#ifdef CULVERT_SIM_CLI
// culvert sim prints the seed first, the reproduce command on failure, and exits with a
// status per verdict: 1 correctness, 3 liveness, 4 crash.
TEST(SimProps, CulvertSimExitStatusTellsTheKindOfFailure) {
    const std::pair<const char*, int> cases[] = {
        {"fault-correctness", 1}, {"fault-liveness", 3}, {"fault-crash", 4}, {"bulk", 0}};
    for (const auto& [scenario, status] : cases) {
        const std::string cmd =
            std::string(CULVERT_SIM_CLI) + " sim --seed 9 --scenario " + scenario + " 2>&1";
        FILE* f = popen(cmd.c_str(), "r");
        ASSERT_NE(f, nullptr);
        std::string out;
        char buf[4096];
        while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
        const int rc = pclose(f);
        ASSERT_TRUE(WIFEXITED(rc)) << out;
        EXPECT_EQ(WEXITSTATUS(rc), status) << scenario << ":\n" << out;
        EXPECT_EQ(out.rfind("culvert sim: seed=9 scenario=", 0), 0u) << "the seed comes first:\n"
                                                                     << out;
        if (status != 0) {
            EXPECT_NE(out.find(std::string("reproduce with: culvert sim --seed 9 --scenario ") +
                               scenario),
                      std::string::npos)
                << out;
        }
    }
}
#endif

}  // namespace
