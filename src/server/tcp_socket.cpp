// TCP sockets on lwIP's raw API joined to stream channels (tcp_socket.hpp).
#include "lwip/tcp.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/pbuf.h"

#include "server/tcp_socket.hpp"

#include "channels/linux_abi.hpp"
#include "server/addr.hpp"
#include "server/session.hpp"
#include "server/stack.hpp"

#include <algorithm>
#include <type_traits>
#include <cerrno>
#include <cstring>

namespace culvert::server {

namespace abi = culvert::linux_abi;
using channels::ChannelKind;

namespace {

constexpr size_t kMinRingBytes = 4096;
constexpr size_t kMaxRingBytes = 16u << 20;

TcpSocket* self(void* arg) { return static_cast<TcpSocket*>(arg); }

err_t recv_cb(void* arg, tcp_pcb*, pbuf* p, err_t err) { return static_cast<err_t>(self(arg)->on_recv(p, err)); }
err_t sent_cb(void* arg, tcp_pcb*, u16_t len) { return static_cast<err_t>(self(arg)->on_sent(len)); }
void err_cb(void* arg, err_t err) { self(arg)->on_error(err); }
err_t connected_cb(void* arg, tcp_pcb*, err_t err) { return static_cast<err_t>(self(arg)->on_connected(err)); }
err_t accept_cb(void* arg, tcp_pcb* newpcb, err_t err) {
    return static_cast<err_t>(self(arg)->on_accept(newpcb, err));
}
err_t poll_cb(void* arg, tcp_pcb*) { return static_cast<err_t>(self(arg)->on_poll()); }

// tcp_recved() takes 16 bits at a time.
void recved(tcp_pcb* pcb, size_t n) {
    while (n > 0) {
        const auto chunk = static_cast<u16_t>(std::min<size_t>(n, 0xffff));
        tcp_recved(pcb, chunk);
        n -= chunk;
    }
}

template <class T>
std::expected<uint32_t, Errno> put(std::span<uint8_t> out, T value) {
    const size_t n = std::min(out.size(), sizeof(T));
    std::memcpy(out.data(), &value, n);
    return static_cast<uint32_t>(n);
}

std::expected<int, Errno> get_int(std::span<const uint8_t> v) {
    if (v.size() < sizeof(int)) return std::unexpected(EINVAL);
    int x;
    std::memcpy(&x, v.data(), sizeof x);
    return x;
}

unsigned char linux_state(const tcp_pcb* pcb) {
    switch (pcb->state) {
        case CLOSED: return abi::kTcpClose;
        case LISTEN: return abi::kTcpListen;
        case SYN_SENT: return abi::kTcpSynSent;
        case SYN_RCVD: return abi::kTcpSynRecv;
        case ESTABLISHED: return abi::kTcpEstablished;
        case FIN_WAIT_1: return abi::kTcpFinWait1;
        case FIN_WAIT_2: return abi::kTcpFinWait2;
        case CLOSE_WAIT: return abi::kTcpCloseWait;
        case CLOSING: return abi::kTcpClosing;
        case LAST_ACK: return abi::kTcpLastAck;
        case TIME_WAIT: return abi::kTcpTimeWait;
    }
    return abi::kTcpClose;
}

}  // namespace

TcpSocket::TcpSocket(Stack& stack, Session& session, uint32_t id, uint64_t token, int domain)
    : Socket(stack, &session, id, token), domain_(domain), allocations_(session.memory()) {}

std::expected<std::unique_ptr<TcpSocket>, Errno> TcpSocket::create(Stack& stack, Session& session, int domain,
                                                                   size_t tx_bytes, size_t rx_bytes) {
    auto fds = ChannelFds::make();
    if (!fds) return std::unexpected(fds.error());
    std::unique_ptr<TcpSocket> s(new TcpSocket(stack, session, session.next_socket_id(), 0, domain));
    s->fds_ = *fds;
    if (auto r = s->attach_channel(tx_bytes, rx_bytes); !r) return std::unexpected(r.error());
    s->token_ = stack.register_socket(s.get(), s->fds_.notify);
    stack.counters().sockets_created++;
    return s;
}

std::expected<void, Errno> TcpSocket::attach_channel(size_t tx_bytes, size_t rx_bytes) {
    auto ch_off = allocations_.allocate(sizeof(channels::StreamChannelShared));
    auto tx_off = allocations_.allocate(tx_bytes);
    auto rx_off = allocations_.allocate(rx_bytes);
    if (!ch_off || !tx_off || !rx_off) {
        stack_.counters().segment_alloc_failures++;
        return std::unexpected(ENOBUFS);
    }
    auto& mem = allocations_.memory();
    auto ch = mem.segment.at<channels::StreamChannelShared>(*ch_off);
    auto tx = mem.segment.bytes(*tx_off, tx_bytes);
    auto rx = mem.segment.bytes(*rx_off, rx_bytes);
    if (!ch || !tx || !rx) return std::unexpected(ENOBUFS);
    // The memory is fresh for this socket: initialise every field before the client sees it.
    ch_ = new (*ch) channels::StreamChannelShared();
    ch_->header = {channels::kChannelMagic, channels::kChannelVersion, static_cast<uint32_t>(ChannelKind::stream), 0};
    tx_ = channels::ByteRingConsumer(&ch_->tx, *tx);
    rx_ = channels::ByteRingProducer(&ch_->rx, *rx);
    notify_ = channels::EventQueueConsumer(&ch_->to_server, fds_.notify);
    ready_ = channels::Readiness(&ch_->readiness, -1, fds_.peer);
    info_ = channels::ChannelInfo{*ch_off, *tx_off, *rx_off, static_cast<uint32_t>(tx_bytes),
                                  static_cast<uint32_t>(rx_bytes), static_cast<uint32_t>(ChannelKind::stream), 0};
    return {};
}

// SO_SNDBUF/SO_RCVBUF: a new ring of the requested size while the socket has never carried
// data (before connect/listen, as most programs set them). Later the request is accepted
// and the ring keeps its size. The client rebuilds its view from the reply's ChannelInfo.
std::expected<void, Errno> TcpSocket::resize_ring(bool tx, int requested_bytes) {
    if (requested_bytes < 0) return std::unexpected(EINVAL);
    const size_t bytes = std::clamp<size_t>(static_cast<size_t>(requested_bytes), kMinRingBytes, kMaxRingBytes);
    const uint32_t st = ch_->state.load();
    if (listening_ || (st & (channels::kConnected | channels::kConnecting | channels::kError))) return {};
    auto& mem = allocations_.memory();
    auto off = allocations_.allocate(bytes);
    if (!off) {
        stack_.counters().segment_alloc_failures++;
        return std::unexpected(ENOBUFS);
    }
    auto span = mem.segment.bytes(*off, bytes);
    if (!span) return std::unexpected(ENOBUFS);
    // Nothing has been written yet: fresh indices, and our view rebuilt from them.
    auto replace = [&](auto& shared, auto& view, uint64_t& data_offset, uint32_t& data_bytes) {
        allocations_.free(data_offset);
        shared.write_idx.store(0);
        shared.read_idx.store(0);
        view = std::remove_reference_t<decltype(view)>(&shared, *span);
        data_offset = *off;
        data_bytes = static_cast<uint32_t>(bytes);
    };
    if (tx) replace(ch_->tx, tx_, info_.tx_data_offset, info_.tx_bytes);
    else replace(ch_->rx, rx_, info_.rx_data_offset, info_.rx_bytes);
    return {};
}

TcpSocket::~TcpSocket() {
    accept_queue_.clear();
    if (pcb_) {
        detach_pcb();
    }
    free_rx_queue();
    stack_.unregister_socket(token_, fds_.notify);
    fds_.close_all();
    stack_.counters().sockets_closed++;
}

void TcpSocket::attach_pcb(tcp_pcb* pcb) {
    pcb_ = pcb;
    tcp_arg(pcb, this);
    if (pcb->state == LISTEN) {
        tcp_accept(pcb, accept_cb);
        return;
    }
    tcp_recv(pcb, recv_cb);
    tcp_sent(pcb, sent_cb);
    tcp_err(pcb, err_cb);
    tcp_poll(pcb, poll_cb, 2);  // every second: retry a close that lacked memory
    if (nodelay_) tcp_nagle_disable(pcb);
    if (keepalive_) ip_set_option(pcb, SOF_KEEPALIVE);
}

// Resets the connection (RST) and forgets the pcb; no callback reaches us afterwards.
void TcpSocket::abort_pcb() {
    if (!pcb_) return;
    tcp_pcb* pcb = pcb_;
    pcb_ = nullptr;
    aborted_ = true;
    tcp_arg(pcb, nullptr);
    if (pcb->state != LISTEN) {
        tcp_recv(pcb, nullptr);
        tcp_sent(pcb, nullptr);
        tcp_err(pcb, nullptr);
        tcp_poll(pcb, nullptr, 0);
    }
    tcp_abort(pcb);
    stack_.counters().tcp_resets_sent++;
}

// Drops our pcb without touching the connection: the caller decided close vs abort.
void TcpSocket::detach_pcb() {
    if (!pcb_) return;
    tcp_arg(pcb_, nullptr);
    if (pcb_->state == LISTEN) {
        tcp_accept(pcb_, nullptr);
        tcp_close(pcb_);
    } else {
        tcp_recv(pcb_, nullptr);
        tcp_sent(pcb_, nullptr);
        tcp_err(pcb_, nullptr);
        tcp_poll(pcb_, nullptr, 0);
        if (tcp_close(pcb_) != ERR_OK) tcp_abort(pcb_);
    }
    pcb_ = nullptr;
}

std::expected<void, Errno> TcpSocket::ensure_pcb() {
    if (pcb_) return {};
    if (released_ || (ch_->state.load() & (channels::kConnected | channels::kError))) return std::unexpected(EINVAL);
    const u8_t type = domain_ == kAfInet ? IPADDR_TYPE_V4 : (v6only_ ? IPADDR_TYPE_V6 : IPADDR_TYPE_ANY);
    tcp_pcb* pcb = tcp_new_ip_type(type);
    if (!pcb) return std::unexpected(ENOMEM);
    if (reuseaddr_) ip_set_option(pcb, SOF_REUSEADDR);
    attach_pcb(pcb);
    return {};
}

void TcpSocket::set_state(uint32_t bits) { ch_->state.fetch_or(bits, std::memory_order_seq_cst); }

std::expected<void, Errno> TcpSocket::bind(const channels::WireAddr& addr) {
    if (auto r = ensure_pcb(); !r) return r;
    if (pcb_->local_port != 0) return std::unexpected(EINVAL);
    ip_addr_t ip;
    uint16_t port;
    if (addr.family != domain_ && !(domain_ == kAfInet6 && addr.family == kAfInet6)) return std::unexpected(EAFNOSUPPORT);
    if (!to_lwip(addr, ip, port)) return std::unexpected(EAFNOSUPPORT);
    const ip_addr_t* bind_ip = &ip;
    if (is_any(addr)) bind_ip = domain_ == kAfInet ? IP4_ADDR_ANY : (v6only_ ? IP6_ADDR_ANY : IP_ANY_TYPE);
    switch (tcp_bind(pcb_, bind_ip, port)) {
        case ERR_OK: return {};
        case ERR_USE: return std::unexpected(EADDRINUSE);
        case ERR_VAL: return std::unexpected(EADDRNOTAVAIL);
        default: return std::unexpected(EINVAL);
    }
}

std::expected<void, Errno> TcpSocket::listen(int backlog) {
    backlog_ = std::clamp(backlog <= 0 ? 1 : backlog, 1, 4096);
    if (listening_) return {};  // Linux: listen() again only changes the backlog
    if (auto r = ensure_pcb(); !r) return r;
    if (pcb_->state != CLOSED) return std::unexpected(EINVAL);
    if (pcb_->local_port == 0) {
        // Linux binds an unbound listener to an ephemeral port.
        if (tcp_bind(pcb_, domain_ == kAfInet ? IP4_ADDR_ANY : IP_ANY_TYPE, 0) != ERR_OK)
            return std::unexpected(EADDRINUSE);
    }
    err_t err = ERR_OK;
    tcp_pcb* lpcb = tcp_listen_with_backlog_and_err(pcb_, static_cast<u8_t>(std::min(backlog_, 255)), &err);
    if (!lpcb) return std::unexpected(err == ERR_USE ? EADDRINUSE : ENOMEM);
    pcb_ = nullptr;  // freed by tcp_listen
    attach_pcb(lpcb);
    listening_ = true;
    set_state(channels::kListening);
    return {};
}

std::expected<void, Errno> TcpSocket::connect(const channels::WireAddr& addr) {
    const uint32_t st = ch_->state.load();
    if (listening_) return std::unexpected(EINVAL);
    if (st & channels::kConnected) return std::unexpected(EISCONN);
    if (st & channels::kConnecting) return std::unexpected(EALREADY);
    if (auto r = ensure_pcb(); !r) return r;
    ip_addr_t ip;
    uint16_t port;
    if (!to_lwip(addr, ip, port)) return std::unexpected(EAFNOSUPPORT);
    if (domain_ == kAfInet && addr.family != kAfInet) return std::unexpected(EAFNOSUPPORT);
    if (v6only_ && IP_IS_V4(&ip)) return std::unexpected(ENETUNREACH);
    if (port == 0) return std::unexpected(ECONNREFUSED);
    set_state(channels::kConnecting);
    const err_t err = tcp_connect(pcb_, &ip, port, connected_cb);
    if (err != ERR_OK) {
        ch_->state.fetch_and(~channels::kConnecting);
        return std::unexpected(err == ERR_RTE ? ENETUNREACH : (err == ERR_USE ? EADDRINUSE : ENOBUFS));
    }
    return std::unexpected(EINPROGRESS);
}

int TcpSocket::on_connected(int err) {
    if (err != ERR_OK) return ERR_OK;  // lwIP reports failures through the error callback
    ch_->state.fetch_and(~channels::kConnecting);
    set_state(channels::kConnected);
    ready_.unblock_writable();  // the client blocked POLLOUT while connecting
    push_tx();
    return ERR_OK;
}

int TcpSocket::on_accept(tcp_pcb* newpcb, int err) {
    if (err != ERR_OK || !newpcb) return ERR_VAL;
    if (!session_ || released_ || accept_queue_.size() >= static_cast<size_t>(backlog_)) {
        stack_.counters().tcp_accept_refused++;
        tcp_abort(newpcb);
        return ERR_ABRT;
    }
    auto child = TcpSocket::create(stack_, *session_, domain_, info_.tx_bytes, info_.rx_bytes);
    if (!child) {
        stack_.counters().tcp_accept_refused++;
        tcp_abort(newpcb);
        return ERR_ABRT;
    }
    (*child)->nodelay_ = nodelay_;
    (*child)->keepalive_ = keepalive_;
    (*child)->attach_pcb(newpcb);
    (*child)->set_state(channels::kConnected);
    accept_queue_.push_back(std::move(*child));
    ch_->accept_pending.store(static_cast<uint32_t>(accept_queue_.size()), std::memory_order_seq_cst);
    ready_.signal_readable();
    stack_.counters().tcp_accepted++;
    return ERR_OK;
}

std::unique_ptr<TcpSocket> TcpSocket::pop_accepted(bool& more) {
    more = false;
    if (accept_queue_.empty()) return nullptr;
    auto s = std::move(accept_queue_.front());
    accept_queue_.pop_front();
    ch_->accept_pending.store(static_cast<uint32_t>(accept_queue_.size()), std::memory_order_seq_cst);
    more = !accept_queue_.empty();
    return s;
}

int TcpSocket::on_recv(pbuf* p, int err) {
    if (err != ERR_OK && p) {
        pbuf_free(p);
        return ERR_OK;
    }
    if (released_) {
        // Data for a socket the application closed: Linux answers with RST.
        if (p) {
            pbuf_free(p);
            abort_pcb();
            stack_.reap(token_);
            return ERR_ABRT;
        }
        rx_fin_ = true;
        settle_pcb();
        return ERR_OK;
    }
    if (!p) {
        rx_fin_ = true;
        settle_pcb();  // after our own FIN: the connection is lwIP's to finish
    } else {
        stack_.counters().tcp_rx_bytes += p->tot_len;
        const bool push = (p->flags & PBUF_FLAG_PUSH) != 0;
        if (rxq_) pbuf_cat(rxq_, p); else rxq_ = p;
        auto room = rx_.writable();
        if (!push && room && rxq_->tot_len - rxq_offset_ < *room) {
            // Batch until PSH, a full ring, or the end of this loop iteration.
            if (!dirty_) {
                dirty_ = true;
                stack_.mark_dirty(this);
            }
            return ERR_OK;
        }
    }
    move_rx();
    return aborted_ ? ERR_ABRT : ERR_OK;
}

void TcpSocket::flush() {
    dirty_ = false;
    move_rx();
}

void TcpSocket::move_rx() {
    size_t moved = 0;
    while (rxq_) {
        auto spans = rx_.write_spans();
        if (!spans) {
            stack_.counters().channel_corrupt++;
            break;
        }
        size_t copied = 0;
        for (auto span : *spans) {
            while (rxq_ && !span.empty()) {
                const size_t avail = rxq_->len - rxq_offset_;
                const size_t n = std::min(avail, span.size());
                std::memcpy(span.data(), static_cast<const uint8_t*>(rxq_->payload) + rxq_offset_, n);
                span = span.subspan(n);
                copied += n;
                rxq_offset_ += n;
                if (rxq_offset_ == rxq_->len) {
                    pbuf* next = rxq_->next;
                    if (next) pbuf_ref(next);
                    pbuf_free(rxq_);  // frees only the head: the rest holds its own reference
                    rxq_ = next;
                    rxq_offset_ = 0;
                }
            }
        }
        if (copied == 0) break;
        rx_.commit(copied);
        moved += copied;
    }
    if (moved > 0) {
        if (pcb_) recved(pcb_, moved);
        ready_.signal_readable();
    }
    if (!rxq_ && rx_fin_ && !eof_signaled_) {
        eof_signaled_ = true;
        set_state(channels::kRxEof);
        ready_.signal_eof();
    }
}

void TcpSocket::free_rx_queue() {
    if (rxq_) pbuf_free(rxq_);
    rxq_ = nullptr;
    rxq_offset_ = 0;
}

void TcpSocket::push_tx() {
    if (!pcb_ || listening_) return;
    if (fin_sent_ || (pcb_->state != ESTABLISHED && pcb_->state != CLOSE_WAIT)) {
        if (fin_sent_ && released_) finish_close();
        return;
    }
    auto spans = tx_.read_spans();
    if (!spans) {
        stack_.counters().channel_corrupt++;
        return;
    }
    size_t remaining = (*spans)[0].size() + (*spans)[1].size();
    size_t written = 0;
    for (auto span : *spans) {
        while (!span.empty()) {
            const size_t room = pcb_->snd_buf;
            if (room == 0 || tcp_sndqueuelen(pcb_) >= TCP_SND_QUEUELEN - 4) break;
            const size_t n = std::min({span.size(), room, size_t{0xffff}});
            // MORE (no PSH) on every chunk but the last one of what the ring holds now.
            const u8_t flags = TCP_WRITE_FLAG_COPY | (n == remaining ? 0 : TCP_WRITE_FLAG_MORE);
            if (tcp_write(pcb_, span.data(), static_cast<u16_t>(n), flags) != ERR_OK) {
                stack_.counters().tcp_write_errors++;
                break;
            }
            span = span.subspan(n);
            written += n;
            remaining -= n;
        }
        if (!span.empty()) break;
    }
    if (written > 0) {
        (void)tx_.drop(written);
        stack_.counters().tcp_tx_bytes += written;
        tcp_output(pcb_);
        // POLLOUT back only once a third of the ring is free, as Linux waits for a third of
        // its send buffer (sk_stream_min_wspace): a peer that opens its window a segment at
        // a time would otherwise wake a blocked writer for every segment, and each unblock
        // races the client's next block over the filler (tests/conformance
        // FullSendBufferIsNeitherWritableNorReadable). A writer that finds room on its own
        // still uses it: the client re-checks ring space whenever it blocks.
        auto unsent = tx_.readable();
        if (unsent && tx_.capacity() - *unsent >= tx_.capacity() / 3) ready_.unblock_writable();
    }
    if ((shut_wr_ || released_) && remaining == 0) finish_close();
}

// A callback that aborted its pcb must say so (ERR_ABRT), or lwIP goes on using it.
int TcpSocket::on_sent(uint16_t) {
    push_tx();
    return aborted_ ? ERR_ABRT : ERR_OK;
}

int TcpSocket::on_poll() {
    push_tx();
    settle_pcb();
    return aborted_ ? ERR_ABRT : ERR_OK;
}

void TcpSocket::fail(Errno err) {
    free_rx_queue();
    ch_->error.store(err, std::memory_order_relaxed);
    set_state(channels::kError | channels::kTxClosed);
    ch_->state.fetch_and(~(channels::kConnecting | channels::kConnected));
    // Readable (the error, then EOF) and writable (the error), as Linux after a reset.
    if (!eof_signaled_) {
        eof_signaled_ = true;
        set_state(channels::kRxEof);
        ready_.signal_eof();
    }
    ready_.signal_readable();
    ready_.unblock_writable();
}

void TcpSocket::on_error(int err) {
    pcb_ = nullptr;  // lwIP has already freed it
    if (released_) {
        stack_.reap(token_);
        return;
    }
    if (err == ERR_CLSD) {
        // Not an error: both FINs were exchanged after our shutdown(SHUT_WR) and lwIP freed
        // the pcb (it says so through the error callback because RX was never shut). Data
        // still queued stays readable, then EOF (tcp(7)); found by the simulator.
        move_rx();
        return;
    }
    const bool connecting = ch_->state.load() & channels::kConnecting;
    Errno e = ECONNRESET;
    if (err == ERR_RST) e = connecting ? ECONNREFUSED : ECONNRESET;
    else if (err == ERR_ABRT) e = connecting ? ETIMEDOUT : ECONNABORTED;
    else if (err == ERR_TIMEOUT) e = ETIMEDOUT;
    fail(e);
}

void TcpSocket::finish_close() {
    if (!pcb_) return;
    if (released_ && rx_unread()) {
        // Unread data at close: Linux sends RST instead of FIN (RFC 2525 §2.17).
        abort_pcb();
        stack_.reap(token_);
        return;
    }
    if (!fin_sent_) {
        // FIN after the queued data. Not tcp_close, even for an orphan: that marks RX closed,
        // after which lwIP no longer counts incoming ACKs as activity and drops a LAST_ACK
        // pcb 2 MSL after the close while its data is still being delivered (the peer then
        // waits forever). Found by the simulator (culvert sim --seed 1155 --scenario stream).
        if (tcp_shutdown(pcb_, 0, 1) != ERR_OK) return;  // retried by on_poll
        fin_sent_ = true;
        if (!released_) set_state(channels::kTxClosed);
    }
    settle_pcb();
}

void TcpSocket::settle_pcb() {
    if (!pcb_ || !fin_sent_) return;
    // Both FINs are done: lwIP finishes the close by itself (LAST_ACK, CLOSING, TIME_WAIT)
    // and frees a TIME_WAIT pcb 2 MSL later without any callback, so we must forget it now
    // or hold a dangling pointer (found by the simulator's teardown scenario). An orphan
    // whose FIN is acked while the peer never closes gets lwIP's FIN_WAIT_2 timeout through
    // tcp_close (Linux: tcp_fin_timeout).
    const bool orphan_in_fin_wait_2 = released_ && pcb_->state == FIN_WAIT_2;
    if (!rx_fin_ && !orphan_in_fin_wait_2) return;
    if (orphan_in_fin_wait_2 && tcp_close(pcb_) != ERR_OK) return;  // on_poll retries
    tcp_arg(pcb_, nullptr);
    tcp_recv(pcb_, nullptr);
    tcp_sent(pcb_, nullptr);
    tcp_err(pcb_, nullptr);
    tcp_poll(pcb_, nullptr, 0);
    pcb_ = nullptr;
    if (released_) stack_.reap(token_);
}

bool TcpSocket::rx_unread() const {
    auto unread = rx_.writable();
    const bool ring_has = unread && *unread < rx_.capacity();
    return ring_has || rxq_ != nullptr;
}

void TcpSocket::on_notify() {
    notify_.ack();
    if (rxq_) move_rx();
    push_tx();
}

std::expected<void, Errno> TcpSocket::shutdown(int how) {
    if (how < abi::kShutRd || how > abi::kShutRdwr) return std::unexpected(EINVAL);
    if (!(ch_->state.load() & channels::kConnected)) return std::unexpected(ENOTCONN);
    if (how == abi::kShutWr || how == abi::kShutRdwr) {
        shut_wr_ = true;
        set_state(channels::kTxClosed);
        push_tx();
        auto left = tx_.readable();
        if (pcb_ && (!left || *left == 0)) finish_close();
    }
    // SHUT_RD is handled by the client (reads return 0); culvertd keeps acking data.
    return {};
}

bool TcpSocket::release() {
    released_ = true;
    fds_.close_app();
    if (listening_) {
        // Connections never accepted are reset, as Linux does when a listener closes.
        for (auto& child : accept_queue_) child->abort_pcb();
        accept_queue_.clear();
        detach_pcb();
        return true;
    }
    if (!pcb_) return true;
    if (pcb_->state == CLOSED || pcb_->state == SYN_SENT) {
        detach_pcb();
        return true;
    }
    if (rx_unread() || (linger_[0] && linger_[1] == 0)) {
        abort_pcb();  // RST, as Linux when unread data is discarded or SO_LINGER is {1, 0}
        return true;
    }
    push_tx();  // drains what it can now; FIN once the ring is empty
    return pcb_ == nullptr;
}

std::expected<channels::WireAddr, Errno> TcpSocket::name(bool peer) const {
    if (!pcb_) {
        if (peer) return std::unexpected(ENOTCONN);
        channels::WireAddr w{};
        w.family = static_cast<uint16_t>(domain_);
        return w;
    }
    if (peer) {
        if (listening_ || !(ch_->state.load() & channels::kConnected)) return std::unexpected(ENOTCONN);
        return to_wire(pcb_->remote_ip, pcb_->remote_port, domain_);
    }
    channels::WireAddr w = to_wire(pcb_->local_ip, pcb_->local_port, domain_);
    w.family = static_cast<uint16_t>(domain_);
    return w;
}

std::expected<uint32_t, Errno> TcpSocket::getsockopt(int level, int name, std::span<uint8_t> out) {
    if (level == abi::kSolSocket) {
        switch (name) {
            case abi::kSoType: return put(out, abi::kSockStream);
            case abi::kSoDomain: return put(out, domain_);
            case abi::kSoProtocol: return put(out, abi::kIpprotoTcp);
            case abi::kSoAcceptconn: return put(out, listening_ ? 1 : 0);
            case abi::kSoReuseaddr: return put(out, reuseaddr_ ? 1 : 0);
            case abi::kSoKeepalive: return put(out, keepalive_ ? 1 : 0);
            case abi::kSoError: return put(out, ch_->error.exchange(0));
            case abi::kSoLinger: return put(out, linger_);
            // Linux reports twice the requested size (half is bookkeeping); so do we.
            case abi::kSoSndbuf: return put(out, static_cast<int>(2 * info_.tx_bytes));
            case abi::kSoRcvbuf: return put(out, static_cast<int>(2 * info_.rx_bytes));
            default: return std::unexpected(ENOPROTOOPT);
        }
    }
    if (level == abi::kIpprotoTcp) {
        switch (name) {
            case abi::kTcpNodelay: return put(out, nodelay_ ? 1 : 0);
            case abi::kTcpMaxseg: return put(out, static_cast<int>(pcb_ && !listening_ ? tcp_mss(pcb_) : TCP_MSS));
            case abi::kTcpCongestion: {
                const char name_str[16] = "newreno";
                const size_t n = std::min(out.size(), sizeof name_str);
                std::memcpy(out.data(), name_str, n);
                return static_cast<uint32_t>(n);
            }
            case abi::kTcpInfo: {
                // struct tcp_info (linux/tcp.h): fill what lwIP knows; the rest stays zero.
                uint8_t info[abi::kTcpInfoBytes] = {};
                info[0] = pcb_ ? linux_state(pcb_) : static_cast<unsigned char>(abi::kTcpClose);
                if (pcb_ && !listening_) {
                    const uint32_t rto_us = static_cast<uint32_t>(pcb_->rto) * TCP_SLOW_INTERVAL * 1000;
                    const uint32_t mss = tcp_mss(pcb_);
                    const uint32_t rtt_us = static_cast<uint32_t>(pcb_->sa >> 3) * TCP_SLOW_INTERVAL * 1000;
                    const uint32_t cwnd = pcb_->cwnd / std::max<uint32_t>(mss, 1);
                    std::memcpy(info + 8, &rto_us, 4);     // tcpi_rto
                    std::memcpy(info + 16, &mss, 4);       // tcpi_snd_mss
                    std::memcpy(info + 20, &mss, 4);       // tcpi_rcv_mss
                    std::memcpy(info + 68, &rtt_us, 4);    // tcpi_rtt
                    std::memcpy(info + 80, &cwnd, 4);      // tcpi_snd_cwnd
                }
                const size_t n = std::min(out.size(), sizeof info);
                std::memcpy(out.data(), info, n);
                return static_cast<uint32_t>(n);
            }
            case abi::kTcpKeepidle:
                return put(out, static_cast<int>(pcb_ ? pcb_->keep_idle / 1000 : TCP_KEEPIDLE_DEFAULT / 1000));
            case abi::kTcpKeepintvl:
                return put(out, static_cast<int>(pcb_ ? pcb_->keep_intvl / 1000 : TCP_KEEPINTVL_DEFAULT / 1000));
            case abi::kTcpKeepcnt: return put(out, static_cast<int>(pcb_ ? pcb_->keep_cnt : TCP_KEEPCNT_DEFAULT));
            default: return std::unexpected(ENOPROTOOPT);
        }
    }
    if (level == abi::kIpprotoIpv6 && name == abi::kIpv6V6only) {
        if (domain_ != kAfInet6) return std::unexpected(ENOPROTOOPT);
        return put(out, v6only_ ? 1 : 0);
    }
    if (level == abi::kIpprotoIp && (name == abi::kIpTos || name == abi::kIpTtl)) {
        const int v = !pcb_ ? (name == abi::kIpTtl ? TCP_TTL : 0) : (name == abi::kIpTtl ? pcb_->ttl : pcb_->tos);
        return put(out, v);
    }
    return std::unexpected(ENOPROTOOPT);
}

std::expected<void, Errno> TcpSocket::setsockopt(int level, int name, std::span<const uint8_t> value) {
    auto v = get_int(value);
    if (level == abi::kSolSocket) {
        switch (name) {
            case abi::kSoReuseaddr:
            case abi::kSoReuseport:
                if (!v) return std::unexpected(v.error());
                reuseaddr_ = *v != 0;
                if (pcb_) {
                    if (reuseaddr_) ip_set_option(pcb_, SOF_REUSEADDR); else ip_reset_option(pcb_, SOF_REUSEADDR);
                }
                return {};
            case abi::kSoKeepalive:
                if (!v) return std::unexpected(v.error());
                keepalive_ = *v != 0;
                if (pcb_) {
                    if (keepalive_) ip_set_option(pcb_, SOF_KEEPALIVE); else ip_reset_option(pcb_, SOF_KEEPALIVE);
                }
                return {};
            case abi::kSoSndbuf:
            case abi::kSoRcvbuf:
                if (!v) return std::unexpected(v.error());
                return resize_ring(name == abi::kSoSndbuf, *v);
            case abi::kSoLinger: {
                // struct linger {int l_onoff; int l_linger;}. Only {1, 0} changes close():
                // an abortive close (RST, unsent data dropped), as on Linux. A positive
                // l_linger is kept for getsockopt; close() still returns at once and the
                // data drains in the background (docs/architecture.md).
                int l[2];
                if (value.size() < sizeof l) return std::unexpected(EINVAL);
                std::memcpy(l, value.data(), sizeof l);
                linger_[0] = l[0] != 0 ? 1 : 0;
                linger_[1] = std::max(l[1], 0);
                return {};
            }
            default: return std::unexpected(ENOPROTOOPT);
        }
    }
    if (level == abi::kIpprotoTcp) {
        if (!v) return std::unexpected(v.error());
        switch (name) {
            case abi::kTcpNodelay:
                nodelay_ = *v != 0;
                if (pcb_ && !listening_) {
                    if (nodelay_) tcp_nagle_disable(pcb_); else tcp_nagle_enable(pcb_);
                }
                return {};
            case abi::kTcpMaxseg: return {};
            case abi::kTcpKeepidle:
                if (*v < 1) return std::unexpected(EINVAL);
                if (pcb_) pcb_->keep_idle = static_cast<u32_t>(*v) * 1000;
                return {};
            case abi::kTcpKeepintvl:
                if (*v < 1) return std::unexpected(EINVAL);
                if (pcb_) pcb_->keep_intvl = static_cast<u32_t>(*v) * 1000;
                return {};
            case abi::kTcpKeepcnt:
                if (*v < 1) return std::unexpected(EINVAL);
                if (pcb_) pcb_->keep_cnt = static_cast<u32_t>(*v);
                return {};
            default: return std::unexpected(ENOPROTOOPT);
        }
    }
    if (level == abi::kIpprotoIpv6 && name == abi::kIpv6V6only) {
        if (!v) return std::unexpected(v.error());
        if (domain_ != kAfInet6) return std::unexpected(ENOPROTOOPT);
        if (pcb_ && pcb_->local_port != 0) return std::unexpected(EINVAL);
        v6only_ = *v != 0;
        if (pcb_) IP_SET_TYPE_VAL(pcb_->local_ip, v6only_ ? IPADDR_TYPE_V6 : IPADDR_TYPE_ANY);
        return {};
    }
    if (level == abi::kIpprotoIp && (name == abi::kIpTos || name == abi::kIpTtl)) {
        if (!v) return std::unexpected(v.error());
        if (ensure_pcb()) {
            if (name == abi::kIpTtl) pcb_->ttl = static_cast<u8_t>(*v); else pcb_->tos = static_cast<u8_t>(*v);
        }
        return {};
    }
    return std::unexpected(ENOPROTOOPT);
}

}  // namespace culvert::server
