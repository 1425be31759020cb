// QueueBackend (queue_backend.hpp): two deques of owned frames.
#include "sim/node/queue_backend.hpp"

#include <algorithm>
#include <cassert>

namespace culvert::sim {

QueueBackend::QueueBackend(const QueueBackendConfig& config) : config_(config) {}

backends::BackendCaps QueueBackend::caps() const {
    backends::BackendCaps c{};
    c.mtu = config_.mtu;
    c.link_up = link_up_;
    return c;  // no offloads: lwIP computes and checks every checksum (corruption must be caught)
}

size_t QueueBackend::rx_burst(std::span<backends::Frame> frames) {
    lent_.clear();
    size_t n = 0;
    while (n < frames.size() && !rx_.empty()) {
        lent_.push_back(std::move(rx_.front()));
        rx_.pop_front();
        auto& f = lent_.back();
        frames[n++] = backends::Frame{f.data(), static_cast<uint16_t>(f.size())};
        stats_.rx_frames++;
        stats_.rx_bytes += f.size();
    }
    return n;
}

size_t QueueBackend::tx_burst(std::span<const backends::Frame> frames) {
    size_t taken = 0;
    for (const auto& f : frames) {
        if (tx_.size() >= config_.tx_queue_frames) break;  // back-pressure
        assert(f.len >= 14);
        ++taken;
        if (!link_up_) {
            stats_.tx_dropped++;
            continue;
        }
        tx_.emplace_back(f.data, f.data + f.len);
        stats_.tx_frames++;
        stats_.tx_bytes += f.len;
    }
    return taken;
}

bool QueueBackend::push(std::span<const std::byte> frame) {
    if (rx_.size() >= config_.rx_queue_frames) {
        stats_.rx_dropped++;
        return false;
    }
    rx_.emplace_back(frame.begin(), frame.end());
    return true;
}

bool QueueBackend::pop(std::vector<std::byte>& frame) {
    if (tx_.empty()) return false;
    frame = std::move(tx_.front());
    tx_.pop_front();
    return true;
}

}  // namespace culvert::sim
