// Tests src/stack/tcp_window_update.c (lwIP's LWIP_HOOK_TCP_INPACKET_PCB) on lwIP itself
// (lwip_tcp_fixture.hpp): a segment that acknowledges new data updates the send window even
// when its sequence number is older than the last window update's, so lwIP never sends past
// the right edge the peer offered (docs/lwip-tcp-stall.md).
#include "tests/unit/lwip_tcp_fixture.hpp"

#include "stack/tcp_window_update.h"

namespace culvert::testing {
namespace {

class TcpWindowUpdate : public LwipTcpFixture {};

// A Linux peer in loss recovery: its pure ACKs carry its snd_nxt, its retransmissions older
// sequence numbers with newer ACKs and smaller windows.
TEST_F(TcpWindowUpdate, AnAckForNewDataUpdatesTheWindowWhateverItsSequenceNumber) {
    // The peer offers a right edge beyond what is in flight, in a pure ACK carrying its
    // snd_nxt...
    const uint32_t peer_snd_nxt = kPeerIss + 20000;
    const uint32_t right_edge = kIss + 10000;
    ASSERT_TRUE(TCP_SEQ_LEQ(kIss + static_cast<uint32_t>(kSegments * kMss), right_edge));
    peer_ack(kIss, static_cast<uint16_t>(right_edge - kIss), peer_snd_nxt);
    ASSERT_EQ(pcb_->snd_wl1, peer_snd_nxt);
    const uint64_t updates_before = culvert_tcp_window_updates_on_ack();

    // ...then acknowledges two segments in a retransmission of older data, keeping the edge.
    const uint32_t ack = kIss + 2 * kMss;
    peer_ack(ack, static_cast<uint16_t>(right_edge - ack), kPeerIss);
    EXPECT_EQ(pcb_->lastack, ack);
    EXPECT_EQ(pcb_->lastack + pcb_->snd_wnd, right_edge) << "lwIP kept the window of an older ACK";
    EXPECT_EQ(culvert_tcp_window_updates_on_ack(), updates_before + 1);

    // More data: nothing may go past the edge the peer offered (the congestion window
    // would allow it).
    ASSERT_GT(pcb_->lastack + pcb_->cwnd, right_edge);
    std::vector<uint8_t> more(size_t{8} * kMss);
    for (size_t i = 0; i < more.size(); ++i) more[i] = pattern_at(data_.size() + i);
    ASSERT_EQ(tcp_write(pcb_, more.data(), static_cast<u16_t>(more.size()), TCP_WRITE_FLAG_COPY),
              ERR_OK);
    ASSERT_EQ(tcp_output(pcb_), ERR_OK);
    for (const auto& s : g_sent)
        EXPECT_TRUE(TCP_SEQ_LEQ(s.seq + s.data.size(), right_edge))
            << "sent " << s.seq - kIss << "+" << s.data.size() << " past the peer's edge "
            << right_edge - kIss;
    EXPECT_TRUE(TCP_SEQ_LEQ(pcb_->snd_nxt, right_edge));

    // Then the peer takes everything: the new data arrives whole, in order.
    peer_rcv_nxt_ = kIss + static_cast<uint32_t>(kSegments * kMss);
    run_peer(0xffff, 60, more.size());
    EXPECT_EQ(received_, more);
    EXPECT_EQ(pcb_->snd_queuelen, 0);
}

TEST_F(TcpWindowUpdate, OldAcksAndNewerWindowsKeepLwipsRule) {
    peer_ack(kIss + kMss, 4000, kPeerIss + 100);
    const uint64_t updates_before = culvert_tcp_window_updates_on_ack();
    // A reordered older segment: older sequence number, no new ACK, a smaller (stale) window.
    peer_ack(kIss + kMss, 2000, kPeerIss);
    EXPECT_EQ(pcb_->snd_wnd, 4000u);
    EXPECT_EQ(pcb_->snd_wl1, kPeerIss + 100);
    EXPECT_EQ(culvert_tcp_window_updates_on_ack(), updates_before);
    // A newer sequence number updates the window as lwIP always did, without the hook.
    peer_ack(kIss + kMss, 5000, kPeerIss + 200);
    EXPECT_EQ(pcb_->snd_wnd, 5000u);
    EXPECT_EQ(culvert_tcp_window_updates_on_ack(), updates_before);
}

}  // namespace
}  // namespace culvert::testing
