// run_scenario (runner.hpp): in this process, or in a forked child that reports back
// through a pipe as one JSON document.
#include "sim/runner.hpp"

#include "sim/node_loader.hpp"
#include "sim/scenario.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace culvert::sim {

namespace {

nlohmann::json to_json(const Outcome& o) {
    return {{"verdict", static_cast<int>(o.verdict)},
            {"scenario", o.scenario},
            {"message", o.message},
            {"trace_hash", o.trace_hash},
            {"trace_events", o.trace_events},
            {"virtual_ns", o.virtual_ns},
            {"steps", o.steps},
            {"cpu_s", o.cpu_s},
            {"wall_s", o.wall_s},
            {"trace_tail", o.trace_tail},
            {"summary", o.summary}};
}

Outcome from_json(const nlohmann::json& j) {
    Outcome o;
    o.verdict = static_cast<Verdict>(j.at("verdict").get<int>());
    o.scenario = j.at("scenario").get<std::string>();
    o.message = j.at("message").get<std::string>();
    o.trace_hash = j.at("trace_hash").get<uint64_t>();
    o.trace_events = j.at("trace_events").get<uint64_t>();
    o.virtual_ns = j.at("virtual_ns").get<uint64_t>();
    o.steps = j.at("steps").get<uint64_t>();
    o.wall_s = j.at("wall_s").get<double>();
    o.cpu_s = j.at("cpu_s").get<double>();
    o.trace_tail = j.at("trace_tail").get<std::string>();
    o.summary = j.at("summary");
    return o;
}

double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

Outcome setup_failure(const std::string& scenario, const std::string& message) {
    Outcome o;
    o.verdict = Verdict::setup;
    o.scenario = scenario;
    o.message = message;
    return o;
}

Outcome run_here(const RunOptions& options, const ScenarioInfo& info,
                 const std::string& socket_dir) {
    auto loader = NodeLoader::get(info.max_nodes, options.node_library);
    if (!loader) return setup_failure(std::string(info.name), loader.error());
    WorldConfig base;
    base.seed = options.seed;
    base.socket_dir = socket_dir;
    base.pcap_path = options.pcap_path;
    base.echo_trace = options.trace_out;
    ScenarioContext ctx(options.seed, base, (*loader)->apis(info.max_nodes));
    // Wall time is only reported, never consulted by the run.
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = cpu_seconds();
    info.run(ctx);
    const double cpu1 = cpu_seconds();
    const auto t1 = std::chrono::steady_clock::now();
    Outcome o;
    o.scenario = std::string(info.name);
    o.wall_s = std::chrono::duration<double>(t1 - t0).count();
    o.cpu_s = cpu1 - cpu0;
    o.summary = ctx.summary();
    World* w = ctx.world();
    if (!w) return setup_failure(o.scenario, "the scenario made no world");
    if (w->failure()) {
        o.verdict = w->failure()->verdict;
        o.message = w->failure()->message;
        o.trace_tail = w->trace().tail();
    }
    o.trace_hash = w->trace().hash();
    o.trace_events = w->trace().events();
    o.virtual_ns = w->now_ns();
    o.steps = w->steps();
    if (options.trace_out) std::fflush(options.trace_out);
    return o;
}

std::string make_socket_dir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/culvert-sim-XXXXXX";
    if (!mkdtemp(tmpl.data())) return {};
    return tmpl;
}

}  // namespace

std::string reproduce_command(const std::string& scenario, uint64_t seed) {
    return "culvert sim --seed " + std::to_string(seed) + " --scenario " + scenario;
}

Outcome run_scenario(const RunOptions& options) {
    const ScenarioInfo* info = pick_scenario(options.scenario, options.seed);
    if (!info)
        return setup_failure(options.scenario, "no scenario named '" + options.scenario + "'");
    const std::string socket_dir = make_socket_dir();
    if (socket_dir.empty())
        return setup_failure(std::string(info->name),
                             std::string("mkdtemp: ") + std::strerror(errno));
    auto cleanup = [&] {
        std::error_code ec;
        std::filesystem::remove_all(socket_dir, ec);
    };
    if (!options.fork) {
        auto loader = NodeLoader::get(info->max_nodes, options.node_library);
        if (!loader) return setup_failure(std::string(info->name), loader.error());
        if (!(*loader)->take(info->max_nodes)) {
            cleanup();
            return setup_failure(std::string(info->name),
                                 "nodes already used in this process: run forked");
        }
        Outcome o = run_here(options, *info, socket_dir);
        cleanup();
        return o;
    }
    // Load the nodes here, once: every child inherits them pristine.
    if (auto loader = NodeLoader::get(info->max_nodes, options.node_library); !loader) {
        cleanup();
        return setup_failure(std::string(info->name), loader.error());
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        cleanup();
        return setup_failure(std::string(info->name), std::string("pipe: ") + std::strerror(errno));
    }
    std::fflush(nullptr);  // nothing buffered may be written twice
    const auto t0 = std::chrono::steady_clock::now();
    const pid_t pid = fork();
    if (pid < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        cleanup();
        return setup_failure(std::string(info->name), std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
        ::close(fds[0]);
        const std::string text = to_json(run_here(options, *info, socket_dir)).dump();
        size_t off = 0;
        while (off < text.size()) {
            const ssize_t n = ::write(fds[1], text.data() + off, text.size() - off);
            if (n <= 0) break;
            off += static_cast<size_t>(n);
        }
        std::fflush(nullptr);
        _exit(0);
    }
    ::close(fds[1]);
    std::string text;
    bool hung = false;
    char buf[65536];
    for (;;) {
        const double left =
            options.wall_timeout_s -
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (left <= 0) {
            hung = true;
            kill(pid, SIGKILL);
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int r = ::poll(&p, 1, static_cast<int>(std::min(left * 1000, 1000.0)) + 1);
        if (r < 0 && errno == EINTR) continue;
        if (r == 0) continue;
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    cleanup();
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!hung && WIFEXITED(status) && WEXITSTATUS(status) == 0 && !text.empty()) {
        try {
            return from_json(nlohmann::json::parse(text));
        } catch (const std::exception& e) {
            return setup_failure(std::string(info->name),
                                 std::string("unreadable result from the child: ") + e.what());
        }
    }
    Outcome o;
    o.verdict = Verdict::crash;
    o.scenario = std::string(info->name);
    o.wall_s = wall;
    if (hung) {
        o.message = "hung: no result after " + std::to_string(options.wall_timeout_s) +
                    " s of wall time (killed)";
    } else if (WIFSIGNALED(status)) {
        const char* abbrev = sigabbrev_np(WTERMSIG(status));
        o.message = "killed by signal " + std::to_string(WTERMSIG(status)) + " (SIG" +
                    (abbrev ? abbrev : "?") + ")";
    } else {
        o.message =
            "the run exited with status " + std::to_string(WEXITSTATUS(status)) + " and no result";
    }
    return o;
}

}  // namespace culvert::sim
