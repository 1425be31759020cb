// culvertd's pcap interfaces: frames received from a capture file in real time (each at
// its offset from the capture's time base, docs/replay.md) and sent frames written to
// another. For deterministic replays use `culvert replay`, which runs the same backend
// under a virtual clock.
#include "backends/pcap/pcap_backend.hpp"
#include "server/daemon_backends.hpp"

namespace culvert::server {

std::expected<BackendPtr, std::string> open_pcap(const InterfaceConfig& iface) {
    backends::PcapBackendConfig pc;
    pc.name = iface.name;
    pc.mac = iface.mac;
    pc.timer_fd = true;
    if (iface.input) {
        auto frames = backends::read_pcap_file(*iface.input);
        if (!frames) return std::unexpected("input: " + frames.error().describe());
        if (!frames->empty())
            pc.base_us = backends::capture_time_base_us(frames->front().ts_us);
        pc.input = std::move(*frames);
    }
    if (iface.output) {
        auto writer = backends::PcapWriter::open(*iface.output);
        if (!writer) return std::unexpected("output: " + writer.error());
        pc.output = std::move(*writer);
    }
    auto backend = backends::PcapBackend::open(std::move(pc));
    if (!backend) return std::unexpected(backend.error().message);
    return BackendPtr(std::move(*backend));
}

}  // namespace culvert::server
