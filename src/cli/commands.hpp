// The `culvert` command's subcommands. Each lives in its own file and registers itself
// on the top-level CLI11 app through one add_<name>_command() function listed here.
//
// To add a subcommand (status, demo, sim, replay, ...): write src/cli/<name>.cpp (sources
// are globbed) defining add_<name>_command(), declare it below and append it to
// kCommandRegistrations in main.cpp.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/App.hpp>

namespace culvert::cli {

// Exit statuses shared by subcommands, following env(1) and the shell: 2 for a bad
// command line, 125 when culvert itself fails, 126 when the program cannot be executed,
// 127 when it is not found.
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCulvertFailed = 125;
inline constexpr int kExitCannotExecute = 126;
inline constexpr int kExitNotFound = 127;

// The words after the first "--" of the command line. main() keeps them from CLI11 so
// that they reach a program untouched; nullopt when there was no "--".
using TrailingArgs = std::optional<std::vector<std::string>>;

// A registered subcommand: its CLI11 sub-app (parsed() tells whether it was chosen) and
// what to do when it was, returning the process exit status. The action runs after
// parsing, so it may read the variables its options were bound to. A command that does
// not set takes_trailing never sees a "--" (main() rejects it as a usage error).
struct Command {
    CLI::App* app = nullptr;
    std::function<int(TrailingArgs trailing)> action;
    bool takes_trailing = false;
};
using CommandRegistration = Command (*)(CLI::App& parent);

// culvert run [--socket PATH] [--preload LIB] -- PROGRAM ARGS...   (run.cpp)
Command add_run_command(CLI::App& parent);
// culvert status [--socket PATH] [--json]   (status.cpp)
Command add_status_command(CLI::App& parent);

// culvert replay --input PEER.pcap [--expect ANSWER.pcap] [--app SPEC] ...   (replay.cpp)
Command add_replay_command(CLI::App& parent);
// culvert sim [--seed N] [--scenario NAME] [--pcap FILE] [--count N] ...   (sim.cpp)
Command add_sim_command(CLI::App& parent);

}  // namespace culvert::cli
