// Replay's packet work (src/cli/replay): checksums agree with what Linux and lwIP put on
// the wire, address mapping and the ISN/port bridge round-trip, and the comparison finds
// the field that differs while skipping free ones.
#include "backends/pcap/pcap_file.hpp"
#include "cli/replay/compare.hpp"
#include "cli/replay/packet.hpp"
#include "cli/replay/rewrite.hpp"

#include <gtest/gtest.h>

namespace {

using namespace culvert::replay;

std::vector<Bytes> corpus(const std::string& name) {
    auto frames = culvert::backends::read_pcap_file(std::string(CULVERT_PCAP_CORPUS) + "/" + name);
    EXPECT_TRUE(frames) << frames.error().describe();
    std::vector<Bytes> out;
    if (!frames) return out;
    for (const auto& f : *frames) {
        const auto* p = reinterpret_cast<const uint8_t*>(f.bytes.data());
        out.emplace_back(p, p + f.bytes.size());
    }
    return out;
}

size_t count_checksums(const Bytes& f, const std::string& verdict) {
    size_t n = 0;
    for (const auto& field : decode_fields(f))
        if ((field.name == "checksum" || field.name == "header checksum") && field.value.rfind(verdict, 0) == 0) ++n;
    return n;
}

TEST(ReplayPacket, EveryCorpusFrameDecodesWithValidChecksums) {
    size_t checked = 0;
    for (const char* c : {"icmp_echo", "tcp_http_v4", "tcp_http_v6", "udp_echo_v6", "tcp_bulk_loss_v4"}) {
        for (const char* side : {".peer.pcap", ".answer.pcap"}) {
            for (const Bytes& f : corpus(std::string(c) + side)) {
                EXPECT_EQ(count_checksums(f, "invalid"), 0u) << c << side << ": " << summarize(f);
                for (const auto& field : decode_fields(f)) EXPECT_NE(field.name, "malformed") << summarize(f);
                checked += count_checksums(f, "valid");
            }
        }
    }
    EXPECT_GT(checked, 200u);
}

TEST(ReplayPacket, AddressMapMovesCulvertsSideAndBackWithChecksumsRecomputed) {
    auto frames = corpus("tcp_http_v4.answer.pcap");
    ASSERT_FALSE(frames.empty());
    AddressMap there, back;
    const Mac old_mac{0x02, 0xc7, 0, 0, 0, 2}, new_mac{0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
    const Ip4 old_ip{10, 99, 0, 2}, new_ip{192, 168, 7, 9};
    const Ip6 old_ip6{0xfd, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    const Ip6 new_ip6{0xfd, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34};
    there.macs = {{old_mac, new_mac}};
    there.ipv4 = {{old_ip, new_ip}};
    there.ipv6 = {{old_ip6, new_ip6}};
    back.macs = {{new_mac, old_mac}};
    back.ipv4 = {{new_ip, old_ip}};
    back.ipv6 = {{new_ip6, old_ip6}};
    there.complete();
    back.complete();
    size_t changed = 0;
    for (Bytes f : frames) {
        const Bytes original = f;
        if (!there.apply(f)) continue;
        ++changed;
        EXPECT_EQ(count_checksums(f, "invalid"), 0u) << summarize(f);
        EXPECT_EQ(summarize(f).find("10.99.0.2"), std::string::npos) << summarize(f);
        EXPECT_TRUE(back.apply(f));
        EXPECT_EQ(f, original) << summarize(original);
    }
    EXPECT_EQ(changed, frames.size());  // every frame culvert sent carries its MAC
}

TEST(ReplayPacket, ARewriteKeepsAWrongChecksumWrong) {
    auto frames = corpus("tcp_http_v4.peer.pcap");
    Bytes f;
    for (const auto& x : frames)
        if (summarize(x).find("TCP") != std::string::npos) {
            f = x;
            break;
        }
    ASSERT_FALSE(f.empty());
    auto l = parse_layout(f);
    f[*l4_checksum_offset(*l)] ^= 0x01;
    ASSERT_EQ(count_checksums(f, "invalid"), 1u);
    AddressMap m;
    m.ipv4 = {{Ip4{10, 99, 0, 2}, Ip4{10, 5, 5, 5}}};
    ASSERT_TRUE(m.apply(f));
    EXPECT_EQ(count_checksums(f, "invalid"), 1u);
}

TEST(ReplayPacket, FlowMapperShiftsThePeersNumbersToThisRunsIsnAndPort) {
    auto peer = corpus("tcp_bulk_loss_v4.peer.pcap");
    auto answer = corpus("tcp_bulk_loss_v4.answer.pcap");
    Side side;
    side.mac = Mac{0x02, 0xc7, 0, 0, 0, 2};
    side.ipv4 = {Ip4{10, 99, 0, 2}};
    FlowMapper mapper(side);
    mapper.learn_recorded(peer);
    // culvert's recorded SYN, as if this run picked port 50000 and an ISN 1000 higher.
    Bytes syn;
    for (const auto& f : answer)
        if (summarize(f).find("[S]") != std::string::npos) syn = f;
    ASSERT_FALSE(syn.empty());
    auto l = *parse_layout(syn);
    const uint16_t port_rec = read16(syn, l.l4);
    const uint32_t isn_rec = read32(syn, l.l4 + 4);
    Bytes now = syn;
    write16(now, l.l4, 50000);
    write32(now, l.l4 + 4, isn_rec + 1000);
    update_checksums(now, l, syn);
    mapper.on_culvert_frame(now);
    // The peer's SYN-ACK now goes to port 50000 and acknowledges the new ISN.
    Bytes synack;
    for (const auto& f : peer)
        if (summarize(f).find("[S.]") != std::string::npos) synack = f;
    ASSERT_FALSE(synack.empty());
    auto pl = *parse_layout(synack);
    mapper.rewrite_peer_frame(synack);
    EXPECT_EQ(read16(synack, pl.l4 + 2), 50000);
    EXPECT_EQ(read32(synack, pl.l4 + 8), isn_rec + 1001);
    EXPECT_EQ(count_checksums(synack, "invalid"), 0u);
    // And culvert's frame maps back to the recording's numbers.
    mapper.unmap_culvert_frame(now);
    EXPECT_EQ(now, syn);
    EXPECT_EQ(read16(now, l.l4), port_rec);
    ASSERT_EQ(mapper.describe().size(), 1u);
    EXPECT_NE(mapper.describe()[0].find("ISN shifted by 1000"), std::string::npos) << mapper.describe()[0];
}

TEST(ReplayPacket, ComparisonNamesTheFirstDifferingFieldAndSkipsFreeOnes) {
    auto frames = corpus("tcp_http_v4.answer.pcap");
    Bytes data;
    for (const auto& f : frames)
        if (summarize(f).find("len 1460") != std::string::npos) data = f;
    ASSERT_FALSE(data.empty());
    const TimedFrame expected{1'000'000, data};
    EXPECT_FALSE(compare_frame(1, expected, expected, data, {}));

    // IPv4 identification is free; the header checksum follows it and stays valid.
    Bytes other_id = data;
    write16(other_id, 14 + 4, 0x4242);
    auto l = *parse_layout(other_id);
    update_checksums(other_id, l, data);
    EXPECT_FALSE(compare_frame(1, expected, {1'000'000, other_id}, other_id, {}));

    Bytes window = data;
    write16(window, l.l4 + 14, 1234);
    update_checksums(window, l, data);
    auto d = compare_frame(3, expected, {1'000'000, window}, window, {});
    ASSERT_TRUE(d);
    EXPECT_EQ(d->frame, 3u);
    EXPECT_EQ(d->layer, "TCP");
    EXPECT_EQ(d->field, "window");
    EXPECT_EQ(d->got, "1234");
    EXPECT_NE(format_difference(*d).find("first difference at frame 3: TCP window"), std::string::npos);

    Bytes bad_sum = data;
    bad_sum[l.l4 + 16] ^= 0xff;
    d = compare_frame(1, expected, {1'000'000, bad_sum}, bad_sum, {});
    ASSERT_TRUE(d);
    EXPECT_EQ(d->field, "checksum");
    EXPECT_EQ(d->got.rfind("invalid", 0), 0u);

    Bytes payload = data;
    payload[l.l4 + 20 + 7] ^= 0x20;
    update_checksums(payload, l, data);
    d = compare_frame(1, expected, {1'000'000, payload}, payload, {});
    ASSERT_TRUE(d);
    EXPECT_EQ(d->layer, "TCP payload");
    EXPECT_NE(d->got.find("byte 7"), std::string::npos) << d->got;

    d = compare_frame(1, expected, {1'300'000, data}, data, {});
    ASSERT_TRUE(d);
    EXPECT_EQ(d->layer, "timing");

    auto missing = compare_runs({expected, expected}, {expected}, {data}, {});
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->frame, 2u);
    EXPECT_EQ(missing->layer, "frame");
}

}  // namespace
