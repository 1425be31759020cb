// A test fixture on lwIP itself, for the TCP workarounds in src/stack: one established pcb
// with six full segments in flight, a hand-driven peer (pure ACKs in, every segment out
// captured) and lwIP's slow timer stepped by hand. Checks for leaked segments, pcbs and heap.
#pragma once

#include "stack_hooks.h"
#include "lwip/init.h"
#include "lwip/ip4.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/priv/tcp_priv.h"

#include "stack/tcp_unsent_order.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace culvert::testing {

constexpr uint16_t kMss = 1460;
constexpr size_t kSegments = 6;
constexpr uint32_t kIss = 0xfffff000u;  // our data crosses the 32-bit sequence wrap
constexpr uint32_t kPeerIss = 0x12345678u;
constexpr uint16_t kLocalPort = 4000, kPeerPort = 5000;
constexpr uint16_t kSmallWindow =
    1000;  // less than one segment, as a Linux peer whose buffer is full

struct Segment {
    uint32_t seq = 0;
    uint32_t ack = 0;
    std::vector<uint8_t> data;
};
inline std::vector<Segment> g_sent;

inline uint32_t be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void put_be16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v);
}
inline void put_be32(uint8_t* p, uint32_t v) {
    put_be16(p, static_cast<uint16_t>(v >> 16));
    put_be16(p + 2, static_cast<uint16_t>(v));
}

inline err_t capture_ip(struct netif*, struct pbuf* p, const ip4_addr_t*) {
    std::vector<uint8_t> pkt(p->tot_len);
    pbuf_copy_partial(p, pkt.data(), p->tot_len, 0);
    const size_t ihl = (pkt[0] & 0x0f) * 4u;
    const uint8_t* tcp = pkt.data() + ihl;
    const uint8_t* end = pkt.data() + pkt.size();
    const size_t thl = (tcp[12] >> 4) * 4u;
    Segment s;
    s.seq = be32(tcp + 4);
    s.ack = be32(tcp + 8);
    s.data.assign(tcp + thl, end);
    g_sent.push_back(std::move(s));
    return ERR_OK;
}

inline err_t test_netif_init(struct netif* nif) {
    nif->mtu = 1500;
    nif->output = capture_ip;
    nif->flags = NETIF_FLAG_LINK_UP;
    // The peer below writes no checksums, and ours need not be checked.
    NETIF_SET_CHECKSUM_CTRL(nif, NETIF_CHECKSUM_DISABLE_ALL);
    return ERR_OK;
}

// lwIP heap in use, less its timer list: the first active pcb starts lwIP's TCP timer,
// which then stays for good.
inline mem_size_t heap_in_use() {
    return static_cast<mem_size_t>(lwip_stats.mem.used - lwip_stats.memp[MEMP_SYS_TIMEOUT]->used *
                                                             sizeof(struct sys_timeo));
}

inline uint8_t pattern_at(size_t i) {
    return static_cast<uint8_t>((i * 131u + (i >> 8)) & 0xff);
}

class LwipTcpFixture : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { culvert_lwip_init(); }

    void SetUp() override {
        g_sent.clear();
        segs_before_ = lwip_stats.memp[MEMP_TCP_SEG]->used;
        pcbs_before_ = lwip_stats.memp[MEMP_TCP_PCB]->used;
        heap_before_ = heap_in_use();
        ip4_addr_t mask, gw;
        IP4_ADDR(&local_, 10, 0, 0, 1);
        IP4_ADDR(&peer_, 10, 0, 0, 2);
        IP4_ADDR(&mask, 255, 255, 255, 0);
        IP4_ADDR(&gw, 0, 0, 0, 0);
        ASSERT_NE(netif_add(&nif_, &local_, &mask, &gw, nullptr, test_netif_init, ip4_input),
                  nullptr);
        netif_set_up(&nif_);

        // An established connection, set up as lwIP's own unit tests do (test/unit/tcp).
        pcb_ = tcp_new();
        ASSERT_NE(pcb_, nullptr);
        pcb_->state = ESTABLISHED;
        ip_addr_copy_from_ip4(pcb_->local_ip, local_);
        ip_addr_copy_from_ip4(pcb_->remote_ip, peer_);
        pcb_->local_port = kLocalPort;
        pcb_->remote_port = kPeerPort;
        pcb_->snd_nxt = pcb_->lastack = pcb_->snd_lbb = pcb_->snd_wl2 = kIss;
        pcb_->rcv_nxt = kPeerIss;
        pcb_->rcv_ann_right_edge = kPeerIss + pcb_->rcv_ann_wnd;
        pcb_->snd_wl1 = kPeerIss - 1;
        pcb_->mss = kMss;
        pcb_->snd_wnd = pcb_->snd_wnd_max = 0xffff;
        pcb_->cwnd = 10 * kMss;
        pcb_->ssthresh = 0xffff;
        tcp_nagle_disable(pcb_);
        tcp_arg(pcb_, this);
        tcp_sent(pcb_, [](void* arg, struct tcp_pcb*, u16_t len) -> err_t {
            static_cast<LwipTcpFixture*>(arg)->sent_callback_bytes_ += len;
            return ERR_OK;
        });
        TCP_REG_ACTIVE(pcb_);
        peer_rcv_nxt_ = kIss;

        data_.resize(kSegments * kMss);
        for (size_t i = 0; i < data_.size(); ++i) data_[i] = pattern_at(i);
        ASSERT_EQ(
            tcp_write(pcb_, data_.data(), static_cast<u16_t>(data_.size()), TCP_WRITE_FLAG_COPY),
            ERR_OK);
        ASSERT_EQ(tcp_output(pcb_), ERR_OK);
        ASSERT_EQ(g_sent.size(), kSegments) << "all segments in flight";
        g_sent.clear();
    }

    void TearDown() override {
        if (pcb_) tcp_abort(pcb_);
        netif_remove(&nif_);
        EXPECT_EQ(lwip_stats.memp[MEMP_TCP_SEG]->used, segs_before_) << "leaked TCP segments";
        EXPECT_EQ(lwip_stats.memp[MEMP_TCP_PCB]->used, pcbs_before_) << "leaked pcbs";
        EXPECT_EQ(heap_in_use(), heap_before_) << "leaked heap (pbufs)";
    }

    // A pure ACK from the peer (its sequence number `seq`, by default its first).
    void peer_ack(uint32_t ack, uint16_t wnd, uint32_t seq = kPeerIss) {
        struct pbuf* p = pbuf_alloc(PBUF_RAW, 40, PBUF_RAM);
        ASSERT_NE(p, nullptr);
        auto* b = static_cast<uint8_t*>(p->payload);
        std::memset(b, 0, 40);
        b[0] = 0x45;
        put_be16(b + 2, 40);
        b[8] = 64;
        b[9] = IP_PROTO_TCP;
        std::memcpy(b + 12, &peer_.addr, 4);
        std::memcpy(b + 16, &local_.addr, 4);
        uint8_t* t = b + 20;
        put_be16(t, kPeerPort);
        put_be16(t + 2, kLocalPort);
        put_be32(t + 4, seq);
        put_be32(t + 8, ack);
        t[12] = 5 << 4;
        t[13] = TCP_ACK;
        put_be16(t + 14, wnd);
        ASSERT_EQ(nif_.input(p, &nif_), ERR_OK);
    }

    // One tick of lwIP's slow timer, followed (or not) by what culvert's stack loop does.
    void tick(bool repair) {
        tcp_slowtmr();
        if (repair) repaired_ += culvert_tcp_repair_after_timers();
    }

    // The peer takes what arrives in order and acknowledges it with `wnd`, for up to `ticks`
    // slow-timer ticks or until it holds `until_bytes` of the stream.
    void run_peer(uint16_t wnd, int ticks, size_t until_bytes) {
        for (int i = 0; i < ticks && received_.size() < until_bytes; ++i) {
            while (!g_sent.empty()) {
                auto batch = std::move(g_sent);
                g_sent.clear();
                for (const auto& s : batch) {
                    const uint32_t skip = peer_rcv_nxt_ - s.seq;
                    if (s.data.empty() || TCP_SEQ_GT(s.seq, peer_rcv_nxt_) || skip >= s.data.size())
                        continue;
                    received_.insert(received_.end(), s.data.begin() + skip, s.data.end());
                    peer_rcv_nxt_ += static_cast<uint32_t>(s.data.size() - skip);
                }
                peer_ack(peer_rcv_nxt_, wnd);
            }
            tick(true);
        }
    }

    // The stall's preconditions: three duplicate ACKs whose window (smaller than a segment)
    // keeps the fast-retransmitted segment in the unsent queue, then the retransmission
    // timeout moves the unacked queue in front of it.
    void fast_retransmit_then_timeout(bool repair) {
        peer_ack(kIss, kSmallWindow);  // shrinks the window: not a duplicate ACK yet
        for (int i = 0; i < 3; ++i) peer_ack(kIss, kSmallWindow);
        ASSERT_TRUE(pcb_->flags & TF_INFR) << "three duplicate ACKs start a fast retransmit";
        ASSERT_NE(pcb_->unsent, nullptr);
        ASSERT_EQ(lwip_ntohl(pcb_->unsent->tcphdr->seqno), kIss) << "the segment waits for window";
        for (int i = 0; i < 30 && !(pcb_->flags & TF_RTO); ++i) tick(repair);
        ASSERT_TRUE(pcb_->flags & TF_RTO) << "no retransmission timeout";
    }

    // Sequence number of the earliest segment lwIP still holds (unacked, else unsent).
    uint32_t first_queued_seq() const {
        const struct tcp_seg* s = pcb_->unacked ? pcb_->unacked : pcb_->unsent;
        return s ? lwip_ntohl(s->tcphdr->seqno) : pcb_->snd_lbb;
    }

    bool sent_at(uint32_t seq) const {
        for (const auto& s : g_sent)
            if (s.seq == seq && !s.data.empty()) return true;
        return false;
    }

    struct netif nif_ {};
    ip4_addr_t local_{}, peer_{};
    struct tcp_pcb* pcb_ = nullptr;
    std::vector<uint8_t> data_, received_;
    uint32_t peer_rcv_nxt_ = 0;
    uint32_t repaired_ = 0;
    size_t sent_callback_bytes_ = 0;
    uint32_t segs_before_ = 0, pcbs_before_ = 0;
    mem_size_t heap_before_ = 0;
};

}  // namespace culvert::testing
