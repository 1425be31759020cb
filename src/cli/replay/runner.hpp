// `culvert replay`: plays the peer's side of a capture into culvertd's real stack and the
// real client library in one thread under a virtual clock, runs an app on culvert's side,
// records every frame culvert sends with its virtual time and compares them with the
// recorded answer (docs/replay.md). `--live` runs the same app against a running culvertd
// instead, which is how a corpus is recorded.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace culvert::replay {

inline constexpr int kReplayEqual = 0;
inline constexpr int kReplayDiffers = 1;
inline constexpr int kReplayBadInput = 2;
inline constexpr int kReplayFailed = 125;

struct ReplayOptions {
    std::string input;                   // the peer's frames
    std::optional<std::string> expect;   // culvert's recorded answer
    std::optional<std::string> output;   // where to write what culvert sends now
    std::string app = "none";
    uint64_t seed = 1;
    // Culvert's side: ADDR[/N] or ADDR[/N]=NEWADDR[/N] (the capture's address, moved onto
    // culvert's); MAC or MAC=NEWMAC. Unset: taken from the recorded answer.
    std::vector<std::string> as;
    std::optional<std::string> mac;
    std::vector<std::string> maps;  // OLD=NEW for any other address (MAC, IPv4, IPv6)
    uint16_t mtu = 1500;
    uint64_t tolerance_ms = 50;
    std::optional<uint64_t> duration_ms;
    std::optional<std::string> compare_filter;  // BPF: compare only frames it matches
    bool verbose = false;
    std::string command_line;  // printed in the "reproduce with" line
};

int run_replay(const ReplayOptions& options, std::ostream& out, std::ostream& err);

// Runs `app` against the culvertd at `socket` (or $CULVERT_SOCKET) until it finishes or a
// SIGINT/SIGTERM arrives.
int run_live(const std::string& app, const std::optional<std::string>& socket, std::ostream& err);

}  // namespace culvert::replay
