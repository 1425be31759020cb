// culvertd: parses the configuration, opens the interfaces' backends and runs the stack
// loop until SIGINT/SIGTERM. Exit codes: 0 clean stop, 2 bad configuration, 1 start failure.
#include "server/daemon_backends.hpp"
#include "backends/capture/capture_backend.hpp"
#include "server/config.hpp"
#include "server/logging.hpp"
#include "server/stack.hpp"
#include "stack/backend_netif.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

culvert::stack::NetifConfig netif_config(const culvert::server::InterfaceConfig& ic, bool first) {
    culvert::stack::NetifConfig nc;
    if (ic.ipv4) {
        culvert::stack::Ipv4Config v4;
        const uint32_t a = ic.ipv4->address;
        v4.address = {static_cast<uint8_t>(a >> 24), static_cast<uint8_t>(a >> 16), static_cast<uint8_t>(a >> 8),
                      static_cast<uint8_t>(a)};
        v4.prefix_len = ic.ipv4->prefix_len;
        if (ic.ipv4_gateway) {
            const uint32_t g = *ic.ipv4_gateway;
            v4.gateway = culvert::stack::Ipv4Address{static_cast<uint8_t>(g >> 24), static_cast<uint8_t>(g >> 16),
                                                     static_cast<uint8_t>(g >> 8), static_cast<uint8_t>(g)};
        }
        nc.ipv4 = v4;
    }
    for (const auto& p : ic.ipv6) nc.ipv6.push_back(p.address);
    nc.make_default = first;
    return nc;
}

}  // namespace

int main(int argc, char** argv) {
    using namespace culvert;
    auto parsed = server::parse_command_line(argc, argv);
    if (!parsed) {
        std::fprintf(parsed.error().exit_code == 0 ? stdout : stderr, "%s\n", parsed.error().message.c_str());
        return parsed.error().exit_code;
    }
    server::Config config = *parsed;
    auto log = server::setup_logging(config.log_level);
    if (!log) {
        std::fprintf(stderr, "culvertd: %s\n", log.error().c_str());
        return 2;
    }
    auto logger = *log;
    if (config.seed == 0)
        config.seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) | 1;
    logger->info("culvertd starting: seed={} socket={}", config.seed, config.socket_path);

    server::StackSettings settings;
    settings.socket_path = config.socket_path;
    settings.segment_bytes = config.segment_bytes;
    settings.seed = config.seed;
    auto stack = server::Stack::create(settings);
    if (!stack) {
        logger->error("{}", stack.error());
        return 1;
    }
    bool first = true;
    for (const auto& ic : config.interfaces) {
        auto backend = server::open_backend(config, ic);
        if (!backend) {
            logger->error("interface {}: {}", ic.name, backend.error());
            return 2;
        }
        if (ic.capture) {
            // Stamped with the stack clock, so the capture replays at the times lwIP saw
            // each frame (docs/replay.md).
            auto writer = backends::PcapWriter::open(*ic.capture);
            if (!writer) {
                logger->error("interface {}: capture: {}", ic.name, writer.error());
                return 2;
            }
            std::optional<backends::BpfFilter> filter;
            if (ic.capture_filter) {
                auto f = backends::BpfFilter::compile(*ic.capture_filter);
                if (!f) {
                    logger->error("interface {}: capture_filter: {}", ic.name, f.error());
                    return 2;
                }
                filter = std::move(*f);
            }
            *backend = std::make_unique<backends::CaptureBackend>(
                std::move(*backend), std::move(*writer), std::move(filter),
                [s = stack->get()] { return s->now_ms() * 1000; });
            logger->info("interface {}: capturing to {}", ic.name, *ic.capture);
        }
        if (auto r = (*stack)->add_interface(std::move(*backend), netif_config(ic, first)); !r) {
            logger->error("interface {}: {}", ic.name, r.error());
            return 2;
        }
        logger->info("interface {} up (backend {})", ic.name, ic.backend);
        first = false;
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    logger->info("culvertd ready");
    (*stack)->run(g_stop);
    logger->info("culvertd stopping");
    return 0;
}
