// `culvert`: the user's command for working with culvertd (run programs on it, and more
// subcommands registered in commands.hpp).
#include <algorithm>
#include <array>
#include <exception>
#include <string>
#include <iostream>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"

#ifndef CULVERT_VERSION
#define CULVERT_VERSION "unknown"
#endif

namespace {

// One line per subcommand (see commands.hpp).
constexpr std::array kCommandRegistrations = {
    &culvert::cli::add_run_command,
    &culvert::cli::add_status_command,
    &culvert::cli::add_replay_command,
    &culvert::cli::add_sim_command,
};

int run_culvert(int argc, char** argv) {
    CLI::App app{"culvert: run programs on the culvert userspace TCP/IP stack", "culvert"};
    app.set_version_flag("--version", "culvert " CULVERT_VERSION);
    app.require_subcommand(1);
    std::vector<culvert::cli::Command> commands;
    commands.reserve(kCommandRegistrations.size());
    for (auto registration : kCommandRegistrations) commands.push_back(registration(app));

    // CLI11 (2.1) mangles what follows "--" inside a subcommand, so it only sees the words
    // before the first "--"; the rest goes to the chosen command as they were typed.
    std::vector<std::string> head(argv + 1, argv + argc);
    culvert::cli::TrailingArgs trailing;
    if (auto dashes = std::find(head.begin(), head.end(), "--"); dashes != head.end()) {
        trailing.emplace(dashes + 1, head.end());
        head.erase(dashes, head.end());
    }
    std::reverse(head.begin(), head.end());  // CLI11 takes a vector in reverse order
    try {
        app.parse(head);
    } catch (const CLI::ParseError& e) {
        const int status = app.exit(e);
        return status == 0 ? 0 : culvert::cli::kExitUsage;
    }
    for (auto& command : commands) {
        if (!command.app->parsed()) continue;
        if (trailing && !command.takes_trailing) {
            std::cerr << "culvert " << command.app->get_name() << ": unexpected \"--\"\n";
            return culvert::cli::kExitUsage;
        }
        return command.action(std::move(trailing));
    }
    return culvert::cli::kExitUsage;  // unreachable: require_subcommand(1)
}

}  // namespace

int main(int argc, char** argv) {
    // Subcommands report operating errors as exit statuses; this only catches what should
    // never happen (out of memory, a CLI11 misuse) so it ends with a message, not abort().
    try {
        return run_culvert(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "culvert: " << e.what() << "\n";
        return culvert::cli::kExitCulvertFailed;
    }
}
