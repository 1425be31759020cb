// Proves our lwipopts.h is what the compiled lwIP uses: window, MSS and pool sizes as
// configured, and a full-size Ethernet frame goes through ethernet_input without overflow.
#include "stack_hooks.h"
#include "lwip/init.h"
#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace {

std::vector<std::vector<uint8_t>> g_sent;

err_t capture_output(struct netif*, struct pbuf* p) {
    std::vector<uint8_t> frame(p->tot_len);
    pbuf_copy_partial(p, frame.data(), p->tot_len, 0);
    g_sent.push_back(std::move(frame));
    return ERR_OK;
}

err_t test_netif_init(struct netif* nif) {
    nif->mtu = 1500;
    nif->hwaddr_len = 6;
    const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 1};
    std::memcpy(nif->hwaddr, mac, 6);
    nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
    nif->output = etharp_output;
    nif->output_ip6 = ethip6_output;
    nif->linkoutput = capture_output;
    return ERR_OK;
}

class LwipOptions : public ::testing::Test {
protected:
    static void SetUpTestSuite() { culvert_lwip_init(); }
};

TEST_F(LwipOptions, CompiledLibrarySeesOurWindowAndMss) {
    struct tcp_pcb* pcb = tcp_new();
    ASSERT_NE(pcb, nullptr);
    EXPECT_EQ(TCP_MSS, 1460);
    EXPECT_GE(TCP_WND, 1024 * 1024);
    EXPECT_GE(TCP_SND_BUF, 1024 * 1024);
    // The library's own view: a fresh pcb's receive window and send buffer.
    // Until the handshake negotiates scaling the window is clamped to 16 bits.
    EXPECT_EQ(pcb->rcv_wnd, static_cast<tcpwnd_size_t>(0xffff));
    // tcp_sndbuf() clamps to 16 bits; the field itself holds the full buffer.
    EXPECT_EQ(pcb->snd_buf, static_cast<tcpwnd_size_t>(TCP_SND_BUF));
    EXPECT_EQ(pcb->rcv_scale, 0) << "scaling is negotiated per connection";
    EXPECT_EQ(pcb->mss, 536) << "lwIP starts at the RFC default and learns the peer's MSS";
    tcp_abort(pcb);
    EXPECT_GE(PBUF_POOL_BUFSIZE, 1518);
}

TEST_F(LwipOptions, FullSizeFrameGoesThroughEthernetInput) {
    struct netif nif {};
    ip4_addr_t addr, mask, gw;
    IP4_ADDR(&addr, 10, 0, 0, 2);
    IP4_ADDR(&mask, 255, 255, 255, 0);
    IP4_ADDR(&gw, 0, 0, 0, 0);
    ASSERT_NE(netif_add(&nif, &addr, &mask, &gw, nullptr, test_netif_init, ethernet_input), nullptr);
    netif_set_up(&nif);

    // A 1514-byte IPv4/UDP frame to our address; lwIP must accept and free it.
    std::vector<uint8_t> frame(1514, 0);
    const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 1}, src[6] = {0x02, 0, 0, 0, 0, 2};
    std::memcpy(&frame[0], dst, 6);
    std::memcpy(&frame[6], src, 6);
    frame[12] = 0x08;
    frame[13] = 0x00;
    uint8_t* ip = &frame[14];
    ip[0] = 0x45;
    const uint16_t ip_len = 1500;
    ip[2] = ip_len >> 8;
    ip[3] = ip_len & 0xff;
    ip[8] = 64;
    ip[9] = 17;
    const uint8_t s[4] = {10, 0, 0, 1}, d[4] = {10, 0, 0, 2};
    std::memcpy(ip + 12, s, 4);
    std::memcpy(ip + 16, d, 4);
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) sum += (ip[i] << 8) | ip[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    ip[10] = static_cast<uint8_t>(~sum >> 8);
    ip[11] = static_cast<uint8_t>(~sum & 0xff);
    uint8_t* udp = ip + 20;
    udp[0] = 0x30; udp[1] = 0x39; // 12345
    udp[2] = 0x00; udp[3] = 0x09; // 9 (nobody listens: ICMP port unreachable)
    const uint16_t udp_len = ip_len - 20;
    udp[4] = udp_len >> 8;
    udp[5] = udp_len & 0xff;  // checksum 0: none

    const auto drops_before = lwip_stats.link.drop;
    struct pbuf* p = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(frame.size()), PBUF_POOL);
    ASSERT_NE(p, nullptr);
    ASSERT_EQ(pbuf_take(p, frame.data(), static_cast<u16_t>(frame.size())), ERR_OK);
    EXPECT_EQ(p->next, nullptr) << "a full frame fits one pool buffer";
    ASSERT_EQ(nif.input(p, &nif), ERR_OK);
    EXPECT_EQ(lwip_stats.link.drop, drops_before);
    EXPECT_EQ(lwip_stats.udp.recv, 1u);

    netif_remove(&nif);
    EXPECT_EQ(lwip_stats.memp[MEMP_PBUF_POOL]->used, 0) << "no leaked pool buffers";
}

}  // namespace
