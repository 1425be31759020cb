// Writes frames to a classic libpcap file (nanosecond timestamps, LINKTYPE_ETHERNET) that
// tshark, tcpdump and Wireshark read. Our own few lines rather than libpcap: the simulator's
// timestamps are virtual and nothing else of libpcap is needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <expected>
#include <span>
#include <string>

namespace culvert::sim {

class PcapWriter {
  public:
    // Creates (truncates) the file and writes the header; an error message on failure.
    static std::expected<PcapWriter, std::string> open(const std::string& path);
    PcapWriter(PcapWriter&& other) noexcept : file_(other.file_) { other.file_ = nullptr; }
    PcapWriter& operator=(PcapWriter&& other) noexcept;
    ~PcapWriter();

    void write(uint64_t time_ns, std::span<const std::byte> frame);
    // Flushes; false if any write failed.
    bool close();

  private:
    explicit PcapWriter(std::FILE* file) : file_(file) {}
    std::FILE* file_ = nullptr;
    bool failed_ = false;
};

}  // namespace culvert::sim
