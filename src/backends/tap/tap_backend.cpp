// TAP backend: one read() per received frame into a preallocated slot pool, one write()
// per transmitted frame, interface facts through ioctls on a control socket.
#include "backends/tap/tap_backend.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace culvert::backends {
namespace {

// Always-on check for programmer errors (a caller broke the tx_burst contract).
void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "culvert: tap backend: programmer error: %s\n", what);
        std::abort();
    }
}

constexpr size_t kEthHeaderBytes = 14;
// Ethernet header plus one VLAN tag: the longest frame for an MTU is mtu + 18.
constexpr size_t kFrameOverheadBytes = 18;
constexpr size_t kMaxPoolFrames = 4096;

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
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
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
        std::min<size_t>(std::max(mtu_req.ifr_mtu, 1500) + kFrameOverheadBytes, 65535);

    const int fd = tun.release();
    return std::unique_ptr<TapBackend>(
        new TapBackend(fd, ctl.release(), name, config, max_frame_bytes + 1));
}

TapBackend::TapBackend(int fd, int ctl_fd, std::string name, const TapConfig& config,
                       size_t slot_bytes)
    : fd_(fd),
      ctl_fd_(ctl_fd),
      name_(std::move(name)),
      mac_(config.mac),
      slot_bytes_(slot_bytes),
      slot_count_(config.rx_pool_frames),
      pool_(slot_bytes * config.rx_pool_frames) {}

TapBackend::~TapBackend() {
    ::close(fd_);
    ::close(ctl_fd_);
}

BackendCaps TapBackend::caps() const {
    BackendCaps caps;  // no offloads: without IFF_VNET_HDR the kernel sends full checksums
    ifreq req = request_for(name_);
    if (::ioctl(ctl_fd_, SIOCGIFMTU, &req) == 0) {
        caps.mtu = static_cast<uint16_t>(std::clamp(req.ifr_mtu, 68, 65535));
    } else {
        caps.mtu = static_cast<uint16_t>(slot_bytes_ - 1 - kFrameOverheadBytes);
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
        if (static_cast<size_t>(n) >= slot_bytes_) {
            // Filled the slot: the frame was longer and the kernel cut it. Reuse the slot.
            ++stats_.rx_errors;
            continue;
        }
        frames[got] = Frame{slot, static_cast<uint16_t>(n)};
        ++got;
        ++stats_.rx_frames;
        stats_.rx_bytes += static_cast<uint64_t>(n);
    }
    return got;
}

size_t TapBackend::tx_burst(std::span<const Frame> frames) {
    size_t taken = 0;
    for (const Frame& frame : frames) {
        require(frame.data != nullptr && frame.len >= kEthHeaderBytes,
                "tx_burst frame shorter than an Ethernet header");
        ssize_t n;
        do {
            n = ::write(fd_, frame.data, frame.len);
        } while (n < 0 && errno == EINTR);
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
