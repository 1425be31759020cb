// Tests src/stack/tcp_unsent_order.c on lwIP itself (lwip_tcp_fixture.hpp). The scenario is
// the permanent stall seen with a Linux peer (docs/lwip-tcp-stall.md): a fast retransmit
// that the peer's small window keeps from going out, then a retransmission timeout.
#include "tests/unit/lwip_tcp_fixture.hpp"

#include <algorithm>

namespace culvert::testing {
namespace {

class TcpUnsentOrder : public LwipTcpFixture {};

// The lwIP bug itself (if this starts failing after an lwIP upgrade, the workaround may be
// obsolete): the queue is out of order and, for two minutes of timer ticks, the segment at
// snd_una is never sent again.
TEST_F(TcpUnsentOrder, LwipAloneNeverResendsSndUnaAfterFastRetransmitThenTimeout) {
    fast_retransmit_then_timeout(false);
    ASSERT_NE(pcb_->unsent, nullptr);
    EXPECT_EQ(lwip_ntohl(pcb_->unsent->tcphdr->seqno), kIss + kMss)
        << "lwIP 2.1.3 puts the old unacked queue in front of the fast-retransmitted segment";
    for (int i = 0; i < 240; ++i) tick(false);
    EXPECT_FALSE(sent_at(kIss)) << "lwIP resent snd_una on its own";
    EXPECT_EQ(pcb_->lastack, kIss);
}

TEST_F(TcpUnsentOrder, RepairResendsSndUnaAndTheWholeStreamArrives) {
    fast_retransmit_then_timeout(true);
    EXPECT_EQ(repaired_, 1u);
    EXPECT_EQ(first_queued_seq(), kIss) << "snd_una must be first in line";
    // The small window lets the head out only in pieces (lwIP's persist timer splits it).
    run_peer(kSmallWindow, 60, 1);
    ASSERT_FALSE(received_.empty()) << "snd_una never went out";
    run_peer(0xffff, 60, data_.size());
    ASSERT_EQ(received_.size(), data_.size());
    EXPECT_EQ(received_, data_);
    EXPECT_EQ(pcb_->unacked, nullptr);
    EXPECT_EQ(pcb_->unsent, nullptr);
    EXPECT_EQ(pcb_->snd_queuelen, 0);
    EXPECT_EQ(pcb_->snd_buf, static_cast<tcpwnd_size_t>(TCP_SND_BUF));
    EXPECT_EQ(sent_callback_bytes_, data_.size());
}

// The peer acknowledges the fast-retransmitted segment (its first copy arrived after all)
// while that segment sits behind unacknowledged ones: lwIP frees acknowledged segments only
// from the head of its queues, so the repair must free it, or tcp_output() would wrap
// `seqno - lastack` and never send again.
TEST_F(TcpUnsentOrder, RepairFreesASegmentThePeerAlreadyAcknowledged) {
    fast_retransmit_then_timeout(false);
    peer_ack(kIss + kMss, kSmallWindow);
    ASSERT_EQ(pcb_->lastack, kIss + kMss);
    EXPECT_EQ(sent_callback_bytes_, 0u) << "lwIP could not free the acknowledged segment";
    tick(true);
    EXPECT_EQ(repaired_, 1u);
    EXPECT_EQ(sent_callback_bytes_, kMss) << "the application hears of the freed room";
    EXPECT_EQ(first_queued_seq(), kIss + kMss) << "snd_una must be first in line";
    u16_t queued = 0;
    for (struct tcp_seg* s = pcb_->unsent; s != nullptr; s = s->next)
        queued = static_cast<u16_t>(queued + pbuf_clen(s->p));
    for (struct tcp_seg* s = pcb_->unacked; s != nullptr; s = s->next)
        queued = static_cast<u16_t>(queued + pbuf_clen(s->p));
    EXPECT_EQ(pcb_->snd_queuelen, queued);
    peer_rcv_nxt_ = kIss + kMss;
    run_peer(0xffff, 60, data_.size() - kMss);
    ASSERT_EQ(received_.size(), data_.size() - kMss);
    EXPECT_TRUE(std::equal(received_.begin(), received_.end(), data_.begin() + kMss));
    EXPECT_EQ(pcb_->snd_queuelen, 0);
    EXPECT_EQ(pcb_->snd_buf, static_cast<tcpwnd_size_t>(TCP_SND_BUF));
    EXPECT_EQ(sent_callback_bytes_, data_.size());
}

TEST_F(TcpUnsentOrder, InOrderQueuesAreLeftAlone) {
    tcp_slowtmr();
    EXPECT_EQ(culvert_tcp_repair_after_timers(), 0u);
    EXPECT_EQ(culvert_tcp_repair_unsent_order(pcb_), 0);
    EXPECT_EQ(g_sent.size(), 0u);
    EXPECT_EQ(culvert_tcp_repair_unsent_order(nullptr), 0);
}

}  // namespace
}  // namespace culvert::testing
