// Shared-memory layouts of one socket's channel (DESIGN §4): the stream channel (two byte
// rings) and the datagram channel (two bipartite descriptor rings), each with the
// client->server event queue and the app-visible readiness state. Server and client each
// write only their own fields; each validates what it reads from the other.
#pragma once

#include "channels/bipartite_ring.hpp"
#include "channels/byte_ring.hpp"
#include "channels/event_queue.hpp"
#include "channels/readiness.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace culvert::channels {

inline constexpr uint32_t kChannelMagic = 0x4356434e;  // "CVCN"
inline constexpr uint32_t kChannelVersion = 1;

enum class ChannelKind : uint32_t { stream = 1, dgram = 2 };

// Server-written socket state bits (StreamChannelShared::state, DgramChannelShared::state).
enum StateBits : uint32_t {
    kConnected = 1u << 0,   // TCP established (or UDP connected)
    kRxEof = 1u << 1,       // peer sent FIN and every byte before it is in the rx ring
    kError = 1u << 2,       // `error` holds a pending error (SO_ERROR)
    kListening = 1u << 3,
    kTxClosed = 1u << 4,    // no more sending: shutdown(SHUT_WR) done or connection gone
    kConnecting = 1u << 5,
};

struct ChannelHeader {
    uint32_t magic;
    uint32_t version;
    uint32_t kind;
    uint32_t reserved;
};

struct alignas(64) StreamChannelShared {
    ChannelHeader header;
    ByteRingIndices tx;          // client -> server bytes
    ByteRingIndices rx;          // server -> client bytes
    EventQueueShared to_server;  // client notifies culvertd (data written, space freed)
    ReadinessShared readiness;   // app fd: readable / writable
    alignas(64) std::atomic<uint32_t> state;       // StateBits, server-written
    std::atomic<int32_t> error;                    // pending Linux errno, server-written
    std::atomic<uint32_t> accept_pending;          // listening: connections queued
    std::atomic<uint32_t> unsent_bytes;            // bytes accepted by lwIP, not yet acked (SIOCOUTQ)
};

// One datagram descriptor. recvq: written by the server (received datagram). sendq: the
// server fills `payload`/`capacity` (an empty buffer) and the client sets `len`/`addr`.
struct DgramItem {
    uint64_t payload;   // culvertd virtual address (process_vm mode) or segment offset
    uint32_t capacity;  // bytes the buffer can hold (server-private copy is authoritative)
    uint32_t len;       // datagram bytes
    uint32_t flags;     // kDgramHasAddr: `addr` is valid (else: the connected peer)
    uint32_t reserved;
    uint8_t addr[24];   // WireAddr bytes (protocol.hpp)
};
static_assert(sizeof(DgramItem) == 48);
inline constexpr uint32_t kDgramHasAddr = 1;

inline constexpr size_t kSendSlots = 64;
inline constexpr size_t kRecvSlots = 256;
inline constexpr uint32_t kDgramSlotBytes = 2048;  // sendq buffers: an MTU-sized datagram
// Largest UDP payload culvert sends (EMSGSIZE above, as Linux past its own limits). IPv4:
// 65,535 - 20 - 8, as Linux. IPv6: lwIP's pbuf tot_len is 16 bits and must hold payload +
// 8 (UDP) + 40 (IPv6), so 65,535 - 48, where Linux allows 65,527 (docs/architecture.md).
inline constexpr uint32_t kMaxUdpPayloadV4 = 65507;
inline constexpr uint32_t kMaxUdpPayloadV6 = 65487;

struct alignas(64) DgramChannelShared {
    ChannelHeader header;
    EventQueueShared to_server;
    ReadinessShared readiness;
    alignas(64) std::atomic<uint32_t> state;
    std::atomic<int32_t> error;
    std::atomic<uint32_t> rx_queued_bytes;  // FIONREAD-ish: bytes of the front datagram
    uint32_t reserved;
    BipartiteRingShared<DgramItem, kSendSlots> sendq;  // server commits empty buffers
    BipartiteRingShared<DgramItem, kRecvSlots> recvq;  // server commits received datagrams
};

}  // namespace culvert::channels
