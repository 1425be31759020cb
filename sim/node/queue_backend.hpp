// A PacketBackend over two in-memory frame queues: what the stack sends waits in the tx
// queue until someone pops it, what someone pushes is received. The simulator's wire moves
// frames between nodes through these queues (frames cross the node boundary as bytes); any
// in-process driver (pcap replay, tests) can use it the same way. Not thread-safe.
#pragma once

#include "backends/backend.hpp"

#include <cstddef>
#include <deque>
#include <span>
#include <vector>

namespace culvert::sim {

struct QueueBackendConfig {
    backends::MacAddress mac{};
    uint16_t mtu = 1500;
    size_t tx_queue_frames = 4096;  // a full tx queue pushes back (short tx_burst count)
    size_t rx_queue_frames = 4096;  // a full rx queue refuses push() (counted as rx_dropped)
};

class QueueBackend final : public backends::PacketBackend {
  public:
    explicit QueueBackend(const QueueBackendConfig& config);

    std::string_view name() const override { return "sim"; }
    backends::MacAddress mac() const override { return config_.mac; }
    backends::BackendCaps caps() const override;
    size_t rx_burst(std::span<backends::Frame> frames) override;
    size_t tx_burst(std::span<const backends::Frame> frames) override;
    int pollable_fd() const override { return -1; }  // polled every step
    backends::BackendStats stats() const override { return stats_; }

    // The driver's side. push() copies a frame in (false: rx queue full, frame dropped);
    // pop() moves the oldest transmitted frame out (false: none).
    bool push(std::span<const std::byte> frame);
    bool pop(std::vector<std::byte>& frame);
    bool rx_waiting() const { return !rx_.empty(); }
    void set_link_up(bool up) { link_up_ = up; }

  private:
    QueueBackendConfig config_;
    bool link_up_ = true;
    std::deque<std::vector<std::byte>> rx_;
    std::deque<std::vector<std::byte>> tx_;
    // Frames handed out by the last rx_burst: valid until the next one (backend.hpp).
    std::vector<std::vector<std::byte>> lent_;
    backends::BackendStats stats_{};
};

}  // namespace culvert::sim
