// A wrapper that mirrors every frame crossing any PacketBackend into a pcap file, in the
// order the stack saw them (received frames when rx_burst returns them, transmitted frames
// when the inner backend takes them), optionally only those a BPF filter matches.
#pragma once

#include "backends/backend.hpp"
#include "backends/pcap/pcap_file.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

namespace culvert::backends {

struct CaptureStats {
    uint64_t frames_written = 0;
    uint64_t frames_filtered_out = 0;
    bool write_failed = false;  // the file is incomplete (disk full, ...)
};

class CaptureBackend final : public PacketBackend {
  public:
    // clock_us stamps the records (made unique and ordered by OrderedStamps). culvertd
    // passes its stack clock so that a capture replays at the times lwIP saw the frames
    // (docs/replay.md).
    CaptureBackend(std::unique_ptr<PacketBackend> inner, PcapWriter writer,
                   std::optional<BpfFilter> filter, std::function<uint64_t()> clock_us);
    ~CaptureBackend() override;

    std::string_view name() const override { return inner_->name(); }
    MacAddress mac() const override { return inner_->mac(); }
    BackendCaps caps() const override { return inner_->caps(); }
    size_t rx_burst(std::span<Frame> frames) override;
    size_t tx_burst(std::span<const Frame> frames) override;
    void tx_flush() override { inner_->tx_flush(); }
    int pollable_fd() const override { return inner_->pollable_fd(); }
    BackendStats stats() const override { return inner_->stats(); }

    CaptureStats capture_stats() const;
    PacketBackend& inner() { return *inner_; }

  private:
    void record(std::span<const Frame> frames);

    std::unique_ptr<PacketBackend> inner_;
    PcapWriter writer_;
    std::optional<BpfFilter> filter_;
    std::function<uint64_t()> clock_us_;
    OrderedStamps stamps_;
    uint64_t filtered_out_ = 0;
};

}  // namespace culvert::backends
