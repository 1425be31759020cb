// DpdkBackend: one ethdev port with its mbuf pool and queues. Receive lends mbufs to the
// stack (zero copy: lwIP pbufs reference them until freed); transmit copies each frame into
// a fresh mbuf, because lwIP's buffers are neither DMA-able nor ours to hold (docs/dpdk.md).
#include "backends/dpdk/dpdk_backend.hpp"
#include "backends/dpdk/dpdk_log_capture.hpp"

#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_epoll.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_interrupts.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_tcp.h>

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <ctime>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>

namespace culvert::backends {
namespace {

constexpr uint16_t kMaxBurst = 64;
constexpr uint16_t kMaxQueues = 64;
constexpr uint64_t kReconnectIntervalNs = 1000000000ull;

// Lent receive buffers not yet given back. Only the stack thread lends and releases.
uint64_t g_loans_outstanding = 0;
// Ports opened by a live DpdkBackend: one port serves one interface.
std::set<uint16_t> g_ports_in_use;
unsigned g_pool_serial = 0;

void release_loan(void* handle) {
    rte_pktmbuf_free(static_cast<rte_mbuf*>(handle));
    --g_loans_outstanding;
}

void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "culvert: dpdk backend: programmer error: %s\n", what);
        std::abort();
    }
}

BackendError error(int errno_value, std::string message) {
    return BackendError{errno_value, std::move(message)};
}

std::string quoted(std::string_view s) {
    return "'" + std::string(s) + "'";
}

std::string rte_reason(int negative_rc) {
    return rte_strerror(negative_rc < 0 ? -negative_rc : negative_rc);
}

std::string port_name(uint16_t port) {
    char name[RTE_ETH_NAME_MAX_LEN] = {};
    if (rte_eth_dev_get_name_by_port(port, name) != 0) return "port " + std::to_string(port);
    return name;
}

std::string known_ports() {
    std::string out;
    uint16_t p;
    RTE_ETH_FOREACH_DEV(p) {
        if (!out.empty()) out += ", ";
        out += port_name(p);
    }
    return out.empty() ? "none" : out;
}

bool all_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool looks_like_pci(std::string_view s) {
    // DDDD:BB:DD.F or BB:DD.F
    return s.find(':') != std::string_view::npos && s.find('.') != std::string_view::npos;
}

// Where the L3 header starts and which one it is; false for frames too short to tell.
bool parse_l2(const uint8_t* data, uint32_t len, uint16_t& ether_type, uint32_t& l2_len) {
    if (len < kEthHeaderBytes) return false;
    ether_type = static_cast<uint16_t>(data[12] << 8 | data[13]);
    l2_len = kEthHeaderBytes;
    if (ether_type == kEtherTypeVlan) {
        if (len < kEthHeaderBytes + 4) return false;
        ether_type = static_cast<uint16_t>(data[16] << 8 | data[17]);
        l2_len += 4;
    }
    return true;
}

}  // namespace

std::optional<DpdkPollMode> parse_dpdk_poll_mode(std::string_view text) {
    if (text == "busy") return DpdkPollMode::busy;
    if (text == "sleep") return DpdkPollMode::sleep;
    return std::nullopt;
}

struct DpdkBackend::Impl {
    uint16_t port = 0;
    std::string name;
    std::string driver;
    std::string created_vdev;  // the vdev we made (removed on close), else empty
    rte_mempool* pool = nullptr;
    unsigned pool_size = 0;
    unsigned pool_low_water = 0;  // below this many free mbufs, receive copies instead of lending
    uint16_t frame_room = 0;      // longest frame one mbuf holds
    MacAddress mac{};
    uint16_t queues = 1;
    uint16_t next_rx_queue = 0;
    bool zero_copy = true;
    bool rx_csum_ip = false;
    bool rx_csum_tcp = false;
    bool tx_csum_ip = false;
    bool tx_csum_tcp = false;
    bool tx_prepare = false;
    DpdkPollMode poll = DpdkPollMode::busy;
    uint32_t sleep_us = 100;
    int epoll_fd = -1;  // sleep mode with receive interrupts: DPDK's queue fds live here
    int timer_fd = -1;  // sleep mode without them: a one-shot timer re-armed when idle
    bool armed = false;
    bool started = false;
    // net_memif connects once, when the port starts, and never again: a peer that was not
    // ready yet, or that restarted, leaves the link down for good. Such a port is restarted
    // (which reconnects) while its link stays down, at most every kReconnectIntervalNs.
    bool reconnects = false;
    uint64_t next_reconnect_ns = 0;
    uint64_t reconnect_attempts = 0;

    std::array<rte_mbuf*, kMaxBurst> rx{};
    // mbufs behind the copied (not lent) frames of the last burst: freed at the next one.
    std::array<rte_mbuf*, kMaxBurst> held{};
    size_t held_count = 0;
    // Multi-segment frames are gathered here (one slot per burst position).
    std::vector<std::byte> gather;
    size_t gather_slot_bytes = 0;

    BackendStats stats{};
    uint64_t rx_lent = 0;
    uint64_t rx_copied = 0;
    uint64_t rx_checksum_bad = 0;
    uint64_t rx_checksum_software = 0;
    uint64_t rx_oversize = 0;
    uint64_t tx_no_mbuf = 0;
    uint64_t tx_refused = 0;
    uint64_t sleeps = 0;

    ~Impl();
    void maintain_link(bool link_up);
    void release_held();
    uint16_t poll_queues(uint16_t want);
    void arm();
    void disarm();
    bool checksum_ok(rte_mbuf* m);
    bool verify_in_software(rte_mbuf* m, bool check_ip, bool check_tcp);
    void prepare_offloads(rte_mbuf* m);
};

DpdkBackend::Impl::~Impl() {
    release_held();
    if (started) {
        if (epoll_fd >= 0) {
            for (uint16_t q = 0; q < queues; ++q)
                rte_eth_dev_rx_intr_ctl_q(port, q, epoll_fd, RTE_INTR_EVENT_DEL, nullptr);
        }
        rte_eth_dev_stop(port);
    }
    rte_eth_dev_close(port);
    if (!created_vdev.empty()) rte_vdev_uninit(created_vdev.c_str());
    g_ports_in_use.erase(port);
    if (epoll_fd >= 0) ::close(epoll_fd);
    if (timer_fd >= 0) ::close(timer_fd);
    // Lent buffers may still sit in lwIP (a socket's queue, out-of-order segments): then the
    // pool must stay, or their release would write into freed memory. Its memory is a
    // bounded, one-time cost at shutdown.
    if (pool != nullptr && rte_mempool_in_use_count(pool) == 0) rte_mempool_free(pool);
}

namespace {
uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}
}  // namespace

void DpdkBackend::Impl::maintain_link(bool link_up) {
    if (!reconnects || link_up || !started) return;
    const uint64_t now = monotonic_ns();
    if (now < next_reconnect_ns) return;
    next_reconnect_ns = now + kReconnectIntervalNs;
    ++reconnect_attempts;
    release_held();
    rte_eth_dev_stop(port);
    if (rte_eth_dev_start(port) != 0) started = false;  // counted; the port stays down
}

void DpdkBackend::Impl::release_held() {
    if (held_count > 0) rte_pktmbuf_free_bulk(held.data(), static_cast<unsigned>(held_count));
    held_count = 0;
}

uint16_t DpdkBackend::Impl::poll_queues(uint16_t want) {
    uint16_t got = 0;
    for (uint16_t i = 0; i < queues && got < want; ++i) {
        const uint16_t q = next_rx_queue;
        next_rx_queue = static_cast<uint16_t>((q + 1) % queues);
        got = static_cast<uint16_t>(got + rte_eth_rx_burst(port, q, rx.data() + got, want - got));
    }
    return got;
}

void DpdkBackend::Impl::arm() {
    ++sleeps;
    armed = true;
    if (epoll_fd >= 0) {
        for (uint16_t q = 0; q < queues; ++q) rte_eth_dev_rx_intr_enable(port, q);
        return;
    }
    // Setting the timer also clears an expiry left over from an earlier sleep.
    itimerspec its{};
    its.it_value.tv_sec = sleep_us / 1000000;
    its.it_value.tv_nsec = static_cast<long>(sleep_us % 1000000) * 1000;
    timerfd_settime(timer_fd, 0, &its, nullptr);
}

void DpdkBackend::Impl::disarm() {
    armed = false;
    if (epoll_fd < 0) return;  // a timer that fired is cleared by the next arm()
    // Consume the interrupt events (DPDK's callback reads each queue's eventfd), then mask
    // the queues again: while we poll, the peer need not kick us.
    rte_epoll_event events[kMaxQueues];
    while (rte_epoll_wait(epoll_fd, events, kMaxQueues, 0) > 0) {
    }
    for (uint16_t q = 0; q < queues; ++q) rte_eth_dev_rx_intr_disable(port, q);
}

// Receive checksum offload: the backend promises lwIP that every IPv4 header and TCP segment
// it delivers was verified. The device's verdict decides; where it has none (UNKNOWN), we
// check in software so the promise holds for every frame.
bool DpdkBackend::Impl::checksum_ok(rte_mbuf* m) {
    if (!rx_csum_ip && !rx_csum_tcp) return true;
    const uint64_t ip = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
    const uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
    if ((rx_csum_ip && ip == RTE_MBUF_F_RX_IP_CKSUM_BAD) ||
        (rx_csum_tcp && l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD))
        return false;
    const bool check_ip = rx_csum_ip && ip == RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN;
    const bool check_tcp = rx_csum_tcp && l4 == RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN;
    if (!check_ip && !check_tcp) return true;
    return verify_in_software(m, check_ip, check_tcp);
}

bool DpdkBackend::Impl::verify_in_software(rte_mbuf* m, bool check_ip, bool check_tcp) {
    if (m->nb_segs != 1) return false;  // never offered with offloads (no scatter configured)
    const auto* data = rte_pktmbuf_mtod(m, const uint8_t*);
    const uint32_t len = m->data_len;
    uint16_t ether_type;
    uint32_t l2;
    if (!parse_l2(data, len, ether_type, l2)) return true;  // lwIP drops runts itself
    if (ether_type == kEtherTypeIpv4) {
        if (len < l2 + sizeof(rte_ipv4_hdr)) return false;
        const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(data + l2);
        const uint32_t ihl = rte_ipv4_hdr_len(ip);
        const uint32_t total = rte_be_to_cpu_16(ip->total_length);
        if (ihl < sizeof(rte_ipv4_hdr) || total < ihl || len < l2 + total) return false;
        ++rx_checksum_software;
        if (check_ip && rte_ipv4_cksum(ip) != 0) return false;
        if (check_tcp && ip->next_proto_id == kIpProtoTcp) {
            // A fragment's TCP checksum covers bytes in other frames: nothing can verify it
            // here, and lwIP trusts us. Linux sends TCP with DF; such frames are dropped.
            if ((rte_be_to_cpu_16(ip->fragment_offset) &
                 (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0)
                return false;
            if (total < ihl + sizeof(rte_tcp_hdr)) return false;
            return rte_ipv4_udptcp_cksum_verify(ip, data + l2 + ihl) == 0;
        }
        return true;
    }
    if (ether_type == kEtherTypeIpv6 && check_tcp) {
        if (len < l2 + sizeof(rte_ipv6_hdr)) return false;
        const auto* ip6 = reinterpret_cast<const rte_ipv6_hdr*>(data + l2);
        if (ip6->proto != kIpProtoTcp)
            return true;  // extension headers: lwIP's TCP check is off,
                          // but lwIP itself only takes TCP right after
                          // the fixed header or after ext headers it parses
        const uint32_t payload = rte_be_to_cpu_16(ip6->payload_len);
        if (payload < sizeof(rte_tcp_hdr) || len < l2 + sizeof(rte_ipv6_hdr) + payload)
            return false;
        ++rx_checksum_software;
        return rte_ipv6_udptcp_cksum_verify(ip6, data + l2 + sizeof(rte_ipv6_hdr)) == 0;
    }
    return true;
}

// Transmit checksum offload: lwIP left the IPv4 header checksum and/or the TCP checksum at
// zero (its per-netif flags); the device fills them. Most NICs want the pseudo-header sum
// in the TCP checksum field first, which rte_eth_tx_prepare also fixes up per PMD.
void DpdkBackend::Impl::prepare_offloads(rte_mbuf* m) {
    auto* data = rte_pktmbuf_mtod(m, uint8_t*);
    const uint32_t len = m->data_len;
    uint16_t ether_type;
    uint32_t l2;
    if (!parse_l2(data, len, ether_type, l2)) return;
    if (ether_type == kEtherTypeIpv4 && len >= l2 + sizeof(rte_ipv4_hdr)) {
        auto* ip = reinterpret_cast<rte_ipv4_hdr*>(data + l2);
        const uint32_t ihl = rte_ipv4_hdr_len(ip);
        if (ihl < sizeof(rte_ipv4_hdr) || len < l2 + ihl) return;
        m->l2_len = l2;
        m->l3_len = ihl;
        if (tx_csum_ip) {
            m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
            ip->hdr_checksum = 0;
        }
        const bool fragment = (rte_be_to_cpu_16(ip->fragment_offset) &
                               (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0;
        if (tx_csum_tcp && ip->next_proto_id == kIpProtoTcp && !fragment &&
            len >= l2 + ihl + sizeof(rte_tcp_hdr)) {
            m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_CKSUM;
            auto* tcp = reinterpret_cast<rte_tcp_hdr*>(data + l2 + ihl);
            tcp->cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
        }
        return;
    }
    if (ether_type == kEtherTypeIpv6 && tx_csum_tcp &&
        len >= l2 + sizeof(rte_ipv6_hdr) + sizeof(rte_tcp_hdr)) {
        auto* ip6 = reinterpret_cast<rte_ipv6_hdr*>(data + l2);
        if (ip6->proto != kIpProtoTcp) return;  // lwIP puts no extension header before TCP
        m->l2_len = l2;
        m->l3_len = sizeof(rte_ipv6_hdr);
        m->ol_flags |= RTE_MBUF_F_TX_IPV6 | RTE_MBUF_F_TX_TCP_CKSUM;
        auto* tcp = reinterpret_cast<rte_tcp_hdr*>(data + l2 + sizeof(rte_ipv6_hdr));
        tcp->cksum = rte_ipv6_phdr_cksum(ip6, m->ol_flags);
    }
}

// ---- open ----

namespace {

struct PortChoice {
    uint16_t port = 0;
    std::string created_vdev;
};

std::expected<PortChoice, BackendError> create_vdev(const std::string& devargs) {
    const auto comma = devargs.find(',');
    const std::string name = devargs.substr(0, comma);
    const std::string args = comma == std::string::npos ? "" : devargs.substr(comma + 1);
    if (name.empty())
        return std::unexpected(error(EINVAL, "vdev " + quoted(devargs) + " has no device name"));
    uint16_t existing;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &existing) == 0)
        return std::unexpected(
            error(EEXIST, "a DPDK port named " + quoted(name) +
                              " exists already (a vdev given twice, or also in the "
                              "EAL arguments?): name each vdev once"));
    dpdk_detail::LogCapture capture;
    // A bus recognises a device name by its driver: no bus taking it means no such driver.
    rte_devargs parsed{};
    const bool known = rte_devargs_parse(&parsed, name.c_str()) == 0;
    rte_devargs_reset(&parsed);
    const int rc = known ? rte_vdev_init(name.c_str(), args.c_str()) : 1;
    const std::string log = capture.finish();
    const std::string said = dpdk_detail::dpdk_reason(log);
    if (rc > 0) {
        return std::unexpected(error(
            ENODEV, "no DPDK driver for virtual device " + quoted(name) +
                        ": a vdev name is a driver name plus a number, e.g. net_ring0, net_memif0, "
                        "net_tap0, net_af_packet0, net_pcap0 (is that PMD installed?)"));
    }
    if (rc < 0) {
        // Drivers return -1 for most refusals: the reason is in what they logged.
        std::string message =
            "cannot create virtual device " + quoted(devargs) + ": the driver refused it";
        if (rc != -1) message += " (" + rte_reason(rc) + ")";
        if (!said.empty()) message += " (DPDK: " + said + ")";
        return std::unexpected(error(rc == -1 ? EINVAL : -rc, std::move(message)));
    }
    if (!log.empty()) std::fwrite(log.data(), 1, log.size(), stderr);
    uint16_t port;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &port) != 0) {
        rte_vdev_uninit(name.c_str());
        return std::unexpected(error(ENODEV, "virtual device " + quoted(devargs) +
                                                 " was created but is not an ethdev port (a crypto "
                                                 "or other device?)"));
    }
    return PortChoice{port, name};
}

std::expected<PortChoice, BackendError> find_port(const std::string& spec) {
    if (all_digits(spec)) {
        const unsigned long id = std::strtoul(spec.c_str(), nullptr, 10);
        if (id > UINT16_MAX || !rte_eth_dev_is_valid_port(static_cast<uint16_t>(id)))
            return std::unexpected(error(
                ENODEV, "DPDK port " + spec + " does not exist (ports: " + known_ports() + ")"));
        return PortChoice{static_cast<uint16_t>(id), {}};
    }
    uint16_t port;
    if (rte_eth_dev_get_port_by_name(spec.c_str(), &port) == 0) return PortChoice{port, {}};
    if (looks_like_pci(spec)) {
        // Not probed at start (--no-pci, or not allow-listed with -a): hot-plug it now.
        dpdk_detail::LogCapture capture;
        const int rc = rte_dev_probe(spec.c_str());
        const std::string said = dpdk_detail::dpdk_reason(capture.finish());
        if (rc == 0 && rte_eth_dev_get_port_by_name(spec.c_str(), &port) == 0)
            return PortChoice{port, {}};
        std::string message = "DPDK port " + quoted(spec) +
                              " does not exist and cannot be probed: is the NIC bound to vfio-pci "
                              "(dpdk-devbind.py --status) and allowed by the EAL arguments (-a " +
                              spec + ", no --no-pci)? See docs/dpdk.md";
        if (!said.empty()) message += " (DPDK: " + said + ")";
        return std::unexpected(error(ENODEV, std::move(message)));
    }
    return std::unexpected(
        error(ENODEV, "no DPDK port named " + quoted(spec) + " (ports: " + known_ports() +
                          "); create a virtual device with vdev= instead of port="));
}

}  // namespace

DpdkBackend::DpdkBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DpdkBackend::~DpdkBackend() = default;

std::expected<std::unique_ptr<DpdkBackend>, BackendError> DpdkBackend::open(
    const DpdkConfig& config) {
    if (!dpdk_eal_initialised())
        return std::unexpected(
            error(EINVAL,
                  "the DPDK EAL is not initialised (programmer error: call dpdk_eal_init first)"));
    if (config.port.empty() == config.vdev.empty())
        return std::unexpected(
            error(EINVAL,
                  "a DPDK interface needs exactly one of port= (an existing port) "
                  "and vdev= (a virtual device to create)"));
    if (config.queues < 1 || config.queues > kMaxQueues)
        return std::unexpected(error(EINVAL, "queues must be 1.." + std::to_string(kMaxQueues) +
                                                 ", not " + std::to_string(config.queues)));
    if (config.poll == DpdkPollMode::sleep && (config.sleep_us < 1 || config.sleep_us > 1000000))
        return std::unexpected(
            error(EINVAL, "sleep_us must be 1..1000000, not " + std::to_string(config.sleep_us)));
    const uint64_t ring_mbufs =
        static_cast<uint64_t>(config.queues) * (config.rx_descriptors + config.tx_descriptors) +
        2 * uint64_t{kMaxBurst};
    if (config.mempool_mbufs < ring_mbufs + 1024)
        return std::unexpected(
            error(EINVAL, "mempool_mbufs " + std::to_string(config.mempool_mbufs) +
                              " is too small: the queues' " + "descriptors alone take " +
                              std::to_string(ring_mbufs) + "; give at least " +
                              std::to_string(ring_mbufs + 1024) +
                              " (lent buffers need room beyond the rings)"));

    auto choice = config.vdev.empty() ? find_port(config.port) : create_vdev(config.vdev);
    if (!choice) return std::unexpected(choice.error());
    if (g_ports_in_use.contains(choice->port))
        return std::unexpected(error(EBUSY, "DPDK port " + quoted(port_name(choice->port)) +
                                                " is already used by another interface"));
    auto impl = std::make_unique<Impl>();
    impl->port = choice->port;
    impl->created_vdev = choice->created_vdev;
    impl->name = port_name(impl->port);
    g_ports_in_use.insert(impl->port);
    const uint16_t port = impl->port;
    const std::string who = "DPDK port " + quoted(impl->name);
    // From here on, an early return closes the port (and removes a vdev we made) in ~Impl.

    rte_eth_dev_info info{};
    if (int rc = rte_eth_dev_info_get(port, &info); rc != 0)
        return std::unexpected(
            error(-rc, who + ": cannot read device info (" + rte_reason(rc) + ")"));
    impl->driver = info.driver_name != nullptr ? info.driver_name : "unknown";
    if (config.queues > info.max_rx_queues || config.queues > info.max_tx_queues)
        return std::unexpected(
            error(EINVAL, who + " (" + impl->driver + ") offers at most " +
                              std::to_string(std::min(info.max_rx_queues, info.max_tx_queues)) +
                              " queue pairs, not " + std::to_string(config.queues)));

    uint16_t mtu = 1500;
    rte_eth_dev_get_mtu(port, &mtu);
    if (config.mtu != 0) {
        if (config.mtu < std::max<uint16_t>(info.min_mtu, 576) || config.mtu > info.max_mtu)
            return std::unexpected(
                error(EINVAL, who + ": MTU " + std::to_string(config.mtu) + " is outside " +
                                  std::to_string(std::max<uint16_t>(info.min_mtu, 576)) + ".." +
                                  std::to_string(info.max_mtu)));
        mtu = config.mtu;
    }
    // One frame per mbuf (no scattered receive): the data room must hold the longest frame.
    const uint32_t frame_bytes =
        std::max<uint32_t>(mtu + kFrameOverheadBytes, RTE_MBUF_DEFAULT_DATAROOM);
    const uint32_t data_room = frame_bytes + RTE_PKTMBUF_HEADROOM;
    if (data_room > UINT16_MAX)
        return std::unexpected(
            error(EINVAL, who + ": MTU " + std::to_string(mtu) + " needs mbufs over 64 KiB"));
    impl->frame_room = static_cast<uint16_t>(frame_bytes);

    char pool_name[RTE_MEMPOOL_NAMESIZE];
    std::snprintf(pool_name, sizeof pool_name, "cvt%u_%u", port, g_pool_serial++);
    const int socket = rte_eth_dev_socket_id(port);
    impl->pool = rte_pktmbuf_pool_create(pool_name, config.mempool_mbufs, 256, 0,
                                         static_cast<uint16_t>(data_room),
                                         socket < 0 ? SOCKET_ID_ANY : socket);
    if (impl->pool == nullptr) {
        const uint64_t mib =
            static_cast<uint64_t>(config.mempool_mbufs) * (data_room + 128 + 64) >> 20;
        return std::unexpected(error(ENOMEM, who + ": cannot allocate " +
                                                 std::to_string(config.mempool_mbufs) +
                                                 " mbufs of " + std::to_string(data_room) +
                                                 " bytes (~" + std::to_string(mib) +
                                                 " MiB): give the EAL more memory (-m, or "
                                                 "more hugepages) or lower mempool_mbufs (" +
                                                 rte_strerror(rte_errno) + ")"));
    }
    impl->pool_size = config.mempool_mbufs;
    impl->pool_low_water = config.mempool_mbufs / 4;
    impl->zero_copy = config.rx_zero_copy;

    rte_eth_conf conf{};
    if (config.queues > 1 && info.flow_type_rss_offloads != 0) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf =
            (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
    }
    if (config.checksum_offload) {
        // UDP stays in software both ways: a datagram split into IP fragments has one
        // checksum across frames, which no device computes or verifies frame by frame.
        conf.rxmode.offloads =
            info.rx_offload_capa & (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM);
        conf.txmode.offloads =
            info.tx_offload_capa & (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM);
    }
    // Every mbuf we send comes from one pool with a reference count of 1.
    conf.txmode.offloads |= info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
    impl->rx_csum_ip = (conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) != 0;
    impl->rx_csum_tcp = (conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_TCP_CKSUM) != 0;
    impl->tx_csum_ip = (conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0;
    impl->tx_csum_tcp = (conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) != 0;
    impl->tx_prepare = impl->tx_csum_ip || impl->tx_csum_tcp;
    impl->poll = config.poll;
    impl->sleep_us = config.sleep_us;
    impl->queues = config.queues;

    bool want_interrupts = config.poll == DpdkPollMode::sleep;
    conf.intr_conf.rxq = want_interrupts ? 1 : 0;
    int rc = rte_eth_dev_configure(port, config.queues, config.queues, &conf);
    if (rc != 0 && want_interrupts) {
        // The PMD has no receive interrupts: sleep on a timer instead.
        want_interrupts = false;
        conf.intr_conf.rxq = 0;
        rc = rte_eth_dev_configure(port, config.queues, config.queues, &conf);
    }
    if (rc != 0)
        return std::unexpected(error(
            -rc, who + " (" + impl->driver + "): configuration refused (" + rte_reason(rc) + ")"));
    if (config.mtu != 0) {
        if (rc = rte_eth_dev_set_mtu(port, config.mtu); rc != 0)
            return std::unexpected(error(-rc, who + ": cannot set MTU " +
                                                  std::to_string(config.mtu) + " (" +
                                                  rte_reason(rc) + ")"));
    }
    uint16_t rxd = config.rx_descriptors, txd = config.tx_descriptors;
    if (rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rxd, &txd); rc != 0)
        return std::unexpected(
            error(-rc, who + ": descriptor counts refused (" + rte_reason(rc) + ")"));
    const unsigned queue_socket =
        socket < 0 ? static_cast<unsigned>(SOCKET_ID_ANY) : static_cast<unsigned>(socket);
    for (uint16_t q = 0; q < config.queues; ++q) {
        if (rc = rte_eth_rx_queue_setup(port, q, rxd, queue_socket, nullptr, impl->pool); rc != 0)
            return std::unexpected(error(-rc, who + ": receive queue " + std::to_string(q) +
                                                  " setup failed (" + rte_reason(rc) + ")"));
        rte_eth_txconf txconf = info.default_txconf;
        txconf.offloads = conf.txmode.offloads;
        if (rc = rte_eth_tx_queue_setup(port, q, txd, queue_socket, &txconf); rc != 0)
            return std::unexpected(error(-rc, who + ": transmit queue " + std::to_string(q) +
                                                  " setup failed (" + rte_reason(rc) + ")"));
    }

    rte_ether_addr addr{};
    rte_eth_macaddr_get(port, &addr);
    std::copy(std::begin(addr.addr_bytes), std::end(addr.addr_bytes), impl->mac.begin());
    // net_tap's "port MAC" is the kernel interface's own (setting it renames the kernel's
    // side): a TAP hands us every frame the kernel sends into it, whatever its address.
    if (config.mac && *config.mac != impl->mac && impl->driver == "net_tap") {
        impl->mac = *config.mac;
    } else if (config.mac && *config.mac != impl->mac) {
        rte_ether_addr want{};
        std::copy(config.mac->begin(), config.mac->end(), std::begin(want.addr_bytes));
        if (rte_eth_dev_default_mac_addr_set(port, &want) != 0 &&
            rte_eth_promiscuous_enable(port) != 0)
            return std::unexpected(
                error(ENOTSUP, who + " (" + impl->driver + ") can neither take MAC address " +
                                   "nor receive in promiscuous mode: leave mac= out to use the "
                                   "port's own"));
        impl->mac = *config.mac;
    }

    if (rc = rte_eth_dev_start(port); rc != 0)
        return std::unexpected(
            error(-rc, who + " (" + impl->driver + "): cannot start (" + rte_reason(rc) + ")"));
    impl->started = true;
    impl->reconnects = impl->driver == "net_memif";
    impl->next_reconnect_ns = monotonic_ns() + kReconnectIntervalNs;
    // IPv6 neighbour discovery and MLD use multicast MACs that a NIC would filter out.
    rte_eth_allmulticast_enable(port);

    if (config.poll == DpdkPollMode::sleep) {
        if (want_interrupts) {
            impl->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
            bool ok = impl->epoll_fd >= 0;
            for (uint16_t q = 0; ok && q < config.queues; ++q)
                ok = rte_eth_dev_rx_intr_ctl_q(port, q, impl->epoll_fd, RTE_INTR_EVENT_ADD,
                                               nullptr) == 0;
            if (!ok && impl->epoll_fd >= 0) {
                for (uint16_t q = 0; q < config.queues; ++q)
                    rte_eth_dev_rx_intr_ctl_q(port, q, impl->epoll_fd, RTE_INTR_EVENT_DEL, nullptr);
                ::close(impl->epoll_fd);
                impl->epoll_fd = -1;
            }
            for (uint16_t q = 0; ok && q < config.queues; ++q) rte_eth_dev_rx_intr_disable(port, q);
        }
        if (impl->epoll_fd < 0) {
            impl->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
            if (impl->timer_fd < 0)
                return std::unexpected(error(
                    errno, who + ": cannot create the sleep timer (" + std::strerror(errno) + ")"));
        }
    }

    impl->gather_slot_bytes = impl->frame_room;
    return std::unique_ptr<DpdkBackend>(new DpdkBackend(std::move(impl)));
}

// ---- queries ----

std::string DpdkBackend::describe() const {
    const Impl& s = *impl_;
    char mac[18];
    std::snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", s.mac[0], s.mac[1], s.mac[2],
                  s.mac[3], s.mac[4], s.mac[5]);
    std::string offloads;
    if (s.rx_csum_ip) offloads += " rx-ipv4";
    if (s.rx_csum_tcp) offloads += " rx-tcp";
    if (s.tx_csum_ip) offloads += " tx-ipv4";
    if (s.tx_csum_tcp) offloads += " tx-tcp";
    const BackendCaps c = caps();
    return "port " + std::to_string(s.port) + " (" + s.name + ", driver " + s.driver + ") mac " +
           mac + " mtu " + std::to_string(c.mtu) + " link " + (c.link_up ? "up" : "down") + ", " +
           std::to_string(s.queues) + " queue(s), mbufs " + std::to_string(s.pool_size) +
           ", checksum offloads:" + (offloads.empty() ? " none" : offloads) + ", poll " +
           (s.poll == DpdkPollMode::busy
                ? std::string("busy")
                : "sleep (" +
                      (s.epoll_fd >= 0 ? std::string("rx interrupts")
                                       : std::to_string(s.sleep_us) + " us timer") +
                      ")") +
           ", receive " + (s.zero_copy ? "zero-copy" : "copying");
}

std::string_view DpdkBackend::name() const {
    return impl_->name;
}
MacAddress DpdkBackend::mac() const {
    return impl_->mac;
}
uint16_t DpdkBackend::port_id() const {
    return impl_->port;
}
std::string_view DpdkBackend::driver_name() const {
    return impl_->driver;
}
bool DpdkBackend::sleeps_on_interrupts() const {
    return impl_->epoll_fd >= 0;
}
uint64_t DpdkBackend::loans_outstanding() const {
    return g_loans_outstanding;
}

int DpdkBackend::pollable_fd() const {
    if (impl_->poll == DpdkPollMode::busy) return -1;
    return impl_->epoll_fd >= 0 ? impl_->epoll_fd : impl_->timer_fd;
}

BackendCaps DpdkBackend::caps() const {
    BackendCaps caps;
    uint16_t mtu = 1500;
    if (rte_eth_dev_get_mtu(impl_->port, &mtu) != 0) mtu = 1500;
    // No scattered receive: a frame must fit one mbuf, whatever the port says.
    caps.mtu =
        static_cast<uint16_t>(std::min<uint32_t>(mtu, impl_->frame_room - kFrameOverheadBytes));
    rte_eth_link link{};
    caps.link_up =
        rte_eth_link_get_nowait(impl_->port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP;
    // The stack asks on a timer: the right moment to retry a link that needs it.
    impl_->maintain_link(caps.link_up);
    caps.rx_csum_ipv4 = impl_->rx_csum_ip;
    caps.rx_csum_l4 = impl_->rx_csum_tcp;
    caps.tx_csum_ipv4 = impl_->tx_csum_ip;
    caps.tx_csum_l4 = impl_->tx_csum_tcp;
    return caps;
}

BackendStats DpdkBackend::stats() const {
    BackendStats out = impl_->stats;
    rte_eth_stats st{};
    if (rte_eth_stats_get(impl_->port, &st) == 0) {
        // Frames the device received but could not hand us (no descriptor, no mbuf).
        out.rx_dropped += st.imissed + st.rx_nombuf;
        out.rx_errors += st.ierrors;
    }
    return out;
}

std::vector<NamedCounter> DpdkBackend::device_counters() const {
    const Impl& s = *impl_;
    std::vector<NamedCounter> out = {
        {"rx_lent", s.rx_lent},
        {"rx_copied", s.rx_copied},
        {"rx_checksum_bad", s.rx_checksum_bad},
        {"rx_checksum_software", s.rx_checksum_software},
        {"rx_oversize", s.rx_oversize},
        {"tx_no_mbuf", s.tx_no_mbuf},
        {"tx_refused", s.tx_refused},
        {"sleeps", s.sleeps},
        {"reconnect_attempts", s.reconnect_attempts},
        {"loans_outstanding", g_loans_outstanding},
        {"mempool_free", rte_mempool_avail_count(s.pool)},
        {"mempool_size", s.pool_size},
    };
    const int n = rte_eth_xstats_get(s.port, nullptr, 0);
    if (n <= 0) return out;
    std::vector<rte_eth_xstat> values(static_cast<size_t>(n));
    std::vector<rte_eth_xstat_name> names(static_cast<size_t>(n));
    const int got = rte_eth_xstats_get(s.port, values.data(), static_cast<unsigned>(n));
    const int named = rte_eth_xstats_get_names(s.port, names.data(), static_cast<unsigned>(n));
    for (int i = 0; i < std::min(got, named); ++i) {
        const uint64_t id = values[static_cast<size_t>(i)].id;
        if (id >= static_cast<uint64_t>(named)) continue;
        out.push_back(
            {std::string("port.") + names[id].name, values[static_cast<size_t>(i)].value});
    }
    return out;
}

// ---- fast path ----

size_t DpdkBackend::rx_burst(std::span<Frame> frames) {
    Impl& s = *impl_;
    s.release_held();
    if (s.armed) s.disarm();
    const auto want = static_cast<uint16_t>(std::min<size_t>(frames.size(), kMaxBurst));
    if (want == 0) return 0;
    uint16_t got = s.poll_queues(want);
    if (got == 0 && s.poll == DpdkPollMode::sleep) {
        s.arm();
        if (s.epoll_fd < 0) return 0;
        // A frame that arrived before the interrupt was enabled raises none: look again.
        got = s.poll_queues(want);
        if (got == 0) return 0;
        s.disarm();
    }
    // Under pool pressure lent buffers could starve the receive ring; copy until it eases.
    const bool lend = s.zero_copy && rte_mempool_avail_count(s.pool) >= s.pool_low_water;
    size_t out = 0;
    for (uint16_t i = 0; i < got; ++i) {
        rte_mbuf* m = s.rx[i];
        if (!s.checksum_ok(m)) {
            ++s.rx_checksum_bad;
            ++s.stats.rx_errors;
            rte_pktmbuf_free(m);
            continue;
        }
        const uint32_t len = m->pkt_len;
        Frame& f = frames[out];
        if (m->nb_segs > 1 || len > UINT16_MAX) {
            // Only a PMD that scatters despite our configuration gets here: gather the chain.
            if (len > s.gather_slot_bytes) {
                ++s.rx_oversize;
                ++s.stats.rx_errors;
                rte_pktmbuf_free(m);
                continue;
            }
            if (s.gather.empty()) s.gather.resize(s.gather_slot_bytes * kMaxBurst);
            std::byte* slot = s.gather.data() + out * s.gather_slot_bytes;
            rte_pktmbuf_read(m, 0, len, slot);  // copies when the frame is not contiguous
            f = Frame{slot, static_cast<uint16_t>(len)};
            rte_pktmbuf_free(m);
            ++s.rx_copied;
        } else if (lend) {
            f = Frame{rte_pktmbuf_mtod(m, std::byte*), static_cast<uint16_t>(len),
                      FrameLoan{&release_loan, m}};
            ++g_loans_outstanding;
            ++s.rx_lent;
        } else {
            f = Frame{rte_pktmbuf_mtod(m, std::byte*), static_cast<uint16_t>(len)};
            s.held[s.held_count++] = m;
            ++s.rx_copied;
        }
        ++s.stats.rx_frames;
        s.stats.rx_bytes += len;
        ++out;
    }
    return out;
}

size_t DpdkBackend::tx_burst(std::span<const Frame> frames) {
    Impl& s = *impl_;
    size_t taken = 0;
    while (taken < frames.size()) {
        const auto n = static_cast<uint16_t>(std::min<size_t>(frames.size() - taken, kMaxBurst));
        std::array<rte_mbuf*, kMaxBurst> mbufs;
        if (rte_pktmbuf_alloc_bulk(s.pool, mbufs.data(), n) != 0) {
            ++s.tx_no_mbuf;  // the pool is empty: back-pressure, the caller keeps the frames
            return taken;
        }
        for (uint16_t i = 0; i < n; ++i) {
            const Frame& f = frames[taken + i];
            require(f.data != nullptr && f.len >= kEthHeaderBytes,
                    "tx_burst frame shorter than an Ethernet header");
            require(f.len <= s.frame_room, "tx_burst frame longer than mtu + 18");
            rte_mbuf* m = mbufs[i];
            std::memcpy(rte_pktmbuf_mtod(m, void*), f.data, f.len);
            m->data_len = f.len;
            m->pkt_len = f.len;
            if (s.tx_prepare) s.prepare_offloads(m);
        }
        uint16_t ready = n;
        if (s.tx_prepare) ready = rte_eth_tx_prepare(s.port, 0, mbufs.data(), n);
        const uint16_t sent = rte_eth_tx_burst(s.port, 0, mbufs.data(), ready);
        // The mbufs handed over belong to the PMD now (memif frees them at once): count
        // from the caller's frames.
        for (uint16_t i = 0; i < sent; ++i) {
            ++s.stats.tx_frames;
            s.stats.tx_bytes += frames[taken + i].len;
        }
        size_t consumed = sent;
        if (sent == ready && ready < n) {
            // The PMD cannot send frame `ready` as prepared: take and drop it (offering it
            // again would fail again); the frames after it were not taken.
            ++s.tx_refused;
            ++s.stats.tx_dropped;
            ++consumed;
        }
        if (sent < n) rte_pktmbuf_free_bulk(mbufs.data() + sent, n - sent);
        taken += consumed;
        if (consumed < n) break;  // the device queue is full: back-pressure
    }
    return taken;
}

}  // namespace culvert::backends
