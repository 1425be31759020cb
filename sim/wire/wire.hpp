// The virtual wire: an Ethernet segment joining the simulator's nodes, with per-direction
// latency, jitter, bandwidth (serialisation and a bounded queue), loss, duplication,
// reordering, corruption (one bit flipped where a checksum must catch it), an MTU and
// scripted partitions. Every random choice comes from the wire's seeded streams (one per
// direction), so a seed replays the same fates. Time is whatever the caller says it is.
#pragma once

#include "sim/wire/frame_info.hpp"
#include "sim/wire/rng.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <queue>
#include <unordered_set>
#include <span>
#include <vector>

namespace culvert::sim {

using Mac = std::array<uint8_t, 6>;

struct Interval {
    uint64_t start_ns = 0, end_ns = 0;  // [start, end)
    bool contains(uint64_t t) const { return t >= start_ns && t < end_ns; }
};

// One direction of a link (frames from one node to another).
struct LinkConfig {
    uint64_t latency_ns = 50'000;  // one way, after serialisation
    uint64_t jitter_ns = 0;        // + uniform [0, jitter]; order kept unless reordered
    uint64_t bandwidth_bps = 0;    // 0: no serialisation delay
    uint64_t queue_ns = 0;  // with bandwidth: tail drop when the backlog exceeds this (0: none)
    double loss = 0;
    double duplicate = 0;
    double reorder = 0;  // the frame is held back up to reorder_delay_ns, later ones overtake
    uint64_t reorder_delay_ns = 2'000'000;
    double corrupt = 0;          // one bit flipped inside what an IP/TCP/UDP checksum covers
    std::vector<Interval> down;  // scripted partitions: frames sent meanwhile are lost
};

enum class Fate : uint8_t { delivered, lost, partitioned, queue_full, too_big, no_port };
const char* fate_name(Fate fate);

// What the wire decided for one copy of a frame toward one node.
struct WireEvent {
    uint64_t frame_id = 0;  // per sent frame (a duplicate has its original's id)
    int src = 0, dst = -1;  // dst -1: no node has the destination MAC
    uint64_t sent_ns = 0, arrive_ns = 0;
    Fate fate = Fate::delivered;
    bool duplicate = false;
    bool reordered = false;
    int64_t corrupt_bit = -1;  // the flipped bit's index in the frame, or -1
    const FrameInfo* info = nullptr;
    std::span<const std::byte> bytes;  // as sent (before any corruption)
};

struct LinkStats {
    uint64_t frames = 0, bytes = 0, delivered = 0, lost = 0, partitioned = 0, queue_full = 0,
             too_big = 0, duplicated = 0, reordered = 0, corrupted = 0;
};

class Wire {
  public:
    // `mtu`: the largest IP packet the wire carries (frames up to mtu + 18 bytes).
    Wire(int ports, uint64_t seed, uint16_t mtu);

    int ports() const { return static_cast<int>(macs_.size()); }
    void set_mac(int port, const Mac& mac) { macs_.at(static_cast<size_t>(port)) = mac; }
    LinkConfig& link(int src, int dst) { return links_.at(index(src, dst)).config; }
    const LinkStats& stats(int src, int dst) const { return links_.at(index(src, dst)).stats; }
    LinkStats total() const;
    uint64_t frames_without_port() const { return no_port_; }

    // Called for every decision, in the order the wire makes them (traces, pcap, accounting).
    void set_observer(std::function<void(const WireEvent&)> observer) {
        observer_ = std::move(observer);
    }

    // A frame the node on `src` sent at `now_ns`: its copies start toward their destinations.
    void send(int src, std::span<const std::byte> frame, uint64_t now_ns);
    // When the next copy arrives (UINT64_MAX: nothing in flight).
    uint64_t next_arrival_ns() const {
        return flight_.empty() ? UINT64_MAX : flight_.top().arrive_ns;
    }
    bool in_flight() const { return !flight_.empty(); }
    // Hands every copy due at or before now_ns to deliver(dst, bytes), in arrival order (ties:
    // in sending order). Returns how many.
    size_t deliver_due(uint64_t now_ns,
                       const std::function<void(int, std::span<const std::byte>)>& deliver);

  private:
    struct Link {
        LinkConfig config;
        Rng rng;
        uint64_t busy_until_ns = 0;
        uint64_t last_arrival_ns = 0;
        LinkStats stats;
    };
    struct InFlight {
        uint64_t arrive_ns;
        uint64_t order;
        int dst;
        std::vector<std::byte> bytes;
        bool operator>(const InFlight& o) const {
            return arrive_ns != o.arrive_ns ? arrive_ns > o.arrive_ns : order > o.order;
        }
    };
    size_t index(int src, int dst) const {
        return static_cast<size_t>(src) * macs_.size() + static_cast<size_t>(dst);
    }
    void send_on(int src, int dst, std::span<const std::byte> frame, const FrameInfo& info,
                 uint64_t id, uint64_t now_ns);
    void emit(const WireEvent& e) {
        if (observer_) observer_(e);
    }

    uint16_t mtu_;
    std::vector<Mac> macs_;
    std::vector<Link> links_;
    std::priority_queue<InFlight, std::vector<InFlight>, std::greater<>> flight_;
    uint64_t next_frame_id_ = 1;
    uint64_t next_order_ = 0;
    uint64_t no_port_ = 0;
    // IP datagrams (source, fragment id) that already had a fragment corrupted: one flip per
    // datagram, because the UDP checksum spans all fragments and two flips can cancel.
    std::unordered_set<uint64_t> corrupted_datagrams_;
    std::function<void(const WireEvent&)> observer_;
};

}  // namespace culvert::sim
