// Microbenchmarks of the DPDK backend on net_ring (no NIC, no hugepages): what transmit's copy
// into a fresh mbuf costs per frame next to a plain memcpy, and what the netif's receive
// costs with lent buffers (zero copy) versus a copy into lwIP's pool. Run by bench/run_dpdk.sh.
#include "lwip/init.h"
#include "lwip/stats.h"

#include "backends/dpdk/dpdk_backend.hpp"
#include "stack/backend_netif.hpp"

#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

using culvert::backends::DpdkBackend;
using culvert::backends::DpdkConfig;
using culvert::backends::Frame;

constexpr size_t kBurst = 32;
int g_serial = 0;

std::unique_ptr<DpdkBackend> open_ring(bool zero_copy) {
    DpdkConfig c;
    c.vdev = "net_ring" + std::to_string(g_serial++);
    c.rx_descriptors = 512;
    c.tx_descriptors = 512;
    c.mempool_mbufs = 8191;
    c.rx_zero_copy = zero_copy;
    auto port = DpdkBackend::open(c);
    if (!port) {
        std::fprintf(stderr, "%s\n", port.error().message.c_str());
        std::exit(1);
    }
    return std::move(*port);
}

// An IPv4/UDP frame to an address lwIP does not own: it is parsed and dropped at the IP layer.
std::vector<uint8_t> frame(size_t bytes, const culvert::backends::MacAddress& to) {
    std::vector<uint8_t> f(bytes, 0x5a);
    std::memcpy(f.data(), to.data(), 6);
    const uint8_t src[6] = {2, 0, 0, 0, 0, 9};
    std::memcpy(f.data() + 6, src, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    uint8_t* ip = f.data() + 14;
    std::memset(ip, 0, 28);
    ip[0] = 0x45;
    const size_t ip_len = bytes - 14;
    ip[2] = static_cast<uint8_t>(ip_len >> 8);
    ip[3] = static_cast<uint8_t>(ip_len);
    ip[8] = 64;
    ip[9] = 17;
    const uint8_t a[8] = {10, 91, 0, 1, 10, 91, 0, 99};
    std::memcpy(ip + 12, a, 8);
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) sum += static_cast<uint32_t>(ip[i] << 8 | ip[i + 1]);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    const uint16_t c = static_cast<uint16_t>(~sum);
    ip[10] = static_cast<uint8_t>(c >> 8);
    ip[11] = static_cast<uint8_t>(c);
    return f;
}

// The reference: copying the frame's bytes, nothing else.
void BM_Memcpy(benchmark::State& state) {
    const size_t bytes = static_cast<size_t>(state.range(0));
    std::vector<uint8_t> src(bytes, 1), dst(bytes);
    for (auto _ : state) {
        std::memcpy(dst.data(), src.data(), bytes);
        benchmark::DoNotOptimize(dst.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_Memcpy)->Arg(64)->Arg(1514);

// tx_burst (mbuf allocation, copy, enqueue) then rx_burst and release on the same ring:
// the difference between 64 and 1514 bytes is what transmit's copy costs.
void BM_RingTxRx(benchmark::State& state) {
    const size_t bytes = static_cast<size_t>(state.range(0));
    auto port = open_ring(true);
    std::vector<uint8_t> f = frame(bytes, port->mac());
    std::vector<Frame> burst(
        kBurst, Frame{reinterpret_cast<std::byte*>(f.data()), static_cast<uint16_t>(f.size())});
    std::array<Frame, kBurst> got;
    for (auto _ : state) {
        const size_t sent = port->tx_burst(burst);
        size_t received = 0;
        while (received < sent) {
            const size_t n = port->rx_burst(std::span(got.data(), sent - received));
            for (size_t i = 0; i < n; ++i) got[i].loan.release(got[i].loan.handle);
            received += n;
        }
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBurst));
    state.counters["ns_per_frame"] =
        benchmark::Counter(static_cast<double>(state.iterations() * kBurst),
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_RingTxRx)->Arg(64)->Arg(1514);

// Frames through the netif into lwIP (dropped at the IP layer), lent or copied into pbufs.
void BM_NetifReceive(benchmark::State& state) {
    const size_t bytes = static_cast<size_t>(state.range(0));
    const bool zero_copy = state.range(1) != 0;
    auto port = open_ring(zero_copy);
    culvert::stack::NetifConfig nc;
    nc.ipv4 = culvert::stack::Ipv4Config{.address = {10, 91, 0, 2}, .prefix_len = 24};
    auto netif = culvert::stack::BackendNetif::create(*port, nc);
    if (!netif) {
        state.SkipWithError(netif.error().c_str());
        return;
    }
    std::vector<uint8_t> f = frame(bytes, port->mac());
    std::vector<Frame> burst(
        kBurst, Frame{reinterpret_cast<std::byte*>(f.data()), static_cast<uint16_t>(f.size())});
    for (auto _ : state) {
        state.PauseTiming();  // the transmit side is measured above
        const size_t sent = port->tx_burst(burst);
        state.ResumeTiming();
        size_t received = 0;
        while (received < sent) received += (*netif)->poll(kBurst);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBurst));
    state.counters["ns_per_frame"] =
        benchmark::Counter(static_cast<double>(state.iterations() * kBurst),
                           benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
    state.counters["zero_copy_frames"] = static_cast<double>((*netif)->stats().rx_zero_copy);
    // lwIP's own announcements also went round the ring: drain them, so the port's pool is
    // all back when it closes (a pool with mbufs out is kept, not freed).
    while ((*netif)->poll(kBurst) > 0) {
    }
}
BENCHMARK(BM_NetifReceive)->Args({64, 1})->Args({64, 0})->Args({1514, 1})->Args({1514, 0});

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> eal = {"--no-huge",
                                          "--no-pci",
                                          "--no-shconf",
                                          "-m",
                                          "512",
                                          "--no-telemetry",
                                          "-l",
                                          "0",
                                          "--file-prefix",
                                          "cvt-bench-" + std::to_string(getpid()),
                                          "--log-level",
                                          "lib.eal:warning"};
    if (auto ok = culvert::backends::dpdk_eal_init(eal); !ok) {
        std::fprintf(stderr, "%s\n", ok.error().message.c_str());
        return 1;
    }
    lwip_init();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    culvert::backends::dpdk_eal_cleanup();
    return 0;
}
