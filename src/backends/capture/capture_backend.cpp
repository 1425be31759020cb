// CaptureBackend (capture_backend.hpp). Each burst that recorded something is flushed, so
// the file holds only whole records even if culvertd is killed: tshark reads it cleanly.
#include "backends/capture/capture_backend.hpp"

namespace culvert::backends {

CaptureBackend::CaptureBackend(std::unique_ptr<PacketBackend> inner, PcapWriter writer,
                               std::optional<BpfFilter> filter, std::function<uint64_t()> clock_us)
    : inner_(std::move(inner)),
      writer_(std::move(writer)),
      filter_(std::move(filter)),
      clock_us_(std::move(clock_us)) {}

CaptureBackend::~CaptureBackend() { writer_.flush(); }

void CaptureBackend::record(std::span<const Frame> frames) {
    if (frames.empty()) return;
    const uint64_t now = clock_us_();
    bool wrote = false;
    for (const Frame& f : frames) {
        const std::span<const std::byte> bytes(f.data, f.len);
        if (filter_ && !filter_->matches(bytes)) {
            ++filtered_out_;
            continue;
        }
        writer_.write(stamps_.stamp(now), bytes);
        wrote = true;
    }
    if (wrote) writer_.flush();
}

size_t CaptureBackend::rx_burst(std::span<Frame> frames) {
    const size_t n = inner_->rx_burst(frames);
    record(frames.first(n));
    return n;
}

size_t CaptureBackend::tx_burst(std::span<const Frame> frames) {
    const size_t n = inner_->tx_burst(frames);
    record(frames.first(n));  // frames[n..) were not taken: they may come again
    return n;
}

CaptureStats CaptureBackend::capture_stats() const {
    return CaptureStats{writer_.frames_written(), filtered_out_, writer_.failed()};
}

}  // namespace culvert::backends
