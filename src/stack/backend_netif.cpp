// BackendNetif: lwIP's ethernet netif glue over a PacketBackend. lwIP headers come first
// and alone: glibc's <netinet/tcp.h> redefines TCP_MSS under them (ENVIRONMENT.md), and
// DPDK headers clash with lwIP's struct ip6_hdr.
#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/ip4_addr.h"
#include "lwip/ip6_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/stats.h"
#include "netif/ethernet.h"

#include "stack/backend_netif.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <span>
#include <type_traits>
#include <utility>

namespace culvert::stack {
namespace {

using backends::kEthHeaderBytes;
using backends::kFrameOverheadBytes;
constexpr size_t kBurstFrames = 32;

ip4_addr_t to_lwip(const Ipv4Address& a) {
    ip4_addr_t out;
    IP4_ADDR(&out, a[0], a[1], a[2], a[3]);
    return out;
}

ip4_addr_t mask_for(uint8_t prefix_len) {
    ip4_addr_t out;
    const uint32_t host_order = prefix_len == 0 ? 0 : ~uint32_t{0} << (32 - prefix_len);
    ip4_addr_set_u32(&out, lwip_htonl(host_order));
    return out;
}

// A lent frame wrapped as an lwIP custom pbuf (PBUF_REF: the payload is the backend's
// buffer, no copy). pbuf_free calls loan_pbuf_free, which hands the buffer back. Wrappers
// are recycled through a free list that lives as long as lwIP's globals do: a pbuf can
// outlive its netif (queued out of order, or on a socket).
struct LoanPbuf {
    pbuf_custom custom;  // first: lwIP gives us back the pbuf* it was made from
    backends::FrameLoan loan;
    LoanPbuf* next_free;
};
static_assert(std::is_standard_layout_v<LoanPbuf>);

LoanPbuf* g_free_loan_pbufs = nullptr;  // one stack thread per lwIP instance

void loan_pbuf_free(pbuf* p) {
    auto* w = reinterpret_cast<LoanPbuf*>(p);
    w->loan.release(w->loan.handle);
    w->next_free = g_free_loan_pbufs;
    g_free_loan_pbufs = w;
}

// A wrapper from the free list, or a new one (only until the number of frames lwIP holds
// at once has been reached); nullptr when memory is exhausted.
LoanPbuf* take_loan_pbuf() {
    if (LoanPbuf* w = g_free_loan_pbufs) {
        g_free_loan_pbufs = w->next_free;
        return w;
    }
    return new (std::nothrow) LoanPbuf{};
}

ip6_addr_t to_lwip(const Ipv6Address& a) {
    ip6_addr_t out{};
    std::memcpy(out.addr, a.data(), a.size());  // addr[] holds network-order words
    ip6_addr_clear_zone(&out);
    return out;
}

// lwIP's IPv4 fragmenter (ip4_frag.c) marks a fragment "last" when the rest fits in
// mtu - 20 bytes but sends only a multiple of 8 of it: with mtu - 20 not a multiple of 8 a
// datagram can leave as two "last" fragments and never reassemble (MTU 9000 does this).
// lwIP gets an MTU it fragments right, unless that would go below IPv6's 1280. Found by the
// simulator (culvert sim --seed 7000059 --scenario datagram, MTU 1288).
uint16_t fragmentable_mtu(uint16_t mtu, bool ipv6) {
    const auto rounded = static_cast<uint16_t>(mtu - (mtu - 20) % 8);
    return ipv6 && rounded < 1280 ? mtu : rounded;
}

}  // namespace

BackendNetif::BackendNetif(backends::PacketBackend& backend, uint16_t mtu)
    : backend_(backend),
      mtu_(mtu),
      lwip_mtu_(mtu),
      netif_(std::make_unique<::netif>()),
      tx_frame_(mtu + kFrameOverheadBytes) {}

std::expected<std::unique_ptr<BackendNetif>, std::string> BackendNetif::create(
    backends::PacketBackend& backend, const NetifConfig& config) {
    const backends::BackendCaps caps = backend.caps();
    const std::string where = "netif over " + std::string(backend.name()) + ": ";
    if (config.mtu > caps.mtu) {
        return std::unexpected(where + "MTU " + std::to_string(config.mtu) +
                               " exceeds the backend's " + std::to_string(caps.mtu));
    }
    const uint16_t mtu = config.mtu != 0 ? config.mtu : caps.mtu;
    // IPv6 needs 1280 (RFC 8200 §5); IPv4 alone works down to 576 (RFC 791).
    if (mtu < 576 || (!config.ipv6.empty() && mtu < 1280)) {
        return std::unexpected(where + "MTU " + std::to_string(mtu) + " is too small");
    }
    if (config.ipv4 && config.ipv4->prefix_len > 32) {
        return std::unexpected(where + "IPv4 prefix length " +
                               std::to_string(config.ipv4->prefix_len) + " is over 32");
    }
    if (config.ipv6.size() > LWIP_IPV6_NUM_ADDRESSES - 1) {
        return std::unexpected(
            where + std::to_string(config.ipv6.size()) + " IPv6 addresses configured; at most " +
            std::to_string(LWIP_IPV6_NUM_ADDRESSES - 1) + " fit next to the link-local one");
    }
    for (const Ipv6Address& a : config.ipv6) {
        const ip6_addr_t addr = to_lwip(a);
        if (ip6_addr_ismulticast(&addr) || ip6_addr_isany(&addr) || ip6_addr_isloopback(&addr)) {
            return std::unexpected(where + "IPv6 address " + ip6addr_ntoa(&addr) +
                                   " is not a unicast address");
        }
    }

    std::unique_ptr<BackendNetif> self(new BackendNetif(backend, mtu));
    self->lwip_mtu_ = fragmentable_mtu(mtu, !config.ipv6.empty());
    ::netif* nif = self->netif_.get();

    ip4_addr_t addr{}, mask{}, gw{};
    if (config.ipv4) {
        addr = to_lwip(config.ipv4->address);
        mask = mask_for(config.ipv4->prefix_len);
        if (config.ipv4->gateway) gw = to_lwip(*config.ipv4->gateway);
    }
    if (netif_add(nif, &addr, &mask, &gw, self.get(), &BackendNetif::init, ethernet_input) ==
        nullptr) {
        return std::unexpected(where + "lwIP refused netif_add");
    }
    self->added_ = true;

    // Checksums the device handles need not be done twice; ICMP stays in software (no
    // device offloads it), and so does UDP: lwIP fragments large datagrams and reassembles
    // them, and a checksum across fragments is beyond any per-frame offload. netif_add
    // enabled everything.
    uint16_t checksums = NETIF_CHECKSUM_ENABLE_ALL;
    if (caps.tx_csum_ipv4) checksums &= ~NETIF_CHECKSUM_GEN_IP;
    if (caps.tx_csum_l4) checksums &= ~NETIF_CHECKSUM_GEN_TCP;
    if (caps.rx_csum_ipv4) checksums &= ~NETIF_CHECKSUM_CHECK_IP;
    if (caps.rx_csum_l4) checksums &= ~NETIF_CHECKSUM_CHECK_TCP;
    NETIF_SET_CHECKSUM_CTRL(nif, checksums);
    self->checksums_ = checksums;

    // Slot 0: fe80::/64 with the EUI-64 of our MAC; with DAD off lwIP makes it PREFERRED.
    netif_create_ip6_linklocal_address(nif, 1);
    for (const Ipv6Address& a : config.ipv6) {
        const ip6_addr_t addr6 = to_lwip(a);
        s8_t index = -1;
        if (netif_add_ip6_address(nif, &addr6, &index) != ERR_OK || index < 0) {
            return std::unexpected(where + "no free IPv6 address slot for " + ip6addr_ntoa(&addr6));
        }
        // lwIP's "VALID" bit alone means DEPRECATED (not chosen as a source for new
        // connections); PREFERRED is valid and usable for everything.
        netif_ip6_addr_set_state(nif, index, IP6_ADDR_PREFERRED);
    }

    netif_set_up(nif);
    if (caps.link_up) netif_set_link_up(nif);
    if (config.make_default) netif_set_default(nif);
    return self;
}

BackendNetif::~BackendNetif() {
    // Also drops its ARP and neighbour entries and any frames queued on them.
    if (added_) netif_remove(netif_.get());
}

err_t BackendNetif::init(::netif* nif) {
    auto* self = static_cast<BackendNetif*>(nif->state);
    const backends::MacAddress mac = self->backend_.mac();
    nif->name[0] = 'c';
    nif->name[1] = 'v';
    nif->mtu = self->lwip_mtu_;
    nif->hwaddr_len = ETH_HWADDR_LEN;
    std::memcpy(nif->hwaddr, mac.data(), ETH_HWADDR_LEN);
    // MLD6 lets lwIP join the solicited-node groups that neighbour solicitations go to.
    nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_MLD6;
    nif->output = etharp_output;
    nif->output_ip6 = ethip6_output;
    nif->linkoutput = &BackendNetif::linkoutput;
    return ERR_OK;
}

err_t BackendNetif::linkoutput(::netif* nif, ::pbuf* p) {
    auto* self = static_cast<BackendNetif*>(nif->state);
    if (p->tot_len > self->tx_frame_.size()) {
        ++self->stats_.tx_too_long;
        LINK_STATS_INC(link.drop);
        return ERR_IF;
    }
    backends::Frame frame{};
    if (p->next == nullptr) {
        frame = {static_cast<std::byte*>(p->payload), p->len};  // tx_burst copies it out
    } else {
        const u16_t len = pbuf_copy_partial(p, self->tx_frame_.data(), p->tot_len, 0);
        frame = {self->tx_frame_.data(), len};
    }
    if (self->backend_.tx_burst(std::span<const backends::Frame>(&frame, 1)) == 0) {
        // Back-pressure: TCP keeps the segment and retries; UDP callers see ERR_MEM.
        ++self->stats_.tx_busy;
        LINK_STATS_INC(link.drop);
        return ERR_MEM;
    }
    ++self->stats_.tx_frames;
    self->stats_.tx_bytes += frame.len;
    LINK_STATS_INC(link.xmit);
    return ERR_OK;
}

size_t BackendNetif::poll(size_t max_frames) {
    std::array<backends::Frame, kBurstFrames> burst;
    size_t total = 0;
    while (total < max_frames) {
        const size_t want = std::min(kBurstFrames, max_frames - total);
        const size_t got = backend_.rx_burst(std::span(burst.data(), want));
        // Each frame is copied into pbufs before the next rx_burst reuses the buffers.
        for (size_t i = 0; i < got; ++i) deliver(burst[i]);
        total += got;
        if (got < want) break;
    }
    return total;
}

void BackendNetif::deliver(const backends::Frame& frame) {
    // A lent frame must go back to its backend on every path that does not hand it to lwIP.
    const auto give_back = [&frame] {
        if (frame.loan.release != nullptr) frame.loan.release(frame.loan.handle);
    };
    if (frame.len < kEthHeaderBytes) {
        ++stats_.rx_too_short;
        LINK_STATS_INC(link.lenerr);
        give_back();
        return;
    }
    // A coalesced frame (segments the device merged) is one valid IP packet of any length.
    if (frame.len > mtu_ + kFrameOverheadBytes && !frame.coalesced) {
        ++stats_.rx_too_long;
        LINK_STATS_INC(link.lenerr);
        give_back();
        return;
    }
    pbuf* p = nullptr;
    bool lent = false;
    if (frame.loan.release != nullptr) {
        // Zero copy: lwIP works on the backend's buffer until it frees the pbuf.
        if (LoanPbuf* w = take_loan_pbuf()) {
            w->custom.custom_free_function = &loan_pbuf_free;
            w->loan = frame.loan;
            p = pbuf_alloced_custom(PBUF_RAW, frame.len, PBUF_REF, &w->custom, frame.data,
                                    frame.len);
            lent = p != nullptr;
            if (!lent) {  // cannot happen for these sizes; keep the wrapper anyway
                w->next_free = g_free_loan_pbufs;
                g_free_loan_pbufs = w;
            }
        }
    }
    if (!lent) {
        // PBUF_POOL buffers hold a full 1518-byte frame (lwipopts.h); jumbo frames chain. A
        // coalesced frame of up to 64 KiB takes one allocation instead of ~40 chained ones.
        const pbuf_type type =
            frame.coalesced && frame.len > PBUF_POOL_BUFSIZE ? PBUF_RAM : PBUF_POOL;
        p = pbuf_alloc(PBUF_RAW, frame.len, type);
        if (p == nullptr) {
            ++stats_.rx_no_pbuf;
            LINK_STATS_INC(link.memerr);
            give_back();
            return;
        }
        pbuf_take(p, frame.data, frame.len);
        give_back();
    }
    LINK_STATS_INC(link.recv);
    // A frame whose transport checksum the device vouches for skips lwIP's check, for this
    // frame only (lwIP's checksum control is per netif; input runs to completion here).
    const uint16_t no_l4_checks = NETIF_CHECKSUM_CHECK_TCP | NETIF_CHECKSUM_CHECK_UDP |
                                  NETIF_CHECKSUM_CHECK_ICMP | NETIF_CHECKSUM_CHECK_ICMP6;
    if (frame.l4_csum_ok) NETIF_SET_CHECKSUM_CTRL(netif_.get(), checksums_ & ~no_l4_checks);
    // netif->input owns p when it returns ERR_OK; on an error the caller frees it (which
    // returns a lent buffer through loan_pbuf_free).
    const err_t input_err = netif_->input(p, netif_.get());
    if (frame.l4_csum_ok) NETIF_SET_CHECKSUM_CTRL(netif_.get(), checksums_);
    if (input_err != ERR_OK) {
        pbuf_free(p);
        ++stats_.rx_refused;
        return;
    }
    ++stats_.rx_frames;
    stats_.rx_bytes += frame.len;
    if (lent) ++stats_.rx_zero_copy;
}

bool BackendNetif::refresh_link() {
    const bool up = backend_.caps().link_up;
    if (up && !netif_is_link_up(netif_.get())) netif_set_link_up(netif_.get());
    if (!up && netif_is_link_up(netif_.get())) netif_set_link_down(netif_.get());
    return up;
}

}  // namespace culvert::stack
