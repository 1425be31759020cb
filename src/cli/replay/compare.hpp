// Frame-by-frame comparison of what culvert sent in a replay with what it sent when the
// capture was recorded: decoded fields in order, free fields skipped, checksums judged
// valid or not rather than compared, times within a tolerance (docs/replay.md).
#pragma once

#include "cli/replay/packet.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace culvert::replay {

struct TimedFrame {
    uint64_t t_us = 0;  // since the replay's time base
    Bytes bytes;
};

struct Difference {
    size_t frame = 0;  // 1-based: the n-th frame culvert sent (Wireshark's numbering)
    std::string layer, field, expected, got;
    std::optional<TimedFrame> expected_frame, got_frame;  // got: as culvert sent it
};

struct CompareOptions {
    uint64_t time_tolerance_us = 50'000;
};

// `got_raw` as culvert sent it (checksums are judged on it); `got_mapped` the same frame in
// the recording's numbers (FlowMapper::unmap_culvert_frame), whose fields are compared.
std::optional<Difference> compare_frame(size_t number, const TimedFrame& expected,
                                        const TimedFrame& got_raw, const Bytes& got_mapped,
                                        const CompareOptions& options);

std::optional<Difference> compare_runs(const std::vector<TimedFrame>& expected,
                                       const std::vector<TimedFrame>& got_raw,
                                       const std::vector<Bytes>& got_mapped,
                                       const CompareOptions& options);

// The report printed on a difference: frame, layer, field, expected vs got, both frames
// summarised.
std::string format_difference(const Difference& d);
std::string format_time(uint64_t t_us);

}  // namespace culvert::replay
