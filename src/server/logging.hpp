// culvertd's logging: one spdlog logger named "culvertd" writing timestamped, levelled
// lines to stderr, installed as spdlog's default so that every component can log with
// spdlog::info(...) without passing a logger around.
#pragma once

#include <expected>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/logger.h>

namespace culvert::server {

inline constexpr std::string_view kLoggerName = "culvertd";
// ISO-like local time with milliseconds, the level (coloured on a terminal), the message.
inline constexpr std::string_view kLogPattern = "%Y-%m-%d %H:%M:%S.%e %^%-7l%$ %v";

// Creates (or re-creates, so tests and restarts can call it again) the "culvertd" logger
// at `level` (one of log_levels() in config.hpp) and makes it spdlog's default.
std::expected<std::shared_ptr<spdlog::logger>, std::string> setup_logging(std::string_view level);

// The logger setup_logging() installed; a programmer error to call before it.
std::shared_ptr<spdlog::logger> culvertd_logger();

}  // namespace culvert::server
