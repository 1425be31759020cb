// spdlog set-up for culvertd (see logging.hpp).
#include "server/logging.hpp"

#include <cassert>
#include <optional>

#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace culvert::server {
namespace {

// Our own table, not spdlog::level::from_str(): that one maps any unknown word to "off",
// which would silence a daemon because of a typo.
std::optional<spdlog::level::level_enum> level_from_name(std::string_view name) {
    using spdlog::level::level_enum;
    if (name == "trace") return level_enum::trace;
    if (name == "debug") return level_enum::debug;
    if (name == "info") return level_enum::info;
    if (name == "warn") return level_enum::warn;
    if (name == "error") return level_enum::err;
    if (name == "off") return level_enum::off;
    return std::nullopt;
}

}  // namespace

std::expected<std::shared_ptr<spdlog::logger>, std::string> setup_logging(std::string_view level) {
    const auto lvl = level_from_name(level);
    if (!lvl)
        return std::unexpected(fmt::format(
            "log level \"{}\" is not one of trace, debug, info, warn, error, off", level));
    spdlog::drop(std::string(kLoggerName));
    // The colour sink colours only when stderr is a terminal, so log files stay plain.
    auto logger = spdlog::stderr_color_mt(std::string(kLoggerName));
    logger->set_pattern(std::string(kLogPattern));
    logger->set_level(*lvl);
    // Warnings and errors must reach the terminal or journal even if the process dies next.
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(logger);
    return logger;
}

std::shared_ptr<spdlog::logger> culvertd_logger() {
    auto logger = spdlog::get(std::string(kLoggerName));
    assert(logger && "setup_logging() must run before culvertd_logger()");
    return logger;
}

}  // namespace culvert::server
