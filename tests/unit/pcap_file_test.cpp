// The pcap reader/writer, BPF filters, ordered stamps, the capture wrapper and the pcap
// backend under a virtual clock (src/backends/pcap, src/backends/capture).
#include "backends/capture/capture_backend.hpp"
#include "backends/pcap/pcap_backend.hpp"
#include "backends/pcap/pcap_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <unistd.h>

namespace {

using namespace culvert::backends;
using ::testing::HasSubstr;

std::vector<std::byte> frame(size_t len, uint8_t fill, uint16_t ethertype = 0x0800) {
    std::vector<std::byte> f(len, std::byte{fill});
    if (len < 14) return f;  // not even an Ethernet header: for the error cases
    f[12] = std::byte(ethertype >> 8);
    f[13] = std::byte(ethertype & 0xff);
    return f;
}

struct TempDir {
    std::string path;
    TempDir() {
        char t[] = "/tmp/culvert-pcap-test-XXXXXX";
        path = mkdtemp(t);
    }
    ~TempDir() { std::system(("rm -rf " + path).c_str()); }
};

std::vector<std::byte> slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> c((std::istreambuf_iterator<char>(in)), {});
    std::vector<std::byte> b(c.size());
    std::memcpy(b.data(), c.data(), c.size());
    return b;
}

TEST(PcapFile, WrittenFramesReadBackWithTheirTimestamps) {
    TempDir d;
    const std::string path = d.path + "/a.pcap";
    {
        auto w = PcapWriter::open(path);
        ASSERT_TRUE(w) << w.error();
        w->write(1'000'001, frame(60, 0xaa));
        w->write(2'500'000, frame(1514, 0xbb));
        EXPECT_TRUE(w->flush());
        EXPECT_EQ(w->frames_written(), 2u);
    }
    auto frames = read_pcap_file(path);
    ASSERT_TRUE(frames) << frames.error().describe();
    ASSERT_EQ(frames->size(), 2u);
    EXPECT_EQ((*frames)[0].ts_us, 1'000'001u);
    EXPECT_EQ((*frames)[0].bytes, frame(60, 0xaa));
    EXPECT_EQ((*frames)[1].ts_us, 2'500'000u);
    EXPECT_EQ((*frames)[1].bytes.size(), 1514u);
}

TEST(PcapFile, BadCapturesAreErrorsThatNameTheFileAndFrame) {
    TempDir d;
    const std::string path = d.path + "/b.pcap";
    {
        auto w = PcapWriter::open(path);
        ASSERT_TRUE(w);
        w->write(10, frame(60, 1));
        w->write(20, frame(10, 2));  // too short for Ethernet
    }
    auto r = read_pcap_file(path);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().frame, 2u);
    EXPECT_THAT(r.error().describe(), HasSubstr(path + ": frame 2: 10 bytes is too short"));

    const auto good = [&] {
        auto w = PcapWriter::open(path);
        w->write(30, frame(60, 1));
        w->write(20, frame(60, 2));  // back in time
        w->write(40, frame(1600, 3));
    };
    good();
    r = read_pcap_file(path);
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().describe(), HasSubstr("frame 2: its timestamp is 10 us before"));
    PcapReadLimits unordered;
    unordered.require_ordered_timestamps = false;
    r = read_pcap_file(path, unordered);
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().describe(), HasSubstr("frame 3: 1600 bytes is longer"));

    auto bytes = slurp(path);
    auto cut = read_pcap_bytes(std::span(bytes).first(bytes.size() - 7), "cut.pcap", unordered);
    ASSERT_FALSE(cut);
    EXPECT_THAT(cut.error().describe(), HasSubstr("cut.pcap: frame 3: cannot read"));
    EXPECT_THAT(cut.error().describe(), HasSubstr("truncated"));

    auto empty = read_pcap_bytes({}, "empty.pcap");
    ASSERT_FALSE(empty);
    EXPECT_THAT(empty.error().describe(), HasSubstr("empty.pcap: the file is empty"));
    const char junk[] = "definitely not a pcap file";
    auto j = read_pcap_bytes(std::as_bytes(std::span(junk)), "junk.pcap");
    ASSERT_FALSE(j);
    EXPECT_EQ(j.error().frame, 0u);
    EXPECT_THAT(j.error().describe(), HasSubstr("junk.pcap: not a readable capture"));

    // Link type 113 (Linux cooked capture) in an otherwise valid file.
    bytes = slurp(path);
    bytes[20] = std::byte{113};
    auto sll = read_pcap_bytes(bytes, "sll.pcap");
    ASSERT_FALSE(sll);
    EXPECT_THAT(sll.error().describe(), HasSubstr("sll.pcap: link type LINUX_SLL"));
    EXPECT_THAT(sll.error().describe(), HasSubstr("not Ethernet"));

    auto missing = read_pcap_file(d.path + "/nope.pcap");
    ASSERT_FALSE(missing);
    EXPECT_THAT(missing.error().describe(), HasSubstr("No such file"));
}

TEST(PcapFile, SnapshotTruncatedFramesAreRefused) {
    // A classic little-endian pcap header with snaplen 64 and one record of 64 of 100 bytes.
    std::vector<uint8_t> b = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                              64,   0,    0,    0,    1, 0, 0, 0};
    const uint32_t rec[4] = {1, 0, 64, 100};
    b.insert(b.end(), reinterpret_cast<const uint8_t*>(rec), reinterpret_cast<const uint8_t*>(rec) + 16);
    b.resize(b.size() + 64, 0x11);
    auto r = read_pcap_bytes(std::as_bytes(std::span(b)), "snap.pcap");
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().describe(), HasSubstr("frame 1: only 64 of its 100 bytes were captured"));
}

TEST(PcapFile, BpfFiltersMatchByTcpdumpSyntaxAndBadOnesSayWhy) {
    auto arp = BpfFilter::compile("arp");
    ASSERT_TRUE(arp) << arp.error();
    EXPECT_TRUE(arp->matches(frame(60, 0, 0x0806)));
    EXPECT_FALSE(arp->matches(frame(60, 0, 0x0800)));
    auto bad = BpfFilter::compile("tcp port banana");
    ASSERT_FALSE(bad);
    EXPECT_THAT(bad.error(), HasSubstr("\"tcp port banana\""));
}

TEST(PcapFile, OrderedStampsCountFramesWithinAMillisecond) {
    OrderedStamps s;
    EXPECT_EQ(s.stamp(5000), 5000u);
    EXPECT_EQ(s.stamp(5000), 5001u);
    EXPECT_EQ(s.stamp(5000), 5002u);
    EXPECT_EQ(s.stamp(6000), 6000u);
    EXPECT_EQ(s.stamp(7999), 7999u);
    EXPECT_EQ(s.stamp(7999), 7999u);  // the millisecond is full: ties keep file order
    EXPECT_EQ(capture_time_base_us(1'234'567), 0u);
    EXPECT_EQ(capture_time_base_us(1'700'000'000'123'456ull), 1'700'000'000'000'000ull);
}

class FakeBackend final : public PacketBackend {
  public:
    std::vector<std::vector<std::byte>> rx;
    std::vector<std::vector<std::byte>> tx;
    size_t tx_room = 100;
    std::string_view name() const override { return "fake"; }
    MacAddress mac() const override { return {2, 0, 0, 0, 0, 1}; }
    BackendCaps caps() const override { return {}; }
    size_t rx_burst(std::span<Frame> frames) override {
        size_t n = 0;
        for (; n < frames.size() && n < rx.size(); ++n)
            frames[n] = Frame{rx[n].data(), static_cast<uint16_t>(rx[n].size())};
        held_ = std::move(rx);
        rx.clear();
        return n;
    }
    size_t tx_burst(std::span<const Frame> frames) override {
        const size_t n = std::min(frames.size(), tx_room);
        for (size_t i = 0; i < n; ++i) tx.emplace_back(frames[i].data, frames[i].data + frames[i].len);
        return n;
    }
    int pollable_fd() const override { return 7; }
    BackendStats stats() const override { return {}; }

  private:
    std::vector<std::vector<std::byte>> held_;
};

TEST(CaptureBackend, MirrorsWhatCrossesInOrderOnlyTakenFramesAndOnlyWhatTheFilterMatches) {
    TempDir d;
    const std::string path = d.path + "/cap.pcap";
    auto inner = std::make_unique<FakeBackend>();
    FakeBackend& fake = *inner;
    uint64_t now_us = 3000;
    {
        auto w = PcapWriter::open(path);
        auto f = BpfFilter::compile("not arp");
        CaptureBackend cap(std::move(inner), std::move(*w), std::move(*f), [&] { return now_us; });
        EXPECT_EQ(cap.pollable_fd(), 7);
        fake.rx = {frame(60, 1), frame(42, 2, 0x0806), frame(70, 3)};
        Frame got[4];
        EXPECT_EQ(cap.rx_burst(got), 3u);
        auto out = frame(80, 4);
        auto arp = frame(42, 5, 0x0806);
        auto late = frame(90, 6);
        fake.tx_room = 2;
        now_us = 4000;
        const Frame send[] = {{out.data(), 80}, {arp.data(), 42}, {late.data(), 90}};
        EXPECT_EQ(cap.tx_burst(send), 2u);  // the third was not taken: not captured
        EXPECT_EQ(cap.capture_stats().frames_written, 3u);
        EXPECT_EQ(cap.capture_stats().frames_filtered_out, 2u);
    }
    auto frames = read_pcap_file(path);
    ASSERT_TRUE(frames) << frames.error().describe();
    ASSERT_EQ(frames->size(), 3u);
    EXPECT_EQ((*frames)[0].bytes, frame(60, 1));
    EXPECT_EQ((*frames)[0].ts_us, 3000u);
    EXPECT_EQ((*frames)[1].bytes, frame(70, 3));
    EXPECT_EQ((*frames)[1].ts_us, 3001u);
    EXPECT_EQ((*frames)[2].bytes, frame(80, 4));
    EXPECT_EQ((*frames)[2].ts_us, 4000u);
}

TEST(PcapBackend, ReleasesInputFramesByTheClockAndStampsOutput) {
    TempDir d;
    uint64_t now_us = 0;
    PcapBackendConfig c;
    c.base_us = 1'000'000;
    for (uint64_t t : {1'000'000ull, 1'000'500ull, 1'002'000ull}) c.input.push_back({t, frame(60, static_cast<uint8_t>(t % 256))});
    c.output = std::move(*PcapWriter::open(d.path + "/out.pcap"));
    c.clock_us = [&] { return now_us; };
    auto b = PcapBackend::open(std::move(c));
    ASSERT_TRUE(b);
    Frame got[8];
    EXPECT_EQ((*b)->rx_burst(got), 1u);
    EXPECT_EQ((*b)->next_due_us(), 500u);
    now_us = 1999;
    EXPECT_EQ((*b)->rx_burst(got), 1u);
    EXPECT_EQ((*b)->rx_burst(got), 0u);
    now_us = 2000;
    EXPECT_EQ((*b)->rx_burst(got), 1u);
    EXPECT_FALSE((*b)->next_due_us());
    EXPECT_EQ((*b)->stats().rx_frames, 3u);
    auto f = frame(64, 9);
    const Frame out[] = {{f.data(), 64}};
    EXPECT_EQ((*b)->tx_burst(out), 1u);
    EXPECT_TRUE((*b)->flush_output());
    auto written = read_pcap_file(d.path + "/out.pcap");
    ASSERT_TRUE(written);
    ASSERT_EQ(written->size(), 1u);
    EXPECT_EQ((*written)[0].ts_us, 2000u);

    PcapBackendConfig bad;
    bad.timer_fd = true;
    bad.clock_us = [] { return 0ull; };
    EXPECT_FALSE(PcapBackend::open(std::move(bad)));
}

}  // namespace
