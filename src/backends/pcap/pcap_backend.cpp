// PcapBackend (pcap_backend.hpp): input frames released by the clock, output frames
// written with the clock's time.
#include "backends/pcap/pcap_backend.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace culvert::backends {
namespace {

uint64_t monotonic_us() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

PcapBackend::PcapBackend(PcapBackendConfig config)
    : name_(std::move(config.name)),
      mac_(config.mac),
      mtu_(config.mtu),
      input_(std::move(config.input)),
      base_us_(config.base_us),
      output_(std::move(config.output)),
      clock_us_(std::move(config.clock_us)) {}

std::expected<std::unique_ptr<PcapBackend>, BackendError> PcapBackend::open(
    PcapBackendConfig config) {
    const bool want_timer = config.timer_fd;
    if (want_timer && config.clock_us)
        return std::unexpected(BackendError{
            0, config.name + ": a timerfd needs the backend's own (monotonic) clock"});
    std::unique_ptr<PcapBackend> b(new PcapBackend(std::move(config)));
    if (!b->clock_us_) {
        b->monotonic_start_us_ = monotonic_us();
        b->clock_us_ = [start = b->monotonic_start_us_] { return monotonic_us() - start; };
    }
    if (want_timer) {
        b->timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (b->timer_fd_ < 0)
            return std::unexpected(
                BackendError{errno, b->name_ + ": timerfd_create: " + std::strerror(errno)});
        b->arm_timer();
    }
    return b;
}

PcapBackend::~PcapBackend() {
    if (output_) output_->flush();
    if (timer_fd_ >= 0) close(timer_fd_);
}

BackendCaps PcapBackend::caps() const {
    BackendCaps c;
    c.mtu = mtu_;
    c.link_up = true;
    return c;
}

std::optional<uint64_t> PcapBackend::next_due_us() const {
    if (next_ >= input_.size()) return std::nullopt;
    const uint64_t ts = input_[next_].ts_us;
    return ts > base_us_ ? ts - base_us_ : 0;
}

void PcapBackend::arm_timer() {
    if (timer_fd_ < 0) return;
    itimerspec spec{};
    if (auto due = next_due_us()) {
        // Absolute on CLOCK_MONOTONIC; it_value 0 would disarm, so at least 1 ns.
        const uint64_t at_us = monotonic_start_us_ + *due;
        spec.it_value.tv_sec = static_cast<time_t>(at_us / 1000000u);
        spec.it_value.tv_nsec = static_cast<long>(at_us % 1000000u) * 1000 + 1;
    }
    timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

size_t PcapBackend::rx_burst(std::span<Frame> frames) {
    if (timer_fd_ >= 0) {
        uint64_t expirations;
        (void)!read(timer_fd_, &expirations, sizeof expirations);  // EAGAIN: not fired yet
    }
    const uint64_t now = clock_us_();
    size_t n = 0;
    while (n < frames.size() && next_ < input_.size()) {
        auto due = next_due_us();
        if (*due > now) break;
        auto& f = input_[next_++];
        frames[n++] = Frame{f.bytes.data(), static_cast<uint16_t>(f.bytes.size())};
        stats_.rx_frames++;
        stats_.rx_bytes += f.bytes.size();
    }
    arm_timer();
    return n;
}

size_t PcapBackend::tx_burst(std::span<const Frame> frames) {
    const uint64_t now = clock_us_();
    for (const Frame& f : frames) {
        if (output_) output_->write(stamps_.stamp(now), std::span(f.data, f.len));
        stats_.tx_frames++;
        stats_.tx_bytes += f.len;
    }
    if (output_ && !frames.empty()) output_->flush();
    return frames.size();
}

bool PcapBackend::flush_output() { return !output_ || output_->flush(); }

}  // namespace culvert::backends
