// A shared-memory segment: a sealed memfd mapped MAP_SHARED by the server (create) and by
// one client (attach), plus bounds-checked views into it. Both sides map it at different
// addresses, so everything inside refers to everything else by offset (DESIGN §3).
#pragma once

#include "channels/assert.hpp"
#include "channels/errors.hpp"

#include <cstddef>
#include <cstdint>
#include <expected>
#include <new>
#include <span>
#include <type_traits>

namespace culvert::channels {

class Segment {
  public:
    Segment() = default;
    Segment(Segment&& other) noexcept;
    Segment& operator=(Segment&& other) noexcept;
    Segment(const Segment&) = delete;
    Segment& operator=(const Segment&) = delete;
    ~Segment();  // munmap + close

    // Server side: memfd_create(MFD_CLOEXEC|MFD_ALLOW_SEALING), ftruncate, seal
    // SHRINK|GROW|SEAL, mmap shared. The memory starts zero-filled. Error: errno.
    static std::expected<Segment, int> create(const char* name, size_t size_bytes);

    // Client side: takes ownership of fd (closed on failure too). Refuses (EPERM) a memfd
    // without SHRINK and GROW seals: whoever can shrink it under our mapping can kill us with
    // SIGBUS. Refuses an empty segment (EINVAL). Error: errno.
    static std::expected<Segment, int> attach(int fd);

    int fd() const { return fd_; }
    std::byte* base() const { return base_; }
    size_t size() const { return size_bytes_; }
    explicit operator bool() const { return base_ != nullptr; }

    // `count` Ts at `offset`: checked for overflow, bounds and alignof(T). count == 0 is a
    // valid empty view at any in-bounds offset. The pointee is whatever bytes are there: the
    // caller validates fields it reads (see read_once.hpp).
    template <class T>
    std::expected<T*, ChannelError> at(uint64_t offset, size_t count = 1) const;

    std::expected<std::span<std::byte>, ChannelError> bytes(uint64_t offset, size_t len) const;

    // Offset of a pointer into this mapping. Passing a pointer from elsewhere is a
    // programmer error (aborts): only our own pointers are converted, never a peer's.
    uint64_t offset_of(const void* p) const;

    // Server side, once, on fresh memory: construct a T (value-initialised) at `offset` and
    // return it. The client never constructs, it only views with at<T>().
    template <class T>
    std::expected<T*, ChannelError> emplace(uint64_t offset) const;

  private:
    Segment(int fd, std::byte* base, size_t size_bytes)
        : fd_(fd), base_(base), size_bytes_(size_bytes) {}
    void reset() noexcept;
    bool fits(uint64_t offset, uint64_t len) const {
        // Written so that no addition can overflow: offset <= size, then len <= size - offset.
        return offset <= size_bytes_ && len <= size_bytes_ - offset;
    }

    int fd_ = -1;
    std::byte* base_ = nullptr;
    size_t size_bytes_ = 0;
};

template <class T>
std::expected<T*, ChannelError> Segment::at(uint64_t offset, size_t count) const {
    static_assert(std::is_standard_layout_v<T>, "shared-memory types are plain layouts");
    if (base_ == nullptr) return std::unexpected(ChannelError::out_of_bounds);
    // count * sizeof(T) must not overflow: compare against the largest count that fits.
    if (count > size_bytes_ / sizeof(T)) return std::unexpected(ChannelError::out_of_bounds);
    if (!fits(offset, static_cast<uint64_t>(count) * sizeof(T))) {
        return std::unexpected(ChannelError::out_of_bounds);
    }
    // The mapping is page-aligned, so alignment of the offset is alignment of the address.
    if (offset % alignof(T) != 0) return std::unexpected(ChannelError::out_of_bounds);
    return reinterpret_cast<T*>(base_ + offset);
}

template <class T>
std::expected<T*, ChannelError> Segment::emplace(uint64_t offset) const {
    auto where = at<T>(offset);
    if (!where) return where;
    return ::new (static_cast<void*>(*where)) T{};
}

}  // namespace culvert::channels
