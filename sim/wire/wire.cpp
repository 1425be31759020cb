// The virtual wire (wire.hpp). Decisions per copy, in a fixed order of random draws: loss,
// jitter, reordering, corruption, duplication; partitions, MTU and queue limits draw nothing.
#include "sim/wire/wire.hpp"

#include <algorithm>
#include <cstring>

namespace culvert::sim {

const char* fate_name(Fate fate) {
    switch (fate) {
        case Fate::delivered:
            return "deliver";
        case Fate::lost:
            return "lost";
        case Fate::partitioned:
            return "partitioned";
        case Fate::queue_full:
            return "queue-full";
        case Fate::too_big:
            return "too-big";
        case Fate::no_port:
            return "no-port";
    }
    return "?";
}

Wire::Wire(int ports, uint64_t seed, uint16_t mtu) : mtu_(mtu), macs_(static_cast<size_t>(ports)) {
    const Rng base(seed);
    links_.resize(static_cast<size_t>(ports) * static_cast<size_t>(ports));
    for (int s = 0; s < ports; ++s)
        for (int d = 0; d < ports; ++d)
            links_[index(s, d)].rng = base.derive(0x11aa0000u + static_cast<uint64_t>(s * 64 + d));
}

LinkStats Wire::total() const {
    LinkStats t;
    for (const auto& l : links_) {
        t.frames += l.stats.frames;
        t.bytes += l.stats.bytes;
        t.delivered += l.stats.delivered;
        t.lost += l.stats.lost;
        t.partitioned += l.stats.partitioned;
        t.queue_full += l.stats.queue_full;
        t.too_big += l.stats.too_big;
        t.duplicated += l.stats.duplicated;
        t.reordered += l.stats.reordered;
        t.corrupted += l.stats.corrupted;
    }
    return t;
}

void Wire::send(int src, std::span<const std::byte> frame, uint64_t now_ns) {
    FrameInfo info;
    parse_frame(frame, info);
    const uint64_t id = next_frame_id_++;
    if (frame.size() < 14) return;
    const auto* dmac = reinterpret_cast<const uint8_t*>(frame.data());
    if (info.broadcast) {
        for (int d = 0; d < ports(); ++d)
            if (d != src) send_on(src, d, frame, info, id, now_ns);
        return;
    }
    for (int d = 0; d < ports(); ++d) {
        if (d != src && std::memcmp(macs_[static_cast<size_t>(d)].data(), dmac, 6) == 0) {
            send_on(src, d, frame, info, id, now_ns);
            return;
        }
    }
    ++no_port_;
    WireEvent e;
    e.frame_id = id;
    e.src = src;
    e.sent_ns = now_ns;
    e.fate = Fate::no_port;
    e.info = &info;
    e.bytes = frame;
    emit(e);
}

void Wire::send_on(int src, int dst, std::span<const std::byte> frame, const FrameInfo& info,
                   uint64_t id, uint64_t now_ns) {
    Link& l = links_[index(src, dst)];
    const LinkConfig& c = l.config;
    l.stats.frames++;
    l.stats.bytes += frame.size();
    WireEvent e;
    e.frame_id = id;
    e.src = src;
    e.dst = dst;
    e.sent_ns = now_ns;
    e.info = &info;
    e.bytes = frame;
    auto drop = [&](Fate fate, uint64_t& counter) {
        counter++;
        e.fate = fate;
        emit(e);
    };
    if (std::any_of(c.down.begin(), c.down.end(),
                    [&](const Interval& i) { return i.contains(now_ns); }))
        return drop(Fate::partitioned, l.stats.partitioned);
    if (frame.size() > static_cast<size_t>(mtu_) + 18) return drop(Fate::too_big, l.stats.too_big);
    const uint64_t backlog_ns = l.busy_until_ns > now_ns ? l.busy_until_ns - now_ns : 0;
    if (c.bandwidth_bps && c.queue_ns && backlog_ns > c.queue_ns)
        return drop(Fate::queue_full, l.stats.queue_full);
    if (l.rng.chance(c.loss)) return drop(Fate::lost, l.stats.lost);

    // Serialisation, then propagation, then jitter; FIFO unless this frame is reordered.
    const uint64_t tx_ns =
        c.bandwidth_bps ? frame.size() * 8ull * 1'000'000'000ull / c.bandwidth_bps : 0;
    const uint64_t start = std::max(now_ns, l.busy_until_ns);
    l.busy_until_ns = start + tx_ns;
    uint64_t arrive =
        l.busy_until_ns + c.latency_ns + (c.jitter_ns ? l.rng.below(c.jitter_ns + 1) : 0);
    if (l.rng.chance(c.reorder)) {
        arrive += l.rng.range(1, std::max<uint64_t>(c.reorder_delay_ns, 1));
        e.reordered = true;
        l.stats.reordered++;
    } else {
        arrive = std::max(arrive, l.last_arrival_ns);
        l.last_arrival_ns = arrive;
    }
    std::vector<std::byte> bytes(frame.begin(), frame.end());
    bool flip = l.rng.chance(c.corrupt);
    if (flip && info.fragment) {
        // The Internet checksum of a fragmented datagram covers all its fragments, and two
        // flips in different fragments can cancel out: never corrupt a second fragment.
        uint64_t key = 0xcbf29ce484222325ull;
        for (size_t k = 0; k < info.addr_bytes; ++k)
            key = (key ^ info.src_ip[k]) * 0x100000001b3ull;
        key = (key ^ info.frag_id) * 0x100000001b3ull ^ static_cast<uint64_t>(info.l3);
        flip = corrupted_datagrams_.insert(key).second;
    }
    if (flip) {
        const CorruptibleBits cb = corruptible_bits(info);
        const size_t span_bits = cb.end_bit - cb.first_bit - (cb.skip_end_bit - cb.skip_first_bit);
        if (span_bits > 0) {
            size_t bit = cb.first_bit + l.rng.below(span_bits);
            if (cb.skip_end_bit > cb.skip_first_bit && bit >= cb.skip_first_bit)
                bit += cb.skip_end_bit - cb.skip_first_bit;
            bytes[bit / 8] ^= static_cast<std::byte>(0x80u >> (bit % 8));
            e.corrupt_bit = static_cast<int64_t>(bit);
            l.stats.corrupted++;
        }
    }
    const bool dup = l.rng.chance(c.duplicate);
    e.arrive_ns = arrive;
    e.fate = Fate::delivered;
    l.stats.delivered++;
    emit(e);
    if (dup) {
        // The copy trails the original by up to one jitter (at least 1 µs).
        const uint64_t dup_arrive =
            arrive + 1000 + (c.jitter_ns ? l.rng.below(c.jitter_ns + 1) : 0);
        WireEvent d = e;
        d.duplicate = true;
        d.arrive_ns = dup_arrive;
        l.stats.duplicated++;
        emit(d);
        flight_.push(InFlight{dup_arrive, next_order_++, dst, bytes});
    }
    flight_.push(InFlight{arrive, next_order_++, dst, std::move(bytes)});
}

size_t Wire::deliver_due(uint64_t now_ns,
                         const std::function<void(int, std::span<const std::byte>)>& deliver) {
    size_t n = 0;
    while (!flight_.empty() && flight_.top().arrive_ns <= now_ns) {
        // priority_queue::top is const: move out through a copy of the handle.
        InFlight f = std::move(const_cast<InFlight&>(flight_.top()));
        flight_.pop();
        deliver(f.dst, f.bytes);
        ++n;
    }
    return n;
}

}  // namespace culvert::sim
