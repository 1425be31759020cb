// PacketBackend over capture files: received frames come from an input capture at their
// timestamps (relative to the capture's time base) on the backend's clock, transmitted
// frames go to an output capture stamped with that clock. With a virtual clock a replay
// is deterministic; with the default clock (monotonic, from open) culvertd plays a
// capture in real time.
#pragma once

#include "backends/backend.hpp"
#include "backends/pcap/pcap_file.hpp"

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace culvert::backends {

struct PcapBackendConfig {
    std::string name = "pcap";
    MacAddress mac{0x02, 0x63, 0x76, 0x00, 0x00, 0x01};
    uint16_t mtu = 1500;
    // Frames to receive, in time order; frame i is due when clock_us() >= ts_us - base_us.
    std::vector<PcapFrame> input;
    uint64_t base_us = 0;
    // Where transmitted frames go (none: they are counted and dropped from the file's view).
    std::optional<PcapWriter> output;
    // The backend's clock in microseconds; empty: CLOCK_MONOTONIC since open.
    std::function<uint64_t()> clock_us;
    // Give the stack a timerfd that fires when the next input frame is due (culvertd's
    // epoll loop); without it pollable_fd() is -1 and the caller polls (replay). Only
    // with the default clock.
    bool timer_fd = false;
};

class PcapBackend final : public PacketBackend {
  public:
    static std::expected<std::unique_ptr<PcapBackend>, BackendError> open(PcapBackendConfig config);
    ~PcapBackend() override;
    PcapBackend(const PcapBackend&) = delete;
    PcapBackend& operator=(const PcapBackend&) = delete;

    std::string_view name() const override { return name_; }
    MacAddress mac() const override { return mac_; }
    BackendCaps caps() const override;
    size_t rx_burst(std::span<Frame> frames) override;
    size_t tx_burst(std::span<const Frame> frames) override;
    int pollable_fd() const override { return timer_fd_; }
    BackendStats stats() const override { return stats_; }

    // When the next input frame is due on the backend's clock (us); nullopt: none left.
    std::optional<uint64_t> next_due_us() const;
    size_t input_remaining() const { return input_.size() - next_; }
    // Flushes the output capture; false if writing it failed.
    bool flush_output();

  private:
    explicit PcapBackend(PcapBackendConfig config);
    void arm_timer();

    std::string name_;
    MacAddress mac_;
    uint16_t mtu_;
    std::vector<PcapFrame> input_;
    uint64_t base_us_;
    size_t next_ = 0;
    std::optional<PcapWriter> output_;
    OrderedStamps stamps_;
    std::function<uint64_t()> clock_us_;
    uint64_t monotonic_start_us_ = 0;
    int timer_fd_ = -1;
    BackendStats stats_{};
};

}  // namespace culvert::backends
