/* culvert's lwIP configuration: NO_SYS raw API on one stack thread, IPv4+IPv6, large TCP
 * windows with scaling, SACK out, stats on, per-netif checksum control (DESIGN §2).
 * Time and randomness come only through stack_hooks.h so the simulator can own them. */
#ifndef CULVERT_LWIPOPTS_H
#define CULVERT_LWIPOPTS_H

#include "stack_hooks.h"
#include "tcp_window_update.h"

/* One thread, raw API, no OS layer. */
#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET 0
#define LWIP_NETCONN 0
#define LWIP_TIMERS 1

/* Memory: lwIP's heap and pools come from malloc so ASan sees every buffer and the pool
 * counts below are soft (stats still count use; culvert bounds memory per socket itself). */
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT 8
#define MEMP_NUM_PBUF 4096
#define MEMP_NUM_RAW_PCB 64
#define MEMP_NUM_UDP_PCB 1024
#define MEMP_NUM_TCP_PCB 4096
#define MEMP_NUM_TCP_PCB_LISTEN 256
#define MEMP_NUM_REASSDATA 64
#define MEMP_NUM_FRAG_PBUF 256
#define MEMP_NUM_ARP_QUEUE 256
#define MEMP_NUM_ND6_QUEUE 256
#define MEMP_NUM_SYS_TIMEOUT (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 8)
#define PBUF_POOL_SIZE 8192
/* Holds a full 1514-byte frame plus a VLAN tag with room to spare: the Debian library's
 * 590-byte pool buffers are the heap overflow described in ENVIRONMENT.md. */
#define PBUF_POOL_BUFSIZE 1664

/* Protocols. */
#define LWIP_IPV4 1
#define LWIP_IPV6 1
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_ICMP 1
#define LWIP_RAW 1
#define LWIP_UDP 1
#define LWIP_TCP 1
#define LWIP_IGMP 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_DNS 0
#define IP_REASSEMBLY 1
/* Fragments held for reassembly (IPv4 and IPv6 together). lwIP's default of 10 can never
 * reassemble a datagram of more than 10 fragments (~14 KiB): a 64 KiB UDP datagram never
 * arrived. 1024 pool buffers (~1.7 MB) hold ~20 maximal datagrams in flight (Linux allows
 * 4 MB). Found by the simulator (culvert sim --seed 32 --scenario datagram). */
#define IP_REASS_MAX_PBUFS 1024
/* IPv6 reassembly is ours (src/stack/ip6_reassembly.cpp, lwIP's ip6_reass left a hole): it
 * takes the same bounds, IP_REASS_MAX_PBUFS pbufs and MEMP_NUM_REASSDATA datagrams, each
 * counted separately from IPv4's as in lwIP. */
#define IP_FRAG 1
#define LWIP_IPV6_FRAG 1
#define LWIP_IPV6_REASS 1
/* On 64-bit, lwIP's reassembly bookkeeping (a pointer and two u16) does not fit in the
 * 8-byte fragment header it would overwrite: ip6_reass_tmr() asserts a second after start
 * unless the header is copied out instead. */
#define IPV6_FRAG_COPYHEADER 1
#define LWIP_IPV6_MLD 1
#define LWIP_IPV6_AUTOCONFIG 0
/* Addresses are configured, not discovered: valid at once, as `ip addr add ... nodad`. */
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS 0
#define LWIP_IPV6_NUM_ADDRESSES 4
#define LWIP_ND6_ALLOW_RA_UPDATES 0
#define LWIP_BROADCAST_PING 1
#define LWIP_MULTICAST_PING 1
#define LWIP_SINGLE_NETIF 0
/* Packets to one of our own addresses loop back inside lwIP (as Linux delivers them
 * locally); the stack loop calls netif_poll_all() to deliver them. */
#define LWIP_NETIF_LOOPBACK 1
#define LWIP_LOOPBACK_MAX_PBUFS 0
/* No 127.0.0.1 netif inside culvert: loopback addresses are not culvert's (yet). */
#define LWIP_HAVE_LOOPIF 0
#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_NETIF_LINK_CALLBACK 1
#define LWIP_NUM_NETIF_CLIENT_DATA 1
#define ETHARP_SUPPORT_STATIC_ENTRIES 1
/* Queue every packet waiting for ARP, not only the last one: up to 128 per neighbour (lwIP's
 * default of 3 silently dropped all but the last 3 datagrams of a burst sent before the
 * peer's MAC was known; Linux keeps unres_qlen_bytes, ~145 full frames). Found by the
 * simulator (culvert sim --seed 8 --scenario datagram). */
#define ARP_QUEUEING 1
#define ARP_QUEUE_LEN 128
#define ARP_TABLE_SIZE 64
#define LWIP_ND6_NUM_NEIGHBORS 64
#define LWIP_ND6_NUM_DESTINATIONS 64
#define SO_REUSE 1
#define SO_REUSE_RXTOALL 1

/* TCP: a 1 MiB window with scaling and a 1 MiB send buffer (Linux-like bulk behaviour). */
#define TCP_MSS 1460
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 5
#define TCP_WND (1024 * 1024)
#define TCP_SND_BUF (1024 * 1024)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS)
/* lwIP keeps the low-water mark in 16 bits even with window scaling. */
#define TCP_SNDLOWAT (0xffff - 4 * TCP_MSS - 1)
#define TCP_SNDQUEUELOWAT (TCP_SND_QUEUELEN / 2)
#define MEMP_NUM_TCP_SEG (TCP_SND_QUEUELEN * 4)
#define TCP_OVERSIZE TCP_MSS
#define TCP_QUEUE_OOSEQ 1
#define TCP_OOSEQ_MAX_BYTES (2 * 1024 * 1024)
#define LWIP_TCP_SACK_OUT 1
#define LWIP_TCP_MAX_SACK_NUM 4
#define TCP_LISTEN_BACKLOG 1
#define TCP_DEFAULT_LISTEN_BACKLOG 128
#define LWIP_TCP_KEEPALIVE 1
#define LWIP_TCP_TIMESTAMPS 0
#define TCP_CALCULATE_EFF_SEND_MSS 1
#define LWIP_TCP_PCB_NUM_EXT_ARGS 0
/* A segment that acknowledges new data updates the send window, as on Linux: lwIP 2.1.3
 * otherwise sends past the peer's window and can deadlock with Linux 6.17+
 * (tcp_window_update.h, docs/lwip-tcp-stall.md). */
#define LWIP_HOOK_TCP_INPACKET_PCB(pcb, hdr, optlen, opt1len, opt2, p) culvert_tcp_inpacket((pcb), (hdr))
#define TCP_TTL 64
// TIME_WAIT lasts 2 * TCP_MSL: 60 s, Linux's TCP_TIMEWAIT_LEN (lwIP's default is 120 s).
#define TCP_MSL 30000UL
#define UDP_TTL 64

/* Checksums: generated and checked in software unless a netif says its device offloads. */
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1
#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_UDP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_GEN_ICMP 1
#define CHECKSUM_GEN_ICMP6 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_UDP 1
#define CHECKSUM_CHECK_TCP 1
#define CHECKSUM_CHECK_ICMP 1
#define CHECKSUM_CHECK_ICMP6 1

/* Statistics, read by `culvert status` and by leak checks in tests. */
#define LWIP_STATS 1
#define LWIP_STATS_DISPLAY 0
#define LINK_STATS 1
#define ETHARP_STATS 1
#define IP_STATS 1
#define IPFRAG_STATS 1
#define ICMP_STATS 1
#define UDP_STATS 1
#define TCP_STATS 1
#define MEM_STATS 1
#define MEMP_STATS 1
#define IP6_STATS 1
#define ICMP6_STATS 1
#define ND6_STATS 1
#define MLD6_STATS 1

/* Use the C library's errno values so lwIP's err_to_errno matches Linux. */
#define LWIP_ERRNO_STDINCLUDE 1
#define LWIP_PROVIDE_ERRNO 0

/* Time and randomness through culvert's hooks (never the real clock or rand()). */
#define LWIP_RAND() (culvert_stack_rand())
/* TCP initial sequence numbers as RFC 6528 asks (a keyed hash of the connection plus a
 * 4 us clock), keyed from the stack seed: lwIP's default is a process-wide counter that
 * depends on how long and how busy the process has been, so no run could replay another. */
#define LWIP_HOOK_TCP_ISN(local_ip, local_port, remote_ip, remote_port) \
    culvert_stack_tcp_isn((local_ip), (local_port), (remote_ip), (remote_port))

#endif
