// Tests src/backends/tap error paths that need no privileges: every bad configuration is
// refused as a value with a reason before any device is touched.
#include "backends/tap/tap_backend.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

namespace {

using culvert::backends::TapBackend;
using culvert::backends::TapConfig;

TapConfig valid_config() {
    TapConfig c;
    c.name = "cvt0";
    // Unprivileged and side-effect free: the clone device is never opened in these tests
    // except where it is meant to be missing.
    c.clone_device = "/nonexistent/culvert/tun";
    return c;
}

TEST(TapBackendErrors, NameLongerThanFifteenBytesIsRefused) {
    TapConfig c = valid_config();
    c.name = "cvt-name-too-long";  // 17 bytes
    auto r = TapBackend::open(c);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().errno_value, EINVAL);
    EXPECT_NE(r.error().message.find("'cvt-name-too-long' is 17 bytes long"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("at most 15"), std::string::npos) << r.error().message;
}

TEST(TapBackendErrors, FifteenByteNameIsAcceptedByTheNameCheck) {
    EXPECT_EQ(culvert::backends::tap_name_problem("abcdefghijklmno"), "");
    EXPECT_NE(culvert::backends::tap_name_problem("abcdefghijklmnop"), "");
}

TEST(TapBackendErrors, NamesLinuxForbidsAreRefused) {
    for (const char* bad : {"a/b", "a:b", "a b", ".", ".."}) {
        TapConfig c = valid_config();
        c.name = bad;
        auto r = TapBackend::open(c);
        ASSERT_FALSE(r.has_value()) << bad;
        EXPECT_EQ(r.error().errno_value, EINVAL) << bad;
        EXPECT_NE(r.error().message.find(std::string("'") + bad + "'"), std::string::npos)
            << r.error().message;
    }
}

TEST(TapBackendErrors, MissingCloneDeviceSaysSo) {
    auto r = TapBackend::open(valid_config());
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().errno_value, ENOENT);
    EXPECT_NE(r.error().message.find("/nonexistent/culvert/tun"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("no TUN/TAP support"), std::string::npos) << r.error().message;
}

TEST(TapBackendErrors, MulticastOrZeroMacIsRefused) {
    TapConfig c = valid_config();
    c.mac = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
    auto r = TapBackend::open(c);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("unicast"), std::string::npos) << r.error().message;
    c.mac = {};
    r = TapBackend::open(c);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("non-zero"), std::string::npos) << r.error().message;
}

TEST(TapBackendErrors, EmptyOrHugeBufferPoolIsRefused) {
    TapConfig c = valid_config();
    c.rx_pool_frames = 0;
    auto r = TapBackend::open(c);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("rx_pool_frames"), std::string::npos) << r.error().message;
    c.rx_pool_frames = 1u << 20;
    EXPECT_FALSE(TapBackend::open(c).has_value());
}

}  // namespace
