// Creating, sealing, attaching and mapping the memfd behind a Segment.
#include "channels/segment.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

namespace culvert::channels {

namespace {

constexpr unsigned kRequiredSeals = F_SEAL_SHRINK | F_SEAL_GROW;

void close_keeping_errno(int fd) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
}

}  // namespace

Segment::Segment(Segment&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      base_(std::exchange(other.base_, nullptr)),
      size_bytes_(std::exchange(other.size_bytes_, 0)) {}

Segment& Segment::operator=(Segment&& other) noexcept {
    if (this != &other) {
        reset();
        fd_ = std::exchange(other.fd_, -1);
        base_ = std::exchange(other.base_, nullptr);
        size_bytes_ = std::exchange(other.size_bytes_, 0);
    }
    return *this;
}

Segment::~Segment() {
    reset();
}

void Segment::reset() noexcept {
    if (base_ != nullptr) ::munmap(base_, size_bytes_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    base_ = nullptr;
    size_bytes_ = 0;
}

std::expected<Segment, int> Segment::create(const char* name, size_t size_bytes) {
    if (size_bytes == 0 || size_bytes > static_cast<size_t>(INT64_MAX)) {
        return std::unexpected(EINVAL);
    }
    const int fd = ::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return std::unexpected(errno);
    if (::ftruncate(fd, static_cast<off_t>(size_bytes)) != 0 ||
        // SEAL_SEAL too: nobody, including a client holding the fd, can add or change seals
        // later (e.g. F_SEAL_WRITE would make our own writes fail).
        ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
        const int error = errno;
        ::close(fd);
        return std::unexpected(error);
    }
    void* base = ::mmap(nullptr, size_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        const int error = errno;
        ::close(fd);
        return std::unexpected(error);
    }
    return Segment(fd, static_cast<std::byte*>(base), size_bytes);
}

std::expected<Segment, int> Segment::attach(int fd) {
    if (fd < 0) return std::unexpected(EBADF);
    const int seals = ::fcntl(fd, F_GET_SEALS);
    if (seals < 0) {
        // Not a memfd (or not sealable): it could be truncated under us.
        const int error = errno == EINVAL ? EPERM : errno;
        close_keeping_errno(fd);
        return std::unexpected(error);
    }
    if ((static_cast<unsigned>(seals) & kRequiredSeals) != kRequiredSeals) {
        close_keeping_errno(fd);
        return std::unexpected(EPERM);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int error = errno;
        close_keeping_errno(fd);
        return std::unexpected(error);
    }
    if (st.st_size <= 0) {
        close_keeping_errno(fd);
        return std::unexpected(EINVAL);
    }
    const auto size_bytes = static_cast<size_t>(st.st_size);
    void* base = ::mmap(nullptr, size_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        const int error = errno;
        close_keeping_errno(fd);
        return std::unexpected(error);
    }
    return Segment(fd, static_cast<std::byte*>(base), size_bytes);
}

std::expected<std::span<std::byte>, ChannelError> Segment::bytes(uint64_t offset,
                                                                 size_t len) const {
    if (base_ == nullptr || !fits(offset, len)) return std::unexpected(ChannelError::out_of_bounds);
    return std::span<std::byte>(base_ + offset, len);
}

uint64_t Segment::offset_of(const void* p) const {
    const auto* byte = static_cast<const std::byte*>(p);
    // Compare as integers: relational comparison of unrelated pointers is unspecified.
    const auto addr = reinterpret_cast<uintptr_t>(byte);
    const auto start = reinterpret_cast<uintptr_t>(base_);
    CULVERT_CHANNELS_ASSERT(base_ != nullptr && addr >= start && addr - start <= size_bytes_);
    return addr - start;
}

}  // namespace culvert::channels
