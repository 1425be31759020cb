// Rewriting frames for replay. AddressMap moves a capture onto culvert's addresses (MAC,
// IPv4, IPv6, and what derives from them: link-local and solicited-node addresses, ARP and
// neighbour-discovery fields), with checksums recomputed. FlowMapper bridges the values
// culvert picks freely on each run (TCP initial sequence numbers, ephemeral ports): it
// learns them from culvert's output and shifts the peer's recorded frames to match, and
// maps culvert's frames back into the recording's numbers before they are compared.
#pragma once

#include "cli/replay/packet.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace culvert::replay {

using Mac = std::array<uint8_t, 6>;
using Ip4 = std::array<uint8_t, 4>;
using Ip6 = std::array<uint8_t, 16>;

struct AddressMap {
    std::vector<std::pair<Mac, Mac>> macs;
    std::vector<std::pair<Ip4, Ip4>> ipv4;
    std::vector<std::pair<Ip6, Ip6>> ipv6;

    bool empty() const { return macs.empty() && ipv4.empty() && ipv6.empty(); }
    // Adds the pairs that follow from the given ones: the EUI-64 link-local address of each
    // mapped MAC, and the solicited-node multicast address (and its 33:33:ff MAC) of each
    // mapped IPv6 address. Call once after filling the lists.
    void complete();
    // Rewrites `frame` in place; true if anything changed (its checksums are then updated).
    bool apply(Bytes& frame) const;
};

Ip6 link_local_of(const Mac& mac);

// Culvert's side of a capture: its MAC and addresses, the frames it sent.
struct Side {
    std::optional<Mac> mac;
    std::vector<Ip4> ipv4;
    std::vector<Ip6> ipv6;
    bool owns(ByteView frame, size_t at, bool v6) const;
};

class FlowMapper {
  public:
    explicit FlowMapper(Side culvert) : culvert_(std::move(culvert)) {}

    // Learns the recorded connections from the peer's frames (in recorded numbers): which
    // culvert port each one used and culvert's recorded ISN (the peer's first ACK - 1).
    void learn_recorded(const std::vector<Bytes>& peer_frames);
    // Learns what culvert picked this run from a frame it sent (now numbers).
    void on_culvert_frame(ByteView frame);
    // A peer frame about to be fed to culvert: recorded numbers -> this run's.
    void rewrite_peer_frame(Bytes& frame) const;
    // A frame culvert sent: this run's numbers -> recorded ones, for the comparison.
    void unmap_culvert_frame(Bytes& frame) const;

    // "port 49152 -> 50001, ISN +12345" lines, for --verbose.
    std::vector<std::string> describe() const;

  private:
    struct Flow {  // one recorded TCP connection or UDP flow
        uint16_t port_rec = 0;
        std::optional<uint32_t> isn_rec;
        bool culvert_opened = false;  // culvert sent the first SYN (the peer's first frame was not one)
        bool paired = false;
        uint16_t port_now = 0;
        std::optional<uint32_t> isn_delta;  // now - recorded
    };
    // Keys: protocol, culvert address, culvert port, peer address, peer port.
    using Key = std::string;
    static Key key(uint8_t proto, ByteView culvert_ip, uint16_t culvert_port, ByteView peer_ip,
                   uint16_t peer_port);
    static Key endpoint(uint8_t proto, ByteView culvert_ip, ByteView peer_ip, uint16_t peer_port);

    Side culvert_;
    std::map<Key, Flow> flows_;                      // by recorded key
    std::map<Key, std::vector<Key>> unpaired_;       // endpoint -> recorded keys, in order
    std::map<Key, Key> now_to_rec_;                  // this run's key -> recorded key
    std::map<Key, Key> rec_to_now_;
};

}  // namespace culvert::replay
