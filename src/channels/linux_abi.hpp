// Linux socket-API constants used by culvertd in translation units that include lwIP
// (lwIP's def.h and <netinet/in.h>/<netinet/tcp.h> cannot share a translation unit; see
// ENVIRONMENT.md). They are the stable Linux ABI; the client library, which includes the
// real headers, static_asserts that they match.
#pragma once

namespace culvert::linux_abi {

inline constexpr int kSolSocket = 1;
inline constexpr int kSoReuseaddr = 2;
inline constexpr int kSoType = 3;
inline constexpr int kSoError = 4;
inline constexpr int kSoBroadcast = 6;
inline constexpr int kSoSndbuf = 7;
inline constexpr int kSoRcvbuf = 8;
inline constexpr int kSoKeepalive = 9;
inline constexpr int kSoLinger = 13;
inline constexpr int kSoReuseport = 15;
inline constexpr int kSoAcceptconn = 30;
inline constexpr int kSoProtocol = 38;
inline constexpr int kSoDomain = 39;

inline constexpr int kIpprotoIp = 0;
inline constexpr int kIpprotoTcp = 6;
inline constexpr int kIpprotoUdp = 17;
inline constexpr int kIpprotoIpv6 = 41;
inline constexpr int kIpTos = 1;
inline constexpr int kIpTtl = 2;
inline constexpr int kIpv6V6only = 26;
inline constexpr int kIpv6Unicast_hops = 16;

inline constexpr int kTcpNodelay = 1;
inline constexpr int kTcpMaxseg = 2;
inline constexpr int kTcpKeepidle = 4;
inline constexpr int kTcpKeepintvl = 5;
inline constexpr int kTcpKeepcnt = 6;
inline constexpr int kTcpInfo = 11;
inline constexpr int kTcpCongestion = 13;

inline constexpr int kSockStream = 1;
inline constexpr int kSockDgram = 2;

inline constexpr int kShutRd = 0;
inline constexpr int kShutWr = 1;
inline constexpr int kShutRdwr = 2;

// struct tcp_info's leading fields (linux/tcp.h); we fill state, rto, mss, rtt.
inline constexpr int kTcpInfoBytes = 104;

// Linux TCP states (include/net/tcp_states.h).
enum TcpState : unsigned char {
    kTcpEstablished = 1, kTcpSynSent, kTcpSynRecv, kTcpFinWait1, kTcpFinWait2, kTcpTimeWait,
    kTcpClose, kTcpCloseWait, kTcpLastAck, kTcpListen, kTcpClosing
};

}  // namespace culvert::linux_abi
