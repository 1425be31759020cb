// Where `culvert run` finds libculvert-preload.so when --preload is not given: next to
// the culvert executable, in ../lib (an installed tree) or in the build tree.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace culvert::cli {

inline constexpr std::string_view kPreloadLibraryName = "libculvert-preload.so";

// The places searched, in order, for an executable living in exe_dir.
std::vector<std::string> preload_candidates(std::string_view exe_dir);

// The first candidate that is a regular file, made absolute; or a message listing where
// it looked and how to say where the library is.
std::expected<std::string, std::string> find_preload_library();

// The directory of the running executable (/proc/self/exe), or a message.
std::expected<std::string, std::string> executable_dir();

}  // namespace culvert::cli
