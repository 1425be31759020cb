// Reading and writing classic pcap files through libpcap: every frame of a capture read
// and checked once (link type, truncation, length, timestamp order), frames written with
// the timestamps the caller gives, and BPF filters compiled for Ethernet frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace culvert::backends {

// One captured Ethernet frame (destination MAC first, no FCS) and when it was seen.
struct PcapFrame {
    uint64_t ts_us = 0;  // microseconds since the Unix epoch (or since a stack clock's zero)
    std::vector<std::byte> bytes;
};

// Why a capture cannot be used: the file, the 1-based frame number (0: the file itself,
// e.g. a bad header or link type) and what is wrong, in words a user can act on.
struct PcapError {
    std::string file;
    uint64_t frame = 0;
    std::string message;
    // "peer.pcap: frame 7: ..." or "peer.pcap: ..."
    std::string describe() const;
};

struct PcapReadLimits {
    // An Ethernet frame is at least its header; at most MTU + 14 + 4 (one VLAN tag).
    size_t min_frame_bytes = 14;
    size_t max_frame_bytes = 1500 + 18;
    // Replay feeds frames in file order at their timestamps: a timestamp that goes back
    // would make that order a lie.
    bool require_ordered_timestamps = true;
    // A bound on memory for hostile files (every frame is held in memory).
    size_t max_frames = 1u << 20;
};

// Reads a whole pcap or pcapng file (libpcap decides which) of Ethernet frames.
std::expected<std::vector<PcapFrame>, PcapError> read_pcap_file(const std::string& path,
                                                                const PcapReadLimits& limits = {});
// The same for a file already in memory; `name` is what errors call it.
std::expected<std::vector<PcapFrame>, PcapError> read_pcap_bytes(std::span<const std::byte> data,
                                                                 std::string_view name,
                                                                 const PcapReadLimits& limits = {});

// Writes Ethernet frames to a classic pcap file (microsecond timestamps) that tshark and
// Wireshark read. Move-only; closing flushes.
class PcapWriter {
  public:
    // Creates or truncates `path` ("-" is stdout).
    static std::expected<PcapWriter, std::string> open(const std::string& path);

    PcapWriter(PcapWriter&&) noexcept;
    PcapWriter& operator=(PcapWriter&&) noexcept;
    ~PcapWriter();

    void write(uint64_t ts_us, std::span<const std::byte> frame);
    // Pushes buffered records to the file so a reader sees whole records. False once any
    // write has failed (disk full, ...); the file is then incomplete.
    bool flush();
    bool failed() const { return failed_; }
    uint64_t frames_written() const { return frames_; }
    const std::string& path() const { return path_; }

  private:
    struct Handles;
    explicit PcapWriter(std::unique_ptr<Handles> h, std::string path);
    std::unique_ptr<Handles> h_;
    std::string path_;
    uint64_t frames_ = 0;
    bool failed_ = false;
};

// A compiled BPF filter (tcpdump syntax) for Ethernet frames. Move-only.
class BpfFilter {
  public:
    static std::expected<BpfFilter, std::string> compile(const std::string& expression);

    BpfFilter(BpfFilter&&) noexcept;
    BpfFilter& operator=(BpfFilter&&) noexcept;
    ~BpfFilter();

    bool matches(std::span<const std::byte> frame) const;
    const std::string& expression() const { return expression_; }

  private:
    struct Program;
    BpfFilter(std::unique_ptr<Program> p, std::string expression);
    std::unique_ptr<Program> p_;
    std::string expression_;
};

// Record timestamps that keep the order frames crossed a backend. culvert's stack clock
// counts milliseconds, so many frames share one reading: within a millisecond the
// microsecond digits count frames (0, 1, 2, ...), which makes every timestamp unique and
// lets a replay put the peer's frames back between culvert's in their recorded order.
class OrderedStamps {
  public:
    uint64_t stamp(uint64_t now_us) {
        if (any_ && now_us <= last_us_) {
            const uint64_t ms_end = last_us_ / 1000 * 1000 + 999;
            now_us = last_us_ < ms_end ? last_us_ + 1 : last_us_;
        }
        any_ = true;
        last_us_ = now_us;
        return now_us;
    }

  private:
    uint64_t last_us_ = 0;
    bool any_ = false;
};

// The time that a capture's timestamps count from. culvert's own captures (--capture,
// the pcap backend, replay output) are stamped with culvertd's stack clock, which starts
// at 0 (1970-01-01): their base is 0, so a replay runs every frame at the stack time it
// was seen, lwIP's timers in the same phase. Any other capture (wall-clock times) counts
// from its first frame's second, which keeps the phase of timers that divide a second.
uint64_t capture_time_base_us(uint64_t earliest_ts_us);
inline constexpr uint64_t kStackClockCaptureLimitUs = 86400ull * 1000000;  // one day

}  // namespace culvert::backends
