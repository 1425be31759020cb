// Tests of src/server/logging.hpp: the "culvertd" logger's level, format and target.
#include "server/logging.hpp"

#include <regex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

namespace culvert::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Logging, WritesTimestampedLevelledLinesToStderr) {
    testing::internal::CaptureStderr();
    auto logger = setup_logging("info");
    ASSERT_TRUE(logger) << logger.error();
    spdlog::info("hello {}", 42);  // through the default logger
    (*logger)->warn("careful");
    spdlog::debug("not shown at info");
    (*logger)->flush();
    const std::string out = testing::internal::GetCapturedStderr();
    EXPECT_EQ((*logger)->name(), "culvertd");
    EXPECT_EQ(culvertd_logger(), *logger);
    EXPECT_EQ(spdlog::default_logger(), *logger);
    const std::regex line(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} info    hello 42\n)"
                          R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} warning careful\n)");
    EXPECT_TRUE(std::regex_match(out, line)) << out;
    EXPECT_THAT(out, Not(HasSubstr("not shown")));
}

TEST(Logging, LevelComesFromConfigAndSetupCanRepeat) {
    auto debug = setup_logging("debug");
    ASSERT_TRUE(debug) << debug.error();
    EXPECT_EQ((*debug)->level(), spdlog::level::debug);
    auto off = setup_logging("off");
    ASSERT_TRUE(off) << off.error();
    EXPECT_EQ((*off)->level(), spdlog::level::off);
    EXPECT_EQ(culvertd_logger()->level(), spdlog::level::off);
    auto error = setup_logging("error");
    ASSERT_TRUE(error);
    EXPECT_EQ((*error)->level(), spdlog::level::err);
    auto trace = setup_logging("trace");
    ASSERT_TRUE(trace);
    EXPECT_EQ((*trace)->level(), spdlog::level::trace);
}

TEST(Logging, UnknownLevelIsAnErrorNotSilence) {
    auto result = setup_logging("verbose");
    ASSERT_FALSE(result);
    EXPECT_THAT(result.error(), HasSubstr("\"verbose\""));
}

}  // namespace
}  // namespace culvert::server
