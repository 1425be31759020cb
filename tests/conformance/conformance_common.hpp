// What the conformance test and its kernel-side peer agree on: ports and fixed payloads.
#pragma once

#include <cstddef>

namespace culvert::conformance {

inline constexpr int kEchoPort = 7101;          // TCP and UDP
inline constexpr int kSinkPort = 7102;
inline constexpr int kGreetingPort = 7103;
inline constexpr int kCountPort = 7104;
inline constexpr int kConnectBackPort = 7105;
inline constexpr int kTwoPartsPort = 7106;
inline constexpr int kClosedPort = 7199;         // nothing listens: connections are refused

inline constexpr size_t kGreetingBytes = 1000;
inline constexpr const char* kHelloFromPeer = "hello-from-peer";

inline char greeting_byte(size_t i) { return static_cast<char>('A' + (i * 7 + i / 26) % 26); }

}  // namespace culvert::conformance
