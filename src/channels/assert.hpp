// Always-on assertion for PROGRAMMER errors in the channel code (CONVENTIONS: assertions
// stay on in every build). Operating errors, including anything a hostile peer can cause,
// are ChannelError values instead and must never reach this macro.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace culvert::channels::detail {

[[noreturn]] inline void assert_failed(const char* expr, const char* file, int line) {
    // stdio rather than iostream: this runs inside the preload library, maybe during exit.
    std::fprintf(stderr, "culvert: assertion failed: %s (%s:%d)\n", expr, file, line);
    std::abort();
}

}  // namespace culvert::channels::detail

#define CULVERT_CHANNELS_ASSERT(expr)             \
    (__builtin_expect(static_cast<bool>(expr), 1) \
         ? static_cast<void>(0)                   \
         : ::culvert::channels::detail::assert_failed(#expr, __FILE__, __LINE__))
