// UDP sockets on lwIP's raw API joined to datagram channels (udp_socket.hpp).
#include "lwip/pbuf.h"
#include "lwip/udp.h"

#include "server/udp_socket.hpp"

#include "channels/linux_abi.hpp"
#include "server/addr.hpp"
#include "server/session.hpp"
#include "server/stack.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace culvert::server {

namespace abi = culvert::linux_abi;
using channels::ChannelKind;
using channels::DgramItem;

namespace {

void recv_cb(void* arg, udp_pcb*, pbuf* p, const ip_addr_t* addr, u16_t port) {
    static_cast<UdpSocket*>(arg)->on_recv(p, addr, port);
}

template <class T>
std::expected<uint32_t, Errno> put(std::span<uint8_t> out, T value) {
    const size_t n = std::min(out.size(), sizeof(T));
    std::memcpy(out.data(), &value, n);
    return static_cast<uint32_t>(n);
}

}  // namespace

UdpSocket::UdpSocket(Stack& stack, Session& session, uint32_t id, int domain)
    : Socket(stack, &session, id, 0),
      domain_(domain),
      segment_mode_(session.copy_mode() == channels::CopyMode::segment),
      allocations_(session.memory()) {}

std::expected<std::unique_ptr<UdpSocket>, Errno> UdpSocket::create(Stack& stack, Session& session, int domain) {
    auto fds = ChannelFds::make();
    if (!fds) return std::unexpected(fds.error());
    std::unique_ptr<UdpSocket> s(new UdpSocket(stack, session, session.next_socket_id(), domain));
    s->fds_ = *fds;
    if (auto r = s->attach_channel(); !r) return std::unexpected(r.error());
    s->pcb_ = udp_new_ip_type(domain == kAfInet ? IPADDR_TYPE_V4 : IPADDR_TYPE_ANY);
    if (!s->pcb_) return std::unexpected(ENOMEM);
    udp_recv(s->pcb_, recv_cb, s.get());
    s->token_ = stack.register_socket(s.get(), s->fds_.notify);
    s->refill_send_buffers();
    stack.counters().sockets_created++;
    return s;
}

std::expected<void, Errno> UdpSocket::attach_channel() {
    auto off = allocations_.allocate(sizeof(channels::DgramChannelShared));
    if (!off) {
        stack_.counters().segment_alloc_failures++;
        return std::unexpected(ENOBUFS);
    }
    auto ch = allocations_.memory().segment.at<channels::DgramChannelShared>(*off);
    if (!ch) return std::unexpected(ENOBUFS);
    ch_ = new (*ch) channels::DgramChannelShared();
    ch_->header = {channels::kChannelMagic, channels::kChannelVersion, static_cast<uint32_t>(ChannelKind::dgram), 0};
    sendq_ = decltype(sendq_)(&ch_->sendq);
    recvq_ = decltype(recvq_)(&ch_->recvq);
    notify_ = channels::EventQueueConsumer(&ch_->to_server, fds_.notify);
    ready_ = channels::Readiness(&ch_->readiness, -1, fds_.peer);
    info_ = channels::ChannelInfo{*off, 0, 0, 0, 0, static_cast<uint32_t>(ChannelKind::dgram), 0};
    return {};
}

UdpSocket::~UdpSocket() {
    if (pcb_) {
        udp_recv(pcb_, nullptr, nullptr);
        udp_remove(pcb_);
    }
    auto& alloc = allocations_.memory().allocator;
    for (auto& slot : send_slots_) {
        if (slot.p) pbuf_free(slot.p);
        if (slot.offset) alloc.free(slot.offset);
    }
    for (auto& slot : recv_slots_) {
        if (slot.p) pbuf_free(slot.p);
        if (slot.in_segment) alloc.free(slot.offset);
    }
    stack_.unregister_socket(token_, fds_.notify);
    fds_.close_all();
    stack_.counters().sockets_closed++;
}

void UdpSocket::on_recv(pbuf* p, const void* addr_v, uint16_t port) {
    const auto* addr = static_cast<const ip_addr_t*>(addr_v);
    reclaim_received();
    auto slot = recvq_.reserve();
    if (!slot) {
        stack_.counters().udp_rx_dropped_ring_full++;
        pbuf_free(p);
        return;
    }
    auto [index, item] = *slot;
    RecvSlot& rs = recv_slots_[index];
    const uint32_t len = p->tot_len;
    if (segment_mode_) {
        auto off = allocations_.memory().allocator.allocate(std::max<uint32_t>(len, 1), 64);
        auto bytes = off ? allocations_.memory().segment.bytes(*off, len) : std::unexpected(channels::ChannelError::full);
        if (!off || !bytes) {
            if (off) allocations_.memory().allocator.free(*off);
            stack_.counters().segment_alloc_failures++;
            stack_.counters().udp_rx_dropped_ring_full++;
            pbuf_free(p);
            return;
        }
        pbuf_copy_partial(p, bytes->data(), static_cast<u16_t>(len), 0);
        pbuf_free(p);
        rs = RecvSlot{nullptr, *off, true};
        item->payload = *off;
    } else {
        if (p->next) {
            // process_vm_readv copies one contiguous range: flatten chains (IP reassembly).
            pbuf* flat = pbuf_clone(PBUF_RAW, PBUF_RAM, p);
            pbuf_free(p);
            if (!flat) {
                stack_.counters().udp_rx_dropped_ring_full++;
                return;
            }
            p = flat;
        }
        rs = RecvSlot{p, 0, false};
        item->payload = reinterpret_cast<uint64_t>(p->payload);
    }
    item->capacity = len;
    item->len = len;
    item->flags = channels::kDgramHasAddr;
    const channels::WireAddr from = to_wire(*addr, port, domain_);
    std::memcpy(item->addr, &from, sizeof from);
    recvq_.commit();
    stack_.counters().udp_rx_datagrams++;
    ready_.signal_readable();
}

void UdpSocket::reclaim_received() {
    auto& alloc = allocations_.memory().allocator;
    auto r = recvq_.reclaim([&](size_t index, DgramItem&) {
        RecvSlot& rs = recv_slots_[index];
        if (rs.p) pbuf_free(rs.p);
        if (rs.in_segment) alloc.free(rs.offset);
        rs = RecvSlot{};
    });
    if (!r) stack_.counters().channel_corrupt++;
}

void UdpSocket::transmit_spent() {
    const size_t before = sendq_.outstanding();
    size_t sent = 0;
    auto r = sendq_.reclaim([&](size_t index, DgramItem& shared_item) {
        // Read the client's fields once; never trust the shared copy again.
        DgramItem item;
        std::memcpy(&item, &shared_item, sizeof item);
        SendSlot& ss = send_slots_[index];
        ++sent;
        if (item.len > ss.capacity) {
            stack_.counters().udp_tx_bad_length++;
            return;
        }
        pbuf* p = nullptr;
        if (segment_mode_) {
            p = pbuf_alloc(PBUF_TRANSPORT, static_cast<u16_t>(item.len), PBUF_RAM);
            auto bytes = allocations_.memory().segment.bytes(ss.offset, item.len);
            if (!p || !bytes) {
                if (p) pbuf_free(p);
                stack_.counters().udp_tx_errors++;
                return;
            }
            pbuf_take(p, bytes->data(), static_cast<u16_t>(item.len));
        } else {
            p = ss.p;
            ss.p = nullptr;
            pbuf_realloc(p, static_cast<u16_t>(item.len));
        }
        channels::WireAddr to{};
        const bool has_addr = item.flags & channels::kDgramHasAddr;
        if (has_addr) std::memcpy(&to, item.addr, sizeof to);
        if (send_pbuf(p, has_addr ? &to : nullptr)) stack_.counters().udp_tx_datagrams++;
        else stack_.counters().udp_tx_errors++;
        pbuf_free(p);
    });
    if (!r) stack_.counters().channel_corrupt++;
    // The client used every buffer we offered: offer more (up to the ring size).
    if (sent > 0 && sent == before) send_target_ = std::min(send_target_ * 2, channels::kSendSlots);
}

void UdpSocket::refill_send_buffers() {
    auto& mem = allocations_.memory();
    while (sendq_.outstanding() < send_target_) {
        auto slot = sendq_.reserve();
        if (!slot) break;
        auto [index, item] = *slot;
        SendSlot& ss = send_slots_[index];
        ss.capacity = channels::kDgramSlotBytes;
        if (segment_mode_) {
            if (!ss.offset) {
                auto off = mem.allocator.allocate(channels::kDgramSlotBytes, 64);
                if (!off) {
                    stack_.counters().segment_alloc_failures++;
                    break;
                }
                ss.offset = *off;
            }
            item->payload = ss.offset;
        } else {
            if (!ss.p) ss.p = pbuf_alloc(PBUF_TRANSPORT, channels::kDgramSlotBytes, PBUF_RAM);
            if (!ss.p) break;
            item->payload = reinterpret_cast<uint64_t>(ss.p->payload);
        }
        item->capacity = ss.capacity;
        item->len = 0;
        item->flags = 0;
        sendq_.commit();
    }
    if (sendq_.outstanding() > 0) ready_.unblock_writable();
}

std::expected<void, Errno> UdpSocket::send_pbuf(pbuf* p, const channels::WireAddr* to) {
    // Over IPv6 lwIP cannot build a packet above 65,535 bytes (16-bit tot_len): it would
    // answer ERR_BUF (ENOBUFS, which invites a retry). A datagram that can never go is
    // EMSGSIZE, as on Linux past its own limit (kMaxUdpPayloadV6, socket_channel.hpp).
    auto too_big_for = [&](const ip_addr_t& dest) {
        return IP_IS_V6(&dest) && p->tot_len > channels::kMaxUdpPayloadV6;
    };
    err_t err;
    if (to) {
        ip_addr_t ip;
        uint16_t port;
        if (!to_lwip(*to, ip, port)) return std::unexpected(EAFNOSUPPORT);
        if (domain_ == kAfInet && to->family != kAfInet) return std::unexpected(EAFNOSUPPORT);
        if (v6only_ && IP_IS_V4(&ip)) return std::unexpected(ENETUNREACH);
        if (IP_IS_V4(&ip) && ip4_addr_isbroadcast_u32(ip4_addr_get_u32(ip_2_ip4(&ip)), netif_default) && !broadcast_)
            return std::unexpected(EACCES);
        if (too_big_for(ip)) return std::unexpected(EMSGSIZE);
        err = udp_sendto(pcb_, p, &ip, port);
    } else {
        if (!connected_) return std::unexpected(EDESTADDRREQ);
        if (too_big_for(pcb_->remote_ip)) return std::unexpected(EMSGSIZE);
        err = udp_send(pcb_, p);
    }
    switch (err) {
        case ERR_OK: return {};
        case ERR_RTE: return std::unexpected(ENETUNREACH);
        case ERR_MEM:
        case ERR_BUF: return std::unexpected(ENOBUFS);
        default: return std::unexpected(EINVAL);
    }
}

std::expected<void, Errno> UdpSocket::send_large(const channels::WireAddr* to, std::span<const uint8_t> payload) {
    if (payload.size() > channels::kMaxUdpPayloadV4) return std::unexpected(EMSGSIZE);  // either family
    transmit_spent();  // keep the order of datagrams already in the ring
    pbuf* p = pbuf_alloc(PBUF_TRANSPORT, static_cast<u16_t>(payload.size()), PBUF_RAM);
    if (!p) return std::unexpected(ENOBUFS);
    pbuf_take(p, payload.data(), static_cast<u16_t>(payload.size()));
    auto r = send_pbuf(p, to);
    pbuf_free(p);
    if (r) stack_.counters().udp_tx_datagrams++;
    refill_send_buffers();
    return r;
}

void UdpSocket::on_notify() {
    notify_.ack();
    reclaim_received();
    transmit_spent();
    refill_send_buffers();
}

std::expected<void, Errno> UdpSocket::bind(const channels::WireAddr& addr) {
    if (pcb_->local_port != 0) return std::unexpected(EINVAL);
    ip_addr_t ip;
    uint16_t port;
    if (!to_lwip(addr, ip, port)) return std::unexpected(EAFNOSUPPORT);
    if (domain_ == kAfInet && addr.family != kAfInet) return std::unexpected(EAFNOSUPPORT);
    const ip_addr_t* bind_ip = &ip;
    if (is_any(addr)) bind_ip = domain_ == kAfInet ? IP4_ADDR_ANY : (v6only_ ? IP6_ADDR_ANY : IP_ANY_TYPE);
    if (reuseaddr_) ip_set_option(pcb_, SOF_REUSEADDR);
    switch (udp_bind(pcb_, bind_ip, port)) {
        case ERR_OK: return {};
        case ERR_USE: return std::unexpected(EADDRINUSE);
        default: return std::unexpected(EADDRNOTAVAIL);
    }
}

std::expected<void, Errno> UdpSocket::connect(const channels::WireAddr& addr) {
    if (addr.family == 0 /* AF_UNSPEC */) {
        udp_disconnect(pcb_);
        connected_ = false;
        ch_->state.fetch_and(~channels::kConnected);
        return {};
    }
    ip_addr_t ip;
    uint16_t port;
    if (!to_lwip(addr, ip, port)) return std::unexpected(EAFNOSUPPORT);
    if (domain_ == kAfInet && addr.family != kAfInet) return std::unexpected(EAFNOSUPPORT);
    if (udp_connect(pcb_, &ip, port) != ERR_OK) return std::unexpected(ENETUNREACH);
    connected_ = true;
    ch_->state.fetch_or(channels::kConnected);
    return {};
}

std::expected<void, Errno> UdpSocket::shutdown(int how) {
    if (how < abi::kShutRd || how > abi::kShutRdwr) return std::unexpected(EINVAL);
    if (!connected_) return std::unexpected(ENOTCONN);
    return {};
}

std::expected<channels::WireAddr, Errno> UdpSocket::name(bool peer) const {
    if (peer) {
        if (!connected_) return std::unexpected(ENOTCONN);
        return to_wire(pcb_->remote_ip, pcb_->remote_port, domain_);
    }
    channels::WireAddr w = to_wire(pcb_->local_ip, pcb_->local_port, domain_);
    w.family = static_cast<uint16_t>(domain_);
    return w;
}

std::expected<uint32_t, Errno> UdpSocket::getsockopt(int level, int name, std::span<uint8_t> out) {
    if (level == abi::kSolSocket) {
        switch (name) {
            case abi::kSoType: return put(out, abi::kSockDgram);
            case abi::kSoDomain: return put(out, domain_);
            case abi::kSoProtocol: return put(out, abi::kIpprotoUdp);
            case abi::kSoError: return put(out, ch_->error.exchange(0));
            case abi::kSoReuseaddr: return put(out, reuseaddr_ ? 1 : 0);
            case abi::kSoBroadcast: return put(out, broadcast_ ? 1 : 0);
            case abi::kSoSndbuf: return put(out, static_cast<int>(channels::kSendSlots * channels::kDgramSlotBytes));
            case abi::kSoRcvbuf: return put(out, static_cast<int>(channels::kRecvSlots * channels::kDgramSlotBytes));
            default: return std::unexpected(ENOPROTOOPT);
        }
    }
    if (level == abi::kIpprotoIpv6 && name == abi::kIpv6V6only && domain_ == kAfInet6) return put(out, v6only_ ? 1 : 0);
    return std::unexpected(ENOPROTOOPT);
}

std::expected<void, Errno> UdpSocket::setsockopt(int level, int name, std::span<const uint8_t> value) {
    int v = 0;
    if (value.size() < sizeof v) return std::unexpected(EINVAL);
    std::memcpy(&v, value.data(), sizeof v);
    if (level == abi::kSolSocket) {
        switch (name) {
            case abi::kSoReuseaddr:
            case abi::kSoReuseport:
                reuseaddr_ = v != 0;
                if (reuseaddr_) ip_set_option(pcb_, SOF_REUSEADDR); else ip_reset_option(pcb_, SOF_REUSEADDR);
                return {};
            case abi::kSoBroadcast: broadcast_ = v != 0; return {};
            case abi::kSoSndbuf:
            case abi::kSoRcvbuf: return {};
            default: return std::unexpected(ENOPROTOOPT);
        }
    }
    if (level == abi::kIpprotoIpv6 && name == abi::kIpv6V6only && domain_ == kAfInet6) {
        if (pcb_->local_port != 0) return std::unexpected(EINVAL);
        v6only_ = v != 0;
        IP_SET_TYPE_VAL(pcb_->local_ip, v6only_ ? IPADDR_TYPE_V6 : IPADDR_TYPE_ANY);
        return {};
    }
    if (level == abi::kIpprotoIp && (name == abi::kIpTos || name == abi::kIpTtl)) {
        if (name == abi::kIpTtl) pcb_->ttl = static_cast<u8_t>(v); else pcb_->tos = static_cast<u8_t>(v);
        return {};
    }
    return std::unexpected(ENOPROTOOPT);
}

}  // namespace culvert::server
