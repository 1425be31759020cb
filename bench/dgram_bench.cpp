// Issue 2, datagrams: BipartiteRing rate between two processes, client -> server as client.cpp
// sends (unpack, payload by process_vm_writev or through the segment, length/address, repack,
// notify), side by side with loopback UDP moving the same 64-byte datagrams.
#include "bench_support.hpp"

#include "channels/bipartite_ring.hpp"
#include "channels/event_queue.hpp"
#include "channels/protocol.hpp"
#include "channels/read_once.hpp"
#include "channels/segment.hpp"
#include "channels/socket_channel.hpp"

#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <vector>

namespace cb = culvert::bench;
namespace cc = culvert::channels;

namespace {

constexpr size_t kDgramBytes = 64;

enum class Copy { process_vm, segment };

struct DgramShared {
    cc::DgramChannelShared channel;  // the real datagram channel: sendq and to_server
    cc::EventQueueShared to_client;  // server -> client: free buffers again (notify-on-idle)
};
// Segment mode: the server's send buffers live in the segment, after the channel.
constexpr uint64_t kPayloadOffset = (sizeof(DgramShared) + 4095) / 4096 * 4096;
constexpr size_t kSegmentBytes = kPayloadOffset + cc::kSendSlots * cc::kDgramSlotBytes;

using SendProducer = cc::BipartiteProducer<cc::DgramItem, cc::kSendSlots>;
using SendConsumer = cc::BipartiteConsumer<cc::DgramItem, cc::kSendSlots>;

struct DgramSetup {
    Copy copy;
    int segment_fd;
    int to_server_fd, to_client_fd;
    uint64_t total;
};

// The child plays culvertd: it publishes empty buffers, reclaims the filled ones (checking
// length and sequence number, where culvertd would call udp_sendto), refills them and notifies
// the client (a syscall only if the client sleeps). It trusts only its own record of which
// buffer belongs to which slot.
std::string dgram_server(const DgramSetup& st, cb::PeerReport& report) {
    auto seg = cc::Segment::attach(::dup(st.segment_fd));
    if (!seg) return cb::format("attach: %s", std::strerror(seg.error()));
    auto shared = seg->at<DgramShared>(0);
    auto area = seg->bytes(kPayloadOffset, cc::kSendSlots * cc::kDgramSlotBytes);
    if (!shared || !area) return "segment too small";
    SendProducer sendq(&(*shared)->channel.sendq);
    cc::EventQueueConsumer to_server(&(*shared)->channel.to_server, st.to_server_fd);
    cc::EventQueueProducer to_client(&(*shared)->to_client, st.to_client_fd);
    std::vector<std::byte> private_area(cc::kSendSlots * cc::kDgramSlotBytes);
    std::byte* const buffers = st.copy == Copy::process_vm ? private_area.data() : area->data();
    auto publish = [&](size_t slot, cc::DgramItem* item) {
        // process_vm mode: our own virtual address; segment mode: an offset into the segment.
        item->payload = st.copy == Copy::process_vm
                            ? reinterpret_cast<uint64_t>(buffers + slot * cc::kDgramSlotBytes)
                            : kPayloadOffset + slot * cc::kDgramSlotBytes;
        item->capacity = cc::kDgramSlotBytes;
        item->len = 0;
        item->flags = 0;
    };
    auto refill = [&](size_t n) -> bool {
        for (size_t i = 0; i < n; ++i) {
            auto r = sendq.reserve();
            if (!r) return false;
            publish(r->first, r->second);
            sendq.commit();
        }
        return true;
    };
    if (!refill(cc::kSendSlots)) return "cannot publish the first buffers";
    if (const int e = to_client.notify(); e != 0) return cb::format("notify: %s", std::strerror(e));

    uint64_t got = 0;
    std::string bad;
    cb::peer_ready();
    auto check = [&](size_t slot, cc::DgramItem& item) {
        const uint32_t len = cc::read_once(item.len);
        uint64_t seq = 0;
        std::memcpy(&seq, buffers + slot * cc::kDgramSlotBytes, sizeof seq);
        if (bad.empty() && (len != kDgramBytes || seq != got)) {
            bad = cb::format("datagram %" PRIu64 ": len %u seq %" PRIu64, got, len, seq);
        }
        ++got;
    };
    while (got < st.total) {
        auto spent = sendq.spent();
        if (!spent) return cb::format("sendq: %s", cc::to_string(spent.error()));
        if (*spent == 0) {
            if (const int e = to_server.ack_wait(cb::kWaitMs); e != 0) {
                return cb::format("ack_wait: %s at datagram %" PRIu64, std::strerror(e), got);
            }
            continue;
        }
        for (;;) {
            auto n = sendq.reclaim(check);
            if (!n) return cb::format("sendq: %s", cc::to_string(n.error()));
            if (!bad.empty()) return bad;
            if (*n == 0) break;
            if (!refill(*n)) return "no slot to refill";
            if (const int e = to_client.notify(); e != 0) {
                return cb::format("notify: %s", std::strerror(e));
            }
        }
        if (const int e = to_server.ack(); e != 0) return cb::format("ack: %s", std::strerror(e));
    }
    report.done_ns = cb::now_ns();
    report.units = got;
    return "";
}

void DgramRing(benchmark::State& state, Copy copy) {
    DgramSetup st{};
    st.copy = copy;
    st.total = static_cast<uint64_t>(state.max_iterations);
    auto seg = cc::Segment::create("culvert-bench-dgram", kSegmentBytes);
    if (!seg) return cb::fail(state, cb::format("segment: %s", std::strerror(seg.error())));
    auto shared = seg->emplace<DgramShared>(0);
    auto to_server_fd = cb::make_eventfd();
    auto to_client_fd = cb::make_eventfd();
    if (!shared) return cb::fail(state, "segment layout");
    if (!to_server_fd || !to_client_fd) return cb::fail(state, "eventfd");
    st.segment_fd = seg->fd();
    st.to_server_fd = to_server_fd->get();
    st.to_client_fd = to_client_fd->get();
    cb::track_fd(st.to_server_fd, cb::FdKind::eventfd);
    cb::track_fd(st.to_client_fd, cb::FdKind::eventfd);

    auto peer = cb::Peer::start([&](cb::PeerReport& r) { return dgram_server(st, r); });
    if (!peer) return cb::fail(state, peer.error());
    if (auto ready = peer->wait_ready(cb::kWaitMs); !ready) return cb::fail(state, ready.error());
    const pid_t server = peer->pid();
    SendConsumer sendq(&(*shared)->channel.sendq);
    cc::EventQueueProducer to_server(&(*shared)->channel.to_server, st.to_server_fd);
    cc::EventQueueConsumer to_client(&(*shared)->to_client, st.to_client_fd);
    auto still_none_free = [&] { return sendq.available().value_or(1) == 0; };
    std::array<std::byte, kDgramBytes> dgram{};
    cc::WireAddr to{};
    to.family = AF_INET;
    to.port = htons(9);
    std::memcpy(to.addr, "\x7f\0\0\x01", 4);
    uint64_t seq = 0;

    cb::WriterClock writer;
    for (auto _ : state) {
        for (;;) {
            auto item = sendq.unpack();
            if (!item) {
                if (item.error() != cc::ChannelError::empty) {
                    return cb::fail(state, cb::format("sendq: %s", cc::to_string(item.error())));
                }
                // No free buffer: ack the server's refill notifications, re-check, sleep.
                if (const int e = to_client.ack(); e != 0) {
                    return cb::fail(state, cb::format("ack: %s", std::strerror(e)));
                }
                if (still_none_free()) {
                    if (const int e = to_client.ack_wait(cb::kWaitMs); e != 0) {
                        return cb::fail(state, cb::format("ack_wait: %s", std::strerror(e)));
                    }
                }
                continue;
            }
            cc::DgramItem* it = *item;
            const uint64_t payload = cc::read_once(it->payload);
            if (cc::read_once(it->capacity) < kDgramBytes)
                return cb::fail(state, "buffer too small");
            std::memcpy(dgram.data(), &seq, sizeof seq);
            if (copy == Copy::process_vm) {
                iovec local{dgram.data(), kDgramBytes};
                // An address in the server's memory, not ours: only the kernel dereferences it.
                iovec remote{reinterpret_cast<void*>(payload),
                             kDgramBytes};  // NOLINT(performance-no-int-to-ptr)
                if (::process_vm_writev(server, &local, 1, &remote, 1, 0) !=
                    static_cast<ssize_t>(kDgramBytes)) {
                    return cb::fail(state,
                                    cb::format("process_vm_writev: %s", std::strerror(errno)));
                }
            } else {
                auto dst = seg->bytes(payload, kDgramBytes);
                if (!dst) return cb::fail(state, "payload offset outside the segment");
                std::memcpy(dst->data(), dgram.data(), kDgramBytes);
            }
            cc::write_once(it->len, static_cast<uint32_t>(kDgramBytes));
            cc::write_once(it->flags, cc::kDgramHasAddr);
            std::memcpy(it->addr, &to, sizeof to);
            sendq.repack();
            if (const int e = to_server.notify(); e != 0) {
                return cb::fail(state, cb::format("notify: %s", std::strerror(e)));
            }
            ++seq;
            break;
        }
    }
    auto t = cb::finish_transfer(state, writer, *peer);
    if (!t) return;
    state.counters["Mmsg/s"] = static_cast<double>(t->report.units) / t->secs / 1e6;
    state.counters["drop%"] = 0;
    cb::set_cost_counters(state, *t, static_cast<double>(state.iterations()));
}

// The kernel: send() on a connected UDP socket, recv() on the other. UDP has no flow control,
// so the rate is what the receiver got; datagrams the kernel dropped count in drop%.
void UdpLoopback(benchmark::State& state) {
    auto control = cb::SharedControl::create();
    if (!control) return cb::fail(state, control.error());
    cb::Fd rx(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    cb::Fd tx(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!rx || !tx) return cb::fail(state, cb::format("socket: %s", std::strerror(errno)));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    // The receiver's only timeout: how long to wait for stragglers once the sender is done.
    const timeval idle{0, 20'000};
    if (::bind(rx.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(rx.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        ::connect(tx.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::setsockopt(rx.get(), SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof idle) != 0) {
        return cb::fail(state, cb::format("UDP setup: %s", std::strerror(errno)));
    }
    cb::track_fd(rx.get(), cb::FdKind::kernel_socket);
    cb::track_fd(tx.get(), cb::FdKind::kernel_socket);
    cb::Control* ctl = control->operator->();

    auto peer = cb::Peer::start([&](cb::PeerReport& report) -> std::string {
        std::array<std::byte, 2048> buf{};
        uint64_t got = 0;
        uint64_t next_seq = 0;
        uint64_t last_rx_ns = cb::now_ns();
        cb::peer_ready();
        for (;;) {
            const ssize_t n = ::recv(rx.get(), buf.data(), buf.size(), 0);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    return cb::format("recv: %s", std::strerror(errno));
                }
                if (ctl->stop.load(std::memory_order_acquire) != 0) break;  // the rest was dropped
                if (cb::seconds_between(last_rx_ns, cb::now_ns()) * 1000 > cb::kWaitMs) {
                    return "no datagram for too long";
                }
                continue;
            }
            uint64_t seq = 0;
            std::memcpy(&seq, buf.data(), sizeof seq);
            if (n != static_cast<ssize_t>(kDgramBytes) || seq < next_seq) {
                return cb::format("datagram %" PRIu64 ": %zd bytes, seq %" PRIu64, got, n, seq);
            }
            next_seq = seq + 1;
            ++got;
            last_rx_ns = cb::now_ns();
            if (ctl->stop.load(std::memory_order_acquire) != 0 &&
                got >= ctl->sent.load(std::memory_order_relaxed)) {
                break;
            }
        }
        report.done_ns = last_rx_ns;
        report.units = got;
        return "";
    });
    if (!peer) return cb::fail(state, peer.error());
    if (auto ready = peer->wait_ready(cb::kWaitMs); !ready) return cb::fail(state, ready.error());
    std::array<std::byte, kDgramBytes> dgram{};
    uint64_t seq = 0;

    cb::WriterClock writer;
    for (auto _ : state) {
        std::memcpy(dgram.data(), &seq, sizeof seq);
        if (::send(tx.get(), dgram.data(), dgram.size(), 0) != static_cast<ssize_t>(kDgramBytes)) {
            return cb::fail(state, cb::format("send: %s", std::strerror(errno)));
        }
        ++seq;
    }
    ctl->sent.store(seq, std::memory_order_relaxed);
    ctl->stop.store(1, std::memory_order_release);
    auto t = cb::finish_transfer(state, writer, *peer);
    if (!t) return;
    state.counters["Mmsg/s"] = static_cast<double>(t->report.units) / t->secs / 1e6;
    state.counters["drop%"] =
        100.0 * static_cast<double>(seq - t->report.units) / static_cast<double>(seq);
    cb::set_cost_counters(state, *t, static_cast<double>(state.iterations()));
}

}  // namespace

void cb::register_dgram_benchmarks() {
    cb::finish_registration(benchmark::RegisterBenchmark(
        "DgramRing/process_vm", [](benchmark::State& s) { DgramRing(s, Copy::process_vm); }));
    cb::finish_registration(benchmark::RegisterBenchmark(
        "DgramRing/segment", [](benchmark::State& s) { DgramRing(s, Copy::segment); }));
    cb::finish_registration(benchmark::RegisterBenchmark("UdpLoopback", UdpLoopback));
}
