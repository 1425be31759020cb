// "datagram": UDP flows from one or two senders to a receiver under impairments. Every
// datagram that arrives must be whole and unchanged (MSG_TRUNC aside, by the reader's own
// choice), and arrive at most once more than the wire duplicated it. Every one that does
// not arrive must be explained: the wire damaged one of its frames, or a node dropped it
// and counted the drop (a full ring, a full queue, reassembly). The wire sees every frame,
// so it knows which side lost each datagram.
#include "sim/scenarios/common.hpp"
#include "sim/scenarios/scenarios.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

namespace culvert::sim::scenarios {

namespace {

constexpr uint32_t kMagic = 0x43564447;  // "CVDG"
constexpr size_t kHeaderBytes = 16;      // magic, flow, seq, length
constexpr size_t kMaxUdpPayloadV6 = 65487;  // culvert's IPv6 limit (docs/architecture.md)

struct DatagramId {
    uint32_t flow, seq;
    auto operator<=>(const DatagramId&) const = default;
};

struct WireRecord {
    bool seen = false;        // at least one of its frames was on the wire
    bool damaged = false;     // the wire lost or corrupted one of its frames (the first copy)
    uint32_t duplicates = 0;  // extra copies of its first fragment the wire delivered
};

struct Flow {
    uint32_t id = 0;
    int node = 1;
    bool ipv6 = false;
    bool connected = false;
    bool blocking = false;
    uint32_t count = 0;
    uint64_t max_bytes = 1472;
    uint64_t gap_max_ns = 0;  // pause between datagrams (0: bursts)
    uint64_t key = 0;
    std::set<uint32_t> sent;  // seqs sendto accepted
    std::map<uint32_t, uint64_t> sent_at_ns;
    bool done = false;
};

struct Plan {
    int receiver_node = 0;
    uint16_t port = 7000;
    bool receiver_v6 = false;  // an AF_INET6 (dual-stack) receiver
    bool receiver_blocking = false;
    uint64_t receiver_think_ns = 0;
    std::vector<Flow> flows;
};

void fill_datagram(const Flow& f, uint32_t seq, std::span<uint8_t> out) {
    const uint32_t len = static_cast<uint32_t>(out.size());
    const uint32_t h[4] = {kMagic, f.id, seq, len};
    std::memcpy(out.data(), h, kHeaderBytes);
    Pattern::fill(f.key ^ seq, 0, out.subspan(kHeaderBytes));
}

void sender(Process& p, Plan& plan, Flow& f) {
    const int domain = f.ipv6 ? AF_INET6 : AF_INET;
    const int s = p.socket(domain, SOCK_DGRAM | (f.blocking ? 0 : SOCK_NONBLOCK));
    p.check(s >= 0, "socket failed");
    const Endpoint to = Endpoint::of_node(plan.receiver_node, f.ipv6, plan.port);
    if (f.connected) p.check(p.connect(s, to) == 0, "connect failed");
    std::vector<uint8_t> buf(65536);
    for (uint32_t seq = 0; seq < f.count; ++seq) {
        const size_t len = static_cast<size_t>(p.rng().log_range(kHeaderBytes, f.max_bytes));
        std::span<uint8_t> d(buf.data(), len);
        fill_datagram(f, seq, d);
        for (;;) {
            const long r = f.connected ? p.send(s, d) : p.sendto(s, d, to);
            if (r == static_cast<long>(len)) {
                f.sent.insert(seq);
                f.sent_at_ns[seq] = p.now_ns();
                break;
            }
            if (r == -EAGAIN && !f.blocking) {
                p.wait_for(s, POLLOUT);
                continue;
            }
            // Over IPv6 lwIP carries at most 65,487 bytes of UDP payload (a 16-bit pbuf
            // length; Linux: 65,527): culvert refuses more with EMSGSIZE, never sends it.
            if (r == -EMSGSIZE && f.ipv6 && len > kMaxUdpPayloadV6) break;
            p.fail(Verdict::correctness, "flow " + std::to_string(f.id) + ": send of " +
                                             std::to_string(len) + " bytes returned " +
                                             std::to_string(r));
        }
        if (f.gap_max_ns) p.sleep(p.rng().below(f.gap_max_ns));
    }
    p.check(p.close(s) == 0, "close failed");
    f.done = true;
}

struct Received {
    std::map<DatagramId, uint32_t> times;
    uint64_t truncated = 0;
};

void receiver(Process& p, Plan& plan, Received& got) {
    const int s = p.socket(plan.receiver_v6 ? AF_INET6 : AF_INET,
                           SOCK_DGRAM | (plan.receiver_blocking ? 0 : SOCK_NONBLOCK));
    p.check(s >= 0, "socket failed");
    const uint8_t any[16] = {};
    p.check(p.bind(s, plan.receiver_v6 ? Endpoint::v6(any, plan.port)
                                       : Endpoint::v4(any, plan.port)) == 0,
            "bind failed");
    // A blocking socket is read only when poll says so: with every sender done, a blocking
    // recv would wait forever for a datagram the wire lost.
    std::vector<uint8_t> buf(65536);
    uint64_t quiet_since = p.now_ns();
    auto all_done = [&] {
        for (const auto& f : plan.flows)
            if (!f.done) return false;
        return true;
    };
    for (;;) {
        // Done when every sender is and nothing arrived for 5 virtual seconds.
        if (all_done() && p.now_ns() - quiet_since > 5 * kSec) break;
        if (!(p.readiness(s, POLLIN) & POLLIN)) {
            p.wait_for(s, POLLIN, 1 * kSec);
            continue;
        }
        const bool trunc = p.rng().chance(0.05);
        const size_t cap =
            trunc ? static_cast<size_t>(p.rng().range(kHeaderBytes, 2000)) : buf.size();
        Endpoint from;
        int msg_flags = 0;
        const long r = p.recvfrom(s, std::span<uint8_t>(buf.data(), cap), &from,
                                  trunc ? MSG_TRUNC : 0, &msg_flags);
        if (r == -EAGAIN)
            p.fail(Verdict::correctness, "poll reported POLLIN but recv returned EAGAIN");
        p.check(r >= 0, "recv failed: " + std::to_string(r));
        quiet_since = p.now_ns();
        p.check(static_cast<size_t>(r) >= kHeaderBytes,
                "a datagram of " + std::to_string(r) + " bytes (shorter than any sent)");
        uint32_t h[4];
        std::memcpy(h, buf.data(), kHeaderBytes);
        p.check(h[0] == kMagic && h[1] < plan.flows.size(), "a datagram nobody sent");
        const Flow& f = plan.flows[h[1]];
        const uint32_t len = h[3];
        p.check(static_cast<uint32_t>(r) == len,
                "flow " + std::to_string(h[1]) + " seq " + std::to_string(h[2]) + ": " +
                    std::to_string(r) + " bytes returned for a datagram of " + std::to_string(len));
        const size_t have = std::min<size_t>(len, cap);
        p.check(len <= cap || (msg_flags & MSG_TRUNC), "truncated without MSG_TRUNC");
        if (len > cap) got.truncated++;
        p.check(
            Pattern::mismatch(
                f.key ^ h[2], 0,
                std::span<const uint8_t>(buf.data() + kHeaderBytes, have - kHeaderBytes)) < 0,
            "flow " + std::to_string(h[1]) + " seq " + std::to_string(h[2]) + " arrived changed");
        const auto* fa =
            from.storage.ss_family == AF_INET6
                ? &reinterpret_cast<const sockaddr_in6*>(&from.storage)->sin6_addr.s6_addr[0]
                : reinterpret_cast<const uint8_t*>(
                      &reinterpret_cast<const sockaddr_in*>(&from.storage)->sin_addr);
        const NodeAddress na = node_address(f.node);
        const uint8_t* want = f.ipv6 ? na.ipv6 : na.ipv4;
        const uint8_t* got_addr =
            (from.storage.ss_family == AF_INET6 && !f.ipv6) ? fa + 12 : fa;  // v4-mapped
        p.check(std::memcmp(got_addr, want, f.ipv6 ? 16 : 4) == 0,
                "source address " + from.str() + " is not the sender's");
        got.times[{h[1], h[2]}]++;
        if (plan.receiver_think_ns && p.rng().chance(0.1))
            p.sleep(p.rng().below(plan.receiver_think_ns));
    }
    p.check(p.close(s) == 0, "close failed");
}

uint64_t counted_send_drops(const nlohmann::json& s) {
    const auto& c = s["counters"];
    const auto& l = s["lwip_stats"];
    uint64_t n = c["udp_tx_errors"].get<uint64_t>() + c["udp_tx_bad_length"].get<uint64_t>();
    for (const auto& i : s["interfaces"]) n += i["tx_busy"].get<uint64_t>();
    for (const char* proto : {"etharp", "nd6", "ip_frag", "ip6_frag", "ip", "ip6"})
        n += l[proto]["memerr"].get<uint64_t>() + l[proto]["drop"].get<uint64_t>() +
             l[proto]["err"].get<uint64_t>();
    return n;
}

uint64_t counted_receive_drops(const nlohmann::json& s) {
    const auto& c = s["counters"];
    const auto& l = s["lwip_stats"];
    uint64_t n =
        c["udp_rx_dropped_ring_full"].get<uint64_t>() + c["segment_alloc_failures"].get<uint64_t>();
    for (const auto& i : s["interfaces"]) n += i["rx_dropped"].get<uint64_t>();
    n += s["backend"]["rx_dropped"].get<uint64_t>();
    for (const char* proto : {"ip_frag", "ip6_frag", "ip", "ip6", "udp"})
        n += l[proto]["memerr"].get<uint64_t>() + l[proto]["drop"].get<uint64_t>() +
             l[proto]["err"].get<uint64_t>() + l[proto]["proterr"].get<uint64_t>();
    return n;
}

}  // namespace

void datagram(ScenarioContext& ctx) {
    Rng& rng = ctx.rng();
    WorldConfig c = ctx.config();
    c.nodes = rng.chance(0.3) ? 3 : 2;
    Plan plan;
    plan.port = static_cast<uint16_t>(rng.range(1024, 60000));
    plan.receiver_v6 = rng.chance(0.5);
    plan.receiver_blocking = rng.chance(0.3);
    plan.receiver_think_ns = rng.chance(0.3) ? rng.log_range(100'000, 50 * kMs) : 0;
    for (int n = 1; n < c.nodes; ++n) {
        Flow f;
        f.id = static_cast<uint32_t>(plan.flows.size());
        f.node = n;
        f.ipv6 = plan.receiver_v6 && rng.chance(0.5);
        f.connected = rng.chance(0.3);
        f.blocking = rng.chance(0.4);
        f.count = static_cast<uint32_t>(rng.log_range(1, 300));
        const uint64_t size_class = rng.below(10);
        f.max_bytes = size_class < 6 ? 1400 : size_class < 9 ? 9000 : 65507;
        f.gap_max_ns = rng.chance(0.7) ? rng.log_range(10'000, 20 * kMs) : 0;
        f.key = rng.next();
        plan.flows.push_back(f);
    }
    c.ipv6 = true;
    // 1288 and up: below that, with IPv6 configured, lwIP's IPv4 fragmenter keeps its bug
    // (see fragmentable_mtu in src/stack/backend_netif.cpp).
    c.mtu = static_cast<uint16_t>(rng.chance(0.7) ? 1500 : rng.range(1288, 1500));
    World* w = ctx.make_world(c);
    if (!w) return;
    ImpairmentLimits lim;
    lim.partitions_before_ns = 5 * kSec;
    lim.max_partition_ns = 2 * kSec;
    impair_all(*w, rng, lim);
    const auto base = baseline(*w);

    // The wire's view of every datagram, keyed by its first fragment's header.
    std::map<DatagramId, WireRecord> wire;
    std::map<std::pair<std::string, uint32_t>, DatagramId>
        fragments;  // (source, IP id) -> datagram
    uint64_t resolution_damaged = 0;
    // When each sender first learnt the receiver's MAC (an ARP reply or neighbour
    // advertisement from the receiver reached it intact): before that its datagrams wait
    // in lwIP's resolution queue, which drops the oldest without counting (lwIP has no
    // counter for it), as Linux does beyond unres_qlen.
    std::vector<uint64_t> resolved_at_ns(static_cast<size_t>(c.nodes), UINT64_MAX);
    w->observe_wire([&](const WireEvent& e) {
        const FrameInfo& i = *e.info;
        const bool damaged = e.fate != Fate::delivered || e.corrupt_bit >= 0;
        const bool arp = i.l3 == L3::arp;
        if (arp || (i.l4 == L4::icmp6 && i.has_l4 && i.icmp_type >= 133 && i.icmp_type <= 137)) {
            if (damaged && !e.duplicate) resolution_damaged++;
            const bool answer =
                arp ? (e.bytes.size() >= 22 && static_cast<uint8_t>(e.bytes[21]) == 2)
                    : i.icmp_type == 136;
            if (answer && !damaged && e.src == plan.receiver_node && e.dst >= 0) {
                auto& t = resolved_at_ns[static_cast<size_t>(e.dst)];
                t = std::min(t, e.arrive_ns);
            }
            return;
        }
        if (i.l4 != L4::udp && !i.fragment) return;
        const std::string src(reinterpret_cast<const char*>(i.src_ip), i.addr_bytes);
        DatagramId id{};
        if (i.l4 == L4::udp && i.has_l4 && i.dst_port == plan.port &&
            i.payload_bytes >= kHeaderBytes) {
            uint32_t h[4];
            std::memcpy(h, e.bytes.data() + i.payload_offset, kHeaderBytes);
            if (h[0] != kMagic) return;
            id = {h[1], h[2]};
            if (i.fragment) fragments[{src, i.frag_id}] = id;
        } else if (i.fragment) {
            auto it = fragments.find({src, i.frag_id});
            if (it == fragments.end())
                return;  // not one of ours (or its first fragment never left)
            id = it->second;
        } else {
            return;
        }
        WireRecord& r = wire[id];
        r.seen = true;
        if (e.duplicate) {
            if (!damaged && i.frag_offset == 0) r.duplicates++;
        } else if (damaged) {
            r.damaged = true;
        }
    });

    uint64_t max_receiver_pool = 0;
    w->after_each_step([&] {
        culvert_sim_node_resources r;
        w->api(plan.receiver_node).resources(&r);
        max_receiver_pool = std::max(max_receiver_pool, r.pbuf_pool);
    });
    Received got;
    w->spawn(plan.receiver_node, "receiver", [&](Process& p) { receiver(p, plan, got); });
    for (auto& f : plan.flows) {
        Flow* fp = &f;
        w->spawn(f.node, "sender" + std::to_string(f.id),
                 [&plan, fp](Process& p) { sender(p, plan, *fp); });
    }
    const bool ok = w->run();
    ctx.summary()["max_receiver_pbufs"] = max_receiver_pool;
    uint64_t sent = 0, received = 0, wire_lost = 0, lost_sending = 0, lost_unresolved = 0,
             lost_receiving = 0, dups = 0;
    auto clean = [](const LinkConfig& l) {
        return l.loss == 0 && l.duplicate == 0 && l.corrupt == 0 && l.down.empty() &&
               !(l.bandwidth_bps && l.queue_ns);
    };
    std::string clean_loss;  // the first datagram lost although nothing could excuse it
    for (const auto& f : plan.flows) {
        const bool clean_path = clean(w->wire().link(f.node, plan.receiver_node)) &&
                                clean(w->wire().link(plan.receiver_node, f.node));
        uint32_t small_before_resolution = 0;
        bool only_small_before_resolution = true;
        for (uint32_t seq : f.sent) {
            if (f.sent_at_ns.at(seq) < resolved_at_ns[static_cast<size_t>(f.node)]) {
                ++small_before_resolution;
                if (f.max_bytes > 1400) only_small_before_resolution = false;
            }
        }
        for (uint32_t seq : f.sent) {
            ++sent;
            const DatagramId id{f.id, seq};
            const auto g = got.times.find(id);
            const auto r = wire.find(id);
            const uint32_t times = g == got.times.end() ? 0 : g->second;
            const WireRecord rec = r == wire.end() ? WireRecord{} : r->second;
            if (times > 0) ++received;
            if (times > 1) dups += times - 1;
            if (ok && times > 1 + rec.duplicates) {
                w->fail(Verdict::correctness, "flow " + std::to_string(f.id) + " seq " +
                                                  std::to_string(seq) + " arrived " +
                                                  std::to_string(times) + " times; the wire made " +
                                                  std::to_string(rec.duplicates) + " extra copies");
            }
            if (times > 0) continue;
            const bool before_resolution =
                f.sent_at_ns.at(seq) < resolved_at_ns[static_cast<size_t>(f.node)];
            // On a path the wire never hurts, only a full ring excuses a loss; a datagram
            // sent before the peer's MAC was known may wait in lwIP's resolution queue,
            // which holds a handful of packets at least (Linux: 101).
            const bool excusable =
                !clean_path || (before_resolution &&
                                (small_before_resolution > 8 || !only_small_before_resolution));
            if (!excusable && clean_loss.empty())
                clean_loss =
                    "flow " + std::to_string(f.id) + " seq " + std::to_string(seq) + " (" +
                    (before_resolution ? "sent before resolution" : "sent after resolution") +
                    ", " + (rec.seen ? "crossed the wire intact" : "never reached the wire") + ")";
            if (!rec.seen && before_resolution)
                ++lost_unresolved;
            else if (!rec.seen)
                ++lost_sending;
            else if (rec.damaged)
                ++wire_lost;
            else
                ++lost_receiving;
        }
    }
    ctx.summary()["datagrams_sent"] = sent;
    ctx.summary()["datagrams_received"] = received;
    ctx.summary()["lost_on_wire"] = wire_lost;
    ctx.summary()["lost_in_sender"] = lost_sending;
    ctx.summary()["lost_unresolved"] = lost_unresolved;
    ctx.summary()["lost_in_receiver"] = lost_receiving;
    ctx.summary()["duplicates"] = dups;
    ctx.summary()["truncated"] = got.truncated;
    ctx.summary()["resolution_frames_damaged"] = resolution_damaged;
    if (!ok || w->failure()) return;
    const uint64_t ring_full =
        w->status(plan.receiver_node)["counters"]["udp_rx_dropped_ring_full"].get<uint64_t>();
    // lwIP's reassembly buffer holds IP_REASS_MAX_PBUFS (1024) fragments; past that it drops
    // the oldest incomplete datagrams without counting them. A full buffer is a full queue:
    // such losses are excused only when the receiver's pool really came near the limit.
    const bool reassembly_full = max_receiver_pool + 64 >= 1024;
    ctx.summary()["reassembly_buffer_full"] = reassembly_full;
    if (!clean_loss.empty() && ring_full == 0 && !reassembly_full) {
        w->fail(Verdict::correctness,
                "a datagram was lost on a path the wire never hurt, with no ring or reassembly "
                "buffer full: " +
                    clean_loss);
        return;
    }
    // Losses the wire does not explain must show in the losing node's counters.
    uint64_t send_counted = 0;
    for (const auto& f : plan.flows)
        send_counted += counted_send_drops(w->status(f.node)) -
                        counted_send_drops(base[static_cast<size_t>(f.node)]);
    const uint64_t recv_counted =
        counted_receive_drops(w->status(plan.receiver_node)) -
        counted_receive_drops(base[static_cast<size_t>(plan.receiver_node)]);
    ctx.summary()["sender_counted_drops"] = send_counted;
    ctx.summary()["receiver_counted_drops"] = recv_counted;
    if (lost_sending > send_counted) {
        w->fail(Verdict::correctness,
                std::to_string(lost_sending) +
                    " datagrams never reached the wire but the senders counted " +
                    std::to_string(send_counted) + " drops");
        return;
    }
    if (lost_receiving > recv_counted && !reassembly_full) {
        w->fail(Verdict::correctness, std::to_string(lost_receiving) +
                                          " datagrams crossed the wire intact but never reached "
                                          "the reader; the receiver counted " +
                                          std::to_string(recv_counted) + " drops");
        return;
    }
    wait_until_released(*w, base, 120 * kSec);
    check_released(*w, base);
}

}  // namespace culvert::sim::scenarios
