// The fuzz target for the capture input path: bytes as a capture file through the reader,
// then every frame through decoding, summaries, address mapping and the ISN/port bridge,
// as `culvert replay` treats untrusted captures. Built two ways: driven by
// pcap_fuzz_test.cpp (gtest, CI), or as a libFuzzer target with clang:
//   clang++ -std=c++2b -g -fsanitize=fuzzer,address -DCULVERT_LIBFUZZER -Isrc \
//     tests/unit/pcap_fuzz_target.cpp src/backends/pcap/pcap_file.cpp \
//     src/cli/replay/{packet,rewrite,compare}.cpp -lpcap -o pcap_fuzz
#include "backends/pcap/pcap_file.hpp"
#include "cli/replay/compare.hpp"
#include "cli/replay/packet.hpp"
#include "cli/replay/rewrite.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

// Returns true if the input parsed as a capture (errors are fine; crashes are not).
bool culvert_fuzz_pcap_input(const uint8_t* data, size_t size) {
    using namespace culvert::replay;
    auto frames = culvert::backends::read_pcap_bytes(
        std::as_bytes(std::span(data, size)), "fuzz.pcap");
    if (!frames) {
        // An error always says which file, and a message.
        if (frames.error().file != "fuzz.pcap" || frames.error().message.empty()) std::abort();
        return false;
    }
    AddressMap map;
    map.macs = {{Mac{2, 0xc7, 0, 0, 0, 2}, Mac{2, 1, 2, 3, 4, 5}}};
    map.ipv4 = {{Ip4{10, 99, 0, 2}, Ip4{10, 1, 1, 1}}};
    map.ipv6 = {{Ip6{0xfd, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}, Ip6{0xfd, 1}}};
    map.complete();
    Side side;
    side.mac = Mac{2, 1, 2, 3, 4, 5};
    side.ipv4 = {Ip4{10, 1, 1, 1}};
    side.ipv6 = {Ip6{0xfd, 1}};
    std::vector<Bytes> all;
    for (const auto& f : *frames) {
        const auto* p = reinterpret_cast<const uint8_t*>(f.bytes.data());
        Bytes b(p, p + f.bytes.size());
        (void)decode_fields(b);
        (void)summarize(b);
        map.apply(b);
        all.push_back(std::move(b));
    }
    FlowMapper mapper(side);
    mapper.learn_recorded(all);
    for (size_t i = 0; i < all.size(); ++i) {
        mapper.on_culvert_frame(all[i]);
        Bytes a = all[i], b = all[i];
        mapper.rewrite_peer_frame(a);
        mapper.unmap_culvert_frame(b);
        (void)compare_frame(i + 1, TimedFrame{0, all[i]}, TimedFrame{0, a}, b, {});
    }
    return true;
}

#ifdef CULVERT_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    culvert_fuzz_pcap_input(data, size);
    return 0;
}
#endif
