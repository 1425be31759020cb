// The control protocol between the client library and culvertd over a unix SOCK_SEQPACKET
// socket: one fixed-layout, versioned Request or Reply per packet (plus SCM_RIGHTS fds and,
// for a few requests, payload bytes after the struct). No pointers, no std::variant bytes:
// every field has a fixed size and the receiver validates it (DESIGN §3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace culvert::channels {

inline constexpr uint32_t kProtocolMagic = 0x43565254;  // "CVRT"
inline constexpr uint16_t kProtocolVersion = 1;
inline constexpr size_t kOptionBytes = 128;             // largest socket option value carried
inline constexpr size_t kMaxFdsPerMessage = 4;

enum class Op : uint16_t {
    hello = 1,
    socket,
    bind,
    listen,
    accept,
    connect,
    shutdown,
    close,
    getsockname,
    getpeername,
    getsockopt,
    setsockopt,
    sendto,      // a datagram too large for the shared ring: payload follows the Request
    set_copy_mode,
    status,      // counters as JSON text in the Reply payload
    max_op
};

// A socket address in wire form: family is AF_INET or AF_INET6 (Linux values), port in
// host order, address bytes in network order (4 or 16 used).
struct WireAddr {
    uint16_t family;
    uint16_t port;
    uint32_t scope_id;
    uint8_t addr[16];
};
static_assert(sizeof(WireAddr) == 24);

struct MessageHeader {
    uint32_t magic;
    uint16_t version;
    uint16_t op;
    uint32_t seq;
    uint32_t payload_bytes;  // bytes after the fixed struct in the same packet
};
static_assert(sizeof(MessageHeader) == 16);

// Where a socket's channel lives in the client's segment and how it is shaped.
struct ChannelInfo {
    uint64_t channel_offset;   // StreamChannelShared or DgramChannelShared
    uint64_t tx_data_offset;   // stream: client->server ring bytes
    uint64_t rx_data_offset;   // stream: server->client ring bytes
    uint32_t tx_bytes;
    uint32_t rx_bytes;
    uint32_t kind;             // ChannelKind
    uint32_t reserved;
};
static_assert(sizeof(ChannelInfo) == 40);

struct Request {
    MessageHeader header;
    uint32_t socket_id;
    int32_t arg0;  // hello: pid; socket: domain; listen: backlog; accept: flags; shutdown: how;
                   // get/setsockopt: level; set_copy_mode: mode
    int32_t arg1;  // socket: type; get/setsockopt: name
    int32_t arg2;  // socket: protocol; hello: protocol version we speak; sendto: flags
    uint32_t value_bytes;  // setsockopt value length / getsockopt buffer length
    uint32_t reserved;
    WireAddr addr;         // bind/connect/sendto
    uint8_t value[kOptionBytes];
};
static_assert(sizeof(Request) == 16 + 24 + 24 + kOptionBytes);

struct Reply {
    MessageHeader header;
    int32_t error;         // 0 or a Linux errno
    uint32_t socket_id;
    int64_t result;        // hello: server pid; accept: 1 if more connections are pending
    uint64_t aux;          // hello: segment bytes; status: -
    uint64_t probe_addr;   // hello: address in culvertd of kProbeValue (process_vm check)
    uint32_t value_bytes;  // getsockopt value length
    uint32_t fd_count;     // fds attached with SCM_RIGHTS, in a fixed order per op
    WireAddr addr;         // accept/getsockname/getpeername
    ChannelInfo channel;   // socket/accept
    uint8_t value[kOptionBytes];
};
static_assert(sizeof(Reply) == 16 + 40 + 24 + 40 + kOptionBytes);

inline constexpr uint64_t kProbeValue = 0x70726f62652d6376ull;  // "probe-cv"

// Copy modes for datagram payloads (DESIGN §4).
enum class CopyMode : int32_t { process_vm = 0, segment = 1 };

// Fds attached to a socket/accept reply, in this order.
enum SocketFdIndex { kAppFd = 0, kPeerFd = 1, kNotifyFd = 2, kSocketFdCount = 3 };

inline MessageHeader make_header(Op op, uint32_t seq, uint32_t payload_bytes = 0) {
    return MessageHeader{kProtocolMagic, kProtocolVersion, static_cast<uint16_t>(op), seq, payload_bytes};
}

// Validates the header of a received packet of `len` bytes holding a T (+ payload).
enum class HeaderCheck { ok, too_short, bad_magic, bad_version, bad_op, bad_length };
template <class T>
HeaderCheck check_header(const T& msg, size_t len) {
    if (len < sizeof(MessageHeader)) return HeaderCheck::too_short;
    if (msg.header.magic != kProtocolMagic) return HeaderCheck::bad_magic;
    if (msg.header.version != kProtocolVersion) return HeaderCheck::bad_version;
    if (len < sizeof(T)) return HeaderCheck::too_short;
    if (msg.header.op == 0 || msg.header.op >= static_cast<uint16_t>(Op::max_op)) return HeaderCheck::bad_op;
    if (len != sizeof(T) + msg.header.payload_bytes) return HeaderCheck::bad_length;
    return HeaderCheck::ok;
}

}  // namespace culvert::channels
