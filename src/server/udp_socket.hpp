// A UDP socket in culvertd: an lwIP udp_pcb joined to a datagram channel (two bipartite
// descriptor rings). In process_vm mode the descriptors point at pbuf payloads in culvertd
// and the client copies with process_vm_readv/writev (the seed's path); in segment mode
// (process_vm refused) payloads sit in the client's segment and culvertd copies.
#pragma once

#include "channels/socket_channel.hpp"
#include "server/client_memory.hpp"
#include "server/socket.hpp"

#include <array>

struct udp_pcb;
struct pbuf;

namespace culvert::server {

class UdpSocket final : public Socket {
public:
    static std::expected<std::unique_ptr<UdpSocket>, Errno> create(Stack& stack, Session& session, int domain);
    ~UdpSocket() override;

    void on_notify() override;
    std::expected<void, Errno> bind(const channels::WireAddr& addr) override;
    std::expected<void, Errno> listen(int) override { return std::unexpected(95 /*EOPNOTSUPP*/); }
    std::expected<void, Errno> connect(const channels::WireAddr& addr) override;
    std::expected<void, Errno> shutdown(int how) override;
    std::expected<channels::WireAddr, Errno> name(bool peer) const override;
    std::expected<uint32_t, Errno> getsockopt(int level, int name, std::span<uint8_t> out) override;
    std::expected<void, Errno> setsockopt(int level, int name, std::span<const uint8_t> value) override;
    bool release() override { return true; }
    channels::ChannelInfo channel_info() const override { return info_; }

    // A datagram that did not fit the shared ring (control-socket path).
    std::expected<void, Errno> send_large(const channels::WireAddr* to, std::span<const uint8_t> payload);

    void on_recv(pbuf* p, const void* addr, uint16_t port);

private:
    UdpSocket(Stack& stack, Session& session, uint32_t id, int domain);
    std::expected<void, Errno> attach_channel();
    std::expected<void, Errno> ensure_bound();
    void reclaim_received();
    void transmit_spent();
    void refill_send_buffers();
    std::expected<void, Errno> send_pbuf(pbuf* p, const channels::WireAddr* to);

    int domain_;
    bool v6only_ = false;
    bool reuseaddr_ = false;
    bool broadcast_ = false;
    bool connected_ = false;
    udp_pcb* pcb_ = nullptr;
    bool segment_mode_ = false;
    SegmentAllocations allocations_;
    channels::ChannelInfo info_{};
    channels::DgramChannelShared* ch_ = nullptr;
    channels::BipartiteProducer<channels::DgramItem, channels::kSendSlots> sendq_;
    channels::BipartiteProducer<channels::DgramItem, channels::kRecvSlots> recvq_;
    channels::EventQueueConsumer notify_;
    channels::Readiness ready_;
    // Server-private truth about each slot; the shared items are never trusted back.
    struct SendSlot {
        pbuf* p = nullptr;          // process_vm mode: the buffer the client writes into
        uint64_t offset = 0;        // segment mode: slot bytes in the segment
        uint32_t capacity = 0;
    };
    struct RecvSlot {
        pbuf* p = nullptr;
        uint64_t offset = 0;        // segment mode: allocation holding the datagram
        bool in_segment = false;
    };
    std::array<SendSlot, channels::kSendSlots> send_slots_{};
    std::array<RecvSlot, channels::kRecvSlots> recv_slots_{};
    size_t send_target_ = 4;        // free send buffers kept published; grows on demand
};

}  // namespace culvert::server
