// `culvert run`: start a program with culvert's preload library in LD_PRELOAD (and
// CULVERT_SOCKET when --socket is given), so that its sockets go through culvertd.
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/preload_path.hpp"

namespace culvert::cli {
namespace {

struct RunOptions {
    std::string socket_path;
    std::string preload;
    std::vector<std::string> program;  // PROGRAM ARGS...
};

void complain(std::string_view message) {
    std::fputs(fmt::format("culvert run: {}\n", message).c_str(), stderr);
}

// The library as LD_PRELOAD must name it: an existing regular file, absolute (the
// program may chdir before it execs children that inherit LD_PRELOAD), and free of
// the characters ld.so splits the list at.
std::expected<std::string, std::string> checked_preload(const std::string& lib) {
    struct stat st {};
    if (stat(lib.c_str(), &st) != 0)
        return std::unexpected(
            fmt::format("preload library \"{}\": {}", lib, std::strerror(errno)));
    if (!S_ISREG(st.st_mode))
        return std::unexpected(fmt::format("preload library \"{}\": not a regular file", lib));
    char resolved[PATH_MAX];
    if (realpath(lib.c_str(), resolved) == nullptr)
        return std::unexpected(
            fmt::format("preload library \"{}\": {}", lib, std::strerror(errno)));
    std::string path(resolved);
    if (path.find_first_of(": \t") != std::string::npos)
        return std::unexpected(fmt::format(
            "preload library path \"{}\" contains ':' or a space, which LD_PRELOAD cannot hold",
            path));
    return path;
}

// Ours first, so that our socket() wins over another preload's; an entry already
// naming our library is dropped rather than loaded twice.
std::string prepend_preload(const std::string& lib, const char* existing) {
    std::string out = lib;
    if (existing == nullptr) return out;
    std::string_view rest(existing);
    while (!rest.empty()) {
        const auto end = rest.find_first_of(": \t");
        const auto item = rest.substr(0, end);
        if (!item.empty() && item != lib) out += fmt::format(":{}", item);
        if (end == std::string_view::npos) break;
        rest.remove_prefix(end + 1);
    }
    return out;
}

int run(const RunOptions& opts) {
    if (opts.program.empty()) {
        complain(
            "no program given (usage: culvert run [--socket PATH] [--preload LIB] -- PROGRAM "
            "ARGS...)");
        return kExitUsage;
    }
    auto lib = opts.preload.empty() ? find_preload_library()
                                    : std::expected<std::string, std::string>(opts.preload);
    if (lib) lib = checked_preload(*lib);
    if (!lib) {
        complain(lib.error());
        return kExitCulvertFailed;
    }
    if (!opts.socket_path.empty() && setenv("CULVERT_SOCKET", opts.socket_path.c_str(), 1) != 0) {
        complain(fmt::format("cannot set CULVERT_SOCKET: {}", std::strerror(errno)));
        return kExitCulvertFailed;
    }
    const std::string preload = prepend_preload(*lib, std::getenv("LD_PRELOAD"));
    if (setenv("LD_PRELOAD", preload.c_str(), 1) != 0) {
        complain(fmt::format("cannot set LD_PRELOAD: {}", std::strerror(errno)));
        return kExitCulvertFailed;
    }

    std::vector<char*> argv;
    argv.reserve(opts.program.size() + 1);
    for (const auto& arg : opts.program) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());

    // Only reached when the exec failed: report it like a shell would.
    const int err = errno;
    const std::string& name = opts.program.front();
    if (err == ENOENT || err == ENOTDIR) {
        if (name.find('/') == std::string::npos)
            complain(fmt::format("{}: command not found", name));
        else
            complain(fmt::format("{}: {}", name, std::strerror(err)));
        return kExitNotFound;
    }
    complain(fmt::format("{}: {}", name, std::strerror(err)));
    return kExitCannotExecute;
}

}  // namespace

Command add_run_command(CLI::App& parent) {
    auto opts = std::make_shared<RunOptions>();
    CLI::App* app = parent.add_subcommand(
        "run", "Run PROGRAM with its sockets on culvertd (through LD_PRELOAD)");
    app->add_option("--socket", opts->socket_path,
                    "culvertd's control socket, passed to PROGRAM as CULVERT_SOCKET")
        ->type_name("PATH");
    app->add_option("--preload", opts->preload,
                    fmt::format("The preload library (default: {} next to culvert, in ../lib, or "
                                "in the build tree)",
                                kPreloadLibraryName))
        ->type_name("LIB");
    // PROGRAM ARGS... are not a CLI11 positional: prefix_command() hands everything from
    // the first word that is not ours onwards to PROGRAM untouched (remaining()), even
    // words that look like our options.
    app->prefix_command();
    app->footer(
        "PROGRAM [ARGS...] follow the options, after an optional --; everything from PROGRAM on\n"
        "is passed to it untouched.\n"
        "Example: culvert run --socket /tmp/c.sock -- curl -v http://10.0.0.1/");
    return Command{.app = app,
                   .action =
                       [opts, app](TrailingArgs trailing) {
                           // `run -- PROG ARGS`: nothing of ours is left over, PROG follows "--".
                           // `run PROG ARGS -- MORE`: that "--" was PROG's, give it back.
                           opts->program = app->remaining();
                           if (trailing) {
                               if (!opts->program.empty()) opts->program.emplace_back("--");
                               opts->program.insert(opts->program.end(), trailing->begin(),
                                                    trailing->end());
                           }
                           return run(*opts);
                       },
                   .takes_trailing = true};
}

}  // namespace culvert::cli
