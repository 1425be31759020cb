// A mutation fuzzer for the capture input path (pcap_fuzz_target.cpp), run for a bounded
// time in CI since libFuzzer needs clang: corpus captures get bit flips, byte writes,
// truncations, splices and length-field edits. Seeded: a failure prints its seed and
// iteration, and CULVERT_FUZZ_SEED=N replays it. Under ASan/UBSan any memory error fails.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

bool culvert_fuzz_pcap_input(const uint8_t* data, size_t size);

namespace {

std::vector<std::vector<uint8_t>> seeds() {
    std::vector<std::vector<uint8_t>> out;
    for (const auto& e : std::filesystem::directory_iterator(CULVERT_PCAP_CORPUS)) {
        if (e.path().extension() != ".pcap") continue;
        std::ifstream in(e.path(), std::ios::binary);
        out.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    return out;
}

uint64_t env_or(const char* name, uint64_t fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

TEST(PcapFuzz, TheCorpusParses) {
    const auto s = seeds();
    ASSERT_GE(s.size(), 10u);
    for (const auto& f : s) EXPECT_TRUE(culvert_fuzz_pcap_input(f.data(), f.size()));
}

TEST(PcapFuzz, MutatedCapturesNeverCrashTheInputPath) {
    const auto corpus = seeds();
    ASSERT_FALSE(corpus.empty());
    const uint64_t seed = env_or("CULVERT_FUZZ_SEED",
                                 static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
    const auto budget = std::chrono::seconds(env_or("CULVERT_FUZZ_SECONDS", 3));
    std::printf("pcap fuzz: seed %llu, %lld s (reproduce with CULVERT_FUZZ_SEED=%llu)\n",
                static_cast<unsigned long long>(seed), static_cast<long long>(budget.count()),
                static_cast<unsigned long long>(seed));
    std::mt19937_64 rng(seed);
    const auto start = std::chrono::steady_clock::now();
    uint64_t runs = 0, parsed = 0;
    while (std::chrono::steady_clock::now() - start < budget) {
        std::vector<uint8_t> in = corpus[rng() % corpus.size()];
        const int edits = 1 + static_cast<int>(rng() % 8);
        for (int e = 0; e < edits && !in.empty(); ++e) {
            const size_t at = rng() % in.size();
            switch (rng() % 6) {
                case 0: in[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
                case 1: in[at] = static_cast<uint8_t>(rng()); break;
                case 2: in.resize(at); break;
                case 3: {  // splice in bytes from another capture
                    const auto& o = corpus[rng() % corpus.size()];
                    const size_t from = rng() % o.size(), n = std::min<size_t>(rng() % 64, o.size() - from);
                    in.insert(in.begin() + static_cast<long>(at), o.begin() + static_cast<long>(from),
                              o.begin() + static_cast<long>(from + n));
                    break;
                }
                case 4: {  // an interesting 16/32-bit value (lengths, header fields)
                    static const uint32_t v[] = {0, 1, 13, 14, 20, 40, 0x7f, 0xff, 0xffff, 0x10000, 0xffffffff, 1514, 1518};
                    const uint32_t x = v[rng() % std::size(v)];
                    for (size_t b = 0; b < 4 && at + b < in.size(); ++b) in[at + b] = static_cast<uint8_t>(x >> (8 * b));
                    break;
                }
                default: in.erase(in.begin() + static_cast<long>(at)); break;
            }
        }
        parsed += culvert_fuzz_pcap_input(in.data(), in.size()) ? 1 : 0;
        ++runs;
    }
    std::printf("pcap fuzz: %llu inputs, %llu parsed as captures\n", static_cast<unsigned long long>(runs),
                static_cast<unsigned long long>(parsed));
    EXPECT_GT(runs, 100u);
    EXPECT_GT(parsed, 0u);  // the mutations still reach past the reader
}

}  // namespace
