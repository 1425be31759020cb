// TAP backend: one read() per received frame into a preallocated slot pool, one write()
// per transmitted frame, interface facts through ioctls on a control socket; optionally a
// virtio-net header per frame for checksum and TCP segmentation offloads.
#include "backends/tap/tap_backend.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>

namespace culvert::backends {
using tap_detail::TcpView;
namespace {

// Always-on check for programmer errors (a caller broke the tx_burst contract).
void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "culvert: tap backend: programmer error: %s\n", what);
        std::abort();
    }
}

constexpr size_t kMaxPoolFrames = 4096;
// With offloads the kernel may hand us a TCP super-frame as long as a frame length can say.
constexpr size_t kMaxCoalescedFrameBytes = 65535;
// What we ask for with offloads: the kernel may leave checksums to us and send TCP in
// segments up to 64 KiB (TSO on its side). Not ECN-marked TSO (the kernel segments those
// itself) and not UDP segmentation: lwIP's UDP takes one datagram per packet.
constexpr unsigned kTapOffloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
// struct virtio_net_hdr and its constants (linux/virtio_net.h, which C++ cannot include: a
// struct member there is named `class`). A TAP without TUNSETVNETLE/BE uses host order.
struct VnetHeader {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;      // Ethernet + IP + TCP headers
    uint16_t gso_size;     // payload bytes per segment
    uint16_t csum_start;   // where the checksum's coverage starts
    uint16_t csum_offset;  // where, after csum_start, the checksum goes
};
static_assert(sizeof(VnetHeader) == 10);
constexpr uint8_t kVnetNeedsCsum = 1;
constexpr uint8_t kVnetDataValid = 2;
constexpr uint8_t kVnetGsoNone = 0;
constexpr uint8_t kVnetGsoTcpv4 = 1;
constexpr uint8_t kVnetGsoTcpv6 = 4;
constexpr uint8_t kVnetGsoEcn = 0x80;
constexpr uint8_t kIpv6Fragment = 44;
constexpr size_t kTcpChecksumOffset = 16;

uint16_t load_be16(const std::byte* p) {
    return static_cast<uint16_t>((std::to_integer<unsigned>(p[0]) << 8) |
                                 std::to_integer<unsigned>(p[1]));
}

// A frame that is (part of) a fragmented IP packet: its transport checksum spans frames.
bool is_fragment(const std::byte* f, size_t len) {
    if (len < kEthHeaderBytes + 20) return false;
    const uint16_t type = load_be16(f + 12);
    if (type == kEtherTypeIpv4) return (load_be16(f + kEthHeaderBytes + 6) & 0x3fff) != 0;
    if (type == kEtherTypeIpv6 && len >= kEthHeaderBytes + 40)
        return std::to_integer<uint8_t>(f[kEthHeaderBytes + 6]) == kIpv6Fragment;
    return false;
}

constexpr uint8_t kTcpFlagPsh = 0x08;
constexpr uint8_t kTcpFlagAck = 0x10;

std::optional<TcpView> parse_tcp(const std::byte* f, size_t len) {
    if (len < kEthHeaderBytes + 40) return std::nullopt;
    TcpView v;
    size_t l4_len = 0;
    const std::byte* ip = f + kEthHeaderBytes;
    const uint16_t type = load_be16(f + 12);
    if (type == kEtherTypeIpv4) {
        const size_t ihl = (std::to_integer<size_t>(ip[0]) & 0xf) * 4;
        const uint16_t total = load_be16(ip + 2);
        if (std::to_integer<uint8_t>(ip[9]) != kIpProtoTcp || (load_be16(ip + 6) & 0x3fff) != 0 ||
            ihl < 20 || total < ihl + 20 || kEthHeaderBytes + total > len)
            return std::nullopt;
        for (size_t i = 12; i < 20; i += 2) v.address_sum += load_be16(ip + i);
        v.l4 = kEthHeaderBytes + ihl;
        l4_len = total - ihl;
    } else if (type == kEtherTypeIpv6) {
        const uint16_t payload = load_be16(ip + 4);
        if (std::to_integer<uint8_t>(ip[6]) != kIpProtoTcp || payload < 20 ||
            kEthHeaderBytes + 40 + payload > len)
            return std::nullopt;
        for (size_t i = 8; i < 40; i += 2) v.address_sum += load_be16(ip + i);
        v.l4 = kEthHeaderBytes + 40;
        l4_len = payload;
        v.ipv6 = true;
    } else {
        return std::nullopt;
    }
    const std::byte* tcp = f + v.l4;
    const size_t tcp_header = (std::to_integer<size_t>(tcp[12]) >> 4) * 4;
    if (tcp_header < 20 || tcp_header > l4_len) return std::nullopt;
    v.headers = v.l4 + tcp_header;
    v.payload = l4_len - tcp_header;
    v.seq = (uint32_t{load_be16(tcp + 4)} << 16) | load_be16(tcp + 6);
    v.flags = std::to_integer<uint8_t>(tcp[13]);
    return v;
}

// The pseudo-header sum (folded, not complemented) that Linux expects in the checksum field
// of a CHECKSUM_PARTIAL packet whose TCP header and payload are l4_bytes long.
uint16_t pseudo_header_sum(const TcpView& v, size_t l4_bytes) {
    uint32_t sum = v.address_sum + kIpProtoTcp + static_cast<uint32_t>(l4_bytes >> 16) +
                   static_cast<uint32_t>(l4_bytes & 0xffff);
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

void store_be16(std::byte* p, uint16_t value) {
    p[0] = static_cast<std::byte>(value >> 8);
    p[1] = static_cast<std::byte>(value & 0xff);
}

bool same_bytes(const std::byte* a, const std::byte* b, size_t from, size_t to) {
    return std::memcmp(a + from, b + from, to - from) == 0;
}

// Whether `next` continues the held segment `held` of one TCP flow: headers equal except
// what segmentation changes (IP lengths, ID and checksum; TCP sequence number, PSH and
// checksum), so the kernel's GSO would cut the merged frame back into these segments.
bool continues(const std::byte* held, const TcpView& h, const std::byte* next, const TcpView& n) {
    if (n.ipv6 != h.ipv6 || n.l4 != h.l4 || n.headers != h.headers) return false;
    if (!same_bytes(held, next, 0, kEthHeaderBytes)) return false;
    const size_t ip = kEthHeaderBytes;
    if (h.ipv6) {
        if (!same_bytes(held, next, ip, ip + 4) || !same_bytes(held, next, ip + 6, h.l4))
            return false;
    } else if (!same_bytes(held, next, ip, ip + 2) || !same_bytes(held, next, ip + 6, ip + 10) ||
               !same_bytes(held, next, ip + 12, h.l4)) {
        return false;
    }
    const size_t t = h.l4;
    const auto no_psh = [](std::byte b) { return std::to_integer<uint8_t>(b) & ~kTcpFlagPsh; };
    return same_bytes(held, next, t, t + 4) && same_bytes(held, next, t + 8, t + 13) &&
           no_psh(held[t + 13]) == no_psh(next[t + 13]) && same_bytes(held, next, t + 14, t + 16) &&
           same_bytes(held, next, t + 18, h.headers);
}

// A data segment that may start or join a merged frame: plain ACK (+PSH) with payload.
bool mergeable(const TcpView& v) {
    return v.payload > 0 && (v.flags & ~(kTcpFlagAck | kTcpFlagPsh)) == 0 &&
           (v.flags & kTcpFlagAck);
}

BackendError error(int errno_value, std::string message) {
    if (errno_value != 0) {
        message += " (";
        message += std::strerror(errno_value);
        message += ")";
    }
    return BackendError{errno_value, std::move(message)};
}

std::string quoted(std::string_view name) {
    return "'" + std::string(name) + "'";
}

ifreq request_for(std::string_view name) {
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), size_t{IFNAMSIZ - 1}));
    return ifr;
}

// Closes an fd on every early return of open().
struct FdGuard {
    int fd;
    ~FdGuard() {
        if (fd >= 0) ::close(fd);
    }
    int release() { return std::exchange(fd, -1); }
};

}  // namespace

std::string tap_name_problem(std::string_view name) {
    if (name.size() >= IFNAMSIZ) {
        return "TAP name " + quoted(name) + " is " + std::to_string(name.size()) +
               " bytes long; Linux allows at most " + std::to_string(IFNAMSIZ - 1);
    }
    if (name == "." || name == "..") return "TAP name " + quoted(name) + " is not allowed";
    for (char c : name) {
        // The kernel's dev_valid_name(): no '/', ':' or whitespace.
        if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
            c == '\f' || c == '\0') {
            return "TAP name " + quoted(name) +
                   " contains a character Linux does not allow in "
                   "interface names ('/', ':', whitespace or NUL)";
        }
    }
    return {};
}

std::expected<std::unique_ptr<TapBackend>, BackendError> TapBackend::open(const TapConfig& config) {
    if (auto problem = tap_name_problem(config.name); !problem.empty()) {
        return std::unexpected(error(EINVAL, std::move(problem)));
    }
    if (config.rx_pool_frames == 0 || config.rx_pool_frames > kMaxPoolFrames) {
        return std::unexpected(error(EINVAL, "rx_pool_frames must be 1.." +
                                                 std::to_string(kMaxPoolFrames) + ", not " +
                                                 std::to_string(config.rx_pool_frames)));
    }
    const MacAddress& mac = config.mac;
    if ((mac[0] & 0x01) != 0 ||
        std::all_of(mac.begin(), mac.end(), [](uint8_t b) { return b == 0; })) {
        return std::unexpected(error(EINVAL, "TAP MAC address must be a non-zero unicast address"));
    }

    FdGuard tun{::open(config.clone_device.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC)};
    if (tun.fd < 0) {
        const int e = errno;
        if (e == ENOENT || e == ENODEV || e == ENXIO) {
            return std::unexpected(error(e, "cannot open " + config.clone_device +
                                                ": no TUN/TAP support here (is the tun module "
                                                "loaded? in a container, pass /dev/net/tun in)"));
        }
        if (e == EACCES || e == EPERM) {
            return std::unexpected(error(
                e, "not allowed to open " + config.clone_device + " (check its permissions)"));
        }
        return std::unexpected(error(e, "cannot open " + config.clone_device));
    }

    ifreq ifr = request_for(config.name);
    ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | (config.offloads ? IFF_VNET_HDR : 0));
    if (::ioctl(tun.fd, TUNSETIFF, &ifr) < 0) {
        const int e = errno;
        const std::string who =
            config.name.empty() ? std::string("a new TAP") : "TAP " + quoted(config.name);
        switch (e) {
            case EPERM:
            case EACCES:
                return std::unexpected(
                    error(e, "not permitted to create or attach " + who +
                                 ": run with CAP_NET_ADMIN, or attach a TAP made for this user "
                                 "(ip tuntap add mode tap user $USER name NAME)"));
            case EBUSY:
                return std::unexpected(error(e, who + " is already attached by another process"));
            case EINVAL:
                return std::unexpected(
                    error(e, "cannot attach " + who +
                                 ": an interface of that name exists and is not "
                                 "a TAP (or it is a TUN, or a multi-queue TAP)"));
            default:
                return std::unexpected(error(e, "cannot create or attach " + who));
        }
    }
    const std::string name(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
    size_t vnet_bytes = 0;
    if (config.offloads) {
        int hdr_bytes = sizeof(VnetHeader);
        if (::ioctl(tun.fd, TUNSETVNETHDRSZ, &hdr_bytes) < 0 ||
            ::ioctl(tun.fd, TUNSETOFFLOAD, static_cast<unsigned long>(kTapOffloads)) < 0) {
            return std::unexpected(error(errno, "cannot enable offloads on TAP " + quoted(name) +
                                                    " (open it with offloads off)"));
        }
        vnet_bytes = sizeof(VnetHeader);
    }

    FdGuard ctl{::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    if (ctl.fd < 0) {
        return std::unexpected(
            error(errno, "cannot open a control socket for TAP " + quoted(name)));
    }

    ifreq hw = request_for(name);
    if (::ioctl(ctl.fd, SIOCGIFHWADDR, &hw) < 0) {
        return std::unexpected(error(errno, "cannot read the MAC of TAP " + quoted(name)));
    }
    if (std::memcmp(hw.ifr_hwaddr.sa_data, mac.data(), mac.size()) == 0) {
        return std::unexpected(
            error(EINVAL, "the configured MAC equals the kernel side's MAC of TAP " + quoted(name) +
                              ": the kernel is our peer, pick another"));
    }

    if (config.bring_up) {
        ifreq flags = request_for(name);
        if (::ioctl(ctl.fd, SIOCGIFFLAGS, &flags) < 0) {
            return std::unexpected(error(errno, "cannot read the flags of TAP " + quoted(name)));
        }
        if ((flags.ifr_flags & IFF_UP) == 0) {
            flags.ifr_flags = static_cast<short>(flags.ifr_flags | IFF_UP);
            if (::ioctl(ctl.fd, SIOCSIFFLAGS, &flags) < 0) {
                return std::unexpected(error(errno, "cannot set TAP " + quoted(name) +
                                                        " up (needs CAP_NET_ADMIN; or set it up "
                                                        "yourself and open with bring_up=false)"));
            }
        }
    }

    ifreq mtu_req = request_for(name);
    if (::ioctl(ctl.fd, SIOCGIFMTU, &mtu_req) < 0) {
        return std::unexpected(error(errno, "cannot read the MTU of TAP " + quoted(name)));
    }
    // A frame length is 16 bits: the longest deliverable frame is 65535 bytes.
    const size_t max_frame_bytes =
        config.offloads
            ? kMaxCoalescedFrameBytes
            : std::min<size_t>(std::max(mtu_req.ifr_mtu, 1500) + kFrameOverheadBytes, 65535);

    const int fd = tun.release();
    return std::unique_ptr<TapBackend>(new TapBackend(fd, ctl.release(), name, config, vnet_bytes,
                                                      vnet_bytes + max_frame_bytes + 1));
}

TapBackend::TapBackend(int fd, int ctl_fd, std::string name, const TapConfig& config,
                       size_t vnet_bytes, size_t slot_bytes)
    : fd_(fd),
      ctl_fd_(ctl_fd),
      vnet_bytes_(vnet_bytes),
      name_(std::move(name)),
      mac_(config.mac),
      slot_bytes_(slot_bytes),
      slot_count_(config.rx_pool_frames),
      pool_(slot_bytes * config.rx_pool_frames),
      held_(vnet_bytes != 0 ? kMaxCoalescedFrameBytes : 0) {}

TapBackend::~TapBackend() {
    // A persistent TAP keeps its offload features: take them back, or the next program that
    // attaches without a virtio-net header would be handed 64 KiB frames.
    if (vnet_bytes_ != 0) (void)::ioctl(fd_, TUNSETOFFLOAD, 0ul);
    ::close(fd_);
    ::close(ctl_fd_);
}

BackendCaps TapBackend::caps() const {
    BackendCaps caps;
    // Receive checksums are vouched for per frame (Frame::l4_csum_ok), not per device: a
    // frame the kernel forwarded from elsewhere may carry an unchecked checksum.
    caps.tx_csum_l4 = vnet_bytes_ != 0;
    ifreq req = request_for(name_);
    if (::ioctl(ctl_fd_, SIOCGIFMTU, &req) == 0) {
        caps.mtu = static_cast<uint16_t>(std::clamp(req.ifr_mtu, 68, 65535));
    } else {
        caps.mtu = static_cast<uint16_t>(
            std::min<size_t>(max_rx_frame_bytes() - kFrameOverheadBytes, 65535));
    }
    req = request_for(name_);
    if (::ioctl(ctl_fd_, SIOCGIFFLAGS, &req) == 0) {
        // Our attached fd is the TAP's carrier, so the link is up exactly when the kernel
        // side is up (writes fail with EIO otherwise). IFF_RUNNING would say the same but
        // lags: the kernel updates it asynchronously (linkwatch) after an attach.
        caps.link_up = (req.ifr_flags & IFF_UP) != 0;
    }
    return caps;
}

size_t TapBackend::rx_burst(std::span<Frame> frames) {
    const size_t want = std::min(frames.size(), slot_count_);
    size_t got = 0;
    while (got < want) {
        std::byte* slot = pool_.data() + got * slot_bytes_;
        const ssize_t n = ::read(fd_, slot, slot_bytes_);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) ++stats_.rx_errors;
            break;
        }
        if (n == 0) break;
        if (static_cast<size_t>(n) >= slot_bytes_ || static_cast<size_t>(n) < vnet_bytes_) {
            // Filled the slot: the frame was longer and the kernel cut it. Reuse the slot.
            ++stats_.rx_errors;
            continue;
        }
        Frame frame{slot + vnet_bytes_,
                    static_cast<uint16_t>(static_cast<size_t>(n) - vnet_bytes_)};
        if (vnet_bytes_ != 0) {
            VnetHeader hdr;
            std::memcpy(&hdr, slot, sizeof hdr);
            // NEEDS_CSUM: sent by the local kernel, which never computed the checksum (the
            // field holds the pseudo-header sum); DATA_VALID: the kernel verified it.
            frame.l4_csum_ok = (hdr.flags & (kVnetNeedsCsum | kVnetDataValid)) != 0 &&
                               !is_fragment(frame.data, frame.len);
            frame.coalesced = (hdr.gso_type & ~kVnetGsoEcn) != kVnetGsoNone;
            if (frame.coalesced) ++rx_coalesced_frames_;
        }
        frames[got] = frame;
        ++got;
        ++stats_.rx_frames;
        stats_.rx_bytes += frame.len;
    }
    return got;
}

ssize_t TapBackend::write_frame(const void* vnet_header, const std::byte* head, size_t head_bytes,
                                const std::byte* rest, size_t rest_bytes) {
    iovec iov[3];
    int n = 0;
    if (vnet_bytes_ != 0) iov[n++] = {const_cast<void*>(vnet_header), vnet_bytes_};
    if (head_bytes != 0) iov[n++] = {const_cast<std::byte*>(head), head_bytes};
    iov[n++] = {const_cast<std::byte*>(rest), rest_bytes};
    ssize_t written;
    do {
        written = ::writev(fd_, iov, n);
    } while (written < 0 && errno == EINTR);
    return written;
}

// One frame, now. With offloads a TCP frame goes out from a copy of its headers that
// carries the pseudo-header sum the kernel expects: the caller's buffer is read-only to us.
ssize_t TapBackend::send_now(const Frame& frame, const std::optional<TcpView>& tcp) {
    VnetHeader hdr{};
    std::array<std::byte, kEthHeaderBytes + 60 + 60> head;
    size_t head_bytes = 0;
    if (vnet_bytes_ != 0 && tcp) {
        head_bytes = tcp->l4 + kTcpChecksumOffset + 2;
        std::memcpy(head.data(), frame.data, head_bytes);
        store_be16(head.data() + tcp->l4 + kTcpChecksumOffset,
                   pseudo_header_sum(*tcp, frame.len - tcp->l4));
        hdr.flags = kVnetNeedsCsum;
        hdr.csum_start = static_cast<uint16_t>(tcp->l4);
        hdr.csum_offset = kTcpChecksumOffset;
    }
    return write_frame(&hdr, head.data(), head_bytes, frame.data + head_bytes,
                       frame.len - head_bytes);
}

// The held segments as one frame: a GSO frame (the kernel treats it as the segments it was
// made of, as from a VM's virtio NIC with TSO) when there are several.
void TapBackend::flush_held() {
    if (held_bytes_ == 0) return;
    std::byte* f = held_.data();
    const TcpView& h = held_view_;
    if (h.ipv6) {
        store_be16(f + kEthHeaderBytes + 4, static_cast<uint16_t>(held_bytes_ - h.l4));
    } else {
        std::byte* ip = f + kEthHeaderBytes;
        store_be16(ip + 2, static_cast<uint16_t>(held_bytes_ - kEthHeaderBytes));
        store_be16(ip + 10, 0);
        uint32_t sum = 0;
        for (size_t i = 0; i < h.l4 - kEthHeaderBytes; i += 2) sum += load_be16(ip + i);
        while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
        store_be16(ip + 10, static_cast<uint16_t>(~sum & 0xffff));
    }
    store_be16(f + h.l4 + kTcpChecksumOffset, pseudo_header_sum(h, held_bytes_ - h.l4));
    VnetHeader hdr{};
    hdr.flags = kVnetNeedsCsum;
    hdr.csum_start = static_cast<uint16_t>(h.l4);
    hdr.csum_offset = kTcpChecksumOffset;
    if (held_frames_ > 1) {
        hdr.gso_type = h.ipv6 ? kVnetGsoTcpv6 : kVnetGsoTcpv4;
        hdr.gso_size = static_cast<uint16_t>(h.payload);
        hdr.hdr_len = static_cast<uint16_t>(h.headers);
    }
    // The held frames were reported taken: a refusal now (EIO: link down; EAGAIN: none
    // seen from a TAP) loses them like a drop on the wire, and TCP retransmits.
    if (write_frame(&hdr, nullptr, 0, f, held_bytes_) < 0) {
        stats_.tx_dropped += held_frames_;
    } else {
        stats_.tx_frames += held_frames_;
        stats_.tx_bytes += held_frame_bytes_;
        if (held_frames_ > 1) ++tx_merged_frames_;
    }
    held_bytes_ = 0;
    held_frames_ = 0;
    held_frame_bytes_ = 0;
}

void TapBackend::tx_flush() {
    flush_held();
}

std::vector<NamedCounter> TapBackend::device_counters() const {
    if (vnet_bytes_ == 0) return {};
    return {{"rx_coalesced_frames", rx_coalesced_frames_}, {"tx_merged_frames", tx_merged_frames_}};
}

size_t TapBackend::tx_burst(std::span<const Frame> frames) {
    size_t taken = 0;
    for (const Frame& frame : frames) {
        require(frame.data != nullptr && frame.len >= kEthHeaderBytes,
                "tx_burst frame shorter than an Ethernet header");
        std::optional<TcpView> tcp;
        if (vnet_bytes_ != 0) tcp = parse_tcp(frame.data, frame.len);
        if (tcp && mergeable(*tcp)) {
            // Full-size segments of one flow in sequence join the held frame (TSO in
            // reverse); the last one may be shorter, after it the frame is closed.
            const bool joins = held_bytes_ != 0 && held_last_payload_ == held_view_.payload &&
                               tcp->payload <= held_view_.payload && tcp->seq == held_next_seq_ &&
                               held_bytes_ + tcp->payload <= held_.size() &&
                               continues(held_.data(), held_view_, frame.data, *tcp);
            if (!joins) {
                flush_held();
                std::memcpy(held_.data(), frame.data, frame.len);
                held_bytes_ = frame.len;
                held_view_ = *tcp;
            } else {
                std::memcpy(held_.data() + held_bytes_, frame.data + tcp->headers, tcp->payload);
                held_bytes_ += tcp->payload;
                held_[held_view_.l4 + 13] |= static_cast<std::byte>(tcp->flags & kTcpFlagPsh);
            }
            held_last_payload_ = tcp->payload;
            held_next_seq_ = tcp->seq + static_cast<uint32_t>(tcp->payload);
            ++held_frames_;
            held_frame_bytes_ += frame.len;
            ++taken;
            continue;
        }
        flush_held();  // frames leave in the order they came
        const ssize_t n = send_now(frame, tcp);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
            break;  // the kernel is full right now: not taken, the caller may retry
        }
        ++taken;
        if (n < 0) {
            ++stats_.tx_dropped;  // EIO: the interface is down; EINVAL: the kernel refused it
            continue;
        }
        ++stats_.tx_frames;
        stats_.tx_bytes += frame.len;
    }
    return taken;
}

}  // namespace culvert::backends
