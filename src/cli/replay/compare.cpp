// Comparison of replay output with the recorded answer (compare.hpp).
#include "cli/replay/compare.hpp"

#include <cstdio>

namespace culvert::replay {
namespace {

bool is_checksum(const Field& f) { return f.name == "checksum" || f.name == "header checksum"; }

std::string hex_byte(uint8_t b) {
    char s[8];
    std::snprintf(s, sizeof s, "0x%02x", b);
    return s;
}

std::optional<std::pair<std::string, std::string>> bytes_differ(const Field& e, const Field& g) {
    if (e.bytes == g.bytes) return std::nullopt;
    size_t i = 0;
    while (i < e.bytes.size() && i < g.bytes.size() && e.bytes[i] == g.bytes[i]) ++i;
    if (i < e.bytes.size() && i < g.bytes.size())
        return std::pair{e.value + ", byte " + std::to_string(i) + " = " + hex_byte(e.bytes[i]),
                         g.value + ", byte " + std::to_string(i) + " = " + hex_byte(g.bytes[i])};
    return std::pair{e.value, g.value};
}

}  // namespace

std::string format_time(uint64_t t_us) {
    char s[32];
    std::snprintf(s, sizeof s, "%llu.%06llu s", static_cast<unsigned long long>(t_us / 1000000),
                  static_cast<unsigned long long>(t_us % 1000000));
    return s;
}

std::optional<Difference> compare_frame(size_t number, const TimedFrame& expected,
                                        const TimedFrame& got_raw, const Bytes& got_mapped,
                                        const CompareOptions& options) {
    const auto e = decode_fields(expected.bytes);
    auto g = decode_fields(got_mapped);
    const auto raw = decode_fields(got_raw.bytes);
    // Mapping back to recorded numbers recomputed the checksums: judge culvert's own.
    for (size_t i = 0; i < g.size() && i < raw.size(); ++i)
        if (is_checksum(g[i]) && is_checksum(raw[i])) g[i].value = raw[i].value;
    Difference d;
    d.frame = number;
    d.expected_frame = expected;
    d.got_frame = got_raw;
    for (size_t i = 0; i < std::max(e.size(), g.size()); ++i) {
        if (i >= g.size()) {
            d.layer = e[i].layer;
            d.field = e[i].name;
            d.expected = e[i].value;
            d.got = "(absent: the frame ends before it)";
            return d;
        }
        if (i >= e.size()) {
            d.layer = g[i].layer;
            d.field = g[i].name;
            d.expected = "(absent: the frame ends before it)";
            d.got = g[i].value;
            return d;
        }
        if (e[i].layer != g[i].layer || e[i].name != g[i].name) {
            d.layer = e[i].layer;
            d.field = e[i].name;
            d.expected = e[i].value;
            d.got = "(" + g[i].layer + " " + g[i].name + " = " + g[i].value + " in its place)";
            return d;
        }
        if (e[i].free) continue;
        if (e[i].is_bytes) {
            if (auto diff = bytes_differ(e[i], g[i])) {
                d.layer = e[i].layer;
                d.field = e[i].name;
                d.expected = diff->first;
                d.got = diff->second;
                return d;
            }
            continue;
        }
        if (e[i].value != g[i].value) {
            d.layer = e[i].layer;
            d.field = e[i].name;
            d.expected = e[i].value;
            d.got = g[i].value;
            return d;
        }
    }
    const uint64_t dt = expected.t_us > got_raw.t_us ? expected.t_us - got_raw.t_us
                                                     : got_raw.t_us - expected.t_us;
    if (dt > options.time_tolerance_us) {
        d.layer = "timing";
        d.field = "time (tolerance " + std::to_string(options.time_tolerance_us / 1000) + " ms)";
        d.expected = format_time(expected.t_us);
        d.got = format_time(got_raw.t_us);
        return d;
    }
    return std::nullopt;
}

std::optional<Difference> compare_runs(const std::vector<TimedFrame>& expected,
                                       const std::vector<TimedFrame>& got_raw,
                                       const std::vector<Bytes>& got_mapped,
                                       const CompareOptions& options) {
    const size_t common = std::min(expected.size(), got_raw.size());
    for (size_t i = 0; i < common; ++i)
        if (auto d = compare_frame(i + 1, expected[i], got_raw[i], got_mapped[i], options)) return d;
    if (expected.size() == got_raw.size()) return std::nullopt;
    Difference d;
    d.frame = common + 1;
    d.layer = "frame";
    d.field = "presence";
    if (expected.size() > got_raw.size()) {
        d.expected = "a frame (" + std::to_string(expected.size()) + " in all)";
        d.got = "none: culvert sent only " + std::to_string(got_raw.size());
        d.expected_frame = expected[common];
    } else {
        d.expected = "no more frames (" + std::to_string(expected.size()) + " in all)";
        d.got = "an extra frame (" + std::to_string(got_raw.size()) + " in all)";
        d.got_frame = got_raw[common];
    }
    return d;
}

std::string format_difference(const Difference& d) {
    std::string s = "first difference at frame " + std::to_string(d.frame) + ": " + d.layer +
                    " " + d.field + "\n";
    s += "  expected: " + d.expected + "\n";
    s += "  got:      " + d.got + "\n";
    if (d.expected_frame)
        s += "  expected frame " + std::to_string(d.frame) + " at " +
             format_time(d.expected_frame->t_us) + ": " + summarize(d.expected_frame->bytes) + "\n";
    if (d.got_frame)
        s += "  got frame " + std::to_string(d.frame) + " at " + format_time(d.got_frame->t_us) +
             ": " + summarize(d.got_frame->bytes) + "\n";
    return s;
}

}  // namespace culvert::replay
