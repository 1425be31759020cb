// Finding libculvert-preload.so for `culvert run` (see preload_path.hpp).
#include "cli/preload_path.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

// Set by src/cli/CMakeLists.txt to the preload target's file when that target is part of
// the build, so that `culvert run` works straight from the build tree.
#ifndef CULVERT_BUILD_PRELOAD_PATH
#define CULVERT_BUILD_PRELOAD_PATH ""
#endif

namespace culvert::cli {

std::vector<std::string> preload_candidates(std::string_view exe_dir) {
    std::vector<std::string> out = {
        fmt::format("{}/{}", exe_dir, kPreloadLibraryName),
        fmt::format("{}/../lib/{}", exe_dir, kPreloadLibraryName),
    };
    if (std::string_view build_path = CULVERT_BUILD_PRELOAD_PATH; !build_path.empty())
        out.emplace_back(build_path);
    return out;
}

std::expected<std::string, std::string> executable_dir() {
    char path[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n < 0)
        return std::unexpected(fmt::format("cannot read /proc/self/exe: {}", std::strerror(errno)));
    std::string exe(path, static_cast<size_t>(n));
    const auto slash = exe.rfind('/');
    return slash == 0 ? std::string("/") : exe.substr(0, slash);
}

std::expected<std::string, std::string> find_preload_library() {
    auto dir = executable_dir();
    if (!dir) return std::unexpected(dir.error());
    const auto candidates = preload_candidates(*dir);
    for (const auto& candidate : candidates) {
        struct stat st {};
        if (stat(candidate.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        char resolved[PATH_MAX];
        if (realpath(candidate.c_str(), resolved) == nullptr) continue;
        return std::string(resolved);
    }
    std::string searched;
    for (const auto& c : candidates) searched += fmt::format("\n  {}", c);
    return std::unexpected(
        fmt::format("cannot find {}; looked in:{}\nbuild it, or name it with --preload LIB",
                    kPreloadLibraryName, searched));
}

}  // namespace culvert::cli
