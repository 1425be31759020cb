// A TCP socket in culvertd: an lwIP tcp_pcb joined to a stream channel (two byte rings in
// the client's segment). Receive: pbufs queue here and are copied into the rx ring on PSH,
// when the queue would fill the ring, or at the end of the loop iteration; tcp_recved is
// called only for bytes the ring took, so a slow reader closes the TCP window. Send: ring
// bytes go into lwIP with tcp_write(COPY|MORE) bounded by snd_buf, resumed on `sent`.
#pragma once

#include "channels/socket_channel.hpp"
#include "server/client_memory.hpp"
#include "server/socket.hpp"

#include <array>
#include <deque>
#include <memory>

struct tcp_pcb;
struct pbuf;

namespace culvert::server {

class TcpSocket final : public Socket {
public:
    static std::expected<std::unique_ptr<TcpSocket>, Errno> create(Stack& stack, Session& session, int domain,
                                                                   size_t tx_bytes, size_t rx_bytes);
    ~TcpSocket() override;

    void on_notify() override;
    void flush() override;
    std::expected<void, Errno> bind(const channels::WireAddr& addr) override;
    std::expected<void, Errno> listen(int backlog) override;
    std::expected<void, Errno> connect(const channels::WireAddr& addr) override;
    std::expected<void, Errno> shutdown(int how) override;
    std::expected<channels::WireAddr, Errno> name(bool peer) const override;
    std::expected<uint32_t, Errno> getsockopt(int level, int name, std::span<uint8_t> out) override;
    std::expected<void, Errno> setsockopt(int level, int name, std::span<const uint8_t> value) override;
    bool release() override;
    channels::ChannelInfo channel_info() const override { return info_; }

    // Listening sockets: the oldest connection waiting for accept(), or null.
    std::unique_ptr<TcpSocket> pop_accepted(bool& more);

    // lwIP callbacks (static trampolines live in the .cpp).
    int on_recv(pbuf* p, int err);
    int on_sent(uint16_t len);
    void on_error(int err);
    int on_connected(int err);
    int on_accept(tcp_pcb* newpcb, int err);
    int on_poll();

private:
    TcpSocket(Stack& stack, Session& session, uint32_t id, uint64_t token, int domain);
    std::expected<void, Errno> attach_channel(size_t tx_bytes, size_t rx_bytes);
    std::expected<void, Errno> resize_ring(bool tx, int requested_bytes);
    void attach_pcb(tcp_pcb* pcb);
    void detach_pcb();
    void abort_pcb();
    void move_rx();        // queued pbufs -> rx ring
    void push_tx();        // tx ring -> lwIP
    void set_state(uint32_t bits);
    void fail(Errno err);  // connection gone with an error
    void finish_close();   // FIN (or RST) once the tx ring is drained
    void settle_pcb();     // after both FINs: leave the pcb to lwIP (it frees it silently)
    void free_rx_queue();
    bool rx_unread() const;
    std::expected<void, Errno> ensure_pcb();

    int domain_;
    bool v6only_ = false;
    bool reuseaddr_ = false;
    bool nodelay_ = false;
    bool keepalive_ = false;
    std::array<int, 2> linger_{0, 0};  // SO_LINGER as set: l_onoff, l_linger
    bool aborted_ = false;             // abort_pcb() ran: lwIP's callbacks return ERR_ABRT
    tcp_pcb* pcb_ = nullptr;
    bool listening_ = false;
    int backlog_ = 0;
    SegmentAllocations allocations_;
    channels::ChannelInfo info_{};
    channels::StreamChannelShared* ch_ = nullptr;
    channels::ByteRingConsumer tx_;
    channels::ByteRingProducer rx_;
    channels::EventQueueConsumer notify_;
    channels::Readiness ready_;
    pbuf* rxq_ = nullptr;         // received, not yet in the ring (chain)
    size_t rxq_offset_ = 0;       // bytes of the head pbuf already copied
    bool rx_fin_ = false;         // FIN received (after rxq_)
    bool eof_signaled_ = false;
    bool shut_wr_ = false;        // SHUT_WR requested: FIN after the ring drains
    bool fin_sent_ = false;
    bool dirty_ = false;
    std::deque<std::unique_ptr<TcpSocket>> accept_queue_;
};

}  // namespace culvert::server
